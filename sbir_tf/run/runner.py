"""The driver of every run: validate -> resume policy -> data -> model -> Trainer -> evaluate -> save the model ->
results.

:func:`run` is what the command lines, the notebooks (:mod:`sbir_tf.experiments.notebook_helpers`) and the
experiment scripts call. The output folder (:class:`sbir_tf.train.run_dir.RunDir`) holds ``config.json`` (the
resolved config), ``environment.json``, ``checkpoints/``, ``history.jsonl`` and ``tensorboard/`` (written by the
Trainer), ``model.keras``, ``metrics.json`` (:mod:`sbir_tf.run.results`) and ``figures/``.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from sbir_tf.config import Config
from sbir_tf.run import resume as resume_policy
from sbir_tf.run import results
from sbir_tf.run.task import Task

#: The message the input pipeline puts in the error of an image that does not decode (sbir_tf.data.pipeline).
UNDECODABLE = "could not decode image"


def _say(name: str, message: str) -> None:
    print(f"[{name}] {message}", file=sys.stderr, flush=True)


def run(task: Task, cfg: Config, output_dir: str | Path, *, resume: bool = False, data: Any = None,
        progress: bool = True, verbose: bool = True, stop_after: int | None = None, name: str = "run") -> dict:
    """Train and evaluate one config; returns the ``metrics.json`` dict.

    ``resume`` follows :mod:`sbir_tf.run.resume`. ``data``: already loaded task data (``task.load_data(cfg)``), to
    share one read between runs. ``stop_after``: end training after that many steps with no extra checkpoint, no
    evaluation and no metrics, as if the process had been killed (tests of resuming); returns ``{}``.
    """
    from sbir_tf.train.run_dir import RunDir

    t_start = time.perf_counter()
    say = (lambda m: _say(name, m)) if verbose else (lambda m: None)
    task.validate(cfg)  # names and numbers first: no data is read for a bad flag
    plain = cfg.to_dict()
    decision = resume_policy.decide(output_dir, plain, resume, getattr(task, "schedule_points", None))
    if decision.action is resume_policy.Action.READ_BACK:
        say(f"{output_dir}: finished run of this config found, read back (not trained again)")
        if verbose:
            print(task.table(decision.metrics), flush=True)
        return decision.metrics
    cfg = cfg.copy().freeze()  # the run's own read-only copy
    if cfg.train.deterministic:  # before any op runs
        from sbir_tf.train.determinism import enable_determinism

        enable_determinism(int(cfg.train.seed))
    if data is None:
        with _undecodable_is_data_error():
            data = task.load_data(cfg)
    from sbir_tf.train.strategy import make_strategy

    strategy = make_strategy(cfg.train.strategy) if "strategy" in cfg.train else None
    task.validate_data(cfg, data, strategy.num_replicas_in_sync if strategy is not None else 1)

    run_dir = RunDir(output_dir)
    run_dir.write_config(plain)
    run_dir.write_environment(resume_policy.checkpoint_step(decision.checkpoint)
                              if decision.action is resume_policy.Action.RESUME else None)
    for line in task.describe(cfg, data):
        say(line)

    from sbir_tf.train.precision import precision_warning, set_precision
    from sbir_tf.train.run_dir import cpu_features, onednn_enabled, onednn_hint

    policy = set_precision(cfg.train.precision)
    if task.trains(cfg):
        import tensorflow as tf

        gpus, features = len(tf.config.list_physical_devices("GPU")), cpu_features()
        warning = precision_warning(cfg.train.precision, gpus=gpus, cpu_features=features)
        if warning:
            say(f"warning: {warning}")
        hint = onednn_hint(onednn=onednn_enabled(), requested=os.environ.get("TF_ENABLE_ONEDNN_OPTS"), gpus=gpus,
                           cpu_features=features)
        if hint:
            say(f"note: {hint}")
    try:
        import keras

        # seeded right before the model is built: whether the data step built models of its own (feature
        # extraction on a cold cache) must not change the initial weights
        keras.utils.set_random_seed(int(cfg.train.seed))
        with _scope(strategy):
            model = task.build_model(cfg, data)
        history: list[dict] = []
        if task.trains(cfg):
            history = _train(task, model, cfg, data, strategy, run_dir, decision, progress, stop_after, say)
            if history is None:
                return {}
        train_seconds = time.perf_counter() - t_start
        with _undecodable_is_data_error():
            result = task.evaluate(model, cfg, data)
        scores = task.metrics(cfg, data, result, history)
        scores["dtype_policy"] = policy
        if strategy is not None:
            scores["replicas"] = int(strategy.num_replicas_in_sync)
        scores["figures"] = task.figures(run_dir.root, model, cfg, data, result, history)
        if task.trains(cfg):
            task.save_model(model, run_dir.root)
        metrics = results.metrics_record(task.identity(cfg), scores, train_seconds=train_seconds,
                                         wall_seconds=time.perf_counter() - t_start)
        results.write_metrics(run_dir.root, metrics)
        if verbose:
            print(task.table(metrics), flush=True)
        return metrics
    finally:
        set_precision("float32")


def _scope(strategy):
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _train(task, model, cfg, data, strategy, run_dir, decision, progress, stop_after, say) -> list[dict] | None:
    from sbir_tf.train.loop import Trainer

    t = cfg.train
    with _scope(strategy):
        step_fn, trackables = task.train_step(model, cfg, data, strategy)
    trainer = Trainer(step_fn, trackables, run_dir.root, total_steps=int(t.steps), log_every=int(t.log_every),
                      checkpoint_every=int(t.checkpoint_every), keep_checkpoints=int(t.keep_checkpoints),
                      evaluate=task.evaluator(model, cfg, data), eval_every=int(t.eval_every),
                      images_per_step=task.images_per_step(cfg), progress=progress)
    if decision.action is resume_policy.Action.RESUME:
        start = trainer.restore()
        say(f"resuming from step {start} ({trainer.latest_checkpoint})")
    trainer.stop_after = stop_after
    with _undecodable_is_data_error():
        history = trainer.fit()
    if stop_after is not None and trainer.step < int(t.steps):
        return None
    return history


@contextlib.contextmanager
def _undecodable_is_data_error():
    """An image that does not decode stops the run as a data error naming the file (never a substitute image)."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.InvalidArgumentError as err:
        text = str(err)
        if UNDECODABLE not in text:
            raise
        from sbir_tf.data.records import DataError

        detail = text[text.index(UNDECODABLE) + len(UNDECODABLE):].splitlines()[0]
        path = detail.strip().strip("[]").strip()
        raise DataError(f"{UNDECODABLE} {path} (images are never replaced by a stand-in: re-export or remove the "
                        f"file, then run again)") from err
