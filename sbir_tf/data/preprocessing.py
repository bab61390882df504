"""Pixel-level preprocessing shared by the training and evaluation pipelines.

Two value ranges are used:

* Encoder input: VGG16 "caffe" preprocessing, as the original VGG16 release (and hence Pang et al. 2017, who
  fine-tune ImageNet/HED VGG16 weights) expects: RGB -> BGR, subtract the per-channel ImageNet mean
  :data:`VGG_MEAN_BGR`, no scaling (values stay in roughly [-124, 152]).
* Decoder target: the anchor sketch in [-1, 1] (``x / 127.5 - 1``), matching the ``tanh`` output of the
  reconstruction decoder (Sec. 3.2, Pang et al. 2017).

All functions accept numpy arrays or tensors of shape ``[..., 3]`` and return tensors (``*_deprocess`` / ``from_*``
return numpy uint8 for plotting).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

#: ImageNet mean pixel in BGR order used by the caffe VGG16 weights (Simonyan & Zisserman 2015; caffe model zoo).
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


def vgg_preprocess(x) -> tf.Tensor:
    """RGB values in [0, 255] -> caffe-style VGG16 input: BGR order minus :data:`VGG_MEAN_BGR`, no scaling."""
    x = tf.convert_to_tensor(x)
    x = tf.cast(x, tf.float32)
    return x[..., ::-1] - tf.constant(VGG_MEAN_BGR, tf.float32)


def vgg_deprocess(x) -> np.ndarray:
    """Inverse of :func:`vgg_preprocess`: caffe BGR mean-subtracted -> uint8 RGB (clipped to [0, 255])."""
    x = np.asarray(x, dtype=np.float32) + np.asarray(VGG_MEAN_BGR, np.float32)
    return np.clip(np.rint(x[..., ::-1]), 0, 255).astype(np.uint8)


def to_sketch_target(x) -> tf.Tensor:
    """RGB values in [0, 255] -> [-1, 1] reconstruction target (``x / 127.5 - 1``) for the tanh decoder."""
    x = tf.cast(tf.convert_to_tensor(x), tf.float32)
    return x / 127.5 - 1.0


def from_sketch_target(t) -> np.ndarray:
    """Inverse of :func:`to_sketch_target`: [-1, 1] -> uint8 (clipped), e.g. for decoder outputs."""
    t = np.asarray(t, dtype=np.float32)
    return np.clip(np.rint((t + 1.0) * 127.5), 0, 255).astype(np.uint8)


def default_load_size(image_size: int) -> int:
    """Resize side before cropping: 256 for 224 crops, scaled proportionally for smaller CPU crops (64 -> 73)."""
    return int(round(image_size * 256 / 224))


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """uint8 ``[H, W, C]`` with C in {1, 2, 3, 4} -> uint8 ``[H, W, 3]``.

    Grey images are replicated to 3 channels; images with an alpha channel are composited over a white background
    (transparent sketch strokes on a transparent canvas would otherwise turn into an all-black image).
    """
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., None]
    channels = tf.shape(image)[-1]

    def grey():
        return tf.tile(image[..., :1], [1, 1, 3])

    def over_white(colour):
        alpha = tf.cast(image[..., -1:], tf.float32) / 255.0
        rgb = tf.cast(colour, tf.float32) * alpha + 255.0 * (1.0 - alpha)
        return tf.cast(tf.clip_by_value(tf.round(rgb), 0, 255), tf.uint8)

    branches = {
        1: grey,
        2: lambda: over_white(tf.tile(image[..., :1], [1, 1, 3])),
        3: lambda: image[..., :3],
        4: lambda: over_white(image[..., :3]),
    }
    # switch_case needs every branch to produce the same static shape; channel 0..3 index the table above.
    out = tf.switch_case(tf.clip_by_value(channels - 1, 0, 3),
                         [branches[1], branches[2], branches[3], branches[4]])
    out.set_shape([None, None, 3])
    return out


def decode_to_rgb(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded PNG/JPEG/BMP/GIF bytes -> uint8 ``[H, W, 3]`` (grey replicated, alpha composited on white)."""
    image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
    return to_rgb(image)


def resize_square(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resize to ``[size, size]`` (bilinear, antialiased so thin sketch strokes survive downscaling) -> float32."""
    image = tf.image.resize(tf.cast(image, tf.float32), [size, size], method="bilinear", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def crop(image: tf.Tensor, offset_y, offset_x, size: int) -> tf.Tensor:
    """``[L, L, 3]`` -> the ``[size, size, 3]`` window starting at ``(offset_y, offset_x)``."""
    out = tf.slice(image, tf.stack([offset_y, offset_x, 0]), [size, size, 3])
    out.set_shape([size, size, 3])
    return out


def centre_offset(load_size: int, image_size: int) -> int:
    """Offset of the centre ``image_size`` crop inside a ``load_size`` image (evaluation crop)."""
    return (load_size - image_size) // 2
