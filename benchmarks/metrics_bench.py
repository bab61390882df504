"""Speed of the retrieval metrics and of brute-force search (``sbir_tf.eval``), on random embeddings.

* ``acc_at_k``: fine-grained acc@1/5/10 for 6,312 query sketches x 1,250 gallery photos, 256-d (Sketchy test
  split of Pang et al. 2017). Target < 1 s.
* ``map_precision``: zero-shot mAP@all + P@100 for 10,000 queries x 70,000 gallery photos, 64-d (the size of the
  Sketchy-Extended zero-shot test). Target < 10 s.
* ``search``: ``BruteForceIndex`` single-query top-10 latency over random 256-d galleries of 1k, 100k and 1M items,
  the median of repeated single queries after warm-up. Targets: 100k < 10 ms, 1M < 50 ms.

Run alone with ``python -m benchmarks.metrics_bench [--quick]``; ``python -m benchmarks`` includes it.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from sbir_tf.eval import metrics, retrieval

FULL = {"acc": (6_312, 1_250, 256), "map": (10_000, 70_000, 64, 25), "search": (1_000, 100_000, 1_000_000),
        "search_dim": 256, "query_repeats": 50}
QUICK = {"acc": (300, 100, 32), "map": (200, 2_000, 16, 5), "search": (1_000, 10_000), "search_dim": 32,
         "query_repeats": 5}


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def bench_acc_at_k(num_queries: int, num_gallery: int, dim: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(num_queries, dim)).astype(np.float32)
    g = rng.normal(size=(num_gallery, dim)).astype(np.float32)
    true_index = rng.integers(0, num_gallery, num_queries)
    metrics.acc_at_k(q[:8], g, true_index[:8])  # warm-up (TF kernels)
    seconds, value = _timed(lambda: metrics.acc_at_k(q, g, true_index))
    return {"seconds": seconds, "queries": num_queries, "gallery": num_gallery, "dim": dim, "result": value}


def bench_map_precision(num_queries: int, num_gallery: int, dim: int, num_classes: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(num_queries, dim)).astype(np.float32)
    g = rng.normal(size=(num_gallery, dim)).astype(np.float32)
    ql = rng.integers(0, num_classes, num_queries)
    gl = rng.integers(0, num_classes, num_gallery)
    metrics.map_precision(q[:8], ql[:8], g[:1000], gl[:1000], precision_ks=(100,), map_ks=(None,))  # warm-up
    seconds, value = _timed(lambda: metrics.map_precision(q, ql, g, gl, precision_ks=(100,), map_ks=(None,)))
    return {"seconds": seconds, "queries": num_queries, "gallery": num_gallery, "dim": dim,
            "classes": num_classes, "result": value}


def bench_search(gallery_size: int, dim: int, repeats: int, k: int = 10, seed: int = 0) -> dict:
    """Median single-query top-k latency (ms) of a :class:`BruteForceIndex` over a random gallery."""
    rng = np.random.default_rng(seed)
    gallery = rng.normal(size=(gallery_size, dim)).astype(np.float32)
    build_s, index = _timed(lambda: retrieval.BruteForceIndex(gallery))
    del gallery
    queries = rng.normal(size=(repeats + 3, dim)).astype(np.float32)
    for i in range(3):
        index.search(queries[i], k)
    times = []
    for i in range(3, repeats + 3):
        start = time.perf_counter()
        index.search(queries[i], k)
        times.append(time.perf_counter() - start)
    ms = 1000.0 * np.asarray(times)
    return {"ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "build_s": build_s,
            "repeats": repeats, "dim": dim, "k": k, "traces": index.tracing_count()}


def measure(quick: bool = False, sections=("acc_at_k", "map_precision", "search")) -> dict:
    """Run the metric and search benchmarks; returns ``{"acc_at_k": .., "map_precision": .., "search": {size: ..}}``."""
    cfg = QUICK if quick else FULL
    out: dict = {}
    if "acc_at_k" in sections:
        out["acc_at_k"] = bench_acc_at_k(*cfg["acc"])
    if "map_precision" in sections:
        out["map_precision"] = bench_map_precision(*cfg["map"])
    if "search" in sections:
        out["search"] = {str(n): bench_search(n, cfg["search_dim"], cfg["query_repeats"]) for n in cfg["search"]}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--only", default="acc_at_k,map_precision,search")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.quick, tuple(args.only.split(","))), indent=2))


if __name__ == "__main__":
    main()
