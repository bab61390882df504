"""Pixel preprocessing: caffe VGG input, [-1, 1] sketch target, channel handling."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sbir_tf.data.preprocessing import (
    VGG_MEAN_BGR, centre_offset, decode_to_rgb, default_load_size, from_sketch_target, to_rgb, to_sketch_target,
    vgg_deprocess, vgg_preprocess,
)


def test_vgg_preprocess_matches_hand_computation_on_one_pixel():
    rgb = np.array([[[10, 20, 30]]], np.uint8)
    out = vgg_preprocess(rgb).numpy()[0, 0]
    # BGR order, minus the ImageNet mean (103.939, 116.779, 123.68), no scaling.
    np.testing.assert_allclose(out, [30 - 103.939, 20 - 116.779, 10 - 123.68], rtol=0, atol=1e-4)
    assert VGG_MEAN_BGR == (103.939, 116.779, 123.68)


def test_vgg_deprocess_inverts_preprocess():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(4, 5, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(vgg_deprocess(vgg_preprocess(rgb).numpy()), rgb)


def test_sketch_target_range_and_inverse():
    x = np.array([0, 127.5, 255], np.float32).reshape(1, 1, 3)
    np.testing.assert_allclose(to_sketch_target(x).numpy().ravel(), [-1.0, 0.0, 1.0])
    rgb = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, -1)
    np.testing.assert_array_equal(from_sketch_target(to_sketch_target(rgb).numpy()), rgb)


def test_default_load_size_scales_with_crop():
    assert default_load_size(224) == 256
    assert default_load_size(112) == 128
    assert default_load_size(64) == 73
    assert centre_offset(256, 224) == 16


def _png(array, mode):
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("mode,array", [
    ("L", np.full((6, 7), 90, np.uint8)),
    ("LA", np.dstack([np.full((6, 7), 90, np.uint8), np.full((6, 7), 255, np.uint8)])),
    ("RGB", np.dstack([np.full((6, 7), v, np.uint8) for v in (90, 90, 90)])),
    ("RGBA", np.dstack([np.full((6, 7), v, np.uint8) for v in (90, 90, 90, 255)])),
])
def test_decode_gives_three_channels(mode, array):
    out = decode_to_rgb(tf.constant(_png(array, mode))).numpy()
    assert out.shape == (6, 7, 3) and out.dtype == np.uint8
    assert (out == 90).all()


def test_transparent_pixels_become_white():
    rgba = np.zeros((4, 4, 4), np.uint8)  # black, fully transparent ...
    rgba[0, 0] = [0, 0, 0, 255]           # ... except one opaque black stroke pixel
    out = decode_to_rgb(tf.constant(_png(rgba, "RGBA"))).numpy()
    assert (out[0, 0] == 0).all()
    assert (out.reshape(-1, 3)[1:] == 255).all()


def test_to_rgb_on_grey_array():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = to_rgb(grey).numpy()
    assert out.shape == (3, 4, 3)
    np.testing.assert_array_equal(out[..., 2], grey)
