"""One iteration of Algorithm 1 of WAD-CMSN (Xu, Hu, Cai 2022) on cached 512-d visual features, for
:class:`sbir_tf.train.loop.Trainer`.

Iteration ``step`` (:meth:`ZSStep.__call__`), in this order:

1. ``n_critic`` critic updates, ``k = 0 .. n_critic - 1``: batch ``(step, k)`` of (sketch feature x, photo feature
   y of the same class, the class's semantic vector s); the critics f_se, f_sk, f_im descend ``L_dis`` (Sec. 3.2,
   the critic side of Eqs. 2-4), the tape watching the critics' variables only; then the Lipschitz constraint:
   every critic weight clipped to [-c, c] (WGAN, ``loss.lipschitz="clip"``), or a gradient penalty in the loss
   (``"gp"``), or nothing (``"none"``).
2. one generator update: batch ``(step, n_critic)``; the generators G_sk, G_im, F_sk, F_im and the classifier descend
   ``L_ps`` (Eq. 10), whose identity-matching term (Eq. 8) compares G_sk(x) with G_im(y) and F_sk(s), F_im(s) with
   x, y; the tape watches the generators' variables only.

The printed Algorithm 1 names the generator parameters in the critic update (step 8) and the critic parameters in the
generator update (step 10); the implementation follows the meaning: critics are updated by the critic loss and
generators by the generator loss, each with its own RMSprop built by :func:`build_rmsprop` ("RMSprop in Pytorch",
Sec. 3.2: PyTorch's update rule and constants by default, see ``sbir_tf.losses.wadcmsn``).

Exact resume: batch ``(step, k)`` is drawn from ``np.random.default_rng([seed, step, k])`` and every dropout mask /
gradient-penalty interpolation from a stateless seed derived from (seed, step, k), so no random state is carried
between steps; the weights and the optimiser slots live in the checkpoint.

Each compiled update computes ``finite`` (every loss term and, without loss scaling, every gradient) and applies the
update (and the clipping) only when it is true (:func:`sbir_tf.train.guard.guarded_update`: no weight, slot or
iteration change); the step stops at the first non-finite update and reports it (``update`` = ``critic[k]`` or
``generator``), and the loop raises.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from sbir_tf.losses import wadcmsn as L
from sbir_tf.train.guard import gradients_and_finite, guarded_update
from sbir_tf.train.precision import check_precision, inner_optimizer, wrap_optimizer

#: Lipschitz constraints of the critics (``loss.lipschitz``).
LIPSCHITZ = ("clip", "gp", "none")
#: Adversarial losses (``loss.adversarial``): Wasserstein (the paper) or the Jensen-Shannon GAN loss (ablation).
ADVERSARIAL = ("wasserstein", "gan")


def _key(section: Mapping, key: str, name: str):
    if key not in section:
        raise KeyError(f"config key {name}.{key} is missing (sbir_tf.configs.zs defines it)")
    return section[key]


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
    """The RMSprop of Algorithm 1 from ``train_cfg`` keys ``base_lr``, ``rmsprop_rho``, ``rmsprop_epsilon`` and
    ``rmsprop_epsilon_placement`` ("outside_sqrt": PyTorch's rule, :class:`PyTorchRMSprop`; "inside_sqrt":
    ``keras.optimizers.RMSprop``). The presets take them from ``sbir_tf.losses.wadcmsn`` (PyTorch's constants)."""
    placement = _key(train_cfg, "rmsprop_epsilon_placement", "train")
    if placement not in L.RMSPROP_EPSILON_PLACEMENTS:
        raise ValueError(f"train.rmsprop_epsilon_placement must be one of {L.RMSPROP_EPSILON_PLACEMENTS} "
                         f"(outside_sqrt = PyTorch, inside_sqrt = Keras), got {placement!r}")
    cls = PyTorchRMSprop if placement == "outside_sqrt" else keras.optimizers.RMSprop
    return cls(learning_rate=float(_key(train_cfg, "base_lr", "train")),
               rho=float(_key(train_cfg, "rmsprop_rho", "train")),
               epsilon=float(_key(train_cfg, "rmsprop_epsilon", "train")), name=name)


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


def _seed(base, j: int):
    return base + tf.constant([0, j], tf.int64)


class ZSStep:
    """``step_fn(step)`` of the zero-shot task: Algorithm 1's ``n_critic`` critic updates, then one generator update.

    ``critic_update(x, y, s, seed)`` and ``generator_update(x, y, s, label, seed)`` are the compiled updates; each
    returns ``(terms, applied)``. Build with :func:`zs_step` from a config, or directly for tests.
    """

    progress_keys = ("loss/critic/L_dis", "loss/generator/L_ps")

    def __init__(self, model, sampler: PairSampler, *, adversarial: str, lipschitz: str, clip_value: float,
                 gp_weight: float, semantic_cycle: bool, reduction: str, iml_reduction: str,
                 weights: Mapping[str, float], n_critic: int, seed: int,
                 critic_optimizer: keras.optimizers.Optimizer, generator_optimizer: keras.optimizers.Optimizer,
                 jit_compile: bool = False) -> None:
        if adversarial not in ADVERSARIAL:
            raise ValueError(f"loss.adversarial must be one of {ADVERSARIAL}, got {adversarial!r}")
        if lipschitz not in LIPSCHITZ:
            raise ValueError(f"loss.lipschitz must be one of {LIPSCHITZ}, got {lipschitz!r}")
        for key, value in (("reduction", reduction), ("iml_reduction", iml_reduction)):
            if value not in L.REDUCTIONS:
                raise ValueError(f"loss.{key} must be one of {L.REDUCTIONS}, got {value!r}")
        if int(n_critic) < 1:
            raise ValueError(f"train.n_critic must be >= 1, got {n_critic}")
        self.model, self.sampler = model, sampler
        if adversarial == "wasserstein":
            self.critic_loss, self.generator_loss = L.wasserstein_critic_loss, L.wasserstein_generator_loss
        else:
            self.critic_loss, self.generator_loss = L.gan_critic_loss, L.gan_generator_loss
        self.lipschitz, self.clip_value, self.gp_weight = lipschitz, float(clip_value), float(gp_weight)
        self.semantic_cycle, self.reduction, self.iml_reduction = bool(semantic_cycle), reduction, iml_reduction
        self.weights = {k: float(v) for k, v in dict(weights).items()}
        self.n_critic, self.seed = int(n_critic), int(seed)
        self.critic_optimizer, self.generator_optimizer = critic_optimizer, generator_optimizer
        self.critic_optimizer.build(model.critic_variables)
        self.generator_optimizer.build(model.generator_variables)
        self.critic_update = tf.function(self._critic_update, jit_compile=bool(jit_compile))
        self.generator_update = tf.function(self._generator_update, jit_compile=bool(jit_compile))

    # ------------------------------------------------------------------------------------------- one update each
    def _critic_update(self, x, y, s, seed):
        """Critic update on ``L_dis`` (Sec. 3.2: the critic side of Eqs. 2-4); generator outputs are constants."""
        m, optimizer, variables = self.model, self.critic_optimizer, self.model.critic_variables

        def forward_backward(x, y, s, seed):
            g_sk = m.g_sk(x, training=True, seed=_seed(seed, 1))
            g_im = m.g_im(y, training=True, seed=_seed(seed, 2))
            f_sk_s = m.f_sk(s, training=True, seed=_seed(seed, 3))
            f_im_s = m.f_im(s, training=True, seed=_seed(seed, 4))
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch([v.value for v in variables])  # the critics only (Keras variables wrap tf.Variable)
                adv_se = L.semantic_adversarial_critic_loss(m.critic_se(s), m.critic_se(g_sk), m.critic_se(g_im),
                                                            self.critic_loss)
                adv_sk = L.sketch_adversarial_critic_loss(m.critic_sk(x), m.critic_sk(f_sk_s), self.critic_loss)
                adv_im = L.image_adversarial_critic_loss(m.critic_im(y), m.critic_im(f_im_s), self.critic_loss)
                penalty, gp_weight = tf.constant(0.0), 0.0
                if self.lipschitz == "gp":
                    gp_weight = self.gp_weight
                    eps = [tf.random.stateless_uniform([tf.shape(x)[0], 1], seed=_seed(seed, 10 + i))
                           for i in range(4)]
                    penalty = (L.gradient_penalty(m.critic_se, s, g_sk, eps[0])
                               + L.gradient_penalty(m.critic_se, s, g_im, eps[1])
                               + L.gradient_penalty(m.critic_sk, x, f_sk_s, eps[2])
                               + L.gradient_penalty(m.critic_im, y, f_im_s, eps[3]))
                total = L.discriminator_total_loss(adv_se, adv_sk, adv_im, penalty, gp_weight)
                scaled = optimizer.scale_loss(total)
            terms = {"critic/adv_se": adv_se, "critic/adv_sk": adv_sk, "critic/adv_im": adv_im,
                     "critic/gp": penalty, "critic/L_dis": total}
            grads, finite = gradients_and_finite(tape, scaled, variables, terms, optimizer)
            return terms, grads, finite

        def apply(grads):
            optimizer.apply(grads, variables)
            if self.lipschitz == "clip":  # WGAN weight clipping, after the update (Algorithm 1)
                for v in variables:
                    v.assign(tf.clip_by_value(v, -self.clip_value, self.clip_value))

        return guarded_update(tf.distribute.get_strategy(), forward_backward, apply, (x, y, s, seed))

    def _generator_update(self, x, y, s, label, seed):
        """Generator (+ classifier) update on ``L_ps`` (Eq. 10); the critics are fixed."""
        m, optimizer, variables = self.model, self.generator_optimizer, self.model.generator_variables
        semantic_cycle, reduction = self.semantic_cycle, self.reduction

        def forward_backward(x, y, s, label, seed):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch([v.value for v in variables])  # the generators and the classifier only
                g_sk = m.g_sk(x, training=True, seed=_seed(seed, 1))
                g_im = m.g_im(y, training=True, seed=_seed(seed, 2))
                f_sk_s = m.f_sk(s, training=True, seed=_seed(seed, 3))
                f_im_s = m.f_im(s, training=True, seed=_seed(seed, 4))
                gen = (L.semantic_adversarial_generator_loss(m.critic_se(g_sk), m.critic_se(g_im),
                                                             self.generator_loss)
                       + self.generator_loss(m.critic_sk(f_sk_s)) + self.generator_loss(m.critic_im(f_im_s)))
                x_rec = m.f_sk(g_sk, training=True, seed=_seed(seed, 5))
                y_rec = m.f_im(g_im, training=True, seed=_seed(seed, 6))
                s_rec_sk = m.g_sk(f_sk_s, training=True, seed=_seed(seed, 7)) if semantic_cycle else None
                s_rec_im = m.g_im(f_im_s, training=True, seed=_seed(seed, 8)) if semantic_cycle else None
                cyc = (L.sketch_cycle_loss(x, x_rec, s if semantic_cycle else None, s_rec_sk, reduction)
                       + L.image_cycle_loss(y, y_rec, s if semantic_cycle else None, s_rec_im, reduction))
                cls = L.classification_loss(label, m.classifier(g_sk), m.classifier(g_im))
                iml = L.identity_matching_loss(g_sk, g_im, f_sk_s, x, f_im_s, y, self.iml_reduction)
                total = L.generator_total_loss({"gen": gen, "cyc": cyc, "cls": cls, "iml": iml}, self.weights)
                scaled = optimizer.scale_loss(total)
            terms = {"generator/L_gen": gen, "generator/L_cyc": cyc, "generator/L_cls": cls,
                     "generator/L_iml": iml, "generator/L_ps": total}
            grads, finite = gradients_and_finite(tape, scaled, variables, terms, optimizer)
            return terms, grads, finite

        def apply(grads):
            optimizer.apply(grads, variables)

        return guarded_update(tf.distribute.get_strategy(), forward_backward, apply, (x, y, s, label, seed))

    # ------------------------------------------------------------------------------------------- Algorithm 1
    def step_seed(self, step: int, k: int) -> tf.Tensor:
        """The stateless seed of update ``k`` of iteration ``step`` (dropout masks, penalty interpolation)."""
        return tf.constant([self.seed, step * 64 + k * 16], tf.int64)

    def critic_batches(self, step: int) -> list[int]:
        """The batch indices ``k`` of the critic updates of one iteration (none when the adversarial weight is 0)."""
        return list(range(self.n_critic)) if self.weights["adv"] != 0.0 else []

    def __call__(self, step: int) -> dict:
        """Iteration ``step`` (0-based) of Algorithm 1; stops at the first non-finite update."""
        out: dict = {"lr": _learning_rate(self.generator_optimizer)}
        for k in self.critic_batches(step):
            b = self.sampler.batch(step, k)
            terms, applied = self.critic_update(tf.constant(b["x"]), tf.constant(b["y"]), tf.constant(b["s"]),
                                                self.step_seed(step, k))
            out.update({f"loss/{name}": v for name, v in terms.items()})
            if not bool(applied):
                return dict(out, finite=False, update=f"critic[{k}]")
        b = self.sampler.batch(step, self.n_critic)
        terms, applied = self.generator_update(tf.constant(b["x"]), tf.constant(b["y"]), tf.constant(b["s"]),
                                               tf.constant(b["label"]), self.step_seed(step, self.n_critic))
        out.update({f"loss/{name}": v for name, v in terms.items()})
        if not bool(applied):
            return dict(out, finite=False, update="generator")
        return dict(out, finite=True)


def _learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(inner_optimizer(optimizer).learning_rate))


def zs_step(model, cfg: Mapping, sampler: PairSampler) -> tuple[ZSStep, dict]:
    """The step function and trackables of a WAD-CMSN run from the resolved config.

    Reads ``loss.{adversarial, lipschitz, clip_value, gp_weight, semantic_cycle, reduction, iml_reduction, weights}``
    and ``train.{base_lr, rmsprop_rho, rmsprop_epsilon, rmsprop_epsilon_placement, n_critic, seed, precision,
    jit_compile}``. Trackables: ``model``, ``critic_optimizer``, ``generator_optimizer`` (no RNG state: every random
    draw is a function of (seed, step, k)).
    """
    loss, t = cfg["loss"], cfg["train"]
    precision = check_precision(_key(t, "precision", "train"))
    critic_optimizer = wrap_optimizer(build_rmsprop(t, "critic_rmsprop"), precision)
    generator_optimizer = wrap_optimizer(build_rmsprop(t, "generator_rmsprop"), precision)
    step_fn = ZSStep(model, sampler, adversarial=_key(loss, "adversarial", "loss"),
                     lipschitz=_key(loss, "lipschitz", "loss"), clip_value=float(_key(loss, "clip_value", "loss")),
                     gp_weight=float(_key(loss, "gp_weight", "loss")),
                     semantic_cycle=bool(_key(loss, "semantic_cycle", "loss")),
                     reduction=_key(loss, "reduction", "loss"), iml_reduction=_key(loss, "iml_reduction", "loss"),
                     weights=_key(loss, "weights", "loss"), n_critic=int(_key(t, "n_critic", "train")),
                     seed=int(_key(t, "seed", "train")), critic_optimizer=critic_optimizer,
                     generator_optimizer=generator_optimizer, jit_compile=bool(_key(t, "jit_compile", "train")))
    return step_fn, {"model": model, "critic_optimizer": critic_optimizer, "generator_optimizer": generator_optimizer}
