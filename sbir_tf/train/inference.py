"""Deployment embeddings of an encoder (Eq. 6, Pang et al. 2017): the encoder alone, in inference mode."""
from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

_FORWARD: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _inference_fn(encoder):
    """One ``tf.function`` per encoder (kept while the encoder lives), so repeated evaluations do not retrace."""
    fn = _FORWARD.get(encoder)
    if fn is None:
        ref = weakref.ref(encoder)  # the cached function must not keep its encoder alive

        @tf.function(reduce_retracing=True)
        def fn(x):
            return tf.cast(ref()(x, training=False), tf.float32)

        _FORWARD[encoder] = fn
    return fn


def embed(encoder, images: tf.data.Dataset | np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Deployment embeddings (Eq. 6, Pang et al. 2017): the encoder alone, inference mode, float32 numpy."""
    if isinstance(images, np.ndarray):
        images = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
    forward = _inference_fn(encoder)
    chunks = [forward(x).numpy() for x in images]
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(chunks, axis=0)
