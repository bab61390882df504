"""Zero-shot SBIR on TU-Berlin (Extended) with WAD-CMSN (Xu, Hu, Cai 2022).

    python -m sbir_tf.experiments.tuberlin_zs                     # offline: synthetic set, cpu preset
    python -m sbir_tf.experiments.tuberlin_zs --data_dir /path/to/tuberlin --split sempcyc30 --weights imagenet

Splits: sempcyc30 (default), sake30. See ``sbir_tf.tasks.zs``.
"""
from __future__ import annotations

import sys

from sbir_tf.run import cli
from sbir_tf.tasks.registry import PROGRAMS

main = cli.entry(PROGRAMS["tuberlin_zs"], "tuberlin_zs", __doc__.split("\n")[0])

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
