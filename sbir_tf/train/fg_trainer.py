"""Custom ``tf.GradientTape`` training of the fine-grained SBIR model (Pang et al., BMVC 2017).

One batch is a triplet (sketch, matching photo, non-matching photo) with class labels and the sketch as a
reconstruction target (``sbir_tf.data.pipeline.triplet_dataset``). The loss terms (Eq. 1-5, Pang et al. 2017), all
computed by :func:`sbir_tf.losses.fg.fg_loss_terms`:

* ``cls`` — L_C (Eq. 2), softmax cross-entropy of the classifier on all three embeddings;
* ``rec`` — L_D (Eq. 4), the decoder reconstructs the anchor sketch from the sketch's and from the positive photo's
  embedding (per-sample distance ``loss.decoder_distance``: ``norm`` or ``pixel_mse``);
* ``tri`` — L_T (Eq. 5), triplet ranking loss on (sketch, positive, negative) embeddings with margin ``m``;
* ``total`` — the stage's weighted sum (Eq. 1 with the stage's weights, see :mod:`sbir_tf.train.schedules`).

:class:`FGTrainer` owns the optimizer (built once, over every trainable variable, inside the strategy scope) and
one ``tf.function`` step per stage, each differentiating only that stage's variable groups. :meth:`FGTrainer.fit`
is the loop: checkpoints every N steps and at the end, TensorBoard scalars, a progress bar, a hook for periodic
validation, and a hard stop (:class:`NonFiniteLossError`) on the first NaN/Inf loss, before anything is saved.
"""
from __future__ import annotations

import math
import time
import weakref
from typing import Callable, Iterator, Mapping

import keras
import numpy as np
import tensorflow as tf

from sbir_tf.losses.fg import DECODER_DISTANCES, PANG_2017, TERMS, fg_loss_terms
from sbir_tf.models.fg import triplet_outputs
from sbir_tf.train.checkpoints import Checkpointer
from sbir_tf.train.progress import Progress
from sbir_tf.train.schedules import Stage, stage_at
from sbir_tf.train.strategy import inner_optimizer, scale_to_global_batch
from sbir_tf.train.summaries import write_scalar


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; carries the 1-based ``step`` and the ``terms`` (name -> value)."""

    def __init__(self, step: int, terms: Mapping[str, float], checkpoint: str | None = None) -> None:
        self.step, self.terms, self.checkpoint = step, dict(terms), checkpoint
        bad = [k for k, v in self.terms.items() if not math.isfinite(v)]
        shown = ", ".join(f"{k}={v}" for k, v in self.terms.items())
        super().__init__(f"non-finite loss at step {step}: {', '.join(bad)} not finite ({shown}); training stopped "
                         f"without saving; last good checkpoint: {checkpoint or 'none'}")


def variable_groups(model) -> dict[str, list]:
    """theta_E, theta_C, theta_D of a fine-grained model as ``{"encoder": [...], "classifier": [...], "decoder": [...]}``.

    Variables are de-duplicated by identity (a Siamese encoder is shared by both branches).
    """
    groups = {"encoder": list(model.encoder_variables), "classifier": list(model.classifier_variables),
              "decoder": list(model.decoder_variables) if model.decoder is not None else []}
    for name, variables in groups.items():
        seen, unique = set(), []
        for v in variables:
            if id(v) not in seen:
                seen.add(id(v))
                unique.append(v)
        groups[name] = unique
    return groups


def stage_variables(model, stage: Stage) -> list:
    groups = variable_groups(model)
    return [v for g in stage.groups for v in groups[g]]


def all_trainable_variables(model) -> list:
    groups = variable_groups(model)
    return [v for g in ("encoder", "classifier", "decoder") for v in groups[g]]


def pang_loss_terms(model, batch: Mapping[str, tf.Tensor], weights: Mapping[str, float], margin: float,
                    training: bool = True, decoder_training: bool | None = None,
                    decoder_distance: str = PANG_2017.decoder_distance) -> dict[str, tf.Tensor]:
    """Loss terms of one triplet batch: ``{"cls", "rec", "tri", "total"}`` (float32 scalars, batch means).

    The model's outputs (:func:`sbir_tf.models.fg.triplet_outputs`; the classifier and the decoder run only when
    their term has a weight) go to :func:`sbir_tf.losses.fg.fg_loss_terms`, which computes L_C, L_D and L_T
    (Eq. 2, 4, 5, Pang et al. 2017) and ``total = sum_k weights[k] * term_k`` (Eq. 1 with the stage's weights).
    ``decoder_training=False`` runs the decoder in inference mode (a frozen decoder: batch-norm statistics
    untouched), default: ``training``.
    """
    outputs = triplet_outputs(model, batch["sketch"], batch["positive"], batch["negative"], training=training,
                              logits=bool(weights.get("cls", 0.0)), reconstructions=bool(weights.get("rec", 0.0)),
                              decoder_training=decoder_training)
    return fg_loss_terms(outputs, batch, weights, margin=margin, decoder_distance=decoder_distance)


def random_state_variables(model) -> list:
    """The dropout/random seed-generator states of every part of the model.

    Keras keeps them as non-trainable variables that ``tf.train.Checkpoint`` does not reach through the layers;
    checkpointing them explicitly makes a resumed run draw the same dropout masks as an uninterrupted one.
    """
    parts = [model.sketch_encoder, model.photo_encoder, model.classifier, model.decoder]
    seen, out = set(), []
    for part in parts:
        if part is None:
            continue
        for v in part.non_trainable_variables:
            if "seed_generator" in v.path and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


class FGTrainer:
    """Steps, optimizer and loop for one model under one :class:`tf.distribute.Strategy`.

    Build the model and this trainer inside ``strategy.scope()`` so that the optimizer's slots are mirrored like the
    variables they update. ``decoder_distance`` is the per-sample distance of L_D (``loss.decoder_distance``,
    :func:`sbir_tf.losses.fg.reconstruction_distance`). ``loss_fn`` computes one batch's terms from ``(model, batch,
    weights, margin, training=, decoder_training=, decoder_distance=)``; the default :func:`pang_loss_terms` is
    :func:`sbir_tf.losses.fg.fg_loss_terms` on the model's outputs.
    """

    def __init__(self, model, stages: list[Stage], optimizer: keras.optimizers.Optimizer, *,
                 global_batch: int, margin: float, decoder_distance: str = PANG_2017.decoder_distance,
                 strategy: tf.distribute.Strategy | None = None, loss_fn: Callable = pang_loss_terms) -> None:
        if decoder_distance not in DECODER_DISTANCES:
            raise ValueError(f"unknown decoder distance {decoder_distance!r}; choose one of {DECODER_DISTANCES}")
        self.model, self.stages, self.optimizer = model, list(stages), optimizer
        self.global_batch, self.margin, self.loss_fn = int(global_batch), float(margin), loss_fn
        self.decoder_distance = decoder_distance
        self.strategy = strategy or tf.distribute.get_strategy()
        self.variables = all_trainable_variables(model)
        with self.strategy.scope():
            self.optimizer.build(self.variables)
        self._steps = {stage.name: self._make_step(stage) for stage in self.stages}

    # ------------------------------------------------------------------------------------------- one step

    def _make_step(self, stage: Stage):
        variables = stage_variables(self.model, stage)
        weights = dict(stage.weights)
        decoder_training = "decoder" in stage.groups  # a decoder outside the stage's groups is frozen
        optimizer, strategy, global_batch = self.optimizer, self.strategy, self.global_batch

        def replica_step(batch):
            local_batch = tf.shape(batch["sketch"])[0]
            with tf.GradientTape() as tape:
                terms = self.loss_fn(self.model, batch, weights, self.margin, training=True,
                                     decoder_training=decoder_training, decoder_distance=self.decoder_distance)
                loss = scale_to_global_batch(terms["total"], local_batch, global_batch)
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, variables)
            optimizer.apply(grads, variables)
            return {k: scale_to_global_batch(v, local_batch, global_batch) for k, v in terms.items()}

        @tf.function
        def train_step(batch):
            per_replica = strategy.run(replica_step, args=(batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

        return train_step

    def step_function(self, stage_name: str):
        return self._steps[stage_name]

    def train_step(self, step: int, batch) -> dict[str, float]:
        """Run 0-based global ``step`` on ``batch`` (a distributed batch under a multi-replica strategy)."""
        stage = stage_at(self.stages, step)
        out = self._steps[stage.name](batch)
        return {k: float(v.numpy()) for k, v in out.items()}

    def learning_rate(self, step: int) -> float:
        lr = inner_optimizer(self.optimizer).learning_rate
        if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
            return float(lr(step))
        return float(keras.ops.convert_to_numpy(lr))

    def distribute(self, dataset: tf.data.Dataset):
        if self.strategy.num_replicas_in_sync > 1:
            return self.strategy.experimental_distribute_dataset(dataset)
        return dataset

    # ------------------------------------------------------------------------------------------- the loop

    def fit(self, batches: Iterator, *, start_step: int, total_steps: int, checkpointer: Checkpointer | None = None,
            checkpoint_every: int = 1000, summary_writer=None, log_every: int = 10,
            on_eval: Callable[[int], Mapping[str, float]] | None = None, eval_every: int = 0,
            images_per_step: int = 0, history: list | None = None, on_save: Callable[[int], None] | None = None,
            stop_at_step: int | None = None, progress: bool = True) -> list[dict]:
        """Train steps ``start_step .. total_steps - 1`` taking one batch per step from ``batches``.

        ``batches`` must yield the batch of global step ``start_step`` first (``triplet_dataset(start_step=...)``).
        Saves a checkpoint every ``checkpoint_every`` steps and after the last one; writes each loss term and the
        learning rate to ``summary_writer`` every ``log_every`` steps; calls ``on_eval(step)`` every ``eval_every``
        steps and logs what it returns; calls ``on_save(step)`` after each checkpoint. ``stop_at_step`` ends the loop
        after that step with no extra checkpoint, like a killed process. Returns (and appends to ``history``) one
        dict per logged step. Raises :class:`NonFiniteLossError` at the first non-finite term, without saving.
        """
        history = [] if history is None else history
        bar = Progress(total_steps, start=start_step, images_per_step=images_per_step, desc="train",
                       stream=None) if progress else None
        t0 = time.perf_counter()
        try:
            end = total_steps if stop_at_step is None else min(total_steps, stop_at_step)
            for step in range(start_step, end):
                batch = next(batches)
                terms = self.train_step(step, batch)
                done = step + 1
                if not all(math.isfinite(v) for v in terms.values()):
                    raise NonFiniteLossError(done, terms, checkpointer.latest if checkpointer else None)
                lr = self.learning_rate(step)
                if bar is not None:
                    bar.update(done, {k: terms[k] for k in ("total", *TERMS)})
                if done % max(log_every, 1) == 0 or done == total_steps or done == start_step + 1:
                    record = {"step": done, "lr": lr, "stage": stage_at(self.stages, step).name,
                              "time": time.perf_counter() - t0, **terms}
                    history.append(record)
                    if summary_writer is not None:
                        with summary_writer.as_default(step=done):
                            for k in ("total", *TERMS):
                                write_scalar(f"loss/{k}", terms[k], done)
                            write_scalar("lr", lr, done)
                if on_eval is not None and eval_every and done % eval_every == 0 and done != total_steps:
                    self._log_eval(on_eval(done), done, summary_writer)
                if checkpointer is not None and (done % max(checkpoint_every, 1) == 0 or done == total_steps):
                    checkpointer.save(done)
                    if on_save is not None:
                        on_save(done)
        finally:
            if bar is not None:
                bar.close()
            if summary_writer is not None:
                summary_writer.flush()
        return history

    @staticmethod
    def _log_eval(values: Mapping[str, float] | None, step: int, summary_writer) -> None:
        if not values or summary_writer is None:
            return
        with summary_writer.as_default(step=step):
            for k, v in values.items():
                write_scalar(f"val/{k}", float(v), step)


def make_adam(learning_rate, beta_1: float, beta_2: float, epsilon: float) -> keras.optimizers.Adam:
    """Adam as in Sec. 4, Pang et al. 2017 (beta_1 0.9, beta_2 0.999, epsilon 1e-8)."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


_FORWARD: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _inference_fn(encoder):
    """One ``tf.function`` per encoder (kept while the encoder lives), so repeated evaluations do not retrace."""
    fn = _FORWARD.get(encoder)
    if fn is None:
        ref = weakref.ref(encoder)  # the cached function must not keep its encoder alive

        @tf.function(reduce_retracing=True)
        def fn(x):
            return tf.cast(ref()(x, training=False), tf.float32)

        _FORWARD[encoder] = fn
    return fn


def embed(encoder, images: tf.data.Dataset | np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Deployment embeddings (Eq. 6, Pang et al. 2017): the encoder alone, inference mode, float32 numpy."""
    if isinstance(images, np.ndarray):
        images = tf.data.Dataset.from_tensor_slices(images).batch(batch_size)
    forward = _inference_fn(encoder)
    chunks = [forward(x).numpy() for x in images]
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(chunks, axis=0)
