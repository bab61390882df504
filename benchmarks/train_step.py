"""Training-step benchmarks: the fine-grained step of Pang et al. 2017 and one WAD-CMSN iteration.

Fine-grained step: the exact ``tf.function`` users run, ``FGTrainer.step_function(stage)`` from
``sbir_tf.train.fg_step``, on the model of ``sbir_tf.models.fg.build_fg_model`` (siamese VGG16, random weights:
speed does not depend on their values). The full model runs its last stage (``L_C + lambda_D L_D + lambda_T L_T``
over encoder, classifier and decoder), the ``-D`` variant its single stage (``L_C + lambda_T L_T``). Inputs are
synthetic tensors with the shapes and dtypes of ``sbir_tf.data.pipeline.triplet_dataset`` (no input pipeline in the
timing). Warm-up steps (tracing included) are excluded; the median of the timed steps is reported.

Figures per (variant, image size):

* ``images_per_s`` = 3 images per triplet x batch / median step time;
* ``mfu`` = analytic step FLOPs / median step time / measured matmul peak (``benchmarks.peak``). The analytic FLOPs
  use ``benchmarks.flops``; how many samples each sub-model processes per step is *counted while the step is traced*
  (e.g. encoder 3B, classifier 3B, decoder B for the full model), so the count follows the loss code;
* memory: the process resident set size (RSS) sampled with ``psutil`` every 5 ms during the timed steps:
  ``peak_rss_mb`` (absolute) and ``step_rss_mb`` (peak minus the RSS just before the model was built, i.e. model,
  optimizer state, activations and TF workspace); ``ru_maxrss_mb`` is the process high-water mark from
  ``resource.getrusage``. The harness runs every configuration in a fresh process (:func:`measure_fg_step_isolated`,
  ``python -m benchmarks.train_step``), so ``ru_maxrss_mb`` is that configuration's own peak (TF runtime included)
  and no allocator cache from an earlier configuration hides memory.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np
import psutil
import tensorflow as tf

from benchmarks.flops import TRAIN_STEP_FACTOR, forward_flops, training_step_flops

VARIANTS = ("full", "-D")
IMAGES_PER_TRIPLET = 3
NUM_CLASSES = 125  # Sketchy
_MB = 1024.0 * 1024.0
_RESULT_MARKER = "BENCHMARK_RESULT "
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RSSSampler:
    """Peak resident set size of this process, sampled by a background thread every ``interval`` seconds."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self._process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> "RSSSampler":
        self.peak = self._process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def current_rss() -> int:
    return psutil.Process().memory_info().rss


def ru_maxrss_bytes() -> int:
    """Lifetime peak RSS of this process (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def synthetic_triplet_batch(batch_size: int, image_size: int, num_classes: int = NUM_CLASSES,
                            seed: int = 0) -> dict:
    """A random batch with the keys, shapes and dtypes of ``triplet_dataset`` (VGG-preprocessed value range)."""
    rng = np.random.default_rng(seed)
    shape = (batch_size, image_size, image_size, 3)

    def image():
        return tf.constant(rng.uniform(-124.0, 152.0, shape).astype(np.float32))

    def label():
        return tf.constant(rng.integers(0, num_classes, batch_size).astype(np.int32))

    return {"sketch": image(), "positive": image(), "negative": image(),
            "sketch_target": tf.constant(rng.uniform(-1.0, 1.0, shape).astype(np.float32)),
            "label_sketch": label(), "label_positive": label(), "label_negative": label()}


@contextmanager
def count_samples(models: dict):
    """Count the samples each named sub-model is called on (``{name: n}``), e.g. while a ``tf.function`` traces.

    Wraps each model's ``call`` on the instance and restores it afterwards; the traced graph is unchanged.
    """
    counts = {name: 0 for name in models}
    by_id: dict[int, list[str]] = {}
    for name, model in models.items():
        by_id.setdefault(id(model), []).append(name)
    wrapped = []
    for names in by_id.values():
        model = models[names[0]]
        original = model.call

        def counting(inputs, *args, _original=original, _names=tuple(names), **kwargs):
            n = int(tf.nest.flatten(inputs)[0].shape[0])
            counts[_names[0]] += n
            return _original(inputs, *args, **kwargs)

        object.__setattr__(model, "call", counting)
        wrapped.append(model)
    try:
        yield counts
    finally:
        for model in wrapped:
            object.__delattr__(model, "call")


def _loss_settings() -> dict:
    from sbir_tf.losses import fg as fg_losses

    return {"margin": float(fg_losses.TRIPLET_MARGIN), "lambda_d": float(fg_losses.LAMBDA_D),
            "lambda_t": float(fg_losses.LAMBDA_T)}


def _fg_parts(model) -> dict:
    parts = {"encoder" if model.sketch_encoder is model.photo_encoder else "sketch_encoder": model.sketch_encoder}
    if model.sketch_encoder is not model.photo_encoder:
        parts["photo_encoder"] = model.photo_encoder
    parts["classifier"] = model.classifier
    if model.decoder is not None:
        parts["decoder"] = model.decoder
    return parts


def cached_triplet_batch(batch: dict, feature_shape, seed: int = 0) -> dict:
    """``batch`` with its three images replaced by random non-negative ``feature_shape`` tensors: what a batch of
    the trunk cache (``sbir_tf.train.trunk_cache``) holds, the outputs of a ReLU and max-pool block."""
    rng = np.random.default_rng(seed + 1)
    n = int(batch["sketch"].shape[0])
    return {**batch, **{k: tf.constant(rng.uniform(0.0, 50.0, (n, *feature_shape)).astype(np.float32))
                        for k in ("sketch", "positive", "negative")}}


def measure_fg_step(variant: str = "full", image_size: int = 224, batch_size: int = 32, warmup: int = 1,
                    steps: int = 2, peak_gflops: float | None = None, num_classes: int = NUM_CLASSES,
                    seed: int = 0, precision: str = "float32", frozen_blocks: int = 0, cached: bool = False,
                    jit_compile: bool = False) -> dict:
    """Time ``steps`` training steps of the fine-grained model (after ``warmup``) on synthetic triplets, built
    under ``precision``'s dtype policy (``sbir_tf.train.precision``; MFU is always against the float32 peak), the
    update compiled with XLA when ``jit_compile`` (``train.jit_compile``; the first step then includes the compile).

    ``frozen_blocks=k`` keeps VGG16 conv blocks 1..k fixed (``model.frozen_blocks``); with ``cached`` the step
    trains on their outputs, as a run with ``data.trunk_cache_views`` does (:class:`sbir_tf.train.trunk_cache
    .HeadView`), so the frozen blocks' forward pass is out of the step. With frozen blocks (cached or live) only the
    forward FLOPs per sample are reported, no step FLOPs or MFU: the 3x-forward rule of :data:`TRAIN_STEP_FACTOR`
    assumes every layer computes its weight gradients."""
    import keras

    from sbir_tf.models.fg import build_fg_model
    from sbir_tf.losses.fg import PANG_2017
    from sbir_tf.train.fg_step import FGStep, make_adam
    from sbir_tf.train.precision import set_precision, wrap_optimizer
    from sbir_tf.train.schedules import PAPER_BASE_LR, two_stage_schedule
    from sbir_tf.train.trunk_cache import HeadView, trunk_split

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    if warmup < 1 or steps < 1:
        raise ValueError(f"need warmup >= 1 (it traces the step) and steps >= 1; got {warmup}, {steps}")
    if cached and not 1 <= int(frozen_blocks) <= 5:
        raise ValueError(f"a cached step needs frozen_blocks in 1..5, got {frozen_blocks!r}")
    keras.backend.clear_session()
    gc.collect()
    rss_before = current_rss()
    settings = _loss_settings()
    previous_policy = keras.mixed_precision.global_policy().name
    set_precision(precision)
    model = build_fg_model({"weights": None, "use_decoder": variant == "full", "frozen_blocks": int(frozen_blocks)},
                           num_classes=num_classes, image_size=image_size)
    stages = two_stage_schedule("text", 10 * (warmup + steps), has_decoder=model.decoder is not None,
                                lambda_d=settings["lambda_d"], lambda_t=settings["lambda_t"])
    stage = stages[-1]  # the full objective: stage 2 with a decoder, the single joint stage without
    batch = synthetic_triplet_batch(batch_size, image_size, num_classes, seed)
    learner = model
    if cached:
        learner = HeadView(model, int(frozen_blocks))
        fixed = trunk_split(model.sketch_encoder, int(frozen_blocks))[0]
        batch = cached_triplet_batch(batch, tuple(fixed.output.shape[1:]), seed)
    trainer = FGStep(learner, [stage], wrap_optimizer(make_adam(PAPER_BASE_LR, 0.9, 0.999, 1e-8), precision),
                     lambda s: None,
                     global_batch=batch_size, margin=settings["margin"],
                     decoder_distance=PANG_2017.decoder_distance, learning_rate=lambda s: PAPER_BASE_LR,
                     jit_compile=jit_compile)
    update = trainer.update(stage.name)

    def step_fn(b):
        return update(b)[0]  # the loss terms (the update also returns whether it was applied)

    parts = _fg_parts(learner)
    start = time.perf_counter()
    with count_samples(parts) as samples:
        out = step_fn(batch)
        float(out["total"])
    first_step_s = time.perf_counter() - start
    for _ in range(warmup - 1):
        float(step_fn(batch)["total"])

    times = []
    with RSSSampler() as rss:
        for _ in range(steps):
            start = time.perf_counter()
            out = step_fn(batch)
            float(out["total"])  # fetch: waits for the whole step
            times.append(time.perf_counter() - start)
    median = float(np.median(times))

    per_sample = {name: forward_flops(m) for name, m in parts.items()}
    result = {
        "variant": variant, "image_size": image_size, "batch_size": batch_size, "precision": precision,
        "jit_compile": bool(jit_compile), "frozen_blocks": int(frozen_blocks), "cached": bool(cached),
        "stage": stage.name,
        "loss_weights": dict(stage.weights), "trained_groups": list(stage.groups),
        "warmup_steps": warmup, "timed_steps": steps, "first_step_s": first_step_s,
        "step_s": median, "step_times_s": times,
        "images_per_s": IMAGES_PER_TRIPLET * batch_size / median,
        "samples_per_step": dict(samples), "forward_flops_per_sample": per_sample,
        "peak_rss_mb": rss.peak / _MB, "step_rss_mb": (rss.peak - rss_before) / _MB,
        "ru_maxrss_mb": ru_maxrss_bytes() / _MB, "memory_method": "psutil RSS sampled every 5 ms",
        "loss": float(out["total"]),
    }
    if not frozen_blocks:  # frozen layers compute no weight gradients: the 3x-forward step count would overstate it
        step_flops = training_step_flops(sum(per_sample[name] * samples[name] for name in parts))
        result.update(step_gflop=step_flops / 1e9, train_factor=TRAIN_STEP_FACTOR,
                      achieved_gflops=step_flops / median / 1e9)
        if peak_gflops:
            result["mfu"] = result["achieved_gflops"] / peak_gflops
    del trainer, model, learner, step_fn, batch
    keras.mixed_precision.set_global_policy(previous_policy)
    keras.backend.clear_session()
    gc.collect()
    return result


def measure_wadcmsn_iteration(batch_size: int = 128, warmup: int = 2, iterations: int = 10,
                              num_seen_classes: int = 100, pool: int = 2048, seed: int = 0) -> dict:
    """Median wall time of one Algorithm 1 iteration (``sbir_tf.train.zs_step.ZSStep``: critic update(s) + generator update)
    on random 512-d features with ``batch_size`` pairs, as in ``sbir_tf.train.zs_step``."""
    from sbir_tf.losses import wadcmsn as zs_losses
    from sbir_tf.models import wadcmsn as zs_models
    from sbir_tf.train.zs_step import PairSampler, zs_step

    rng = np.random.default_rng(seed)
    model_cfg = {"visual_dim": zs_models.VISUAL_DIM, "semantic_dim": zs_models.SEMANTIC_DIM,
                 "generator_hidden": zs_models.GENERATOR_HIDDEN, "critic_hidden": zs_models.CRITIC_HIDDEN,
                 "generator_dropout": zs_models.GENERATOR_DROPOUT, "leaky_slope": zs_models.LEAKY_SLOPE}
    model = zs_models.build_wadcmsn(model_cfg, num_seen_classes)
    labels = np.arange(pool) % num_seen_classes
    sampler = PairSampler(
        sketch_features=rng.random((pool, zs_models.VISUAL_DIM), dtype=np.float32), sketch_labels=labels,
        photo_features=rng.random((pool, zs_models.VISUAL_DIM), dtype=np.float32), photo_labels=labels,
        semantics=rng.standard_normal((num_seen_classes, zs_models.SEMANTIC_DIM)).astype(np.float32),
        batch_size=batch_size, seed=seed)
    cfg = {"loss": {"adversarial": "wasserstein", "lipschitz": "clip", "clip_value": zs_losses.CLIP_VALUE,
                    "gp_weight": zs_losses.GRADIENT_PENALTY_WEIGHT, "semantic_cycle": True, "reduction": "sum",
                    "iml_reduction": zs_losses.IML_REDUCTION, "weights": dict(zs_losses.DEFAULT_WEIGHTS)},
           "train": {"base_lr": zs_losses.LEARNING_RATE, "rmsprop_rho": zs_losses.RMSPROP_RHO,
                     "rmsprop_epsilon": zs_losses.RMSPROP_EPSILON,
                     "rmsprop_epsilon_placement": zs_losses.RMSPROP_EPSILON_PLACEMENT,
                     "n_critic": zs_losses.N_CRITIC, "seed": seed, "precision": "float32", "jit_compile": False}}
    step_fn, _ = zs_step(model, cfg, sampler)
    for step in range(warmup):
        step_fn(step)
    times = []
    for step in range(warmup, warmup + iterations):
        start = time.perf_counter()
        step_fn(step)
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return {"batch_size": batch_size, "n_critic": zs_losses.N_CRITIC, "iteration_ms": 1e3 * median,
            "iterations_per_s": 1.0 / median, "timed_iterations": iterations}


def measure_fg_step_isolated(variant: str = "full", image_size: int = 224, batch_size: int = 32, warmup: int = 1,
                             steps: int = 2, peak_gflops: float | None = None, timeout: float = 1800,
                             precision: str = "float32", frozen_blocks: int = 0, cached: bool = False,
                             jit_compile: bool = False) -> dict:
    """:func:`measure_fg_step` in a fresh Python process (clean memory figures); same arguments and result."""
    cmd = [sys.executable, "-m", "benchmarks.train_step", f"--variant={variant}", "--image-size", str(image_size),
           "--batch-size", str(batch_size), "--warmup", str(warmup), "--steps", str(steps),
           "--precision", precision, "--frozen-blocks", str(int(frozen_blocks))]
    if cached:
        cmd.append("--cached")
    if jit_compile:
        cmd.append("--jit-compile")
    if peak_gflops:
        cmd += ["--peak-gflops", repr(float(peak_gflops))]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    proc = subprocess.run(cmd, cwd=_REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_RESULT_MARKER):
            return json.loads(line[len(_RESULT_MARKER):])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    raise RuntimeError(f"training-step benchmark {variant} {image_size}px failed (exit {proc.returncode}):\n{tail}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Time the fine-grained training step once (one configuration).")
    parser.add_argument("--variant", default="full", choices=VARIANTS)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--peak-gflops", type=float, default=None)
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16"),
                        help="dtype policy of the model (sbir_tf.train.precision)")
    parser.add_argument("--frozen-blocks", type=int, default=0,
                        help="VGG16 conv blocks 1..k kept fixed (model.frozen_blocks)")
    parser.add_argument("--cached", action="store_true",
                        help="train on the frozen blocks' outputs, as with data.trunk_cache_views")
    parser.add_argument("--jit-compile", action="store_true",
                        help="compile the update with XLA, as --jit_compile does (train.jit_compile)")
    args = parser.parse_args(argv)
    result = measure_fg_step(args.variant, args.image_size, args.batch_size, warmup=args.warmup, steps=args.steps,
                             peak_gflops=args.peak_gflops, precision=args.precision,
                             frozen_blocks=args.frozen_blocks, cached=args.cached, jit_compile=args.jit_compile)
    print(summary_line(result), flush=True)
    print(_RESULT_MARKER + json.dumps(result), flush=True)


def summary_line(result: dict, run_steps: int | None = None) -> str:
    """One line a person reads: the step time, images/s, TFLOP/s where counted, and what ``run_steps`` such steps
    take (default the paper's 30,000 iterations, ``sbir_tf.train.schedules.PAPER_TOTAL_STEPS``)."""
    from sbir_tf.train.schedules import PAPER_TOTAL_STEPS

    run_steps = PAPER_TOTAL_STEPS if run_steps is None else int(run_steps)
    r = result
    setting = (f"{r['variant']} {r['image_size']} px, batch {r['batch_size']}, {r['precision']}"
               + (", XLA" if r.get("jit_compile") else "")
               + (f", blocks 1-{r['frozen_blocks']} frozen" + (" (cached)" if r.get("cached") else "")
                  if r.get("frozen_blocks") else ""))
    rate = f", {r['achieved_gflops'] / 1e3:.3g} TFLOP/s" if "achieved_gflops" in r else ""
    hours = r["step_s"] * run_steps / 3600
    duration = f"{hours:.3g} h" if hours >= 1 else f"{hours * 60:.3g} min"
    return (f"{setting}: {r['step_s']:.3g} s a step (median of {r['timed_steps']}), {r['images_per_s']:.3g} img/s"
            f"{rate}; {run_steps:,} such steps: {duration}")


if __name__ == "__main__":
    main()
