"""One training step of the fine-grained model of Pang et al. (BMVC 2017), for :class:`sbir_tf.train.loop.Trainer`.

A batch is a triplet (sketch, matching photo, non-matching photo) with class labels and the sketch as the
reconstruction target (:func:`sbir_tf.data.pipeline.triplet_dataset`). Its loss is the one function
:func:`sbir_tf.losses.fg.fg_loss_terms` on the model's outputs (:func:`sbir_tf.models.fg.triplet_outputs`):

* ``loss/cls`` — L_C (Eq. 2), softmax cross-entropy of the classifier on all three embeddings;
* ``loss/rec`` — L_D (Eq. 4), the decoder reconstructs the anchor sketch from the sketch's and from the positive
  photo's embedding (per-sample distance ``loss.decoder_distance``: ``norm`` or ``pixel_mse``);
* ``loss/tri`` — L_T (Eq. 5), triplet ranking loss with margin Delta (``loss.margin``);
* ``loss/total`` — the stage's weighted sum (Eq. 1 with the stage's weights).

The two-stage training strategy (Sec. 3.2 "Model training strategy") is explicit: ``train.schedule``
(``text`` | ``printed`` | ``joint``, :func:`sbir_tf.train.schedules.two_stage_schedule`) splits the steps into stages,
each with its loss weights and the variable groups (theta_E, theta_C, theta_D) it differentiates. :class:`FGStep`
compiles one ``tf.function`` per stage; a decoder outside a stage's groups runs in inference mode (frozen).

Each compiled update computes ``finite`` (every loss term and, without loss scaling, every gradient) and applies the
update only when it is true (:func:`sbir_tf.train.guard.guarded_update`: no weight, Adam slot or iteration change
otherwise, and the batch-norm statistics and dropout seed states the forward pass wrote are put back); the loop
raises. Adam (Sec. 4) with the learning rate of :class:`sbir_tf.train.schedules.PangLearningRate`;
``train.precision`` ``float16`` wraps it in a loss-scale optimizer (:mod:`sbir_tf.train.precision`),
``train.jit_compile`` compiles the updates with XLA. Under a multi-replica ``tf.distribute`` strategy each replica's
mean loss is rescaled to the global batch and the update runs in cross-replica context, so every replica skips or
applies together.
"""
from __future__ import annotations

from typing import Callable, Mapping

import keras
import tensorflow as tf

from sbir_tf.losses.fg import DECODER_DISTANCES, fg_loss_terms
from sbir_tf.models.fg import triplet_outputs, unique_variables
from sbir_tf.train import schedules
from sbir_tf.train.guard import gradients_and_finite, guarded_update
from sbir_tf.train.precision import check_precision, wrap_optimizer
from sbir_tf.train.schedules import Stage, stage_at
from sbir_tf.train.strategy import scale_to_global_batch

#: Loss-term names a fine-grained step reports (under ``loss/``).
FG_TERMS = ("total", "cls", "rec", "tri")



def variable_groups(model) -> dict[str, list]:
    """theta_E, theta_C, theta_D of a fine-grained model as ``{"encoder": [...], "classifier": [...],
    "decoder": [...]}`` (de-duplicated by identity: a Siamese encoder is shared by both branches)."""
    return {"encoder": unique_variables(model.encoder_variables), "classifier": unique_variables(model.classifier_variables),
            "decoder": unique_variables(model.decoder_variables) if model.decoder is not None else []}


def stage_variables(model, stage: Stage) -> list:
    """The variables ``stage`` differentiates: its groups of :func:`variable_groups`."""
    groups = variable_groups(model)
    return [v for g in stage.groups for v in groups[g]]


def all_trainable_variables(model) -> list:
    groups = variable_groups(model)
    return [v for g in schedules.GROUPS for v in groups[g]]


def random_state_variables(model) -> list:
    """The dropout seed-generator states of every part of the model.

    Keras keeps them as non-trainable variables that ``tf.train.Checkpoint`` does not reach through the layers;
    checkpointing them explicitly makes a resumed run draw the same dropout masks as an uninterrupted one.
    """
    out = []
    for part in (model.sketch_encoder, model.photo_encoder, model.classifier, model.decoder):
        if part is not None:
            out += [v for v in part.non_trainable_variables if "seed_generator" in v.path]
    return unique_variables(out)


def forward_state_variables(model) -> list:
    """The non-trainable variables a training forward pass writes: batch-norm moving statistics and dropout
    seed-generator states. A skipped (non-finite) step puts them back, so it changes nothing at all."""
    out = []
    for part in (model.sketch_encoder, model.photo_encoder, model.classifier, model.decoder):
        if part is None:
            continue
        for layer in part._flatten_layers(include_self=True, recursive=True):
            if isinstance(layer, keras.layers.BatchNormalization):
                out += [layer.moving_mean, layer.moving_variance]
    return unique_variables(out + random_state_variables(model))


def make_adam(learning_rate, beta_1: float, beta_2: float, epsilon: float) -> keras.optimizers.Adam:
    """Adam as in Sec. 4, Pang et al. 2017 (beta_1 0.9, beta_2 0.999, epsilon 1e-8)."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)


def make_fg_stages(cfg: Mapping, has_decoder: bool) -> list[Stage]:
    """The stages of ``train.schedule`` over ``train.steps`` (Sec. 3.2, :func:`schedules.two_stage_schedule`)."""
    t, loss = cfg["train"], cfg["loss"]
    return schedules.two_stage_schedule(t["schedule"], int(t["steps"]), has_decoder=has_decoder,
                                        lambda_d=float(loss["lambda_d"]), lambda_t=float(loss["lambda_t"]),
                                        stage1_fraction=float(t["stage1_fraction"]))


def schedule_points(cfg: Mapping) -> dict[str, int]:
    """The steps at which a fine-grained run changes what it trains with, derived from ``train.steps``: the learning
    rate drop (Sec. 4, :func:`schedules.drop_step`) and the start of every stage after the first (Sec. 3.2). A run
    resumed with another ``train.steps`` must not move a point it has already passed (:mod:`sbir_tf.run.resume`)."""
    t = cfg["train"]
    points = {"learning-rate drop": schedules.drop_step(int(t["steps"]), float(t["lr_drop_fraction"]))}
    for stage in make_fg_stages(cfg, has_decoder=bool(cfg["model"]["use_decoder"]))[1:]:
        points[f"start of {stage.name}"] = stage.start
    return points


class FGStep:
    """``step_fn(step)`` of the fine-grained task: one stage's compiled update on the batch of ``step``.

    ``dataset_fn(start_step) -> tf.data.Dataset`` yields the batch of 0-based step ``start_step`` first and then
    the following steps' batches (``triplet_dataset(..., start_step=start_step)``): the step function asks for it
    at its first step and again only when the steps asked for are not consecutive, so a resumed run sees the batches
    of an uninterrupted one. Build it (and the model) inside ``strategy.scope()``.
    """

    progress_keys = ("loss/total", "loss/cls", "loss/rec", "loss/tri")

    def __init__(self, model, stages: list[Stage], optimizer: keras.optimizers.Optimizer,
                 dataset_fn: Callable[[int], tf.data.Dataset], *, global_batch: int, margin: float,
                 decoder_distance: str, learning_rate: Callable[[int], float],
                 strategy: tf.distribute.Strategy | None = None, jit_compile: bool = False) -> None:
        if decoder_distance not in DECODER_DISTANCES:
            raise ValueError(f"unknown decoder distance {decoder_distance!r} (loss.decoder_distance); choose one of "
                             f"{DECODER_DISTANCES}")
        self.model, self.stages, self.optimizer = model, list(stages), optimizer
        self.dataset_fn, self.learning_rate = dataset_fn, learning_rate
        self.global_batch, self.margin, self.decoder_distance = int(global_batch), float(margin), decoder_distance
        self.strategy = strategy or tf.distribute.get_strategy()
        if jit_compile and self.strategy.num_replicas_in_sync > 1:
            raise ValueError("train.jit_compile needs a single-replica strategy (train.strategy='default')")
        self.jit_compile = bool(jit_compile)
        self.variables = all_trainable_variables(model)
        self.state_variables = forward_state_variables(model)
        with self.strategy.scope():
            self.optimizer.build(self.variables)
        self._updates = {stage.name: self._make_update(stage) for stage in self.stages}
        self._iterator, self._next_step = None, None

    def update(self, stage_name: str):
        """The compiled update of one stage: ``batch -> (terms, applied)``."""
        return self._updates[stage_name]

    def _make_update(self, stage: Stage):
        model, optimizer = self.model, self.optimizer
        variables = stage_variables(model, stage)
        weights = dict(stage.weights)
        decoder_training = "decoder" in stage.groups  # a decoder outside the stage's groups is frozen

        def forward_backward(batch):
            local_batch = tf.shape(batch["sketch"])[0]
            with tf.GradientTape() as tape:
                outputs = triplet_outputs(model, batch["sketch"], batch["positive"], batch["negative"],
                                          training=True, logits=bool(weights.get("cls", 0.0)),
                                          reconstructions=bool(weights.get("rec", 0.0)),
                                          decoder_training=decoder_training)
                terms = fg_loss_terms(outputs, batch, weights, margin=self.margin,
                                      decoder_distance=self.decoder_distance)
                terms = {k: scale_to_global_batch(terms[k], local_batch, self.global_batch) for k in FG_TERMS}
                scaled = optimizer.scale_loss(terms["total"])
            grads, finite = gradients_and_finite(tape, scaled, variables, terms, optimizer)
            return terms, grads, finite

        def apply(grads):
            optimizer.apply(grads, variables)

        @tf.function(jit_compile=self.jit_compile)
        def update(batch):
            return guarded_update(self.strategy, forward_backward, apply, (batch,), self.state_variables)

        return update

    def batch(self, step: int):
        if self._iterator is None or step != self._next_step:
            dataset = self.dataset_fn(step)
            if self.strategy.num_replicas_in_sync > 1:
                dataset = self.strategy.experimental_distribute_dataset(dataset)
            self._iterator = iter(dataset)
        self._next_step = step + 1
        return next(self._iterator)

    def __call__(self, step: int) -> dict:
        stage = stage_at(self.stages, step)
        terms, finite = self._updates[stage.name](self.batch(step))
        out = {"finite": finite, "lr": float(self.learning_rate(step)), "stage": stage.name}
        out.update({f"loss/{k}": terms[k] for k in FG_TERMS})
        return out


def fg_step(model, cfg: Mapping, dataset_fn: Callable[[int], tf.data.Dataset], *,
            strategy: tf.distribute.Strategy | None = None) -> tuple[FGStep, dict]:
    """The step function and trackables of a fine-grained run from the resolved config.

    Reads ``train.{steps, schedule, stage1_fraction, base_lr, final_lr, lr_drop_fraction, beta_1, beta_2, epsilon,
    batch_size, precision, jit_compile}`` and ``loss.{lambda_d, lambda_t, margin, decoder_distance}``. Call it (and
    build the model, after :func:`sbir_tf.train.precision.set_precision`) inside ``strategy.scope()``.
    Trackables: ``model``, ``optimizer`` and ``rng`` (the dropout seed-generator states).
    """
    t, loss = cfg["train"], cfg["loss"]
    precision = check_precision(t["precision"])
    strategy = strategy or tf.distribute.get_strategy()
    total = int(t["steps"])
    base_lr, final_lr, drop = float(t["base_lr"]), float(t["final_lr"]), float(t["lr_drop_fraction"])
    with strategy.scope():
        optimizer = wrap_optimizer(make_adam(schedules.PangLearningRate(total, base_lr, final_lr, drop),
                                             float(t["beta_1"]), float(t["beta_2"]), float(t["epsilon"])), precision)
        step_fn = FGStep(model, make_fg_stages(cfg, has_decoder=model.decoder is not None), optimizer, dataset_fn,
                         global_batch=int(t["batch_size"]), margin=float(loss["margin"]),
                         decoder_distance=loss["decoder_distance"],
                         learning_rate=lambda s: schedules.pang_learning_rate(s, total, base_lr, final_lr, drop),
                         strategy=strategy, jit_compile=bool(t["jit_compile"]))
    return step_fn, {"model": model, "optimizer": optimizer, "rng": random_state_variables(model)}
