"""GPU paths run on CPU: ``train.precision`` (float32 | bfloat16 | float16 with loss scaling) and ``train.jit_compile``
(XLA) give the float32 / no-XLA steps of both tasks to a stated tolerance (3 steps, tiny models, dropout off: XLA
draws other random numbers than the plain kernels, so with dropout the masks differ)."""
import keras
import numpy as np
import pytest

from sbir_tf.train.precision import PRECISIONS, check_precision, inner_optimizer, set_precision, wrap_optimizer
from train_tiny import build, weights

STEPS = 3
LR = {"fg": 1e-3, "zs": 1e-4}


def run(task, precision="float32", jit_compile=False):
    set_precision(precision)
    try:
        model, step, trackables = build(task, steps=STEPS, precision=precision, jit_compile=jit_compile, dropout=0.0,
                                        lr=LR[task])
        start = weights(model)
        outs = [step(s) for s in range(STEPS)]
        losses = [{k: float(v) for k, v in o.items() if k.startswith("loss/")} for o in outs]
        assert all(bool(o["finite"]) for o in outs)
        deltas = [b - a for a, b in zip(start, weights(model)) if a.dtype.kind == "f"]
        return model, trackables, losses, deltas
    finally:
        set_precision("float32")


def loss_error(ref, other):
    """Largest |loss - reference| / max(|reference|, 1) over every term and step."""
    return max(abs(a[k] - b[k]) / max(abs(a[k]), 1.0) for a, b in zip(ref, other) for k in a)


def update_error(ref, other):
    """|| update - reference update || / || reference update || over all variables (the update of 3 steps)."""
    num = np.sqrt(sum(float(np.sum((a.astype(np.float64) - b) ** 2)) for a, b in zip(ref, other)))
    den = np.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in ref))
    return num / den


@pytest.fixture(scope="module", params=["fg", "zs"])
def reference(request):
    return request.param, run(request.param)


def test_jit_compile_matches_the_plain_steps(reference):
    """Measured on a 2-core x86 CPU: losses 1.8e-7 (FG) / 1.5e-7 (ZS), updates 6e-7 (FG) / 5e-8 (ZS) relative."""
    task, (_, _, ref_losses, ref_deltas) = reference
    _, _, losses, deltas = run(task, jit_compile=True)
    assert loss_error(ref_losses, losses) < 1e-5
    assert update_error(ref_deltas, deltas) < 1e-4


def test_bfloat16_matches_float32(reference):
    """bfloat16 keeps 8 mantissa bits (relative rounding 4e-3). Measured: losses 6.6e-4 (FG) / 1.4e-3 (ZS); updates
    0.10 (FG: Adam divides by sqrt(v), so near-zero gradients move their weights by ~lr whatever their rounding)
    / 1.9e-3 (ZS) relative. A missing update would give 1, a wrong sign 2."""
    task, (_, _, ref_losses, ref_deltas) = reference
    model, trackables, losses, deltas = run(task, "bfloat16")
    if task == "fg":
        assert model.sketch_encoder.layers[0].compute_dtype == "bfloat16"
    else:
        assert model.g_sk.out_layer.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in trackables["model"].trainable_variables)  # float32 master weights
    assert loss_error(ref_losses, losses) < 1e-2
    assert update_error(ref_deltas, deltas) < 0.25


def test_float16_scales_the_loss_and_matches_float32_before_any_skip(reference):
    """float16 uses a dynamic LossScaleOptimizer (initial scale 2^15): steps whose scaled gradients overflow are
    skipped and the scale halved -- that is not a training failure (``finite`` stays true). Losses computed on the
    same weights agree with float32: the first FG step, and the first ZS generator update's L_cyc, L_cls, L_iml
    (the generators are untouched by the critic updates before it). Measured: 1.0e-4 (FG), 3.3e-5 (ZS)."""
    task, (_, _, ref_losses, _) = reference
    _, trackables, losses, _ = run(task, "float16")
    optimizers = [t for name, t in trackables.items() if "optimizer" in name]
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) for o in optimizers)
    same_weights = (lambda d: d) if task == "fg" else (
        lambda d: {k: d[k] for k in ("loss/generator/L_cyc", "loss/generator/L_cls", "loss/generator/L_iml")})
    assert loss_error([same_weights(ref_losses[0])], [same_weights(losses[0])]) < 1e-3
    if task == "zs":  # L_iml ~ 470 times 2^15 overflows float16 (max 65504): the generator steps were skipped
        generator = trackables["generator_optimizer"]
        assert float(generator.dynamic_scale.numpy()) == 2.0 ** 15 / 2 ** STEPS
        assert int(inner_optimizer(generator).iterations.numpy()) == 0


def test_precision_names_policies_and_wrapping():
    assert PRECISIONS == ("float32", "bfloat16", "float16")
    try:
        assert set_precision("bfloat16") == "mixed_bfloat16"
        assert keras.mixed_precision.global_policy().compute_dtype == "bfloat16"
        assert set_precision("float16") == "mixed_float16"
        assert keras.mixed_precision.global_policy().compute_dtype == "float16"
    finally:
        assert set_precision("float32") == "float32"
    adam = keras.optimizers.Adam(1e-3)
    assert wrap_optimizer(adam, "float32") is adam and wrap_optimizer(adam, "bfloat16") is adam
    scaled = wrap_optimizer(adam, "float16")
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer) and inner_optimizer(scaled) is adam
    with pytest.raises(ValueError, match="train.precision must be one of"):
        check_precision("mixed_float16")


def test_precision_warning_only_for_bfloat16_on_a_cpu_that_emulates_it():
    from sbir_tf.train.precision import precision_warning

    message = precision_warning("bfloat16", gpus=0, cpu_features=["avx2", "avx512f"])
    assert "AVX512_BF16 or AMX-BF16" in message and "--precision float32" in message
    assert precision_warning("bfloat16", gpus=0, cpu_features=[]) == message
    for features in (["avx2", "avx512_bf16"], ["amx_bf16"], None):  # native bfloat16, or nothing known
        assert precision_warning("bfloat16", gpus=0, cpu_features=features) is None
    assert precision_warning("bfloat16", gpus=1, cpu_features=["avx2"]) is None  # the step runs on the GPU
    for other in ("float32", "float16"):
        assert precision_warning(other, gpus=0, cpu_features=["avx2"]) is None
    with pytest.raises(ValueError, match="train.precision"):
        precision_warning("bf16", gpus=0, cpu_features=["avx2"])
