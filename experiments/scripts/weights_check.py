"""Record how well each VGG16 weight source's conv5 features separate sketchy_mini photo classes.

Feature: VGG16 ``block5_conv3`` global-average-pooled (``sbir_tf.models.backbones.vgg16_feature_extractor``) of
Caffe-preprocessed centre crops (``sbir_tf.data.pipeline.image_dataset``). Probe: leave-one-out nearest class mean
(``sbir_tf.eval.metrics.loo_nearest_class_mean_accuracy``), on raw and on l2-normalised features. Settings: the
30-class x 10-photo subset of ``tests/models/test_imagenet_offline.py`` at 64 and 96 px, and all 3,125 photos at
112 px. Writes ``experiments/weights_check/results.json`` (numbers, settings, environment with commit).

Usage: python experiments/scripts/weights_check.py [--data_dir ../shared/data/sketchy_mini]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SUBSET_CLASSES, SUBSET_PHOTOS = 30, 10
SETTINGS = (("subset_30x10", 64, ("imagenet-offline", "hed", None)),
            ("subset_30x10", 96, ("imagenet-offline", "hed", None)),
            ("all_125x25", 112, ("imagenet-offline", "hed")))


def photo_sets(index) -> dict:
    by_class: dict[str, list] = {}
    for record in sorted(index.photos, key=lambda r: r.path):
        by_class.setdefault(record.class_name, []).append(record)
    classes = sorted(by_class)
    subset = classes[::len(classes) // SUBSET_CLASSES][:SUBSET_CLASSES]
    return {"subset_30x10": [r for c in subset for r in by_class[c][:SUBSET_PHOTOS]],
            "all_125x25": [r for c in classes for r in by_class[c]]}


def main() -> None:
    from sbir_tf.data.pipeline import image_dataset
    from sbir_tf.data.registry import read_dataset
    from sbir_tf.eval.metrics import loo_nearest_class_mean_accuracy
    from sbir_tf.models.backbones import vgg16_feature_extractor
    from sbir_tf.train.run_dir import environment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", default="../shared/data/sketchy_mini")
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "weights_check" / "results.json"))
    args = p.parse_args()
    sets = photo_sets(read_dataset("sketchy", args.data_dir))
    rows = []
    for set_name, size, sources in SETTINGS:
        records = sets[set_name]
        labels = np.array([r.class_name for r in records])
        images = np.concatenate([b.numpy() for b in image_dataset(records, image_size=size, batch_size=64)])
        for weights in sources:
            t0 = time.time()
            extractor = vgg16_feature_extractor(size, weights=weights)
            feats = np.concatenate([extractor(images[i:i + 64], training=False).numpy()
                                    for i in range(0, len(images), 64)])
            l2 = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
            row = {"photos": set_name, "image_size": size, "weights": weights or "random", "n": len(records),
                   "classes": int(len(np.unique(labels))), "chance": 1.0 / len(np.unique(labels)),
                   "loo_ncm_accuracy": loo_nearest_class_mean_accuracy(feats, labels),
                   "loo_ncm_accuracy_l2": loo_nearest_class_mean_accuracy(l2, labels),
                   "seconds": round(time.time() - t0, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"probe": "leave-one-out nearest class mean, conv5_3 GAP, centre crops",
                               "data_dir": args.data_dir, "results": rows, "environment": environment()},
                              indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
