"""Pretrained weights for the fine-grained encoders, applied to a built model (never part of a model's config).

The models of :mod:`sbir_tf.models.fg` are built from their config with random weights (``from_config`` reads no
file); the weight sources of a run (``model.weights`` / ``model.sketch_weights``: a
:data:`~sbir_tf.models.backbones.KNOWN_WEIGHTS` name or a ``.h5``/``.weights.h5`` file) are applied afterwards:

* VGG16 trunk: the 13 conv layers, all required with exactly the right shapes (``ValueError`` naming the layer);
  the head's ``fc1``/``fc2`` (VGG16 fc6/fc7) where the source has them with matching shapes (ImageNet ``fc1`` only
  fits a flattened pool5 at 224 px; ``fc2`` fits at every size). The ``embedding`` layer is new and keeps its
  initialisation.
* GoogLeNet trunk: every layer with weights, by name, from a ``.h5`` file (no built-in GoogLeNet source exists).

A trained model is saved and reloaded whole (``sbir_tf.export.save_run_model`` / ``load_run_model``), so these
functions only run when a model is first built.
"""
from __future__ import annotations

import os
from typing import Mapping

from sbir_tf.models import backbones

#: An already-read weight source: ``{layer_name: [arrays]}``.
WeightSource = Mapping[str, list]


def read_weights(backbone: str, spec) -> WeightSource | None:
    """Read (and so validate) a weight source once, as ``{layer_name: [arrays]}``; ``None`` stays ``None``.

    VGG16 ``"imagenet"`` includes the fc layers so ``fc2`` (and ``fc1`` at 224 px with ``pooling="flatten"``) start
    pretrained; GoogLeNet reads a ``.h5`` file.
    """
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return spec
    if isinstance(spec, os.PathLike):
        spec = str(spec)
    if backbone == "googlenet":
        return backbones.read_h5_layer_weights(spec)
    return backbones.resolve_weights(spec, include_top=(spec == "imagenet"))


def _trunk_layer_names(encoder) -> list[str]:
    if encoder.backbone == "vgg16":
        return [n for n, _ in backbones.VGG16_CONV_LAYERS]
    return [layer.name for layer in encoder.trunk.layers if layer.weights]


def load_trunk_weights(encoder, source: WeightSource | None) -> list[str]:
    """Load the conv trunk of an :class:`~sbir_tf.models.fg.FGEncoder` (every layer required); returns the names
    loaded (``["googlenet"]`` for a GoogLeNet trunk, whose layers all load)."""
    if source is None:
        return []
    backbones.load_named_weights(encoder.trunk, source, layer_names=_trunk_layer_names(encoder))
    return [n for n, _ in backbones.VGG16_CONV_LAYERS] if encoder.backbone == "vgg16" else ["googlenet"]


def load_head_weights(encoder, source: WeightSource | None) -> list[str]:
    """Load VGG16 ``fc1``/``fc2`` into the encoder's head where the source has them with matching shapes."""
    if source is None or encoder.backbone != "vgg16":
        return []
    names = [f"fc{i}" for i in range(1, len(encoder.fc_dims) + 1) if f"fc{i}" in backbones.VGG16_FC_LAYERS]
    return backbones.load_named_weights(encoder.head, source, layer_names=(), optional=names)


def load_encoder_weights(encoder, source: WeightSource | None) -> list[str]:
    """Trunk and head weights of one encoder (:func:`load_trunk_weights` + :func:`load_head_weights`)."""
    return load_trunk_weights(encoder, source) + load_head_weights(encoder, source)


def load_pretrained(model, weights, sketch_weights=None) -> dict[str, list[str]]:
    """Apply pretrained weights to a :class:`~sbir_tf.models.fg.PangModel`; returns (and records on the model)
    the layers loaded per encoder, ``{"sketch": [...], "photo": [...]}``.

    ``weights``: the photo encoder's source (and the sketch encoder's when ``sketch_weights`` is ``None``), a spec
    or an already-read ``{layer: [arrays]}`` mapping. A siamese model loads once. Under ``hybrid_fc`` the sketch
    encoder shares the photo encoder's head, so only its trunk reads ``sketch_weights``; under ``hybrid`` its own
    fc1/fc2 read them too (the tied ``embedding`` layer has no pretrained weights).
    """
    backbone = model.photo_encoder.backbone
    photo_source = read_weights(backbone, weights)
    sketch_source = photo_source if sketch_weights is None else read_weights(backbone, sketch_weights)
    loaded = {"photo": load_encoder_weights(model.photo_encoder, photo_source)}
    if model.siamese:
        if sketch_weights is not None and sketch_source is not photo_source:
            raise ValueError("sketch_weights given for a siamese model, which uses one encoder for both domains")
        loaded["sketch"] = loaded["photo"]
    elif model.sketch_encoder.head is model.photo_encoder.head:
        fc = [n for n in loaded["photo"] if n in backbones.VGG16_FC_LAYERS]
        loaded["sketch"] = load_trunk_weights(model.sketch_encoder, sketch_source) + fc
    else:
        loaded["sketch"] = load_encoder_weights(model.sketch_encoder, sketch_source)
    model.set_loaded_layers(loaded)
    return loaded

