"""WAD-CMSN training (Algorithm 1 of Xu, Hu, Cai 2022) on cached 512-d visual features.

One iteration:

1. ``n_critic`` times: draw a batch of (sketch feature x, photo feature y of the same class, the class's semantic
   vector s); update the critics f_se, f_sk, f_im on ``L_dis`` (Sec. 3.2, the critic side of Eqs. 2-4); enforce
   the Lipschitz constraint by clipping every critic weight to [-c, c] (WGAN) -- or add a gradient penalty instead.
2. draw a batch; update the generators G_sk, G_im, F_sk, F_im and the classifier on ``L_ps`` (Eq. 10), whose
   identity-matching term (Eq. 8) compares G_sk(x) with G_im(y) and F_sk(s), F_im(s) with x, y.

The printed Algorithm 1 names the generator parameters in the critic update (step 8) and the critic parameters in the
generator update (step 10); we follow the meaning: critics are updated by the critic loss and generators by the
generator loss, each with its own RMSprop built by :func:`build_rmsprop` ("RMSprop in Pytorch", Sec. 3.2: PyTorch's
update rule and constants by default, see ``sbir_tf.losses.wadcmsn``).

Exact resume: batch ``(step, k)`` is drawn from ``np.random.default_rng([seed, step, k])`` and every dropout mask /
gradient-penalty interpolation from a stateless seed derived from (seed, step, k); the optimiser slots, the weights and
the step live in the checkpoint, so "stop after n steps + resume" equals the straight run.

A non-finite value in any loss term or gradient stops the run with :class:`NonFiniteLossError` naming the step, the
update and the terms; the offending update is not applied and no checkpoint is written, so the last good checkpoint
on disk is intact.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf

from sbir_tf.losses import wadcmsn as L
from sbir_tf.models.wadcmsn import WADCMSN
from sbir_tf.train.checkpoints import Checkpointer
from sbir_tf.train.progress import Progress
from sbir_tf.train.summaries import write_scalar


class NonFiniteLossError(FloatingPointError):
    """A loss term or gradient became NaN/Inf; the message names the step, the update and the terms."""


class PyTorchRMSprop(keras.optimizers.RMSprop):
    """RMSprop with the update rule of ``torch.optim.RMSprop`` (no momentum, not centred):

    ``v <- rho v + (1 - rho) g^2``, ``theta <- theta - lr g / (sqrt(v) + eps)``.

    ``keras.optimizers.RMSprop`` computes ``theta - lr g / sqrt(v + eps)`` (epsilon inside the square root); the
    moving average ``v`` (zero-initialised, no bias correction) is the same in both. The paper trains "using RMSprop
    in Pytorch" (Xu et al., Sec. 3.2).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.momentum or self.centered:
            raise ValueError("PyTorchRMSprop implements plain RMSprop only (momentum=0, centered=False)")

    def update_step(self, gradient, variable, learning_rate):
        lr = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        velocity = self._velocities[self._get_variable_index(variable)]
        self.assign(velocity, keras.ops.add(keras.ops.multiply(self.rho, velocity),
                                            keras.ops.multiply(1 - self.rho, keras.ops.square(gradient))))
        step = keras.ops.divide(keras.ops.multiply(lr, gradient), keras.ops.add(keras.ops.sqrt(velocity), self.epsilon))
        self.assign_sub(variable, step)


def build_rmsprop(train_cfg: Mapping, name: str) -> keras.optimizers.RMSprop:
    """The RMSprop of Algorithm 1 from ``train_cfg`` keys ``lr``, ``rmsprop_rho``, ``rmsprop_epsilon`` and
    ``rmsprop_epsilon_placement`` ("outside_sqrt": PyTorch's rule, :class:`PyTorchRMSprop`; "inside_sqrt":
    ``keras.optimizers.RMSprop``); missing keys take the defaults of ``sbir_tf.losses.wadcmsn`` (PyTorch's)."""
    placement = train_cfg.get("rmsprop_epsilon_placement", L.RMSPROP_EPSILON_PLACEMENT)
    if placement not in L.RMSPROP_EPSILON_PLACEMENTS:
        raise ValueError(f"train.rmsprop_epsilon_placement must be one of {L.RMSPROP_EPSILON_PLACEMENTS} "
                         f"(outside_sqrt = PyTorch, inside_sqrt = Keras), got {placement!r}")
    cls = PyTorchRMSprop if placement == "outside_sqrt" else keras.optimizers.RMSprop
    return cls(learning_rate=float(train_cfg.get("lr", L.LEARNING_RATE)),
               rho=float(train_cfg.get("rmsprop_rho", L.RMSPROP_RHO)),
               epsilon=float(train_cfg.get("rmsprop_epsilon", L.RMSPROP_EPSILON)), name=name)


@dataclass
class PairSampler:
    """Deterministic class-aligned batches for Algorithm 1.

    Batch ``(step, k)``: ``batch_size`` sketches drawn uniformly with replacement from the seen-class training
    sketches; for each, a photo of the same class drawn uniformly; ``s`` = that class's semantic vector.
    ``*_labels`` index the rows of ``semantics`` (seen classes, 0..C-1).

    Pairing (Xu et al.): the training set is written as tuples (x_i, y_i, s_i, c_i) (Sec. 3), Eq. 7 gives one label
    for both ("c is the category label of x and y"), and Eq. 8 assumes "for a given category, the semantic features
    of a sketch and its corresponding image are the same"; the paper also stresses that sketches and images are "not
    aligned" (Sec. 3.1). So x and y of a row share a class, with no instance-level correspondence. How the rows are
    drawn (uniform over sketches here; class-balanced in the SEM-PCYC code) is not stated.
    """

    sketch_features: np.ndarray
    sketch_labels: np.ndarray
    photo_features: np.ndarray
    photo_labels: np.ndarray
    semantics: np.ndarray
    batch_size: int = L.BATCH_SIZE
    seed: int = 0

    def __post_init__(self) -> None:
        self.sketch_features = np.asarray(self.sketch_features, np.float32)
        self.photo_features = np.asarray(self.photo_features, np.float32)
        self.sketch_labels = np.asarray(self.sketch_labels, np.int64)
        self.photo_labels = np.asarray(self.photo_labels, np.int64)
        self.semantics = np.asarray(self.semantics, np.float32)
        n_classes = len(self.semantics)
        if len(self.sketch_features) != len(self.sketch_labels) or len(self.photo_features) != len(self.photo_labels):
            raise ValueError("PairSampler: features and labels differ in length")
        for name, labels in (("sketch", self.sketch_labels), ("photo", self.photo_labels)):
            if len(labels) == 0:
                raise ValueError(f"PairSampler: no training {name}es")
            if labels.min() < 0 or labels.max() >= n_classes:
                raise ValueError(f"PairSampler: {name} labels outside 0..{n_classes - 1}")
        missing = sorted(set(np.unique(self.sketch_labels)) - set(np.unique(self.photo_labels)))
        if missing:
            raise ValueError(f"PairSampler: seen class labels {missing} have sketches but no photos to pair with")
        order = np.argsort(self.photo_labels, kind="stable")
        self._photos_by_class = order
        self._class_start = np.searchsorted(self.photo_labels[order], np.arange(n_classes))
        self._class_count = np.bincount(self.photo_labels, minlength=n_classes)

    def indices(self, step: int, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([int(self.seed), int(step), int(k)])
        sk = rng.integers(0, len(self.sketch_labels), size=self.batch_size)
        labels = self.sketch_labels[sk]
        offset = np.floor(rng.random(self.batch_size) * self._class_count[labels]).astype(np.int64)
        ph = self._photos_by_class[self._class_start[labels] + offset]
        return sk, ph

    def batch(self, step: int, k: int = 0) -> dict:
        sk, ph = self.indices(step, k)
        labels = self.sketch_labels[sk]
        return {"x": self.sketch_features[sk], "y": self.photo_features[ph], "s": self.semantics[labels],
                "label": labels.astype(np.int32)}


def _finite(values) -> tf.Tensor:
    return tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32))) for v in values]))


def _seed(base, j: int):
    return base + tf.constant([0, j], tf.int64)


class ZSTrainer:
    """Algorithm 1 with custom ``tf.GradientTape`` steps, checkpoints, TensorBoard scalars and a history file.

    ``loss_cfg``: adversarial ("wasserstein" | "gan"), lipschitz ("clip" | "gp" | "none"), clip_value, gp_weight,
    semantic_cycle (bool), reduction (Eqs. 5-6: "sum" | "mean"), iml_reduction (Eq. 8: "sum" | "mean"),
    weights {adv, cyc, cls, iml}.
    ``train_cfg``: steps, lr, rmsprop_rho, rmsprop_epsilon, rmsprop_epsilon_placement, n_critic, seed, log_every,
    eval_every, checkpoint_every, keep_checkpoints.
    Keys left out take the defaults of ``sbir_tf.losses.wadcmsn`` (the same constants the presets use).
    ``evaluate(model) -> {name: float}`` runs every ``eval_every`` steps (e.g. validation mAP) and must not touch any
    training state.
    """

    def __init__(self, model: WADCMSN, sampler: PairSampler, loss_cfg: Mapping, train_cfg: Mapping, *,
                 checkpoint_dir: str | os.PathLike | None = None, tensorboard_dir: str | os.PathLike | None = None,
                 history_path: str | os.PathLike | None = None,
                 evaluate: Callable[[WADCMSN], Mapping[str, float]] | None = None) -> None:
        self.model, self.sampler = model, sampler
        self.loss_cfg, self.train_cfg = dict(loss_cfg), dict(train_cfg)
        self.weights = {k: float(v) for k, v in dict(self.loss_cfg["weights"]).items()}
        adversarial = self.loss_cfg["adversarial"]
        if adversarial == "wasserstein":
            self._critic_loss, self._gen_loss = L.wasserstein_critic_loss, L.wasserstein_generator_loss
        elif adversarial == "gan":
            self._critic_loss, self._gen_loss = L.gan_critic_loss, L.gan_generator_loss
        else:
            raise ValueError(f"loss.adversarial must be 'wasserstein' or 'gan', got {adversarial!r}")
        if self.loss_cfg["lipschitz"] not in ("clip", "gp", "none"):
            raise ValueError(f"loss.lipschitz must be clip|gp|none, got {self.loss_cfg['lipschitz']!r}")
        self.semantic_cycle = bool(self.loss_cfg.get("semantic_cycle", L.SEMANTIC_CYCLE))
        self.cycle_reduction = self.loss_cfg.get("reduction", L.CYCLE_REDUCTION)
        self.iml_reduction = self.loss_cfg.get("iml_reduction", L.IML_REDUCTION)
        for key, value in (("reduction", self.cycle_reduction), ("iml_reduction", self.iml_reduction)):
            if value not in L.REDUCTIONS:
                raise ValueError(f"loss.{key} must be one of {L.REDUCTIONS}, got {value!r}")
        self.n_critic = int(self.train_cfg.get("n_critic", L.N_CRITIC))
        self.critic_optimizer = build_rmsprop(self.train_cfg, "critic_rmsprop")
        self.generator_optimizer = build_rmsprop(self.train_cfg, "generator_rmsprop")
        self.critic_optimizer.build(model.critic_variables)
        self.generator_optimizer.build(model.generator_variables)
        self.evaluate = evaluate
        self.history_path = Path(history_path) if history_path else None
        self.history: list[dict] = []
        self.checkpointer = None
        if checkpoint_dir is not None:
            self.checkpointer = Checkpointer(checkpoint_dir, max_to_keep=int(self.train_cfg.get("keep_checkpoints", 3)),
                                             model=model, critic_optimizer=self.critic_optimizer,
                                             generator_optimizer=self.generator_optimizer)
        self.writer = tf.summary.create_file_writer(str(tensorboard_dir)) if tensorboard_dir else None
        self._critic_fn = tf.function(self._critic_step)
        self._generator_fn = tf.function(self._generator_step)

    # ------------------------------------------------------------------------------------------- one update each
    def _critic_step(self, x, y, s, seed):
        """Critic update on ``L_dis`` (Sec. 3.2: the critic side of Eqs. 2-4); generator outputs are constants."""
        m = self.model
        g_sk = m.g_sk(x, training=True, seed=_seed(seed, 1))
        g_im = m.g_im(y, training=True, seed=_seed(seed, 2))
        f_sk_s = m.f_sk(s, training=True, seed=_seed(seed, 3))
        f_im_s = m.f_im(s, training=True, seed=_seed(seed, 4))
        variables = m.critic_variables
        with tf.GradientTape() as tape:
            adv_se = L.semantic_adversarial_critic_loss(m.critic_se(s), m.critic_se(g_sk), m.critic_se(g_im),
                                                        self._critic_loss)
            adv_sk = L.sketch_adversarial_critic_loss(m.critic_sk(x), m.critic_sk(f_sk_s), self._critic_loss)
            adv_im = L.image_adversarial_critic_loss(m.critic_im(y), m.critic_im(f_im_s), self._critic_loss)
            penalty = tf.constant(0.0)
            gp_weight = 0.0
            if self.loss_cfg["lipschitz"] == "gp":
                gp_weight = float(self.loss_cfg.get("gp_weight", L.GRADIENT_PENALTY_WEIGHT))
                eps = [tf.random.stateless_uniform([tf.shape(x)[0], 1], seed=_seed(seed, 10 + i)) for i in range(4)]
                penalty = (L.gradient_penalty(m.critic_se, s, g_sk, eps[0]) + L.gradient_penalty(m.critic_se, s, g_im, eps[1])
                           + L.gradient_penalty(m.critic_sk, x, f_sk_s, eps[2])
                           + L.gradient_penalty(m.critic_im, y, f_im_s, eps[3]))
            total = L.discriminator_total_loss(adv_se, adv_sk, adv_im, penalty, gp_weight)
        grads = tape.gradient(total, variables)
        terms = {"critic/adv_se": adv_se, "critic/adv_sk": adv_sk, "critic/adv_im": adv_im, "critic/gp": penalty,
                 "critic/L_dis": total}
        finite = _finite(list(terms.values()) + grads)
        grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
        self.critic_optimizer.apply(grads, variables)
        if self.loss_cfg["lipschitz"] == "clip":
            c = float(self.loss_cfg.get("clip_value", L.CLIP_VALUE))
            for v in variables:
                v.assign(tf.clip_by_value(v, -c, c))
        return terms, finite

    def _generator_step(self, x, y, s, label, seed):
        """Generator (+ classifier) update on ``L_ps`` (Eq. 10); critics are fixed."""
        m = self.model
        semantic_cycle, reduction = self.semantic_cycle, self.cycle_reduction
        variables = m.generator_variables
        with tf.GradientTape() as tape:
            g_sk = m.g_sk(x, training=True, seed=_seed(seed, 1))
            g_im = m.g_im(y, training=True, seed=_seed(seed, 2))
            f_sk_s = m.f_sk(s, training=True, seed=_seed(seed, 3))
            f_im_s = m.f_im(s, training=True, seed=_seed(seed, 4))
            gen = (L.semantic_adversarial_generator_loss(m.critic_se(g_sk), m.critic_se(g_im), self._gen_loss)
                   + self._gen_loss(m.critic_sk(f_sk_s)) + self._gen_loss(m.critic_im(f_im_s)))
            x_rec = m.f_sk(g_sk, training=True, seed=_seed(seed, 5))
            y_rec = m.f_im(g_im, training=True, seed=_seed(seed, 6))
            s_rec_sk = m.g_sk(f_sk_s, training=True, seed=_seed(seed, 7)) if semantic_cycle else None
            s_rec_im = m.g_im(f_im_s, training=True, seed=_seed(seed, 8)) if semantic_cycle else None
            cyc = (L.sketch_cycle_loss(x, x_rec, s if semantic_cycle else None, s_rec_sk, reduction)
                   + L.image_cycle_loss(y, y_rec, s if semantic_cycle else None, s_rec_im, reduction))
            cls = L.classification_loss(label, m.classifier(g_sk), m.classifier(g_im))
            iml = L.identity_matching_loss(g_sk, g_im, f_sk_s, x, f_im_s, y, self.iml_reduction)
            terms = {"gen": gen, "cyc": cyc, "cls": cls, "iml": iml}
            total = L.generator_total_loss(terms, self.weights)
        grads = tape.gradient(total, variables)
        grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
        named = {"generator/L_gen": gen, "generator/L_cyc": cyc, "generator/L_cls": cls, "generator/L_iml": iml,
                 "generator/L_ps": total}
        finite = _finite(list(named.values()) + grads)
        grads = [tf.where(finite, g, tf.zeros_like(g)) for g in grads]
        self.generator_optimizer.apply(grads, variables)
        return named, finite

    # ------------------------------------------------------------------------------------------- Algorithm 1
    def _step_seed(self, step: int, k: int) -> tf.Tensor:
        return tf.constant([int(self.train_cfg.get("seed", 0)), step * 64 + k * 16], tf.int64)

    def train_step(self, step: int) -> dict:
        """Iteration ``step`` (0-based) of Algorithm 1; returns the loss terms as floats."""
        out: dict[str, float] = {}
        if self.weights["adv"] != 0.0:
            for k in range(self.n_critic):
                b = self.sampler.batch(step, k)
                terms, finite = self._critic_fn(tf.constant(b["x"]), tf.constant(b["y"]), tf.constant(b["s"]),
                                                self._step_seed(step, k))
                values = {k_: float(v) for k_, v in terms.items()}
                self._check(step, "critic", values, bool(finite))
                out.update(values)
        b = self.sampler.batch(step, self.n_critic)
        terms, finite = self._generator_fn(tf.constant(b["x"]), tf.constant(b["y"]), tf.constant(b["s"]),
                                           tf.constant(b["label"]), self._step_seed(step, self.n_critic))
        values = {k_: float(v) for k_, v in terms.items()}
        self._check(step, "generator", values, bool(finite))
        out.update(values)
        return out

    def _check(self, step: int, update: str, values: Mapping[str, float], finite: bool) -> None:
        if finite and all(math.isfinite(v) for v in values.values()):
            return
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        where = f"non-finite loss at step {step + 1} in the {update} update: " + ", ".join(
            f"{k}={v}" for k, v in (bad or values).items())
        if not bad:
            where += " (losses finite but a gradient is NaN/Inf)"
        last = self.checkpointer.latest if self.checkpointer else None
        raise NonFiniteLossError(f"{where}; the update was not applied; last good checkpoint: {last or 'none'}")

    def fit(self, steps: int | None = None, resume: bool = False, progress: bool = True) -> list[dict]:
        """Run Algorithm 1 up to ``steps`` completed iterations (``train_cfg['steps']`` by default)."""
        steps = int(steps if steps is not None else self.train_cfg["steps"])
        start = 0
        if self.checkpointer is not None:
            if resume:
                start = self.checkpointer.restore_latest()
            elif self.checkpointer.latest:
                raise ValueError(f"{self.checkpointer.manager.directory} already holds checkpoints "
                                 f"({self.checkpointer.latest}); pass resume (--resume) or use a new output_dir")
        self._load_history(start)
        log_every = int(self.train_cfg.get("log_every", 50))
        eval_every = int(self.train_cfg.get("eval_every", 0) or 0)
        ckpt_every = int(self.train_cfg.get("checkpoint_every", 1000) or 0)
        bar = Progress(steps, start=start, images_per_step=2 * self.sampler.batch_size * (self.n_critic + 1),
                       desc="wad-cmsn") if progress else None
        try:
            for step in range(start, steps):
                values = self.train_step(step)
                done = step + 1
                record = None
                if done % log_every == 0 or done == steps:
                    record = {"step": done, **values}
                if self.evaluate is not None and eval_every and (done % eval_every == 0 or done == steps):
                    record = record or {"step": done, **values}
                    record.update({f"val/{k}": float(v) for k, v in self.evaluate(self.model).items()})
                if record is not None:
                    self._log(record)
                if self.checkpointer is not None and ((ckpt_every and done % ckpt_every == 0) or done == steps):
                    self.checkpointer.save(done)
                if bar is not None:
                    bar.update(done, {k.split("/")[-1]: v for k, v in values.items()
                                      if k in ("critic/L_dis", "generator/L_ps")})
        finally:
            if bar is not None:
                bar.close()
        return self.history

    # ------------------------------------------------------------------------------------------- logging
    def _log(self, record: dict) -> None:
        self.history.append(record)
        if self.writer is not None:
            with self.writer.as_default(step=record["step"]):
                for k, v in record.items():
                    if k != "step":
                        write_scalar(k, v, record["step"])
            self.writer.flush()
        if self.history_path is not None:
            with open(self.history_path, "a") as fh:
                fh.write(json.dumps(record) + "\n")

    def _load_history(self, start: int) -> None:
        self.history = []
        if self.history_path is None:
            return
        if self.history_path.exists():
            lines = [json.loads(l) for l in self.history_path.read_text().splitlines() if l.strip()]
            self.history = [r for r in lines if r["step"] <= start]
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        self.history_path.write_text("".join(json.dumps(r) + "\n" for r in self.history))
