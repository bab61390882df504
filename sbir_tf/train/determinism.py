"""Deterministic mode (``train.deterministic``): the same run twice gives bit-identical weights.

:func:`enable_determinism` turns on TensorFlow's op determinism (``tf.config.experimental.enable_op_determinism``:
ops with a non-deterministic kernel either use a deterministic one or raise), fixes the intra- and inter-op thread
pools (so reductions split their work the same way every time) and seeds Python's, NumPy's and TensorFlow's/Keras'
global generators. Everything else random in a run is already a function of ``(seed, step)``: the fine-grained
batches (:func:`sbir_tf.data.pipeline.triplet_dataset`), the zero-shot batches and dropout masks
(:mod:`sbir_tf.train.zs_step`), and the fine-grained dropout seed-generator states, which the checkpoint carries.
Hence a run killed at any step and resumed from its last checkpoint ends bit-identical to the uninterrupted run.

It must run before TensorFlow executes its first op (thread pools cannot change afterwards): at the start of the
process, before data is loaded or a model is built. Deterministic mode costs speed (single-threaded kernels by
default); use it for checking, not for long runs.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def enable_determinism(seed: int, threads: int = 1) -> None:
    """Op determinism, ``threads`` intra- and inter-op threads, and global seeds from ``seed``.

    Raises ``RuntimeError`` naming the fix when TensorFlow has already initialised its thread pools.
    """
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError as err:
        if (tf.config.threading.get_intra_op_parallelism_threads() != int(threads)
                or tf.config.threading.get_inter_op_parallelism_threads() != int(threads)):
            raise RuntimeError("enable_determinism must be called before TensorFlow runs its first op (call it at "
                               "the start of the process, before loading data or building a model)") from err
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(int(seed))


def determinism_enabled() -> bool:
    """Whether op determinism is on (TensorFlow has no public getter; this reads the flag the public setter sets)."""
    from tensorflow.python.framework import config as tf_config

    return bool(tf_config.is_op_determinism_enabled())
