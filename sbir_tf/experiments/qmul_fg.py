"""Fine-grained SBIR on QMUL Shoe/Chair/Handbag (Pang, Song, Xiang, Hospedales, BMVC 2017).

    python -m sbir_tf.experiments.qmul_fg --data_dir shared/data/qmul_v1 --category shoes --config cpu
    python -m sbir_tf.experiments.qmul_fg --dataset qmul_v2 --data_dir /path/to/ShoeV2 --category shoes
    python -m sbir_tf.experiments.qmul_fg --prepared_dir /path/to/tfds --category shoes   # prepared qmul_v1 records

QMUL-V1: the photo side is the edge map of each photo (as in the original Triplet-SN setting); sketch ``i`` matches
edge map ``i``; train/test pairs are the dataset's own. The gallery is all test photos (edge maps), the queries
their sketches (no distractors). QMUL-V1 sets hold one category, so the classification loss L_C is zero there and
only L_T (and L_D in stage 2) train the encoder. Everything else (model, schedules, artefacts) is shared with ``sketchy_fg``
(``sbir_tf.tasks.fg``).
"""
from __future__ import annotations

import sys

from sbir_tf.run import cli
from sbir_tf.tasks.registry import PROGRAMS

main = cli.entry(PROGRAMS["qmul_fg"], "qmul_fg", __doc__.split("\n")[0])

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
