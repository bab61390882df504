"""Fine-grained SBIR model of Pang, Song, Xiang, Hospedales, "Cross-domain Generative Learning for Fine-Grained
Sketch-Based Image Retrieval" (BMVC 2017).

Three parts, each a Keras Functional model:

* encoder E (Sec. 3.1): image -> 256-d l2-normalised joint embedding. VGG16 conv blocks (``backbones.vgg16_trunk``)
  followed by the *embedding head*: flatten pool5, ``fc1``/``fc2`` (fc6/fc7 of VGG16: 4096-d, ReLU, dropout 0.5 as in
  VGG16 training), a new fully connected ``embedding`` layer (256) and l2 normalisation. The ImageNet 1000-way
  classifier is dropped. With ``backbone="googlenet"`` (Table 3, ``_GN``) the head is ``embedding`` + l2 on the
  1024-d pooled GoogLeNet feature.
* decoder D (Table 1): embedding -> ``S/32 x S/32 x 512`` seed -> five 4x4 stride-2 transposed convs with batch norm +
  ReLU -> one 4x4 stride-1 transposed conv to 3 channels with tanh (the sketch in [-1, 1]).
* classifier C (Sec. 3.1, "Classification Subnet"): a single ``Dense(num_classes)`` giving logits straight on the
  embedding.

Weight sharing between the sketch and the photo encoder (Table 4 and Sec. 3.3), by name (:data:`SHARING`):

* ``siamese`` — one encoder for both domains, "weight-sharing everywhere between branches" (the paper's choice);
* ``heterogeneous`` — two separate encoders, "not weight sharing in any layer";
* ``hybrid`` — the paper's third strategy, "whereby the branches are only tied at the joint embedding layer":
  separate conv trunks *and* separate ``fc1``/``fc2`` (fc6/fc7), one shared ``embedding`` layer (FC-256);
* ``hybrid_fc`` — not in the paper: separate conv trunks, shared ``fc1``/``fc2``/``embedding`` layers.

The classifier and the decoder are shared by both domains in every mode. Sketches always go through
``sketch_encoder`` and photos through ``photo_encoder`` (:func:`embed_triplet`).

Input sizes: the paper uses 224 px. Any size ``S`` divisible by 16 (and >= 32) works: pool5 is then
``floor(S/32) x floor(S/32) x 512`` (3x3 at 112 px, VGG16's 'valid' pooling drops the odd last row/column). With
``pooling="flatten"`` (default, as VGG16) ``fc1`` has fan-in ``floor(S/32)^2 * 512``; its ImageNet weights only fit at 224 px,
so at other sizes ``fc1`` starts from Glorot-uniform initialisation while ``fc2`` (4096 -> 4096, size independent)
still takes the pretrained weights. ``pooling="gap"`` global-average-pools pool5 first (fan-in 512 at every size,
``fc1`` always random). Sizes not divisible by 16 raise ``ValueError``. The decoder at other sizes:
:func:`decoder_plan`.

Frozen conv blocks (``frozen_blocks``, not in the paper, which trains every layer): a cheaper setting for CPU runs.
``frozen_blocks=k`` keeps VGG16 conv blocks 1..k at their initial (e.g. ImageNet) weights
(:func:`freeze_vgg16_blocks`); ``0``, the default of every preset, trains everything as the paper does.
"""
from __future__ import annotations

import os
import types
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from sbir_tf.models import backbones
from sbir_tf.models.googlenet import GOOGLENET_FEATURE_DIM, googlenet

BACKBONES = ("vgg16", "googlenet")
#: Weight-sharing strategies (Table 4, Sec. 3.3, Pang et al. 2017); ``hybrid_fc`` is an extra, not in the paper.
SHARING = ("siamese", "heterogeneous", "hybrid", "hybrid_fc")
POOLING = ("flatten", "gap")

#: Model hyper-parameters of Pang et al. 2017 (Sec. 3, Table 1, Table 4) as defaults of :func:`build_fg_model`.
DEFAULT_MODEL_CONFIG: dict[str, Any] = {
    "backbone": "vgg16",            # Sec. 3.1: VGG16 encoder; "googlenet" for the _GN variants of Table 3
    "weights": "imagenet",          # pretrained trunk: None | a backbones.KNOWN_WEIGHTS name | .h5 path
    "sketch_weights": None,         # separate trunk weights for the sketch encoder (every sharing but siamese)
    "sharing": "siamese",           # Table 4
    "use_decoder": True,            # False = the "-D" variant of Table 3
    "embedding_dim": 256,           # Sec. 3.1: 256-d joint embedding
    "fc_dims": (4096, 4096),        # VGG16 fc6/fc7 kept
    "dropout": 0.5,                 # VGG16 dropout on fc6/fc7
    "pooling": "flatten",           # "flatten" (VGG16) or "gap" (global average pool5 before fc6)
    "decoder_channels": (512, 512, 256, 128, 64, 32),  # Table 1: seed channels, then the five stride-2 deconvs
    "decoder_kernel": 4,            # Table 1: 4x4 transposed convolutions
    "googlenet_dropout": 0.4,       # Szegedy et al. 2015
    "frozen_blocks": 0,             # not in the paper (it trains everything): VGG16 conv blocks 1..k not trained
}

#: Number of conv blocks of VGG16 (Simonyan & Zisserman 2015, configuration D): the largest ``frozen_blocks``.
VGG16_BLOCKS = 5


def default_model_config() -> dict[str, Any]:
    """A fresh copy of :data:`DEFAULT_MODEL_CONFIG`."""
    return dict(DEFAULT_MODEL_CONFIG)


# ---------------------------------------------------------------------------------------------------- layers


@keras.saving.register_keras_serializable(package="sbir_tf")
class L2Normalize(layers.Layer):
    """``x / max(||x||_2, eps)`` along ``axis``, computed in float32 (Sec. 3.1, Pang et al. 2017: the embedding is
    l2-normalised so the triplet margin of 0.1 is on a fixed scale)."""

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, epsilon

    def call(self, x):
        x = keras.ops.cast(x, "float32")
        norm = keras.ops.sqrt(keras.ops.maximum(keras.ops.sum(keras.ops.square(x), axis=self.axis, keepdims=True),
                                                self.epsilon ** 2))
        return x / norm

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


# ---------------------------------------------------------------------------------------------------- encoder


def embedding_head(input_shape: Sequence[int], *, fc_dims: Sequence[int] = (4096, 4096), dropout: float = 0.5,
                   embedding_dim: int = 256, pooling: str = "flatten", name: str = "embedding_head",
                   shared_embedding: layers.Dense | None = None) -> keras.Model:
    """Trunk features -> l2-normalised embedding: [flatten|gap] -> fc1 -> fc2 (ReLU + dropout) -> embedding -> l2.

    ``fc_dims=()`` gives just the ``embedding`` layer (used on the 1024-d GoogLeNet feature). Output float32.
    ``shared_embedding``: an ``embedding`` layer of another head to reuse (the same variables) instead of a new one,
    as the ``hybrid`` strategy ties the branches "only at the joint embedding layer" (Sec. 3.3, Pang et al. 2017).
    """
    if pooling not in POOLING:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLING}")
    if shared_embedding is not None and shared_embedding.units != int(embedding_dim):
        raise ValueError(f"shared embedding layer has {shared_embedding.units} units, the head needs {embedding_dim}")
    inputs = keras.Input(shape=tuple(input_shape), name=f"{name}_features")
    x = inputs
    if len(input_shape) == 3:
        x = (layers.Flatten(name="flatten") if pooling == "flatten" else
             layers.GlobalAveragePooling2D(name="pool5_gap"))(x)
    for i, units in enumerate(fc_dims, start=1):
        x = layers.Dense(int(units), activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(float(dropout), name=f"fc{i}_dropout")(x)
    embedding = shared_embedding if shared_embedding is not None else layers.Dense(int(embedding_dim), name="embedding")
    x = embedding(x)
    x = L2Normalize(name="l2_normalize")(x)
    return keras.Model(inputs, x, name=name)


def check_frozen_blocks(frozen_blocks, backbone: str = "vgg16") -> int:
    """Return ``frozen_blocks`` as an int if it is a valid ``model.frozen_blocks``, else raise ``ValueError``.

    Valid: an integer ``0..VGG16_BLOCKS`` (5) with the VGG16 backbone; only ``0`` with GoogLeNet, whose inception
    modules have no counterpart of VGG16's five conv blocks.
    """
    if isinstance(frozen_blocks, bool) or not isinstance(frozen_blocks, (int, np.integer)) or not (
            0 <= frozen_blocks <= VGG16_BLOCKS):
        raise ValueError(f"model.frozen_blocks must be an integer in 0..{VGG16_BLOCKS} (0 trains every layer, as the "
                         f"paper does; k keeps VGG16 conv blocks 1..k fixed), got {frozen_blocks!r}")
    if frozen_blocks and backbone != "vgg16":
        raise ValueError(f"model.frozen_blocks={frozen_blocks} freezes VGG16 conv blocks; the {backbone} backbone has "
                         f"no such blocks: set model.frozen_blocks=0 or use the vgg16 backbone")
    return int(frozen_blocks)


def freeze_vgg16_blocks(trunk: keras.Model, frozen_blocks: int) -> list[str]:
    """Mark the conv layers of VGG16 blocks ``1..frozen_blocks`` of ``trunk`` not trainable; returns their names.

    Not in Pang et al. 2017 (every layer is trained there): a cheaper setting for CPU runs. The frozen kernels and
    biases leave ``trainable_variables``, so they are in no variable group of the trainer and the optimizer never
    sees them, but stay in ``variables``, so checkpoints still save and restore them. The training step asks for no
    gradient with respect to them; the backward ops the tape records for them have no consumer and are pruned from
    the traced ``tf.function``, so neither their weight gradients nor the input gradients below the first trainable
    layer are computed. Pooling layers have no weights. ``0`` changes nothing.
    """
    frozen_blocks = check_frozen_blocks(frozen_blocks)
    names = [n for n, _ in backbones.VGG16_CONV_LAYERS
             if int(n[len("block"):n.index("_")]) <= frozen_blocks]
    for name in names:
        trunk.get_layer(name).trainable = False
    return names


def _trunk(cfg: Mapping, image_size: int, weights, name: str) -> keras.Model:
    if cfg["backbone"] == "vgg16":
        trunk = backbones.vgg16_trunk((image_size, image_size, 3), weights=weights, name=name)
        freeze_vgg16_blocks(trunk, cfg["frozen_blocks"])
        return trunk
    return googlenet((image_size, image_size, 3), weights=weights, dropout=cfg["googlenet_dropout"], name=name)


def _head(cfg: Mapping, trunk: keras.Model, name: str, shared_embedding: layers.Dense | None = None) -> keras.Model:
    if cfg["backbone"] == "vgg16":
        return embedding_head(trunk.output.shape[1:], fc_dims=cfg["fc_dims"], dropout=cfg["dropout"],
                              embedding_dim=cfg["embedding_dim"], pooling=cfg["pooling"], name=name,
                              shared_embedding=shared_embedding)
    return embedding_head((GOOGLENET_FEATURE_DIM,), fc_dims=(), dropout=0.0, embedding_dim=cfg["embedding_dim"],
                          name=name, shared_embedding=shared_embedding)


def _encoder(trunk: keras.Model, head: keras.Model, name: str) -> keras.Model:
    inputs = keras.Input(shape=trunk.input.shape[1:], name=f"{name}_image")
    return keras.Model(inputs, head(trunk(inputs)), name=name)


def build_encoder(cfg: Mapping | None = None, image_size: int = 224, name: str = "encoder") -> keras.Model:
    """One encoder E: ``[B, S, S, 3]`` (Caffe-preprocessed) -> ``[B, embedding_dim]`` float32, unit l2 norm."""
    cfg = _resolve_config(cfg, image_size)
    source = _read_weights(cfg, cfg["weights"])
    trunk = _trunk(cfg, image_size, source, f"{name}_trunk")
    head = _head(cfg, trunk, f"{name}_head")
    _load_fc(cfg, head, source)
    return _encoder(trunk, head, name)


# ---------------------------------------------------------------------------------------------------- decoder


def decoder_plan(image_size: int) -> tuple[int, int]:
    """``(seed, doublings)`` of the decoder for output size ``S`` (Table 1, Pang et al. 2017, at other sizes).

    Table 1 seeds a 7x7 grid and doubles it five times to 224. For ``S`` divisible by 32 the same five stride-2
    layers start from ``S/32`` (64 px: 2 -> 64). For an odd multiple of 16 such as 112 the seed is ``S/16`` and the
    stack stops after four doublings: Table 1 truncated at that resolution (112 px: 7x7x512 -> 14x14x512 ->
    28x28x256 -> 56x56x128 -> 112x112x64 -> 3 channels), i.e. each resolution keeps Table 1's channel count and the
    last 32-channel layer is left out. Other sizes raise ``ValueError``.
    """
    image_size = backbones.check_image_size(image_size)
    if image_size % backbones.VGG16_STRIDE == 0:
        return image_size // backbones.VGG16_STRIDE, 5
    return image_size // backbones.IMAGE_SIZE_MULTIPLE, 4


def build_decoder(image_size: int = 224, embedding_dim: int = 256,
                  channels: Sequence[int] = (512, 512, 256, 128, 64, 32), kernel_size: int = 4,
                  name: str = "decoder") -> keras.Model:
    """Decoder D of Table 1, Pang et al. 2017: embedding -> sketch image in [-1, 1].

    ``decoder_seed_fc`` (Dense to ``(S/32)^2 * channels[0]``) -> reshape to ``S/32 x S/32 x channels[0]`` (7x7x512 at
    224 px) -> batch norm + ReLU, then ``deconv1..deconv5``: ``kernel_size`` x ``kernel_size`` stride-2
    ``Conv2DTranspose`` with ``channels[1:]`` filters, each with batch norm + ReLU (14x14x512, 28x28x256, 56x56x128,
    112x112x64, 224x224x32 at 224 px), then ``decoder_output``: a stride-1 ``Conv2DTranspose`` to 3 channels with
    tanh and no batch norm (float32). The seed is a projection (Dense + reshape) since the embedding is a vector.
    At sizes that are odd multiples of 16 (112 px) the stack stops one layer earlier (:func:`decoder_plan`).
    """
    seed, doublings = decoder_plan(image_size)
    channels = [int(c) for c in channels]
    if len(channels) != 6:
        raise ValueError(f"decoder channels must be 6 numbers (seed + five stride-2 deconvs), got {channels}")
    channels = channels[:1 + doublings]
    inputs = keras.Input(shape=(int(embedding_dim),), name=f"{name}_embedding")
    x = layers.Dense(seed * seed * channels[0], name="decoder_seed_fc")(inputs)
    x = layers.Reshape((seed, seed, channels[0]), name="decoder_seed")(x)
    x = layers.BatchNormalization(name="decoder_seed_bn")(x)
    x = layers.ReLU(name="decoder_seed_relu")(x)
    for i, filters in enumerate(channels[1:], start=1):
        x = layers.Conv2DTranspose(filters, kernel_size, strides=2, padding="same", use_bias=False,
                                   name=f"deconv{i}")(x)
        x = layers.BatchNormalization(name=f"deconv{i}_bn")(x)
        x = layers.ReLU(name=f"deconv{i}_relu")(x)
    x = layers.Conv2DTranspose(3, kernel_size, strides=1, padding="same", activation="tanh", dtype="float32",
                               name="decoder_output")(x)
    return keras.Model(inputs, x, name=name)


def build_classifier(num_classes: int, embedding_dim: int = 256, name: str = "classifier") -> keras.Model:
    """Classifier C (Sec. 3.1 "Classification Subnet", Pang et al. 2017): ``Dense(num_classes)`` logits (float32)
    on the embedding."""
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    inputs = keras.Input(shape=(int(embedding_dim),), name=f"{name}_embedding")
    logits = layers.Dense(int(num_classes), dtype="float32", name="logits")(inputs)
    return keras.Model(inputs, logits, name=name)


# ---------------------------------------------------------------------------------------------------- FGModel


def _unique(variables) -> list:
    seen, out = set(), []
    for v in variables:
        key = id(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


class FGModel(tf.Module):
    """The sketch/photo encoders, the shared classifier and the optional decoder, with their variable groups.

    A ``tf.Module``, so ``tf.train.Checkpoint(model=fg_model)`` saves everything (shared layers once), frozen conv
    blocks included. Variable groups hold trainable variables, deduplicated (a siamese encoder appears once); the
    layers of frozen blocks (``config["frozen_blocks"]``) are in none of them.
    """

    def __init__(self, sketch_encoder: keras.Model, photo_encoder: keras.Model, classifier: keras.Model,
                 decoder: keras.Model | None, config: Mapping[str, Any] | None = None,
                 loaded_layers: Mapping[str, list[str]] | None = None, name: str = "fg_model") -> None:
        super().__init__(name=name)
        self.sketch_encoder = sketch_encoder
        self.photo_encoder = photo_encoder
        self.classifier = classifier
        self.decoder = decoder
        # Plain-Python metadata kept in a namespace so tf.Module does not wrap it into trackable containers.
        self._meta = types.SimpleNamespace(config=dict(config or {}), loaded_layers=dict(loaded_layers or {}))

    @property
    def config(self) -> dict[str, Any]:
        """The resolved model config (all keys of :data:`DEFAULT_MODEL_CONFIG`)."""
        return dict(self._meta.config)

    @property
    def loaded_layers(self) -> dict[str, list[str]]:
        """Layers that took pretrained weights, per encoder: ``{"sketch": [...], "photo": [...]}``."""
        return {k: list(v) for k, v in self._meta.loaded_layers.items()}

    @property
    def encoder_variables(self) -> list:
        return _unique(self.sketch_encoder.trainable_variables + self.photo_encoder.trainable_variables)

    @property
    def classifier_variables(self) -> list:
        return _unique(self.classifier.trainable_variables)

    @property
    def decoder_variables(self) -> list:
        return _unique(self.decoder.trainable_variables) if self.decoder is not None else []

    @property
    def all_trainable_variables(self) -> list:
        return _unique(self.encoder_variables + self.classifier_variables + self.decoder_variables)

    def embed_sketch(self, x, training: bool = False):
        """Sketch images ``[B, S, S, 3]`` -> ``[B, D]`` float32 unit-norm embeddings."""
        return self.sketch_encoder(x, training=training)

    def embed_photo(self, x, training: bool = False):
        """Photo images ``[B, S, S, 3]`` -> ``[B, D]`` float32 unit-norm embeddings."""
        return self.photo_encoder(x, training=training)

    def embed_triplet(self, sketch, positive, negative, training: bool = False):
        """``(E(x_s), E(x_p+), E(x_p-))``: see :func:`embed_triplet`."""
        return embed_triplet(self, sketch, positive, negative, training=training)

    def forward(self, sketch, positive, negative, training: bool = False) -> dict:
        """Everything the losses of :mod:`sbir_tf.losses.fg` need for one triplet batch: :func:`triplet_outputs`."""
        return triplet_outputs(self, sketch, positive, negative, training=training)


def triplet_outputs(model, sketch, positive, negative, *, training: bool = False, logits: bool = True,
                    reconstructions: bool = True, decoder_training: bool | None = None) -> dict:
    """The model's outputs on one triplet batch, as the losses of :mod:`sbir_tf.losses.fg` take them.

    Returns ``emb_sketch, emb_positive, emb_negative`` (``E(x_s), E(x_p+), E(x_p-)``), with ``logits=True``
    ``logits_sketch, logits_positive, logits_negative`` (``C`` on each embedding) and, with ``reconstructions=True``
    and a decoder, ``recon_from_sketch = D(E(x_s))`` and ``recon_from_positive = D(E(x_p+))`` (the two inputs of
    Eq. 4, Pang et al. 2017). Outputs not computed are ``None``. ``decoder_training`` sets the decoder's mode
    separately (``False``: a frozen decoder, batch-norm statistics untouched); default ``training``.
    ``model`` needs ``sketch_encoder``, ``photo_encoder``, ``classifier`` and ``decoder`` (``None`` allowed).
    """
    emb_s, emb_p, emb_n = embed_triplet(model, sketch, positive, negative, training=training)
    out = {"emb_sketch": emb_s, "emb_positive": emb_p, "emb_negative": emb_n,
           "logits_sketch": None, "logits_positive": None, "logits_negative": None,
           "recon_from_sketch": None, "recon_from_positive": None}
    if logits:
        for key, emb in (("sketch", emb_s), ("positive", emb_p), ("negative", emb_n)):
            out[f"logits_{key}"] = model.classifier(emb, training=training)
    if reconstructions and model.decoder is not None:
        mode = training if decoder_training is None else decoder_training
        out["recon_from_sketch"] = model.decoder(emb_s, training=mode)
        out["recon_from_positive"] = model.decoder(emb_p, training=mode)
    return out


def embed_triplet(model, sketch, positive, negative, training: bool = False):
    """``(E(x_s), E(x_p+), E(x_p-))`` of a triplet batch with as few encoder calls as the sharing allows.

    ``siamese``: one call on the three batches stacked (one large batch keeps the conv kernels busy); otherwise one
    sketch call and one call on positives and negatives stacked. The encoders have no batch statistics, so stacking
    changes nothing but speed. ``model`` needs ``sketch_encoder`` and ``photo_encoder``.
    """
    n = tf.shape(sketch)[0]
    if model.sketch_encoder is model.photo_encoder:
        z = model.sketch_encoder(tf.concat([sketch, positive, negative], axis=0), training=training)
        return z[:n], z[n:2 * n], z[2 * n:]
    z_s = model.sketch_encoder(sketch, training=training)
    z_pn = model.photo_encoder(tf.concat([positive, negative], axis=0), training=training)
    return z_s, z_pn[:n], z_pn[n:]


def build_fg_model(cfg: Mapping | None = None, num_classes: int = 125, image_size: int = 224) -> FGModel:
    """Build the model of Pang et al. 2017 from a model config (keys of :data:`DEFAULT_MODEL_CONFIG`; missing keys
    take the defaults, unknown keys raise ``ValueError``).

    All names (backbone, sharing, weights, pooling), ``frozen_blocks`` and the image size are validated, and weight
    files are read and shape-checked, before any layer is built, so a bad config fails before training starts.
    ``frozen_blocks=k`` freezes VGG16 conv blocks 1..k in every conv trunk (both trunks under ``heterogeneous``,
    ``hybrid`` and ``hybrid_fc``), after the trunk weights are loaded.
    """
    cfg = _resolve_config(cfg, image_size)
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    sharing = cfg["sharing"]
    photo_source = _read_weights(cfg, cfg["weights"])
    sketch_spec = cfg["sketch_weights"] if cfg["sketch_weights"] is not None else cfg["weights"]
    if sharing == "siamese" and cfg["sketch_weights"] is not None and cfg["sketch_weights"] != cfg["weights"]:
        raise ValueError("sketch_weights differ from weights but sharing='siamese' uses one encoder for both "
                         f"domains; use one of {[m for m in SHARING if m != 'siamese']}")
    sketch_source = photo_source if sketch_spec == cfg["weights"] else _read_weights(cfg, sketch_spec)

    loaded: dict[str, list[str]] = {}
    photo_trunk = _trunk(cfg, image_size, photo_source, "photo_trunk")
    photo_head = _head(cfg, photo_trunk, "shared_head" if sharing in ("siamese", "hybrid_fc") else "photo_head")
    loaded["photo"] = _loaded_trunk_layers(cfg, photo_source) + _load_fc(cfg, photo_head, photo_source)
    if sharing == "siamese":
        encoder = _encoder(photo_trunk, photo_head, "encoder")
        sketch_encoder = photo_encoder = encoder
        loaded["sketch"] = loaded["photo"]
    else:
        sketch_trunk = _trunk(cfg, image_size, sketch_source, "sketch_trunk")
        if sharing == "hybrid_fc":  # one head (fc1, fc2, embedding) on two conv trunks
            sketch_head, fc_loaded = photo_head, [n for n in loaded["photo"] if n in backbones.VGG16_FC_LAYERS]
        else:  # heterogeneous: a head of its own; hybrid: its own fc1/fc2, the photo head's embedding layer
            tied = photo_head.get_layer("embedding") if sharing == "hybrid" else None
            sketch_head = _head(cfg, sketch_trunk, "sketch_head", shared_embedding=tied)
            fc_loaded = _load_fc(cfg, sketch_head, sketch_source)
        loaded["sketch"] = _loaded_trunk_layers(cfg, sketch_source) + fc_loaded
        sketch_encoder = _encoder(sketch_trunk, sketch_head, "sketch_encoder")
        photo_encoder = _encoder(photo_trunk, photo_head, "photo_encoder")

    classifier = build_classifier(num_classes, cfg["embedding_dim"])
    decoder = (build_decoder(image_size, cfg["embedding_dim"], cfg["decoder_channels"], cfg["decoder_kernel"])
               if cfg["use_decoder"] else None)
    return FGModel(sketch_encoder, photo_encoder, classifier, decoder, config=cfg, loaded_layers=loaded)


# ---------------------------------------------------------------------------------------------------- config/weights


def _resolve_config(cfg: Mapping | None, image_size: int) -> dict[str, Any]:
    out = default_model_config()
    unknown = sorted(set(cfg or {}) - set(out))
    if unknown:
        raise ValueError(f"unknown model config keys {unknown}; known: {sorted(out)}")
    out.update(dict(cfg or {}))
    if out["backbone"] not in BACKBONES:
        raise ValueError(f"unknown backbone {out['backbone']!r}; choose one of {BACKBONES}")
    if out["sharing"] not in SHARING:
        raise ValueError(f"unknown sharing {out['sharing']!r}; choose one of {SHARING} (Table 4, Pang et al. 2017)")
    if out["pooling"] not in POOLING:
        raise ValueError(f"unknown pooling {out['pooling']!r}; choose one of {POOLING}")
    for key in ("weights", "sketch_weights"):
        w = out[key]
        if isinstance(w, os.PathLike):
            out[key] = w = str(w)
        if out["backbone"] == "googlenet" and w in backbones.KNOWN_WEIGHTS:
            raise ValueError(f"{key}={w!r} is a VGG16 weight source; the googlenet backbone takes None or a file")
        backbones.check_weights_arg(w)
    out["fc_dims"] = tuple(int(d) for d in out["fc_dims"])
    out["decoder_channels"] = tuple(int(c) for c in out["decoder_channels"])
    if not 0.0 <= float(out["dropout"]) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {out['dropout']}")
    out["frozen_blocks"] = check_frozen_blocks(out["frozen_blocks"], out["backbone"])
    backbones.check_image_size(image_size)
    return out


def _read_weights(cfg: Mapping, spec) -> Mapping[str, list[np.ndarray]] | None:
    """Read (and so validate) a weight source once, as ``{layer_name: [arrays]}``."""
    if spec is None:
        return None
    if cfg["backbone"] == "googlenet":
        return backbones.read_h5_layer_weights(spec)
    # ImageNet: include the fc layers so fc2 (and fc1 at 224 px with "flatten") start pretrained.
    return backbones.resolve_weights(spec, include_top=(spec == "imagenet"))


def _loaded_trunk_layers(cfg: Mapping, source) -> list[str]:
    if source is None:
        return []
    if cfg["backbone"] == "vgg16":
        return [n for n, _ in backbones.VGG16_CONV_LAYERS]
    return ["googlenet"]


def _load_fc(cfg: Mapping, head: keras.Model, source) -> list[str]:
    """Load VGG16 ``fc1``/``fc2`` into the head where the source has them with matching shapes."""
    if source is None or cfg["backbone"] != "vgg16":
        return []
    names = [f"fc{i}" for i in range(1, len(cfg["fc_dims"]) + 1) if f"fc{i}" in backbones.VGG16_FC_LAYERS]
    return backbones.load_named_weights(head, source, layer_names=(), optional=names)
