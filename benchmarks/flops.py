"""Analytic FLOPs of Keras models, counted from each layer's config and its (first-call) input/output shapes.

Convention: a multiply-add counts as 2 floating-point operations, and only the layers that do multiply-adds are
counted (convolutions, transposed convolutions, dense layers); biases, activations, pooling, normalisation and
losses are left out (they are a fraction of a percent of a VGG16 step). Counts are per sample.

- ``Conv{1,2,3}D``: ``2 * prod(output spatial) * C_out * prod(kernel) * C_in / groups``.
- ``Conv{1,2,3}DTranspose``: every input position scatters a ``kernel x C_out`` block:
  ``2 * prod(input spatial) * C_in * prod(kernel) * C_out``.
- ``DepthwiseConv{1,2}D``: ``2 * prod(output spatial) * C_in * depth_multiplier * prod(kernel)``;
  ``SeparableConv{1,2}D``: that plus a pointwise ``1x1`` convolution.
- ``Dense``: ``2 * prod(leading non-batch dims) * in_features * units``.

A training step costs about ``TRAIN_STEP_FACTOR = 3`` forward passes: the forward pass (1), the gradient with respect
to each layer's input (1, the same multiply-adds as the forward pass, transposed) and the gradient with respect to
its weights (1). The first convolution's input gradient is not needed (the image is not trained), so 3x slightly
over-counts (for VGG16 at 224 px by ~0.6%, conv1_1 being ~0.6% of the model); it is ignored here, which makes
the reported utilisation a hair optimistic.

Nested models (a ``keras.Model`` used as a layer) are recursed into. Each layer is counted once per forward pass of
the model it belongs to, using the shapes of its first call: a siamese branch applied twice inside one functional
model is counted once, so count shared sub-models' passes explicitly (``benchmarks.train_step`` counts the
samples each sub-model sees while the training step is traced).
"""
from __future__ import annotations

import math
from typing import Iterable

import keras

#: Training step ~= forward (1x) + input gradients (1x) + weight gradients (1x) of the forward multiply-adds.
TRAIN_STEP_FACTOR = 3


def _shape(tensor) -> tuple:
    if isinstance(tensor, (list, tuple)):
        if len(tensor) != 1:
            raise ValueError(f"expected a single tensor, got {len(tensor)}")
        tensor = tensor[0]
    return tuple(tensor.shape)


def _split_channels(shape: tuple, data_format: str) -> tuple[tuple, int]:
    """(spatial dims, channels) of a batched shape, for ``channels_last`` or ``channels_first``."""
    dims = shape[1:]
    if data_format == "channels_first":
        channels, spatial = dims[0], dims[1:]
    else:
        channels, spatial = dims[-1], dims[:-1]
    if channels is None or any(d is None for d in spatial):
        raise ValueError(f"cannot count FLOPs with unknown dimensions in shape {shape}; build the model with a "
                         f"fixed input size")
    return tuple(spatial), int(channels)


def _prod(values: Iterable[int]) -> int:
    return int(math.prod(int(v) for v in values))


def layer_macs(layer: keras.layers.Layer) -> int | None:
    """Forward multiply-adds per sample of one (non-model) layer; ``0`` for layers without multiply-adds, ``None``
    for a layer with weights of a kind this module does not know (so it can be reported as uncounted)."""
    L = keras.layers
    cfg = layer.get_config()
    data_format = cfg.get("data_format", "channels_last")
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        spatial_in, c_in = _split_channels(_shape(layer.input), data_format)
        return _prod(spatial_in) * c_in * _prod(cfg["kernel_size"]) * int(cfg["filters"])
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        spatial_in, c_in = _split_channels(_shape(layer.input), data_format)
        spatial_out, c_out = _split_channels(_shape(layer.output), data_format)
        depth = int(cfg.get("depth_multiplier", 1))
        return _prod(spatial_out) * c_in * depth * (_prod(cfg["kernel_size"]) + c_out)
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        spatial_in, c_in = _split_channels(_shape(layer.input), data_format)
        spatial_out, _ = _split_channels(_shape(layer.output), data_format)
        return _prod(spatial_out) * c_in * int(cfg.get("depth_multiplier", 1)) * _prod(cfg["kernel_size"])
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        _, c_in = _split_channels(_shape(layer.input), data_format)
        spatial_out, c_out = _split_channels(_shape(layer.output), data_format)
        groups = int(cfg.get("groups", 1))
        return _prod(spatial_out) * c_out * _prod(cfg["kernel_size"]) * (c_in // groups)
    if isinstance(layer, L.Dense):
        in_shape = _shape(layer.input)
        if any(d is None for d in in_shape[1:]):
            raise ValueError(f"cannot count FLOPs of {layer.name!r} with input shape {in_shape}")
        return _prod(in_shape[1:-1]) * int(in_shape[-1]) * int(cfg["units"])
    if layer.weights and not isinstance(layer, (L.BatchNormalization, L.LayerNormalization, L.Embedding)):
        return None
    return 0


def _has_sublayers(layer) -> bool:
    try:
        return len(layer.layers) > 0
    except (AttributeError, TypeError):
        return False


def flops_breakdown(model: keras.Model, prefix: str = "") -> list[dict]:
    """Per-layer forward FLOPs per sample: ``[{"layer": "block1_conv1", "type": "Conv2D", "flops": ...}]``.

    Layers with weights of an unknown kind are listed with ``"flops": None``.
    """
    rows = []
    for layer in model.layers:
        name = f"{prefix}{layer.name}"
        if isinstance(layer, keras.Model) or (_has_sublayers(layer) and not isinstance(layer, keras.layers.InputLayer)):
            rows.extend(flops_breakdown(layer, prefix=f"{name}/"))
            continue
        macs = layer_macs(layer)
        rows.append({"layer": name, "type": type(layer).__name__, "flops": None if macs is None else 2 * macs})
    return rows


def forward_flops(model: keras.Model, strict: bool = False) -> int:
    """Forward-pass FLOPs per sample of ``model`` (2 x multiply-adds of its conv/deconv/dense layers).

    With ``strict=True`` a layer with weights of an unknown kind raises ``ValueError`` instead of counting as 0.
    """
    total = 0
    for row in flops_breakdown(model):
        if row["flops"] is None:
            if strict:
                raise ValueError(f"layer {row['layer']!r} of type {row['type']} has weights but no FLOP rule")
            continue
        total += row["flops"]
    return total


def training_step_flops(forward_flops_per_step: int, factor: float = TRAIN_STEP_FACTOR) -> float:
    """FLOPs of one training step given the forward FLOPs of everything the step computes (``factor`` x)."""
    return factor * forward_flops_per_step
