"""GoogLeNet (Inception v1, Szegedy et al., "Going deeper with convolutions", CVPR 2015) as a Keras Functional model.

Keras ships no Inception v1, so it is built here from Table 1 of the paper (the ``_GN`` variants of Pang et al. 2017,
Table 3, swap the VGG16 encoder for it):

=============  =======  ======================================================================
layer          stride   filters (inception: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)
=============  =======  ======================================================================
conv 7x7       2        64
max pool 3x3   2
conv 1x1 / 3x3 1        64 / 192
max pool 3x3   2
inception 3a            64, 96, 128, 16, 32, 32          -> 256 channels
inception 3b            128, 128, 192, 32, 96, 64        -> 480
max pool 3x3   2
inception 4a-e          see ``INCEPTION_FILTERS``         -> 512, 512, 512, 528, 832
max pool 3x3   2
inception 5a,b          ...                               -> 832, 1024
avg pool                (global here, so any input size works; 7x7 at 224 px as in the paper)
dropout 40 %
=============  =======  ======================================================================

Choices: all convolutions use ReLU and 'same' padding; max-pools use 'same' padding (so 224 -> 112 -> 56 -> 28 -> 14
-> 7 exactly as the paper's output sizes). Local response normalisation after the first two conv stages is optional
(``use_lrn=False`` by default: it has no weights, barely matters, and was dropped by later Inception versions). The
two auxiliary classifiers are training-time regularisers for ImageNet classification and are not built; neither is
the final 1000-way classifier: the model ends at the 1024-d pooled (and dropped-out) feature.

Layer names follow the Caffe model (``conv1_7x7_s2``, ``inception_3a_1x1``, ...), so a ``.weights.h5`` saved from this
model (or a converted file using these names) loads by name with :func:`googlenet`'s ``weights=`` argument.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import keras
import tensorflow as tf
from keras import layers

from sbir_tf.models import backbones
from sbir_tf.models.backbones import load_named_weights, read_h5_layer_weights

#: Inception module filters (Szegedy et al. 2015, Table 1): (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
INCEPTION_FILTERS: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
#: Dropout before the (here omitted) classifier, Szegedy et al. 2015, Sec. 5.
GOOGLENET_DROPOUT = 0.4
#: Width of the pooled GoogLeNet feature.
GOOGLENET_FEATURE_DIM = 1024


@keras.saving.register_keras_serializable(package="sbir_tf")
class LocalResponseNormalization(layers.Layer):
    """Cross-channel LRN as in AlexNet/GoogLeNet (``tf.nn.local_response_normalization``); no weights."""

    def __init__(self, depth_radius: int = 2, bias: float = 1.0, alpha: float = 1e-4 / 5, beta: float = 0.75,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, x):
        y = tf.nn.local_response_normalization(tf.cast(x, tf.float32), self.depth_radius, self.bias, self.alpha,
                                               self.beta)
        return tf.cast(y, x.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias, "alpha": self.alpha,
                "beta": self.beta}


def _conv(x, filters: int, kernel: int, name: str, strides: int = 1):
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu", name=name)(x)


def inception_module(x, filters: Sequence[int], name: str):
    """One Inception module: parallel 1x1, 1x1->3x3, 1x1->5x5 and 3x3 max-pool->1x1 branches, concatenated."""
    f1, f3r, f3, f5r, f5, fp = filters
    b1 = _conv(x, f1, 1, f"{name}_1x1")
    b3 = _conv(_conv(x, f3r, 1, f"{name}_3x3_reduce"), f3, 3, f"{name}_3x3")
    b5 = _conv(_conv(x, f5r, 1, f"{name}_5x5_reduce"), f5, 5, f"{name}_5x5")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = _conv(bp, fp, 1, f"{name}_pool_proj")
    return layers.Concatenate(axis=-1, name=f"{name}_output")([b1, b3, b5, bp])


def googlenet(input_shape: Sequence[int] = (224, 224, 3), weights: str | os.PathLike | None = None,
              dropout: float = GOOGLENET_DROPOUT, use_lrn: bool = False, name: str = "googlenet") -> keras.Model:
    """GoogLeNet trunk: ``[B, H, W, 3] -> [B, 1024]`` (global average pool + dropout 0.4, no classifier).

    ``weights``: ``None`` (random, Glorot-uniform), a path to a ``.h5``/``.weights.h5`` file whose layer names match
    this model, or an already-read ``{layer_name: [arrays]}`` mapping; every conv layer must be present with the
    right shape (``ValueError`` otherwise). There is no built-in pretrained source: the
    :data:`~sbir_tf.models.backbones.KNOWN_WEIGHTS` names (``imagenet``, ``imagenet-offline``, ``hed``) are VGG16
    weights and raise ``ValueError``. Inputs smaller than 32 px are rejected (five stride-2 stages).
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"googlenet expects input_shape (H, W, 3), got {input_shape}")
    if any(d is not None and d < 32 for d in input_shape[:2]):
        raise ValueError(f"googlenet needs inputs of at least 32 px, got {input_shape}")
    if weights is not None and not isinstance(weights, (str, os.PathLike, Mapping)):
        raise ValueError(f"googlenet weights must be None or a .h5/.weights.h5 path, got {weights!r}")
    if isinstance(weights, str) and weights in backbones.KNOWN_WEIGHTS:
        vgg16_sources = ", ".join(backbones.KNOWN_WEIGHTS)
        raise ValueError(f"no {weights!r} weights exist for GoogLeNet here ({vgg16_sources} are VGG16 weight sources; "
                         f"GoogLeNet has no offline ImageNet source): use None or a .h5/.weights.h5 path")

    inputs = keras.Input(shape=input_shape, name=f"{name}_image")
    x = _conv(inputs, 64, 7, "conv1_7x7_s2", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    if use_lrn:
        x = LocalResponseNormalization(name="pool1_norm1")(x)
    x = _conv(x, 64, 1, "conv2_3x3_reduce")
    x = _conv(x, 192, 3, "conv2_3x3")
    if use_lrn:
        x = LocalResponseNormalization(name="conv2_norm2")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)
    for stage, blocks in (("3", "ab"), ("4", "abcde"), ("5", "ab")):
        for b in blocks:
            key = stage + b
            x = inception_module(x, INCEPTION_FILTERS[key], f"inception_{key}")
        if stage != "5":
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{int(stage)}_3x3_s2")(x)
    x = layers.GlobalAveragePooling2D(name="pool5_avg")(x)
    x = layers.Dropout(dropout, name="pool5_drop")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        source = weights if isinstance(weights, Mapping) else read_h5_layer_weights(weights)
        load_named_weights(model, source, layer_names=[l.name for l in model.layers if l.weights])
    return model
