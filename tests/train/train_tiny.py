"""Tiny stand-ins of both tasks for the trainer tests: a fine-grained model on 8 px images (a few hundred
parameters, dropout and batch norm included) with the real losses, and a small WAD-CMSN on random 512-d features."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from sbir_tf.models.fg import L2Normalize, PangModel
from sbir_tf.models.wadcmsn import WADCMSN
from sbir_tf.train.fg_step import fg_step
from sbir_tf.train.loop import Trainer
from sbir_tf.train.zs_step import PairSampler, zs_step

S, B, C = 8, 4, 3
TASKS = ("fg", "zs")


def fg_model(decoder=True, seed=0, dropout=0.3):
    keras.utils.set_random_seed(seed)
    enc = keras.Sequential([keras.Input((S, S, 3)), keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
                            keras.layers.Flatten(), keras.layers.Dense(8), keras.layers.Dropout(dropout),
                            L2Normalize()], name="enc")
    cls = keras.Sequential([keras.Input((8,)), keras.layers.Dense(C)], name="cls")
    dec = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4 * 4 * 4), keras.layers.Reshape((4, 4, 4)),
                            keras.layers.BatchNormalization(),
                            keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh")],
                           name="dec") if decoder else None
    return PangModel(enc, enc, cls, dec)


def fg_batch(seed=0, size=S, batch=B, nan=False, inf_images=False):
    rng = np.random.default_rng(seed)
    img = lambda: rng.normal(0, 50, (batch, size, size, 3)).astype("float32")  # noqa: E731
    out = {"sketch": img(), "positive": img(), "negative": img(),
           "sketch_target": rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32"),
           "label_sketch": rng.integers(0, C, batch).astype("int32"),
           "label_positive": rng.integers(0, C, batch).astype("int32"),
           "label_negative": rng.integers(0, C, batch).astype("int32")}
    if nan:  # L_D (the reconstruction target) becomes NaN
        out["sketch_target"][:] = np.nan
    if inf_images:  # compiled on CPU, the fused conv + ReLU maps these to finite embeddings: only gradients blow up
        for k in ("sketch", "positive", "negative"):
            out[k][:] = np.inf
    return out


def fg_dataset_fn(n=64, nan_from=None, size=S, batch=B):
    """Batch ``step`` is ``fg_batch(step)`` (NaN images from step ``nan_from`` on): a pure function of the step,
    like the real pipeline."""
    batches = [fg_batch(i, size, batch, nan=nan_from is not None and i >= nan_from) for i in range(n)]
    stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
    calls = []

    def dataset_fn(start):
        calls.append(int(start))
        return tf.data.Dataset.from_tensor_slices(stacked).skip(int(start))

    dataset_fn.calls = calls
    return dataset_fn


def fg_cfg(steps=4, schedule="text", precision="float32", jit_compile=False, lr=1e-2, batch=B):
    return {"train": dict(steps=steps, schedule=schedule, stage1_fraction=0.5, base_lr=lr, final_lr=lr / 10,
                          lr_drop_fraction=0.75, beta_1=0.9, beta_2=0.999, epsilon=1e-8, batch_size=batch,
                          precision=precision, jit_compile=jit_compile),
            "loss": dict(lambda_d=10.0, lambda_t=1.0, margin=0.1, decoder_distance="pixel_mse")}


def zs_model(seed=0, dropout=0.3):
    keras.utils.set_random_seed(seed)
    return WADCMSN(C, generator_hidden=[32], critic_hidden=[16], generator_dropout=dropout)


def zs_sampler(nan=False, seed=0):
    rng = np.random.default_rng(0)
    sl, pl = np.arange(24) % C, np.arange(18) % C
    sk = rng.random((24, 512)).astype("float32")
    if nan:
        sk[:] = np.nan
    return PairSampler(sk, sl, rng.random((18, 512)).astype("float32"), pl,
                       rng.normal(size=(C, 64)).astype("float32"), batch_size=8, seed=seed)


class SwitchSampler:
    """``good``'s batches before step ``nan_from``, ``bad``'s (NaN features) from it on."""

    def __init__(self, good, bad, nan_from):
        self.good, self.bad, self.nan_from = good, bad, nan_from

    def batch(self, step, k=0):
        return (self.bad if step >= self.nan_from else self.good).batch(step, k)


def zs_cfg(n_critic=2, precision="float32", jit_compile=False, lr=1e-4, **loss):
    return {"loss": dict(dict(adversarial="wasserstein", lipschitz="clip", clip_value=0.01, gp_weight=10.0,
                              semantic_cycle=True, reduction="mean", iml_reduction="sum",
                              weights=dict(adv=1.0, cyc=1.0, cls=1.0, iml=1.0)), **loss),
            "train": dict(base_lr=lr, rmsprop_rho=0.99, rmsprop_epsilon=1e-8, rmsprop_epsilon_placement="outside_sqrt",
                          n_critic=n_critic, seed=0, precision=precision, jit_compile=jit_compile)}


def build(task, *, seed=0, steps=4, nan_from=None, precision="float32", jit_compile=False, dropout=0.3, **cfg):
    """``(model, step_fn, trackables)`` of one task."""
    if task == "fg":
        model = fg_model(seed=seed, dropout=dropout)
        step_fn, trackables = fg_step(model, fg_cfg(steps, precision=precision, jit_compile=jit_compile, **cfg),
                                      fg_dataset_fn(nan_from=nan_from))
    else:
        model = zs_model(seed=seed, dropout=dropout)
        sampler = zs_sampler() if nan_from is None else SwitchSampler(zs_sampler(), zs_sampler(nan=True), nan_from)
        step_fn, trackables = zs_step(model, zs_cfg(precision=precision, jit_compile=jit_compile, **cfg), sampler)
    return model, step_fn, trackables


def trainer(task, run_dir, *, steps=4, log_every=1, checkpoint_every=2, keep=3, seed=0, nan_from=None, **kw):
    model, step_fn, trackables = build(task, seed=seed, steps=steps, nan_from=nan_from)
    return model, step_fn, Trainer(step_fn, trackables, run_dir, total_steps=steps, log_every=log_every,
                                   checkpoint_every=checkpoint_every, keep_checkpoints=keep, progress=False, **kw)


def weights(model) -> list[np.ndarray]:
    """Every variable of the model (trainable, batch-norm statistics, seed-generator states)."""
    if isinstance(model, PangModel):
        parts = [model.sketch_encoder, model.classifier] + ([model.decoder] if model.decoder is not None else [])
        return [np.array(v.numpy()) for p in parts for v in p.variables]
    return [np.array(v.numpy()) for v in model.weights]


def optimizer_state(trackables) -> list[np.ndarray]:
    out = []
    for name, t in sorted(trackables.items()):
        if "optimizer" in name:
            out += [np.array(v.numpy()) for v in t.variables]
    return out
