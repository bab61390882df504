"""Training precision (``train.precision``): the Keras dtype policy and, for float16, loss scaling.

* ``float32``: everything in float32 (the default; the reference numbers).
* ``bfloat16``: the ``mixed_bfloat16`` policy: layers compute in bfloat16, variables stay float32. bfloat16 has
  float32's exponent range, so no loss scaling is needed.
* ``float16``: the ``mixed_float16`` policy with a dynamic ``keras.optimizers.LossScaleOptimizer``: the loss is
  multiplied by the scale before differentiation and the gradients divided by it; a step whose scaled gradients
  overflow is skipped by the optimizer and the scale halved (that is loss scaling, not a training failure).

Losses are computed in float32 in every mode (the loss functions cast their inputs).
"""
from __future__ import annotations

import keras

#: Values of ``train.precision``.
PRECISIONS = ("float32", "bfloat16", "float16")
#: The Keras dtype policy of each precision.
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


#: CPU features under which bfloat16 convolutions and matrix products run natively (oneDNN).
BFLOAT16_CPU_FEATURES = ("avx512_bf16", "amx_bf16")


def precision_warning(precision: str, *, gpus: int, cpu_features: list[str] | None) -> str | None:
    """A warning for a precision this machine runs far slower than float32, else None: ``bfloat16`` with no GPU on
    a CPU without AVX512_BF16 or AMX-BF16 (``cpu_features``, :func:`sbir_tf.train.run_dir.cpu_features`; None when
    unknown, which is not warned about), where TF emulates it (README, "bfloat16 on this CPU")."""
    if check_precision(precision) != "bfloat16" or gpus or cpu_features is None:
        return None
    if set(cpu_features) & set(BFLOAT16_CPU_FEATURES):
        return None
    return ("train.precision=bfloat16 on a CPU without AVX512_BF16 or AMX-BF16 (and no GPU): TF emulates bfloat16 "
            "here, and a training step runs many times slower than in float32; use --precision float32 unless the "
            "run must match a bfloat16 record")


def set_precision(precision: str) -> str:
    """Set the global Keras dtype policy for ``precision``; returns the policy name.

    Call it before building the model: layers take the global policy when they are constructed.
    """
    policy = POLICIES[check_precision(precision)]
    keras.mixed_precision.set_global_policy(policy)
    return policy


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, precision: str) -> keras.optimizers.Optimizer:
    """A dynamic ``LossScaleOptimizer`` around ``optimizer`` for ``float16``; ``optimizer`` itself otherwise."""
    if check_precision(precision) == "float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def uses_loss_scaling(optimizer) -> bool:
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


def inner_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that owns the learning rate and the slots (the wrapped one inside a ``LossScaleOptimizer``)."""
    return getattr(optimizer, "inner_optimizer", optimizer)
