"""Measured dense float32 matmul throughput: the reference for model FLOP utilisation.

A square ``tf.matmul`` of size ``n`` costs ``2 n^3`` floating-point operations (``n^3`` multiply-adds). It is run
inside a ``tf.function`` after warm-up calls, and the best of several repeats is kept: the best repeat is the
closest estimate of what the machine can sustain on the kind of kernel (oneDNN/Eigen GEMM) that dominates
convolution training.
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf


def matmul_flops(n: int) -> int:
    """Floating-point operations of one ``[n, n] x [n, n]`` matmul: ``2 n^3`` (one multiply + one add per term)."""
    return 2 * n ** 3


def measure_matmul_peak(n: int = 4096, repeats: int = 5, warmup: int = 2, seed: int = 0) -> dict:
    """Best-of-``repeats`` float32 matmul throughput in GFLOP/s for square matrices of size ``n``.

    Returns ``{"gflops": best, "gflops_median": ..., "n": n, "seconds_best": ..., "repeats": ...,
    "intra_op_threads": ...}``.
    """
    if n < 1 or repeats < 1 or warmup < 0:
        raise ValueError(f"need n >= 1, repeats >= 1, warmup >= 0; got n={n}, repeats={repeats}, warmup={warmup}")
    rng = np.random.default_rng(seed)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))

    @tf.function
    def product(x, y):
        c = tf.matmul(x, y)
        return c[0, 0]  # a scalar to fetch: forces the whole product without copying it out

    for _ in range(warmup):
        product(a, b).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        times.append(time.perf_counter() - start)
    flops = matmul_flops(n)
    best = min(times)
    return {
        "gflops": flops / best / 1e9,
        "gflops_median": flops / float(np.median(times)) / 1e9,
        "n": n,
        "seconds_best": best,
        "repeats": repeats,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
    }
