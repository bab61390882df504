"""Zero-shot SBIR on TU-Berlin (Extended) with WAD-CMSN (Xu, Hu, Cai 2022).

    python -m sbir_tf.experiments.tuberlin_zs                     # offline: synthetic set, cpu preset
    python -m sbir_tf.experiments.tuberlin_zs --data_dir /path/to/tuberlin --split sempcyc30 --weights imagenet

Splits: sempcyc30 (default), sake30. See ``sbir_tf.experiments.zs_common``.
"""
from __future__ import annotations

import sys

from sbir_tf.experiments.zs_common import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], "tuberlin"))
