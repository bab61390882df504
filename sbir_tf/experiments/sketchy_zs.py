"""Zero-shot SBIR on Sketchy (Extended) with WAD-CMSN (Xu, Hu, Cai 2022).

    python -m sbir_tf.experiments.sketchy_zs                      # offline: synthetic set, cpu preset, ~2 min
    python -m sbir_tf.experiments.sketchy_zs --data_dir /path/to/sketchy --split sempcyc25 --weights imagenet \\
        --ablation full --seed 0 --output_dir runs/sketchy_full_s0
    python -m sbir_tf.experiments.sketchy_zs --prepared_dir /path/to/tfds --split sempcyc25   # prepared records

Splits: sempcyc25 (default), sake25, eccv21. Features are cached per (dataset, domain, weights, image size), so
every ablation / seed / semantics run after the first reuses them. The Sketchy gallery is Sketchy
Extended (its photo folder must exist; ``--dataset_reader sketchy`` reads the plain Sketchy photos on purpose). See
``sbir_tf.tasks.zs``.
"""
from __future__ import annotations

import sys

from sbir_tf.run import cli
from sbir_tf.tasks.registry import PROGRAMS

main = cli.entry(PROGRAMS["sketchy_zs"], "sketchy_zs", __doc__.split("\n")[0])

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
