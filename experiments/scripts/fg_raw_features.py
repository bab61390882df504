"""Fine-grained retrieval with untrained VGG16 features: the floor that training has to beat, at each image size.

Every sketch query and gallery photo of the fine-grained protocol (the README's: Sketchy test instances against a
gallery of their photos plus the never-sketched distractors) is mapped to the same fixed feature, ``block5_conv3``
global-average-pooled (:func:`sbir_tf.models.backbones.vgg16_feature_extractor`), and ranked by Euclidean distance
of the l2-normalised features. Nothing is trained, so one run per size is the whole measurement (no seeds). The
figures are those of a training run's ``metrics.json``: acc@K, and the mean 0-based rank of the true photo.

Usage: python experiments/scripts/fg_raw_features.py --data_dir ../shared/data/sketchy_mini \
           --weights imagenet-offline --sizes 112 224 --output experiments/<folder>/raw_features.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def measure(records_q, records_g, index, weights: str, size: int, batch_size: int) -> dict:
    from sbir_tf.eval.metrics import acc_from_ranks, ranks_of_true
    from sbir_tf.eval.retrieval import l2_normalize
    from sbir_tf.features import extract_features
    from sbir_tf.tasks.fg import true_gallery_index

    start = time.perf_counter()
    q = extract_features(records_q, arrays=index.arrays, weights=weights, image_size=size, batch_size=batch_size,
                         desc=f"sketches {size}px")
    g = extract_features(records_g, arrays=index.arrays, weights=weights, image_size=size, batch_size=batch_size,
                         desc=f"photos {size}px")
    ranks = ranks_of_true(l2_normalize(q), l2_normalize(g), true_gallery_index(records_q, records_g))
    acc = acc_from_ranks(ranks, (1, 5, 10))
    return {"image_size": size, **{k: float(v) for k, v in acc.items()},
            "correct@1": int((ranks == 0).sum()), "mean_rank": float(ranks.mean()),
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--weights", default="imagenet-offline",
                        help="a weights name of sbir_tf.models.backbones, a file, or none (random)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--output", required=True, help="JSON file to write")
    args = parser.parse_args(argv)

    from sbir_tf.models.backbones import check_weights_arg
    from sbir_tf.tasks.fg import FGTask, chance_level
    from sbir_tf.train.run_dir import environment

    env = environment()  # the code the measurement starts from (a commit made while it runs is not it)
    weights = None if args.weights.lower() == "none" else args.weights
    task = FGTask("sketchy")
    cfg = task.get_config("cpu")
    cfg.data.dataset, cfg.data.root = "sketchy", args.data_dir
    try:  # bad settings or data are a message, not a trace
        check_weights_arg(weights)
        if min(args.sizes) < 32:
            raise ValueError(f"--sizes: every size must be at least 32 px, got {args.sizes}")
        data = task.load_data(cfg)
        task.validate_data(cfg, data)
    except (ValueError, OSError) as err:
        print(f"fg_raw_features: {err}", file=sys.stderr)
        return 2
    queries, gallery = list(data.split.query_sketches), list(data.split.gallery_photos)
    print(f"[raw_features] {len(queries)} queries, gallery {len(gallery)} photos", file=sys.stderr)
    rows = []
    for size in args.sizes:
        rows.append(measure(queries, gallery, data.index, weights, size, args.batch_size))
        print(f"[raw_features] {json.dumps(rows[-1])}", file=sys.stderr)
    out = {"what": "fine-grained retrieval with untrained VGG16 block5_conv3 GAP features (l2-normalised, "
                   "Euclidean); nothing trained, deterministic",
           "dataset": "sketchy", "data_dir": args.data_dir, "weights": args.weights,
           "sketch_rendering": cfg.data.sketch_rendering, "photo_rendering": cfg.data.photo_rendering,
           "queries": len(queries), "gallery": len(gallery), "chance@1": chance_level(1, len(gallery)),
           "results": rows, "environment": env}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
