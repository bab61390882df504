"""Input-pipeline throughput: images/s delivered by the training triplet pipeline on real Sketchy data.

Builds :func:`sbir_tf.data.pipeline.triplet_dataset` on the fine-grained training split of ``sketchy_mini`` (the
real-data subset in ``shared/data``) and counts delivered images (3 per triplet: sketch, positive, negative) over a
fixed wall-clock budget, after a warm-up that fills the prefetch buffers.

    python benchmarks/input_pipeline.py [--image-size 224] [--batch-size 32] [--seconds 20]
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _training_records(root):
    from sbir_tf.data.sketchy import read_sketchy

    index = read_sketchy(root)
    try:
        from sbir_tf.data.splits import fine_grained_split
    except ImportError:  # splits module not available: use every sketch/photo
        return index.sketches, index.photos, index.classes
    split = fine_grained_split(index, seed=0)
    return split.train_sketches, split.train_photos, split.classes


def measure(root=None, image_size: int = 224, batch_size: int = 32, seconds: float = 20,
            warmup_batches: int = 2) -> dict:
    """Images/s delivered by the training pipeline (3 images per triplet) over ``seconds`` of iteration."""
    import tensorflow as tf

    from sbir_tf.data.pipeline import triplet_dataset
    from sbir_tf.data.preprocessing import default_load_size
    from sbir_tf.paths import shared_data_dir

    if root is None:
        shared = shared_data_dir()
        if shared is None or not (shared / "sketchy_mini").is_dir():
            raise FileNotFoundError("shared/data/sketchy_mini not found; pass root= or set SBIR_TF_SHARED_DATA")
        root = shared / "sketchy_mini"
    sketches, photos, classes = _training_records(root)
    class_to_label = {c: i for i, c in enumerate(sorted(classes))}
    ds = triplet_dataset(sketches, photos, class_to_label, image_size=image_size, batch_size=batch_size, seed=0)
    it = iter(ds)
    for _ in range(warmup_batches):
        next(it)
    batches = 0
    start = time.perf_counter()
    while True:
        batch = next(it)
        batches += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    assert batch["sketch"].shape[0] == batch_size
    images = 3 * batch_size * batches
    return {
        "images_per_s": images / elapsed,
        "triplets_per_s": batch_size * batches / elapsed,
        "batches": batches,
        "seconds": elapsed,
        "image_size": image_size,
        "load_size": default_load_size(image_size),
        "batch_size": batch_size,
        "train_sketches": len(sketches),
        "train_photos": len(photos),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="Sketchy root (default: shared/data/sketchy_mini)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.root, args.image_size, args.batch_size, args.seconds), indent=2))


if __name__ == "__main__":
    main()
