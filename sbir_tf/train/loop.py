"""The one training loop of both papers: :class:`Trainer`.

A task supplies ``step_fn(step) -> dict`` (one training step, 0-based ``step``; :mod:`sbir_tf.train.fg_step`,
:mod:`sbir_tf.train.zs_step`) and the trackables its state lives in (models, optimizers, RNG state). The loop owns
everything else, with one contract for every task:

* **Checkpoints** (``run_dir/checkpoints/ckpt-<step>``): the trackables plus the loop's step counter, written by
  ``tf.train.CheckpointManager`` every ``checkpoint_every`` steps and after the last step, keeping the newest
  ``keep_checkpoints``. A save is atomic: the data files are complete before the ``checkpoint`` index file is
  atomically replaced, so a process killed mid-save leaves the previous checkpoint as the newest.
* **History** (``run_dir/history.jsonl``): one JSON row per logged step: ``step``, ``lr``, ``stage`` (when the task
  has stages), ``loss/<term>``..., ``val/<metric>``... (eval steps), ``time``. :meth:`Trainer.restore` cuts the rows
  after the restored step, so a resumed run's history equals an uninterrupted run's.
* **TensorBoard** (``run_dir/tensorboard/``): the same numbers as scalars.
* **Progress**: step, losses, images/s and ETA (:class:`sbir_tf.train.progress.Progress`).
* **Cadence**: one predicate, :func:`due`, for logging, evaluation and checkpoints.
* **Non-finite values**: the task's compiled step computes ``finite`` and skips its update when it is false (no
  weight, optimizer-slot or iteration change); the loop then raises :class:`~sbir_tf.train.errors.NonFiniteLossError`
  naming the step, the terms and the last checkpoint, and saves nothing after it.

Steps are 0-based when passed to ``step_fn``; everything recorded (history rows, checkpoint numbers, the error's
step, ``evaluate(step)``) uses the number of completed steps, ``step + 1``.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable, Mapping

import tensorflow as tf

from sbir_tf.train.checkpoints import Checkpointer
from sbir_tf.train.errors import NonFiniteLossError
from sbir_tf.train.progress import Progress
from sbir_tf.train.run_dir import atomic_write_text
from sbir_tf.train.summaries import write_scalar

LOSS_PREFIX = "loss/"
VAL_PREFIX = "val/"


def due(step: int, every: int, total: int) -> bool:
    """Whether a periodic action runs after completed step ``step`` (1-based): every ``every`` steps and on the last
    step ``total``; never when ``every <= 0``."""
    return every > 0 and (step % every == 0 or step == total)


def _scalar(value) -> float:
    return float(value.numpy()) if hasattr(value, "numpy") else float(value)


class Trainer:
    """Runs ``step_fn`` for steps ``start .. total_steps - 1`` with checkpoints, history, TensorBoard and progress.

    ``step_fn(step: int) -> dict`` returns ``"finite"`` (bool), ``"lr"`` (float), optionally ``"stage"`` (str)
    and ``"update"`` (str, the update that was not finite), and ``"loss/<term>"`` scalars (floats or scalar
    tensors). ``trackables`` (name -> trackable) are saved in every checkpoint. ``evaluate(step) -> {name: float}``
    runs when ``due(step, eval_every, total_steps)``; it must not change training state. ``images_per_step`` feeds
    the images/s of the progress line.
    """

    def __init__(self, step_fn: Callable[[int], Mapping], trackables: Mapping[str, object], run_dir, *,
                 total_steps: int, log_every: int, checkpoint_every: int, keep_checkpoints: int,
                 evaluate: Callable[[int], Mapping[str, float]] | None = None, eval_every: int = 0,
                 images_per_step: int | None = None, progress: bool = True) -> None:
        if int(total_steps) < 0:
            raise ValueError(f"total_steps must be >= 0, got {total_steps}")
        if int(keep_checkpoints) < 1:
            raise ValueError(f"keep_checkpoints must be >= 1 (train.keep_checkpoints), got {keep_checkpoints}")
        reserved = {"step"} & set(trackables)
        if reserved:
            raise ValueError(f"trackable name {sorted(reserved)} is reserved for the loop's step counter")
        self.step_fn, self.total_steps = step_fn, int(total_steps)
        self.log_every, self.checkpoint_every = int(log_every), int(checkpoint_every)
        self.evaluate, self.eval_every = evaluate, int(eval_every or 0)
        self.images_per_step, self.progress = int(images_per_step or 0), bool(progress)
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.checkpointer = Checkpointer(self.run_dir / "checkpoints", max_to_keep=int(keep_checkpoints),
                                         **dict(trackables))
        self.history_path = self.run_dir / "history.jsonl"
        self.tensorboard_dir = self.run_dir / "tensorboard"
        self.history: list[dict] = []
        self.stop_after: int | None = None  # test hook: return after this many completed steps, no extra save
        self._step = 0
        self._synced = False  # history.jsonl matches self.history (after restore() or a first fit())

    @property
    def step(self) -> int:
        """Completed steps so far (the restored step before :meth:`fit`)."""
        return self._step

    @property
    def latest_checkpoint(self) -> str | None:
        return self.checkpointer.latest

    # ------------------------------------------------------------------------------------------- resume
    def restore(self) -> int:
        """Restore the newest checkpoint, if any; returns its step (0 when there is none).

        History rows after that step (written by the interrupted run after its last checkpoint) are cut. Whether a
        run may resume is the run layer's decision; this only restores.
        """
        self._step = self.checkpointer.restore_latest()
        self._synced = True
        rows = []
        if self.history_path.exists():
            rows = [json.loads(line) for line in self.history_path.read_text().splitlines() if line.strip()]
        self.history = [r for r in rows if r["step"] <= self._step]
        self._write_history()
        return self._step

    def _write_history(self) -> None:
        atomic_write_text(self.history_path, "".join(json.dumps(r) + "\n" for r in self.history))

    # ------------------------------------------------------------------------------------------- the loop
    def fit(self) -> list[dict]:
        """Train up to ``total_steps``; returns every history row (kept ones from before a restore, then new)."""
        if not self._synced:  # a fresh run: no history before step 0
            self.history = []
            self._write_history()
            self._synced = True
        start, total = self._step, self.total_steps
        end = total if self.stop_after is None else min(total, int(self.stop_after))
        writer = tf.summary.create_file_writer(str(self.tensorboard_dir))
        bar = Progress(total, start=start, images_per_step=self.images_per_step, desc="train") \
            if self.progress and start < end else None
        t0 = time.perf_counter()
        try:
            with open(self.history_path, "a") as history_file:
                for step in range(start, end):
                    out = self.step_fn(step)
                    done = step + 1
                    losses = {k: v for k, v in out.items() if k.startswith(LOSS_PREFIX)}
                    if not bool(_scalar(out["finite"])):
                        terms = {k[len(LOSS_PREFIX):]: _scalar(v) for k, v in losses.items()}
                        raise NonFiniteLossError(done, terms, self.checkpointer.latest,
                                                 update=out.get("update") or out.get("stage"))
                    losses = {k: _scalar(v) for k, v in losses.items()}
                    if not all(math.isfinite(v) for v in losses.values()):  # a step_fn that skipped no check
                        raise NonFiniteLossError(done, {k[len(LOSS_PREFIX):]: v for k, v in losses.items()},
                                                 self.checkpointer.latest, update=out.get("update") or out.get("stage"))
                    self._step = done
                    row = None
                    if due(done, self.log_every, total):
                        row = self._row(done, out, losses, t0)
                    if self.evaluate is not None and due(done, self.eval_every, total):
                        values = self.evaluate(done)
                        row = row or self._row(done, out, losses, t0)
                        row.update({VAL_PREFIX + k: float(v) for k, v in dict(values or {}).items()})
                        if bar is not None and values:
                            bar.note(done, values)
                    if row is not None:
                        self.history.append(row)
                        history_file.write(json.dumps(row) + "\n")
                        history_file.flush()
                        with writer.as_default(step=done):
                            for k, v in row.items():
                                if k not in ("step", "time") and isinstance(v, (int, float)):
                                    write_scalar(k, v, done)
                    if due(done, self.checkpoint_every, total) or done == total:
                        self.checkpointer.save(done)
                    if bar is not None:
                        bar.update(done, self._progress_values(losses))
        finally:
            if bar is not None:
                bar.close()
            writer.flush()
            writer.close()
        return self.history

    def _row(self, done: int, out: Mapping, losses: Mapping[str, float], t0: float) -> dict:
        row = {"step": done, "lr": _scalar(out["lr"])}
        if out.get("stage") is not None:
            row["stage"] = str(out["stage"])
        row.update(losses)
        row["time"] = time.perf_counter() - t0
        return row

    def _progress_values(self, losses: Mapping[str, float]) -> dict:
        keys = getattr(self.step_fn, "progress_keys", None)
        chosen = {k: v for k, v in losses.items() if keys is None or k in keys}
        return {k[len(LOSS_PREFIX):].split("/")[-1]: v for k, v in chosen.items()}
