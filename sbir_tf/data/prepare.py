"""Prepare TFDS records of an SBIR dataset from its manually downloaded folder (``sbir_tf.data.tfds_builders``).

    python -m sbir_tf.data.prepare --dataset sketchy --manual_dir /data/sketchy --data_dir /data/tfds
    python -m sbir_tf.data.prepare --dataset sketchy --sketch_rendering tx_000100000000 \
        --manual_dir /data/sketchy --data_dir /data/tfds          # the centred sketches of the fine-grained paper preset
    python -m sbir_tf.data.prepare --dataset qmul_v1 --category shoes --manual_dir /data/qmul_v1 --data_dir /data/tfds

then train from the records with ``--prepared_dir /data/tfds`` (``sketchy_fg``, ``qmul_fg``, ``sketchy_zs``,
``tuberlin_zs``). The manual folder is read with the same readers as a raw-folder run (invalid files skipped the same
way) and is never written to. Prints the number of sketches and photos written per split.

Sketchy records hold one sketch rendering (``tx_*`` folder, ``--sketch_rendering``, default ``tx_000000000000``): each
is its own TFDS config (``sketchy/tx_000100000000``), so several renderings live side by side in one ``--data_dir``,
and the records' metadata names the renderings they were read from.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

DATASETS = ("sketchy", "sketchy_extended", "tuberlin_extended", "qmul_v1")
QMUL_CATEGORIES = ("shoes", "chairs", "handbags")


def tfds_name(dataset: str, category: str | None = None, sketch_rendering: str | None = None) -> str:
    """The TFDS name of a builder: ``"sketchy/tx_000000000000"``, ``"qmul_v1/shoes"``; ``category`` only for
    ``qmul_v1``, ``sketch_rendering`` (a ``tx_*`` folder, default ``tx_000000000000``) only for ``sketchy``."""
    from sbir_tf.data.sketchy import DEFAULT_RENDERING, SKETCH_RENDERINGS

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {DATASETS}")
    if sketch_rendering is not None and dataset != "sketchy":
        raise ValueError(f"--sketch_rendering applies to sketchy only, not {dataset!r}")
    if dataset == "qmul_v1":
        category = category or "shoes"
        if category not in QMUL_CATEGORIES:
            raise ValueError(f"unknown QMUL-V1 category {category!r}; choose one of {QMUL_CATEGORIES}")
        return f"qmul_v1/{category}"
    if category is not None:
        raise ValueError(f"--category applies to qmul_v1 only, not {dataset!r}")
    if dataset == "sketchy":
        rendering = sketch_rendering or DEFAULT_RENDERING
        if rendering not in SKETCH_RENDERINGS:
            raise ValueError(f"unknown Sketchy sketch rendering {rendering!r}; choose one of {list(SKETCH_RENDERINGS)}")
        return f"sketchy/{rendering}"
    return dataset


def prepare_command(dataset: str, data_dir: str | os.PathLike, category: str | None = None,
                    sketch_rendering: str | None = None, manual_dir: str = "MANUAL_DIR") -> str:
    """The command line that prepares these records (for error messages naming the flags to use)."""
    flags = [f"--dataset {dataset}"]
    flags += [f"--category {category}"] if category else []
    flags += [f"--sketch_rendering {sketch_rendering}"] if sketch_rendering else []
    return f"python -m sbir_tf.data.prepare {' '.join(flags)} --manual_dir {manual_dir} --data_dir {data_dir}"


def prepare(dataset: str, manual_dir: str | os.PathLike, data_dir: str | os.PathLike,
            category: str | None = None, sketch_rendering: str | None = None) -> dict[str, int]:
    """Run the builder's ``download_and_prepare`` on ``manual_dir`` into ``data_dir``; returns examples per split."""
    import tensorflow_datasets as tfds

    import sbir_tf.data.tfds_builders  # noqa: F401 - registers the builders

    if not os.path.isdir(manual_dir):
        from sbir_tf.data.records import DataError

        raise DataError(f"manual folder {manual_dir} does not exist")
    builder = tfds.builder(tfds_name(dataset, category, sketch_rendering), data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return {split: int(info.num_examples) for split, info in builder.info.splits.items()}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sbir_tf.data.prepare", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--category", default=None, choices=QMUL_CATEGORIES, help="qmul_v1 only (default shoes)")
    p.add_argument("--sketch_rendering", default=None, metavar="TX_FOLDER",
                   help="sketchy only: the sketch rendering folder to prepare (default tx_000000000000; "
                        "tx_000100000000 = the centred sketches of the fine-grained paper preset)")
    p.add_argument("--manual_dir", required=True, help="the extracted download (layout: the builder's instructions)")
    p.add_argument("--data_dir", required=True, help="TFDS data_dir to write the records to (--prepared_dir later)")
    args = p.parse_args(argv)
    from sbir_tf.data.records import DataError

    try:
        name = tfds_name(args.dataset, args.category, args.sketch_rendering)
        counts = prepare(args.dataset, args.manual_dir, args.data_dir, args.category, args.sketch_rendering)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{name} prepared in {args.data_dir}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
