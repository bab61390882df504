"""Fine-grained SBIR model of Pang, Song, Xiang, Hospedales, "Cross-domain Generative Learning for Fine-Grained
Sketch-Based Image Retrieval" (BMVC 2017).

Three parts, each a functional ``keras.Model`` subclass registered under the package ``sbir_tf``
(:class:`FGEncoder`, :class:`FGDecoder`, :class:`FGClassifier`), held by :class:`PangModel`:

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

Saving: every class here echoes its constructor arguments in ``get_config`` (:class:`PangModel` nests its parts'
serialised configs, and re-ties a ``hybrid``/``hybrid_fc`` pair when it rebuilds them), so
``keras.saving.load_model`` returns the same classes, structure and weights (``sbir_tf.export.save_run_model``).
``from_config`` builds the architecture only; pretrained weights are applied by :mod:`sbir_tf.models.pretrained`
when a model is first built (:func:`build_fg_model`), never while a config is read.
"""
from __future__ import annotations

import math
import os
import types
from typing import Any, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from sbir_tf.models import backbones, pretrained
from sbir_tf.models.googlenet import GOOGLENET_FEATURE_DIM, googlenet
from sbir_tf.models.serialization import current_policy, jsonable, policy_scope

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
    "classifier_scale": 1.0,        # not in the paper (1 = as printed): Adam lr multiplier of C, see FGClassifier
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


#: How a sketch encoder may reuse layers of the photo encoder (:class:`FGEncoder` ``tie``): ``"embedding"`` (the
#: ``hybrid`` strategy: only the joint embedding layer is shared) or ``"head"`` (``hybrid_fc``: fc1, fc2 and the
#: embedding layer are shared).
TIES = ("embedding", "head")
#: Which layers the sketch encoder takes from the photo encoder, per weight-sharing strategy (``siamese`` uses one
#: encoder object for both domains).
SHARING_TIES: dict[str, str | None] = {"heterogeneous": None, "hybrid": "embedding", "hybrid_fc": "head"}


@keras.saving.register_keras_serializable(package="sbir_tf")
class FGEncoder(keras.Model):
    """Encoder E (Sec. 3.1, Pang et al. 2017): ``[B, S, S, 3]`` Caffe-preprocessed images -> ``[B, embedding_dim]``
    float32 embeddings of unit l2 norm.

    A functional ``keras.Model`` subclass: the conv trunk (``trunk``: VGG16 conv blocks or GoogLeNet) followed by the
    embedding head (``head``: :func:`embedding_head`). ``get_config`` returns the constructor arguments, so
    ``from_config`` rebuilds the architecture with fresh (random) weights; pretrained weights are applied afterwards
    (:mod:`sbir_tf.models.pretrained`). ``frozen_blocks=k`` marks VGG16 conv blocks 1..k not trainable
    (:func:`freeze_vgg16_blocks`).

    ``tie`` / ``tie_to``: the layers this encoder reuses from another encoder ``tie_to`` (the photo encoder):
    ``"embedding"`` (``hybrid``: its own fc1/fc2, the other head's ``embedding`` layer) or ``"head"``
    (``hybrid_fc``: the other encoder's whole head on this encoder's trunk). ``tie`` is part of the config;
    ``tie_to`` is an object and is not: :class:`PangModel` passes it when it rebuilds a tied pair, and an encoder
    rebuilt alone from its config gets layers of its own with the same shapes.
    """

    def __init__(self, backbone: str = "vgg16", image_size: int = 224, embedding_dim: int = 256,
                 fc_dims: Sequence[int] = (4096, 4096), dropout: float = 0.5, pooling: str = "flatten",
                 frozen_blocks: int = 0, googlenet_dropout: float = 0.4, tie: str | None = None,
                 trunk_name: str | None = None, head_name: str | None = None,
                 tie_to: "FGEncoder | None" = None, name: str = "encoder", **kwargs) -> None:
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {BACKBONES}")
        if pooling not in POOLING:
            raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLING}")
        if tie is not None and tie not in TIES:
            raise ValueError(f"unknown tie {tie!r}; choose None or one of {TIES}")
        if tie_to is not None and tie is None:
            raise ValueError("tie_to given without tie: say which layers to share ('embedding' or 'head')")
        image_size = backbones.check_image_size(image_size)
        frozen_blocks = check_frozen_blocks(frozen_blocks, backbone)
        fc_dims = tuple(int(d) for d in fc_dims) if backbone == "vgg16" else ()
        dropout = float(dropout) if backbone == "vgg16" else 0.0
        trunk_name = trunk_name or f"{name}_trunk"
        head_name = head_name or f"{name}_head"
        shape = (image_size, image_size, 3)
        if backbone == "vgg16":
            trunk = backbones.vgg16_trunk(shape, weights=None, name=trunk_name)
            freeze_vgg16_blocks(trunk, frozen_blocks)
            features = tuple(trunk.output.shape[1:])
        else:
            trunk = googlenet(shape, weights=None, dropout=float(googlenet_dropout), name=trunk_name)
            features = (GOOGLENET_FEATURE_DIM,)
        if tie_to is not None:
            mine = (backbone, image_size, int(embedding_dim), fc_dims, dropout, pooling)
            theirs = (tie_to.backbone, tie_to.image_size, tie_to.embedding_dim, tie_to.fc_dims, tie_to.dropout,
                      tie_to.pooling)
            if mine != theirs:
                raise ValueError(f"cannot tie encoders of different architectures: {mine} vs {theirs} "
                                 "(backbone, image_size, embedding_dim, fc_dims, dropout, pooling)")
        if tie == "head" and tie_to is not None:
            head = tie_to.head
        else:
            shared = tie_to.head.get_layer("embedding") if tie == "embedding" and tie_to is not None else None
            head = embedding_head(features, fc_dims=fc_dims, dropout=dropout, embedding_dim=int(embedding_dim),
                                  pooling=pooling, name=head_name, shared_embedding=shared)
        inputs = keras.Input(shape=shape, name=f"{name}_image")
        super().__init__(inputs, head(trunk(inputs)), name=name, **kwargs)
        self.trunk, self.head = trunk, head
        self.backbone, self.image_size, self.embedding_dim = backbone, image_size, int(embedding_dim)
        self.fc_dims, self.dropout, self.pooling = fc_dims, dropout, pooling
        self.frozen_blocks, self.googlenet_dropout, self.tie = frozen_blocks, float(googlenet_dropout), tie
        self.trunk_name, self.head_name = trunk_name, head_name

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "backbone": self.backbone,
                "image_size": self.image_size, "embedding_dim": self.embedding_dim, "fc_dims": list(self.fc_dims),
                "dropout": self.dropout, "pooling": self.pooling, "frozen_blocks": self.frozen_blocks,
                "googlenet_dropout": self.googlenet_dropout, "tie": self.tie, "trunk_name": self.trunk_name,
                "head_name": self.head_name}

    @classmethod
    def from_config(cls, config: dict, tie_to: "FGEncoder | None" = None) -> "FGEncoder":
        return cls(**config, tie_to=tie_to)


def encoder_arguments(cfg: Mapping, image_size: int) -> dict[str, Any]:
    """The :class:`FGEncoder` arguments of a resolved model config (keys of :data:`DEFAULT_MODEL_CONFIG`)."""
    return {"backbone": cfg["backbone"], "image_size": int(image_size), "embedding_dim": int(cfg["embedding_dim"]),
            "fc_dims": tuple(cfg["fc_dims"]), "dropout": float(cfg["dropout"]), "pooling": cfg["pooling"],
            "frozen_blocks": cfg["frozen_blocks"], "googlenet_dropout": float(cfg["googlenet_dropout"])}


def build_encoder(cfg: Mapping | None = None, image_size: int = 224, name: str = "encoder") -> FGEncoder:
    """One encoder E with the config's pretrained weights: ``[B, S, S, 3]`` (Caffe-preprocessed) -> ``[B,
    embedding_dim]`` float32, unit l2 norm."""
    cfg = _resolve_config(cfg, image_size)
    source = pretrained.read_weights(cfg["backbone"], cfg["weights"])
    encoder = FGEncoder(**encoder_arguments(cfg, image_size), name=name)
    pretrained.load_encoder_weights(encoder, source)
    return encoder


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


@keras.saving.register_keras_serializable(package="sbir_tf")
class FGDecoder(keras.Model):
    """Decoder D of Table 1, Pang et al. 2017: embedding -> sketch image in [-1, 1].

    ``decoder_seed_fc`` (Dense to ``(S/32)^2 * channels[0]``) -> reshape to ``S/32 x S/32 x channels[0]`` (7x7x512 at
    224 px) -> batch norm + ReLU, then ``deconv1..deconv5``: ``kernel_size`` x ``kernel_size`` stride-2
    ``Conv2DTranspose`` with ``channels[1:]`` filters, each with batch norm + ReLU (14x14x512, 28x28x256, 56x56x128,
    112x112x64, 224x224x32 at 224 px), then ``decoder_output``: a stride-1 ``Conv2DTranspose`` to 3 channels with
    tanh and no batch norm (float32). The seed is a projection (Dense + reshape) since the embedding is a vector.
    At sizes that are odd multiples of 16 (112 px) the stack stops one layer earlier (:func:`decoder_plan`).
    A functional ``keras.Model`` subclass whose ``get_config`` returns its constructor arguments.
    """

    def __init__(self, image_size: int = 224, embedding_dim: int = 256,
                 channels: Sequence[int] = (512, 512, 256, 128, 64, 32), kernel_size: int = 4,
                 name: str = "decoder", **kwargs) -> None:
        seed, doublings = decoder_plan(image_size)
        channels = tuple(int(c) for c in channels)
        if len(channels) != 6:
            raise ValueError(f"decoder channels must be 6 numbers (seed + five stride-2 deconvs), got {list(channels)}")
        used = channels[:1 + doublings]
        inputs = keras.Input(shape=(int(embedding_dim),), name=f"{name}_embedding")
        x = layers.Dense(seed * seed * used[0], name="decoder_seed_fc")(inputs)
        x = layers.Reshape((seed, seed, used[0]), name="decoder_seed")(x)
        x = layers.BatchNormalization(name="decoder_seed_bn")(x)
        x = layers.ReLU(name="decoder_seed_relu")(x)
        for i, filters in enumerate(used[1:], start=1):
            x = layers.Conv2DTranspose(filters, int(kernel_size), strides=2, padding="same", use_bias=False,
                                       name=f"deconv{i}")(x)
            x = layers.BatchNormalization(name=f"deconv{i}_bn")(x)
            x = layers.ReLU(name=f"deconv{i}_relu")(x)
        x = layers.Conv2DTranspose(3, int(kernel_size), strides=1, padding="same", activation="tanh", dtype="float32",
                                   name="decoder_output")(x)
        super().__init__(inputs, x, name=name, **kwargs)
        self.image_size, self.embedding_dim = int(image_size), int(embedding_dim)
        self.channels, self.kernel_size = channels, int(kernel_size)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "image_size": self.image_size,
                "embedding_dim": self.embedding_dim, "channels": list(self.channels), "kernel_size": self.kernel_size}

    @classmethod
    def from_config(cls, config: dict) -> "FGDecoder":
        return cls(**config)


def build_decoder(image_size: int = 224, embedding_dim: int = 256,
                  channels: Sequence[int] = (512, 512, 256, 128, 64, 32), kernel_size: int = 4,
                  name: str = "decoder") -> FGDecoder:
    """Decoder D of Table 1, Pang et al. 2017 (:class:`FGDecoder`)."""
    return FGDecoder(image_size, embedding_dim, channels, kernel_size, name=name)


@keras.saving.register_keras_serializable(package="sbir_tf")
class FGClassifier(keras.Model):
    """Classifier C (Sec. 3.1 "Classification Subnet", Pang et al. 2017): ``Dense(num_classes)`` logits (float32)
    on the embedding. A functional ``keras.Model`` subclass whose ``get_config`` returns its constructor
    arguments.

    ``scale`` (``model.classifier_scale``; not in the paper, 1 builds the printed classifier exactly) multiplies the
    learning rate of C under Adam and nothing else: the logits are ``scale * (W e + b)`` with ``W`` drawn from the
    Glorot-uniform range divided by ``scale`` (and ``b = 0``), so the initial classifier is the same function as at
    ``scale=1``, while Adam, whose step does not depend on the gradient's scale, still moves ``W`` and ``b`` by about
    ``lr`` per step, that is the effective ``scale * W`` by ``scale * lr``. Why a CPU run wants it: the embedding is
    l2-normalised, so the logits are bounded by the weight norms, which the paper's 30,000 steps grow about three
    times as far as a 1,000-step run at the ``cpu`` preset's rates (sum of lr over the steps: 0.21 against 0.07).
    """

    def __init__(self, num_classes: int, embedding_dim: int = 256, scale: float = 1.0, name: str = "classifier",
                 **kwargs) -> None:
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        scale = check_classifier_scale(scale)
        inputs = keras.Input(shape=(int(embedding_dim),), name=f"{name}_embedding")
        if scale == 1.0:
            logits = layers.Dense(int(num_classes), dtype="float32", name="logits")(inputs)
        else:
            init = keras.initializers.VarianceScaling(1.0 / scale ** 2, mode="fan_avg", distribution="uniform")
            raw = layers.Dense(int(num_classes), dtype="float32", kernel_initializer=init, name="logits")(inputs)
            logits = layers.Rescaling(scale, dtype="float32", name="logit_scale")(raw)
        super().__init__(inputs, logits, name=name, **kwargs)
        self.num_classes, self.embedding_dim, self.scale = int(num_classes), int(embedding_dim), scale

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "num_classes": self.num_classes,
                "embedding_dim": self.embedding_dim, "scale": self.scale}

    @classmethod
    def from_config(cls, config: dict) -> "FGClassifier":
        return cls(**config)


def check_classifier_scale(scale) -> float:
    """``model.classifier_scale`` as a float; a clear error unless it is a finite number > 0."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"classifier_scale must be a number > 0, got {scale!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"classifier_scale must be a finite number > 0, got {scale!r}")
    return value


def build_classifier(num_classes: int, embedding_dim: int = 256, scale: float = 1.0,
                     name: str = "classifier") -> FGClassifier:
    """Classifier C (:class:`FGClassifier`)."""
    return FGClassifier(num_classes, embedding_dim, scale=scale, name=name)


# ---------------------------------------------------------------------------------------------------- PangModel


def unique_variables(variables) -> list:
    """``variables`` without repeats (by identity; shared layers list a variable once per owner), in order."""
    seen, out = set(), []
    for v in variables:
        key = id(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


class VariableGroups:
    """``siamese`` and the variable groups theta_E, theta_C, theta_D (trainable, deduplicated: a siamese encoder
    appears once) of anything holding ``sketch_encoder``, ``photo_encoder``, ``classifier`` and ``decoder``
    (``None`` allowed): :class:`PangModel`, and the heads-only view of a frozen-trunk run
    (:class:`sbir_tf.train.trunk_cache.HeadView`)."""

    @property
    def siamese(self) -> bool:
        """True when one encoder embeds both domains."""
        return self.sketch_encoder is self.photo_encoder

    @property
    def encoder_variables(self) -> list:
        return unique_variables(self.sketch_encoder.trainable_variables + self.photo_encoder.trainable_variables)

    @property
    def classifier_variables(self) -> list:
        return unique_variables(self.classifier.trainable_variables)

    @property
    def decoder_variables(self) -> list:
        return unique_variables(self.decoder.trainable_variables) if self.decoder is not None else []

    @property
    def all_trainable_variables(self) -> list:
        return unique_variables(self.encoder_variables + self.classifier_variables + self.decoder_variables)


@keras.saving.register_keras_serializable(package="sbir_tf")
class PangModel(VariableGroups, keras.Model):
    """The model of Pang et al. 2017: sketch and photo encoders, the shared classifier and the optional decoder.

    ``sketch_encoder`` and ``photo_encoder`` are one object under ``siamese`` sharing; under ``hybrid`` and
    ``hybrid_fc`` the sketch encoder (an :class:`FGEncoder` with ``tie``) reuses layers of the photo encoder.
    Serialised like a task that nests its parts: ``get_config`` holds the serialised encoders (the photo encoder as
    ``None`` when it is the sketch encoder), classifier and decoder; ``from_config`` rebuilds them, re-tying a tied
    sketch encoder to the photo encoder. ``model_config`` (the resolved build config, :data:`DEFAULT_MODEL_CONFIG`
    keys) and ``loaded_layers`` (which layers took pretrained weights at build time) are recorded as metadata, and
    ``build_policy`` (the Keras dtype policy the parts were built under; default the current global one) is what
    ``from_config`` rebuilds them under, so a mixed-precision model reloads with its own compute dtypes.

    Variable groups hold trainable variables, deduplicated (a siamese encoder appears once); the layers of frozen
    blocks (``model_config["frozen_blocks"]``) are in none of them. ``tf.train.Checkpoint(model=...)`` saves every
    variable once, frozen ones included.

    ``call((sketch, photo))`` returns ``(E_sketch(sketch), E_photo(photo))``.
    """

    def __init__(self, sketch_encoder: keras.Model, photo_encoder: keras.Model | None = None,
                 classifier: keras.Model | None = None, decoder: keras.Model | None = None,
                 model_config: Mapping[str, Any] | None = None,
                 loaded_layers: Mapping[str, Sequence[str]] | None = None, build_policy: str | None = None,
                 name: str = "fg_model", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        if classifier is None:
            raise ValueError("PangModel needs a classifier (the classification subnet C of Sec. 3.1)")
        self.sketch_encoder = sketch_encoder
        self.photo_encoder = photo_encoder if photo_encoder is not None else sketch_encoder
        self.classifier = classifier
        self.decoder = decoder
        # Plain-Python metadata kept in a namespace so that Keras does not wrap it into tracked containers.
        self._meta = types.SimpleNamespace(config=dict(model_config or {}),
                                           loaded_layers={k: list(v) for k, v in dict(loaded_layers or {}).items()},
                                           build_policy=build_policy or current_policy())
        self.built = True

    # -- metadata
    @property
    def config(self) -> dict[str, Any]:
        """The resolved model config (all keys of :data:`DEFAULT_MODEL_CONFIG` when built by
        :func:`build_fg_model`)."""
        return dict(self._meta.config)

    @property
    def loaded_layers(self) -> dict[str, list[str]]:
        """Layers that took pretrained weights, per encoder: ``{"sketch": [...], "photo": [...]}``."""
        return {k: list(v) for k, v in self._meta.loaded_layers.items()}

    def set_loaded_layers(self, loaded: Mapping[str, Sequence[str]]) -> None:
        """Record which layers took pretrained weights (called by :func:`sbir_tf.models.pretrained.load_pretrained`)."""
        self._meta.loaded_layers = {k: list(v) for k, v in loaded.items()}

    # -- forward passes
    def call(self, inputs, training: bool = False):
        sketch, photo = inputs
        return self.embed_sketch(sketch, training=training), self.embed_photo(photo, training=training)

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

    # -- serialisation
    def get_config(self) -> dict:
        serialize = keras.saving.serialize_keras_object
        return {"name": self.name, "trainable": self.trainable,
                "sketch_encoder": serialize(self.sketch_encoder),
                "photo_encoder": None if self.siamese else serialize(self.photo_encoder),
                "classifier": serialize(self.classifier),
                "decoder": None if self.decoder is None else serialize(self.decoder),
                "model_config": jsonable(self._meta.config), "loaded_layers": jsonable(self._meta.loaded_layers),
                "build_policy": self._meta.build_policy}

    @classmethod
    def from_config(cls, config: dict) -> "PangModel":
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        with policy_scope(config.get("build_policy")):
            photo_spec, sketch_spec = config.pop("photo_encoder"), config.pop("sketch_encoder")
            photo = deserialize(photo_spec) if photo_spec is not None else None
            inner = sketch_spec.get("config", {}) if isinstance(sketch_spec, Mapping) else {}
            if photo is not None and inner.get("tie") and sketch_spec.get("registered_name") == "sbir_tf>FGEncoder":
                sketch = FGEncoder.from_config(dict(inner), tie_to=photo)
            else:
                sketch = deserialize(sketch_spec)
            classifier = deserialize(config.pop("classifier"))
            decoder_spec = config.pop("decoder", None)
            decoder = deserialize(decoder_spec) if decoder_spec is not None else None
            return cls(sketch, photo, classifier, decoder, **config)


#: The name the trainers and earlier code use for :class:`PangModel`.
FGModel = PangModel


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


def pang_model(cfg: Mapping | None = None, num_classes: int = 125, image_size: int = 224) -> PangModel:
    """The architecture of Pang et al. 2017 for a model config, with random weights (no weight file is read).

    Names: ``siamese`` builds one ``encoder`` (``photo_trunk`` + ``shared_head``); the other strategies build
    ``photo_encoder`` (``photo_trunk`` + ``photo_head``, or ``shared_head`` under ``hybrid_fc``) and
    ``sketch_encoder`` (``sketch_trunk`` + ``sketch_head``, tied to the photo encoder per :data:`SHARING_TIES`).
    """
    cfg = _resolve_config(cfg, image_size)
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    sharing = cfg["sharing"]
    arch = encoder_arguments(cfg, image_size)
    if sharing == "siamese":
        sketch = photo = FGEncoder(**arch, trunk_name="photo_trunk", head_name="shared_head", name="encoder")
    else:
        photo = FGEncoder(**arch, trunk_name="photo_trunk",
                          head_name="shared_head" if sharing == "hybrid_fc" else "photo_head", name="photo_encoder")
        sketch = FGEncoder(**arch, trunk_name="sketch_trunk", head_name="sketch_head", tie=SHARING_TIES[sharing],
                           tie_to=photo if SHARING_TIES[sharing] else None, name="sketch_encoder")
    classifier = FGClassifier(num_classes, cfg["embedding_dim"], scale=cfg["classifier_scale"])
    decoder = (FGDecoder(image_size, cfg["embedding_dim"], cfg["decoder_channels"], cfg["decoder_kernel"])
               if cfg["use_decoder"] else None)
    return PangModel(sketch, photo, classifier, decoder, model_config=cfg)


def build_fg_model(cfg: Mapping | None = None, num_classes: int = 125, image_size: int = 224) -> PangModel:
    """Build the model of Pang et al. 2017 from a model config (keys of :data:`DEFAULT_MODEL_CONFIG`; missing keys
    take the defaults, unknown keys raise ``ValueError``) and apply its pretrained weights.

    All names (backbone, sharing, weights, pooling), ``frozen_blocks`` and the image size are validated, and weight
    files are read, before any layer is built, so a bad config fails before training starts. The architecture comes
    from :func:`pang_model`; the weights (``weights``, and ``sketch_weights`` for the sketch encoder of every
    strategy but ``siamese``) are then applied by :func:`sbir_tf.models.pretrained.load_pretrained`, shape-checked.
    ``frozen_blocks=k`` freezes VGG16 conv blocks 1..k in every conv trunk (both trunks under ``heterogeneous``,
    ``hybrid`` and ``hybrid_fc``).
    """
    cfg = _resolve_config(cfg, image_size)
    if int(num_classes) < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if cfg["sharing"] == "siamese" and cfg["sketch_weights"] is not None and cfg["sketch_weights"] != cfg["weights"]:
        raise ValueError("sketch_weights differ from weights but sharing='siamese' uses one encoder for both "
                         f"domains; use one of {[m for m in SHARING if m != 'siamese']}")
    photo_source = pretrained.read_weights(cfg["backbone"], cfg["weights"])
    sketch_spec = cfg["sketch_weights"] if cfg["sketch_weights"] is not None else cfg["weights"]
    sketch_source = (photo_source if sketch_spec == cfg["weights"]
                     else pretrained.read_weights(cfg["backbone"], sketch_spec))
    model = pang_model(cfg, num_classes, image_size)
    pretrained.load_pretrained(model, photo_source, sketch_source)
    return model


# ---------------------------------------------------------------------------------------------------- config


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
        if out["backbone"] == "googlenet" and isinstance(w, str) and w in backbones.KNOWN_WEIGHTS:
            raise ValueError(f"{key}={w!r} is a VGG16 weight source; the googlenet backbone takes None or a file")
        backbones.check_weights_arg(w)
    out["fc_dims"] = tuple(int(d) for d in out["fc_dims"])
    out["decoder_channels"] = tuple(int(c) for c in out["decoder_channels"])
    if not 0.0 <= float(out["dropout"]) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {out['dropout']}")
    out["frozen_blocks"] = check_frozen_blocks(out["frozen_blocks"], out["backbone"])
    out["classifier_scale"] = check_classifier_scale(out["classifier_scale"])
    backbones.check_image_size(image_size)
    return out
