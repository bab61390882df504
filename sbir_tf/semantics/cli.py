"""Compute class semantic vectors and save them with their parts to an ``.npz`` for inspection and sharing.

Examples::

    python -m sbir_tf.semantics.cli --dataset sketchy --root DATA/sketchy --text glove --hierarchy path \\
        --split sempcyc25 --out sketchy_glove_path.npz
    python -m sbir_tf.semantics.cli --classes dog,cat,hot_air_balloon --text glove --hierarchy jcn --out s.npz
    python -m sbir_tf.semantics.cli --dataset tuberlin --root DATA/TU-Berlin --split sake30 --text word2vec \\
        --text_vectors GoogleNews-vectors-negative300.bin.gz --hierarchy path --out tuberlin_w2v_path.npz

Runs without WordNet (the shipped WordNet facts cover the Sketchy, TU-Berlin and synthetic class lists) and without
the network (the offline GloVe; word2vec without a ``--text_vectors`` file is replaced by GloVe unless
``--text-fallback error``). The sources used are printed and stored in ``info_json`` (``sources``).

The ``.npz`` holds: ``classes`` (str), ``seen`` (bool mask), ``text`` ([n, d_text], or [n, 0] when not used),
``hierarchy`` ([n, n_nodes] or [n, 0]), ``nodes`` (synset names), ``semantic`` ([n, dim] float32, the auto-encoder's
codes), ``semantic_normalized`` (the same scaled by ``--normalize``: what the zero-shot jobs match against) and
``info_json`` (the run's choices and statistics as JSON text).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from sbir_tf.data.records import canonical_class_name
from sbir_tf.semantics.hierarchy import DEFAULT_JCN_FORM, DEFAULT_SYNSET_MAPPING, JCN_FORMS, SYNSET_MAPPINGS
from sbir_tf.semantics.side_info import (SEMANTIC_NORMALIZATIONS, TEXT_FALLBACKS, describe_sources,
                                         normalize_semantics)
from sbir_tf.semantics.wordnet import DEFAULT_IC_SOURCE, IC_SOURCES

SPLIT_LISTS = Path(__file__).resolve().parents[1] / "data" / "split_lists"


def _sketchy_classes(root: Path) -> tuple[list[str], dict[str, str]]:
    """Canonical class names and ``{class: majority WordNet id}`` of a Sketchy folder."""
    try:
        from sbir_tf.data.sketchy import read_sketchy
    except ImportError:  # pragma: no cover - reader module absent
        read_sketchy = None
    if read_sketchy is not None:
        index = read_sketchy(root)
        return sorted(index.classes), dict(index.notes.get("wnids", {}))
    photo_dirs = [p for p in root.rglob("photo") if p.is_dir()]
    if not photo_dirs:
        raise ValueError(f"no 'photo' folder under {root}")
    rendering = sorted(d for d in photo_dirs[0].iterdir() if d.is_dir())[0]
    classes, wnids = [], {}
    for cls in sorted(d for d in rendering.iterdir() if d.is_dir()):
        name = canonical_class_name(cls.name)
        classes.append(name)
        ids = Counter(f.name.split("_")[0] for f in cls.iterdir() if f.name.startswith("n"))
        if ids:
            wnids[name] = ids.most_common(1)[0][0]
    return classes, wnids


def _dataset_classes(dataset: str, root: Path) -> tuple[list[str], dict[str, str]]:
    if dataset == "sketchy":
        return _sketchy_classes(root)
    from sbir_tf.data.registry import read_dataset

    name = {"tuberlin": "tuberlin_extended"}.get(dataset, dataset)
    index = read_dataset(name, root)
    return sorted(index.classes), dict(index.notes.get("wnids", {}))


def _seen_classes(classes: list[str], dataset: str, split: str) -> list[str]:
    """Seen (training) classes of a zero-shot split: the data package's splits if present, else its class lists."""
    try:
        from sbir_tf.data.splits import zero_shot_split
    except ImportError:
        zero_shot_split = None
    if zero_shot_split is not None:
        return list(zero_shot_split(classes, split).seen)
    path = SPLIT_LISTS / f"{dataset}_{split}_unseen.txt"
    if not path.is_file():
        raise ValueError(f"unknown split {split!r} for {dataset} (no {path.name})")
    unseen = {canonical_class_name(l) for l in path.read_text().splitlines() if l.strip()}
    return [c for c in classes if canonical_class_name(c) not in unseen]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sbir_tf.semantics.cli", description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--root", type=Path, help="dataset folder (class names and WordNet ids are read from it)")
    src.add_argument("--classes", help="comma-separated class names (no data needed)")
    p.add_argument("--dataset", default="sketchy", help="sketchy | tuberlin | other registry name")
    p.add_argument("--split", default=None, help="zero-shot split (e.g. sempcyc25); its seen classes form the "
                                                 "hierarchy. Default: all classes")
    p.add_argument("--seen", default=None, help="comma-separated seen classes (instead of --split)")
    p.add_argument("--text", default="glove", choices=["glove", "word2vec", "none"])
    p.add_argument("--text-vectors", "--text_vectors", "--text-path", dest="text_vectors", default=None,
                   help="vectors file for --text (word2vec binary/text, GloVe text or gensim .kv; default: the "
                        "offline GloVe 6B 50-d / a local copy of word2vec-google-news-300)")
    p.add_argument("--text-fallback", default="glove", choices=list(TEXT_FALLBACKS),
                   help="word2vec without vectors at hand: substitute GloVe (default), download, or error")
    p.add_argument("--hierarchy", default="path", choices=["path", "jcn", "none"])
    p.add_argument("--synsets", default=DEFAULT_SYNSET_MAPPING, choices=list(SYNSET_MAPPINGS),
                   help="class -> WordNet synset: the reviewed tables of the class names (default) or the photos' "
                        "ImageNet ids (photo_wnid, with --root)")
    p.add_argument("--ic-source", default=DEFAULT_IC_SOURCE, choices=list(IC_SOURCES),
                   help="information content for --hierarchy jcn")
    p.add_argument("--jcn-form", default=DEFAULT_JCN_FORM, choices=list(JCN_FORMS))
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ae-steps", type=int, default=None)
    p.add_argument("--normalize", default="center_l2", choices=list(SEMANTIC_NORMALIZATIONS),
                   help="scaling of 'semantic_normalized', the vectors the zero-shot jobs match against "
                        "(semantics.normalize; centred on the seen classes, or on all classes without a split)")
    p.add_argument("--out", type=Path, required=True, help="output .npz")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from sbir_tf.semantics.wordnet import WordNetUnavailable

    try:
        return _run(args)
    except (ValueError, FileNotFoundError, WordNetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args) -> int:
    from sbir_tf.semantics import autoencoder as ae
    from sbir_tf.semantics.side_info import side_information

    if args.classes is not None:
        classes = [c.strip() for c in args.classes.split(",") if c.strip()]
        wnids = None
    else:
        classes, wnids = _dataset_classes(args.dataset, args.root)
    if args.seen is not None:
        seen = [c.strip() for c in args.seen.split(",") if c.strip()]
    elif args.split is not None:
        seen = _seen_classes(classes, args.dataset, args.split)
    else:
        seen = None
    side = side_information(classes, wnids=wnids, dataset=args.dataset,
                            text=None if args.text == "none" else args.text, text_path=args.text_vectors,
                            text_fallback=args.text_fallback,
                            hierarchy=None if args.hierarchy == "none" else args.hierarchy,
                            synset_mapping=args.synsets, ic_source=args.ic_source, jcn_form=args.jcn_form, seen=seen,
                            dim=args.dim, seed=args.seed,
                            ae_steps=ae.AE_STEPS if args.ae_steps is None else args.ae_steps)
    print(f"sources: {describe_sources(side.info)}", file=sys.stderr)
    info = dict(side.info, split=args.split, root=str(args.root) if args.root else None, normalize=args.normalize)
    n = len(side.classes)
    seen_set = set(side.seen)
    out = args.out if args.out.suffix == ".npz" else args.out.with_name(args.out.name + ".npz")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.npz")
    np.savez(tmp, classes=np.array(side.classes), seen=np.array([c in seen_set for c in side.classes]),
             text=side.text if side.text is not None else np.zeros((n, 0), np.float32),
             hierarchy=side.hierarchy if side.hierarchy is not None else np.zeros((n, 0), np.float32),
             nodes=np.array(side.nodes, dtype=str), semantic=side.semantic,
             semantic_normalized=normalize_semantics(
                 side.semantic, [i for i, c in enumerate(side.classes) if c in seen_set or not seen_set],
                 args.normalize),
             info_json=np.array(json.dumps(info, default=str)))
    os.replace(tmp, out)
    print(f"{n} classes ({len(seen_set)} seen), text={side.info.get('text_dim', 0)}-d, "
          f"hierarchy nodes={side.info.get('hierarchy_nodes', 0)}, semantic={side.semantic.shape[1]}-d -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
