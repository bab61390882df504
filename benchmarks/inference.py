"""Inference speed: gallery embedding throughput, single-query latency, optional FAISS search latency.

* Gallery embedding: the photo encoder alone in inference mode (as ``sbir_tf.train.inference.embed`` runs it),
  batches of 64 synthetic images, warm-up batches excluded, images/s of the median batch.
* Single query: one sketch through the sketch encoder, then the top-10 of a ``BruteForceIndex`` gallery; the
  median wall time of repeated queries in milliseconds (encoder and search also reported apart).
* FAISS (optional extra ``ann``): exact ``IndexFlatL2`` top-10 latency for random 256-d galleries, when ``faiss``
  can be imported; otherwise reported as not available.
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

EMBED_BATCH = 64
QUERY_K = 10


def _median_seconds(fn, warmup: int, repeats: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), times


def _encoder_forward(encoder):
    @tf.function(reduce_retracing=True)
    def forward(x):
        return tf.cast(encoder(x, training=False), tf.float32)

    return forward


def gallery_embedding(encoder, image_size: int, batch_size: int = EMBED_BATCH, warmup: int = 1,
                      repeats: int = 3, seed: int = 0) -> dict:
    """Images/s of ``encoder`` embedding batches of ``batch_size`` random ``image_size`` images (inference)."""
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.uniform(-120.0, 130.0, (batch_size, image_size, image_size, 3)).astype(np.float32))
    forward = _encoder_forward(encoder)
    median, times = _median_seconds(lambda: forward(images).numpy(), warmup, repeats)
    return {"image_size": image_size, "batch_size": batch_size, "images_per_s": batch_size / median,
            "seconds_per_batch": median, "timed_batches": repeats}


def query_latency(sketch_encoder, image_size: int, gallery_size: int = 1250, dim: int | None = None,
                  k: int = QUERY_K, warmup: int = 2, repeats: int = 10, seed: int = 0) -> dict:
    """Latency of one sketch -> encoder -> top-``k`` over a ``gallery_size`` random l2-normalised gallery."""
    from sbir_tf.eval.retrieval import BruteForceIndex

    rng = np.random.default_rng(seed)
    sketch = tf.constant(rng.uniform(-120.0, 130.0, (1, image_size, image_size, 3)).astype(np.float32))
    forward = _encoder_forward(sketch_encoder)
    dim = dim or int(forward(sketch).shape[-1])
    gallery = rng.standard_normal((gallery_size, dim)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    index = BruteForceIndex(gallery)
    state = {}

    def encode():
        state["z"] = forward(sketch).numpy()

    def search():
        index.search(state["z"], k)

    def both():
        encode()
        search()

    total, _ = _median_seconds(both, warmup, repeats)
    enc, _ = _median_seconds(encode, 0, repeats)
    srch, _ = _median_seconds(search, 0, repeats)
    return {"image_size": image_size, "gallery_size": gallery_size, "k": k, "ms": 1e3 * total,
            "encoder_ms": 1e3 * enc, "search_ms": 1e3 * srch, "repeats": repeats}


def faiss_latency(sizes=(1_000, 100_000, 1_000_000), dim: int = 256, k: int = QUERY_K, repeats: int = 20,
                  seed: int = 0) -> dict:
    """Median single-query top-``k`` latency (ms) of ``faiss.IndexFlatL2`` per gallery size, if faiss imports."""
    try:
        import faiss
    except ImportError:
        return {"available": False, "note": "faiss not installed (optional extra 'ann': pip install faiss-cpu)"}
    rng = np.random.default_rng(seed)
    out = {"available": True, "dim": dim, "k": k}
    for n in sizes:
        gallery = rng.standard_normal((n, dim)).astype(np.float32)
        index = faiss.IndexFlatL2(dim)
        index.add(gallery)
        query = rng.standard_normal((1, dim)).astype(np.float32)
        median, _ = _median_seconds(lambda: index.search(query, k), 2, repeats)
        out[str(n)] = {"ms": 1e3 * median}
        del index, gallery
    return out
