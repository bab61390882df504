"""GoogLeNet (Inception v1) built from Table 1 of Szegedy et al. 2015."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from sbir_tf.models.googlenet import INCEPTION_FILTERS, LocalResponseNormalization, googlenet

# Our trunk (all convs with biases, no classifier, no auxiliary heads): 5,973,552 parameters.
# Adding the 1024 -> 1000 classifier (1,025,000) gives 6,998,552, i.e. within 3 % of the ~6.8M that the
# per-layer counts of Szegedy et al. 2015 (Table 1) add up to (their table rounds and leaves out the biases).
GOOGLENET_TRUNK_PARAMS = 5_973_552


@pytest.fixture(scope="module")
def net64():
    return googlenet((64, 64, 3))


def test_output_is_1024d_on_small_input(net64):
    out = net64(np.zeros((2, 64, 64, 3), "float32"))
    assert out.shape == (2, 1024)


def test_parameter_count_matches_paper(net64):
    n = net64.count_params()  # global average pooling: independent of the input size
    assert n == GOOGLENET_TRUNK_PARAMS
    assert abs(n + 1024 * 1000 + 1000 - 6.8e6) / 6.8e6 < 0.04


def test_inception_output_channels(net64):
    expected = {"3a": 256, "3b": 480, "4a": 512, "4b": 512, "4c": 512, "4d": 528, "4e": 832, "5a": 832, "5b": 1024}
    for key, channels in expected.items():
        f1, _, f3, _, f5, fp = INCEPTION_FILTERS[key]
        assert f1 + f3 + f5 + fp == channels
        assert net64.get_layer(f"inception_{key}_output").output.shape[-1] == channels
    assert net64.get_layer("pool4_3x3_s2").output.shape[1:] == (2, 2, 832)


def test_spatial_sizes_at_224_follow_the_paper():
    net = googlenet((224, 224, 3))
    assert net.get_layer("conv1_7x7_s2").output.shape[1:] == (112, 112, 64)
    assert net.get_layer("pool2_3x3_s2").output.shape[1:] == (28, 28, 192)
    assert net.get_layer("inception_5b_output").output.shape[1:] == (7, 7, 1024)


def test_weights_file_round_trip_and_wrong_shape(tmp_path, net64):
    path = tmp_path / "gn.weights.h5"
    net64.save_weights(path)
    other = googlenet((32, 32, 3), weights=path)
    np.testing.assert_array_equal(other.get_layer("inception_4c_3x3").get_weights()[0],
                                  net64.get_layer("inception_4c_3x3").get_weights()[0])
    with pytest.raises(ValueError, match="no 'imagenet' weights"):
        googlenet((32, 32, 3), weights="imagenet")
    with pytest.raises(ValueError, match="at least 32"):
        googlenet((16, 16, 3))


def _lrn_by_hand(x, depth_radius, bias, alpha, beta):
    """Caffe/AlexNet cross-channel LRN written out: x_c / (bias + alpha * sum_{|j-c|<=r} x_j^2) ** beta."""
    out = np.empty_like(x)
    channels = x.shape[-1]
    for c in range(channels):
        window = x[..., max(0, c - depth_radius):min(channels, c + depth_radius + 1)]
        out[..., c] = x[..., c] / (bias + alpha * np.sum(window ** 2, axis=-1)) ** beta
    return out


def test_lrn_layer_matches_a_hand_computation_and_round_trips():
    layer = LocalResponseNormalization(depth_radius=1, bias=2.0, alpha=0.5, beta=0.75, name="lrn")
    x = np.array([[[[1.0, 2.0, 3.0, 4.0]]]], "float32")
    # channel 0: 1 / (2 + 0.5 * (1 + 4)) ** 0.75 = 1 / 4.5 ** 0.75 = 0.32453...
    np.testing.assert_allclose(layer(x)[0, 0, 0, 0], 1.0 / 4.5 ** 0.75, rtol=1e-6)
    np.testing.assert_allclose(layer(x), _lrn_by_hand(x, 1, 2.0, 0.5, 0.75), rtol=1e-6)
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert (clone.depth_radius, clone.bias, clone.alpha, clone.beta) == (1, 2.0, 0.5, 0.75)
    z = np.random.default_rng(0).normal(size=(1, 4, 4, 8)).astype("float32")
    np.testing.assert_allclose(layer(z), clone(z))


def test_lrn_option_normalises_after_the_first_two_stages(tmp_path, net64):
    """``use_lrn=True`` adds LRN after pool1 and after conv2 (the Caffe GoogLeNet's pool1/norm1 and conv2/norm2)
    and changes the output; the conv weights of both nets come from the same saved file."""
    path = tmp_path / "gn.weights.h5"
    net64.save_weights(path)
    plain = googlenet((64, 64, 3), weights=path, dropout=0.0)
    lrn = googlenet((64, 64, 3), weights=path, dropout=0.0, use_lrn=True)
    for name in ("conv1_7x7_s2", "conv2_3x3", "inception_5b_pool_proj"):
        np.testing.assert_array_equal(lrn.get_layer(name).get_weights()[0], net64.get_layer(name).get_weights()[0])
    names = [layer.name for layer in lrn.layers]
    assert names.index("pool1_norm1") == names.index("pool1_3x3_s2") + 1
    assert names.index("conv2_norm2") == names.index("conv2_3x3") + 1
    assert lrn.get_layer("pool1_norm1").output.shape[1:] == (16, 16, 64)
    assert lrn.get_layer("conv2_norm2").output.shape[1:] == (16, 16, 192)
    assert "pool1_norm1" not in [layer.name for layer in plain.layers]
    x = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    out_plain, out_lrn = plain(x).numpy(), lrn(x).numpy()
    assert out_lrn.shape == out_plain.shape == (2, 1024)
    assert not np.allclose(out_lrn, out_plain, rtol=1e-3)
    # the first LRN acts on pool1's output exactly as the hand computation
    pool1 = keras.Model(lrn.input, lrn.get_layer("pool1_3x3_s2").output)(x).numpy()
    norm1 = keras.Model(lrn.input, lrn.get_layer("pool1_norm1").output)(x).numpy()
    np.testing.assert_allclose(norm1, _lrn_by_hand(pool1, 2, 1.0, 1e-4 / 5, 0.75), rtol=1e-5)
