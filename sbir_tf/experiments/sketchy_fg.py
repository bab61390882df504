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
used with the ``cpu`` preset (64 px, ``imagenet-offline`` VGG16 conv weights, ``sbir_tf.configs.fg``), which
finishes in a few minutes on 2 CPU cores. Protocol: train on the sketched photos not listed in ``info/testset.txt`` and their
sketches; queries are the sketches of the test photos; the gallery is the test photos plus every never-sketched
photo (distractors, never trained on). Without ``--config``, real data runs the ``paper`` preset on a GPU and the
``cpu`` preset (said on stderr) without one. The run writes ``runs/sketchy_fg/<dataset>_<preset>_<variant>_seed<k>``
unless ``--output_dir`` is given (``sbir_tf.run.runner`` lists the artefacts; ``sbir_tf.tasks.fg`` is the task).
"""
from __future__ import annotations

import sys

from sbir_tf.run import cli
from sbir_tf.tasks.registry import PROGRAMS

main = cli.entry(PROGRAMS["sketchy_fg"], "sketchy_fg", __doc__.split("\n")[0])

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
