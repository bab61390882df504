"""Fine-grained SBIR on Sketchy (Pang, Song, Xiang, Hospedales, BMVC 2017).

    python -m sbir_tf.experiments.sketchy_fg --data_dir /path/to/sketchy --config paper      # the paper's run (GPU)
    python -m sbir_tf.experiments.sketchy_fg                                                  # synthetic data, cpu
    python -m sbir_tf.experiments.sketchy_fg --data_dir shared/data/sketchy_mini --config cpu --steps 300
    python -m sbir_tf.experiments.sketchy_fg --prepared_dir /path/to/tfds --config paper   # records from
                                                                                  # python -m sbir_tf.data.prepare

``--data_dir`` is a Sketchy root (``256x256/{sketch,photo}/tx_*/<class>/...`` and ``info/testset.txt``); the
``paper`` preset reads the centred sketches ``tx_000100000000`` (``data.sketch_rendering``, Sec. 4 of the paper) and
the photos ``tx_000000000000``, ``cpu`` and ``smoke`` read ``tx_000000000000`` for both. Records for
``--prepared_dir`` hold one sketch rendering each: ``python -m sbir_tf.data.prepare --dataset sketchy
--sketch_rendering tx_000100000000 ...`` for the ``paper`` preset. Without either, the embedded synthetic dataset is
used with the ``cpu`` preset (64 px, ``imagenet-offline`` VGG16 conv weights, ``fg_presets``), which finishes in a
few minutes on 2 CPU cores. Protocol: train on the sketched photos not listed in ``info/testset.txt`` and their
sketches; queries are the sketches of the test photos; the gallery is the test photos plus every never-sketched
photo (distractors, never trained on). See ``sbir_tf.experiments.fg_common`` for the artefacts a run writes.
"""
from __future__ import annotations

import sys

from sbir_tf.experiments.fg_common import main as _main


def main(argv=None) -> dict:
    return _main(argv, name="sketchy_fg", dataset="sketchy", description=__doc__.split("\n")[0])


if __name__ == "__main__":
    main(sys.argv[1:])
