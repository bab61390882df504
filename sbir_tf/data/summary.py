"""Inspect a dataset folder: counts, splits and every skipped file.

    python -m sbir_tf.data.summary --dataset sketchy --root /path/to/sketchy [--json] [--strict]
    python -m sbir_tf.data.summary --dataset qmul_v1 --root /path/to/qmul_v1 --category chairs
    python -m sbir_tf.data.summary --dataset synthetic            # the embedded default set

Exit status 0 on success, 2 when the data cannot be read (or, with ``--strict``, when any file is unusable).
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings

from sbir_tf.data.records import DataError, DatasetIndex
from sbir_tf.data.registry import DATASETS, DEFAULT_ZERO_SHOT_SPLIT, read_dataset
from sbir_tf.data.splits import fine_grained_split, zero_shot_split


def summarize(index: DatasetIndex, split_name: str | None = None, dataset: str | None = None) -> dict:
    """Counts, fine-grained and zero-shot split sizes, and skipped files of an index, as a JSON-ready dict."""
    counts = index.counts()
    fg = fine_grained_split(index)
    out = {
        "dataset": index.name, "root": index.root,
        "classes": counts["classes"], "photos": counts["photos"], "sketches": counts["sketches"],
        "sketched_photos": counts["sketched_photos"],
        "fine_grained": {
            "test_source": fg.notes["test_instances"],
            "test_photos": len({p.instance_id for p in index.photos} & set(
                index.test_instances if index.test_instances is not None else
                {s.instance_id for s in fg.query_sketches})),
            "train_photos": len(fg.train_photos), "train_sketches": len(fg.train_sketches),
            "query_sketches": len(fg.query_sketches), "gallery_photos": len(fg.gallery_photos),
        },
        "skipped": [{"path": s.path, "reason": s.reason} for s in index.skipped],
        "skipped_by_reason": counts["skipped_by_reason"],
    }
    if split_name is None:
        split_name = DEFAULT_ZERO_SHOT_SPLIT.get(dataset or index.name)
    if split_name is None:
        out["zero_shot"] = {"split": None, "reason": f"{index.name} is a single-category set; zero-shot class "
                                                      f"splits do not apply"}
    else:
        try:
            zs = zero_shot_split(index, split_name)
            seen, unseen = set(zs.seen), set(zs.unseen)
            out["zero_shot"] = {
                "split": split_name, "seen_classes": len(zs.seen), "val_classes": len(zs.val),
                "unseen_classes": len(zs.unseen),
                "seen_photos": sum(p.class_name in seen for p in index.photos),
                "seen_sketches": sum(s.class_name in seen for s in index.sketches),
                "unseen_photos": sum(p.class_name in unseen for p in index.photos),
                "unseen_sketches": sum(s.class_name in unseen for s in index.sketches),
            }
        except DataError as exc:
            out["zero_shot"] = {"split": split_name, "reason": f"not available: {exc}"}
    notes = {k: v for k, v in index.notes.items() if isinstance(v, (int, float, str))}
    if notes:
        out["notes"] = notes
    return out


def format_summary(s: dict) -> str:
    fg, zs = s["fine_grained"], s["zero_shot"]
    lines = [
        f"dataset          {s['dataset']}  ({s['root']})",
        f"classes          {s['classes']:,}",
        f"photos           {s['photos']:,}",
        f"sketches         {s['sketches']:,}",
        f"sketched photos  {s['sketched_photos']:,}",
        f"fine-grained     test photos {fg['test_photos']:,} ({fg['test_source']}); "
        f"train {fg['train_photos']:,} photos / {fg['train_sketches']:,} sketches; "
        f"queries {fg['query_sketches']:,}; gallery {fg['gallery_photos']:,}",
    ]
    if "reason" in zs:
        lines.append(f"zero-shot        {zs['split'] or '-'}: {zs['reason']}")
    else:
        lines.append(f"zero-shot        {zs['split']}: seen {zs['seen_classes']} classes "
                     f"({zs['seen_photos']:,} photos, {zs['seen_sketches']:,} sketches), unseen "
                     f"{zs['unseen_classes']} classes ({zs['unseen_photos']:,} photos, {zs['unseen_sketches']:,} "
                     f"sketches), of which {zs['val_classes']} for validation")
    for key, value in s.get("notes", {}).items():
        lines.append(f"note             {key}: {value}")
    lines.append(f"skipped          {len(s['skipped'])}" +
                 (f"  {s['skipped_by_reason']}" if s["skipped"] else ""))
    lines += [f"  {item['path']}: {item['reason']}" for item in s["skipped"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sbir_tf.data.summary", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--root", default=None, help="dataset folder (optional for synthetic)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--strict", action="store_true", help="fail on the first unusable file")
    parser.add_argument("--category", default=None, help="QMUL set: shoes, chairs, handbags (V1) / shoes, chairs (V2)")
    parser.add_argument("--rendering", default=None, help="Sketchy sketch rendering folder (tx_*)")
    parser.add_argument("--exclude_invalid", action="store_true", help="Sketchy: drop info/invalid-*.txt sketches")
    parser.add_argument("--split", default=None, help="zero-shot split to count (default: the dataset's)")
    args = parser.parse_args(argv)
    kw = {"strict": args.strict}
    if args.category:
        if not args.dataset.startswith("qmul"):
            parser.error("--category applies to qmul_v1 / qmul_v2 only")
        kw["category"] = args.category
    if args.dataset.startswith("sketchy") or args.dataset == "synthetic":
        if args.rendering:
            kw["rendering"] = args.rendering
        if args.exclude_invalid:
            kw["exclude_invalid"] = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # every skip is listed in the summary itself
            index = read_dataset(args.dataset, args.root, **kw)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = summarize(index, args.split, dataset=args.dataset)
    print(json.dumps(result, indent=2) if args.json else format_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
