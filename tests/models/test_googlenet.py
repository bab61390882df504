"""GoogLeNet (Inception v1) built from Table 1 of Szegedy et al. 2015."""
from __future__ import annotations

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


def test_lrn_option_and_config():
    net = googlenet((32, 32, 3), use_lrn=True)
    assert net.get_layer("pool1_norm1") is not None
    layer = LocalResponseNormalization(depth_radius=3, name="lrn")
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert clone.depth_radius == 3 and clone.beta == 0.75
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 8)).astype("float32")
    np.testing.assert_allclose(layer(x), clone(x))
