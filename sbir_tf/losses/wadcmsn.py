"""WAD-CMSN objectives (Xu, Hu, Cai 2022, Eqs. 2-10), one function per equation.

Notation (Sec. 3.1): ``x`` sketch features (512-d), ``y`` photo features (512-d) of the same class as ``x``, ``s``
(the paper's s^tr) that class's semantic vector (64-d), ``G_sk, G_im`` visual -> semantic, ``F_sk, F_im`` semantic
-> visual, critics ``f_se`` (semantic), ``f_sk``, ``f_im`` (visual). Every function takes tensors of critic scores /
features and returns a scalar mean over the batch.

Sign conventions. The critics maximise the Wasserstein estimate ``E[f(real)] - E[f(fake)]``; we *minimise* its
negation (:func:`wasserstein_critic_loss`). The generators minimise ``-E[f(fake)]`` (:func:`wasserstein_generator_loss`).
"Real" is ``s`` for ``f_se`` (Eq. 2) and ``x`` / ``y`` for ``f_sk`` / ``f_im`` (Eqs. 3-4); "fake" is ``G(x)``, ``G(y)``
and ``F_sk(s)``, ``F_im(s)`` respectively. Sec. 3.2 splits ``L_wadv = L_gen + L_dis`` (no equation number): ``L_dis``
is the critic side of Eqs. 2-4 (:func:`discriminator_total_loss`), ``L_gen`` the generator side, which enters
``L_ps`` (Eq. 10, :func:`generator_total_loss`).
"""
from __future__ import annotations

from typing import Callable, Mapping

import tensorflow as tf

CLIP_VALUE = 0.01  # WGAN weight clipping c (Arjovsky et al. 2017), Lipschitz constraint on the critics
GRADIENT_PENALTY_WEIGHT = 10.0  # WGAN-GP lambda (Gulrajani et al. 2017), the optional alternative to clipping
# Optimiser. Sec. 3.2: "We train Eq. (9) using RMSprop in Pytorch"; Sec. 4.2: "The proposed WAD-CMSN model is trained
# with RMSprop optimizer on Pytorch with initial training rate 1E - 4." No other RMSprop constant is given, so the
# remaining ones are torch.optim.RMSprop's defaults: alpha (Keras: rho) 0.99, eps 1e-8 added to sqrt(v), i.e.
# outside the square root (Keras adds its epsilon inside: sqrt(v + eps)), no momentum, not centred.
LEARNING_RATE = 1e-4
RMSPROP_RHO = 0.99
RMSPROP_EPSILON = 1e-8
RMSPROP_EPSILON_PLACEMENTS = ("outside_sqrt", "inside_sqrt")  # PyTorch, Keras
RMSPROP_EPSILON_PLACEMENT = "outside_sqrt"
BATCH_SIZE = 128  # not given by the paper (Algorithm 1 names a batch size BN without a value)
N_CRITIC = 1  # critic updates per generator update (Algorithm 1: one L_dis update, then one L_ps update)
# lambda's of L_ps (Eq. 10): L_ps = w_adv L_gen + w_cyc L_cyc + w_cls L_cls + w_iml L_iml
DEFAULT_WEIGHTS = {"adv": 1.0, "cyc": 1.0, "cls": 1.0, "iml": 1.0}
#: How a per-sample distance is reduced over the feature axis: "sum" = the norm as Eqs. 5, 6 and 8 print it,
#: "mean" = divided by the dimension (PyTorch's nn.L1Loss / nn.MSELoss default). The batch mean follows either way.
REDUCTIONS = ("sum", "mean")
#: Eqs. 5-6 default: per-element l1 mean, as nn.L1Loss in the SEM-PCYC code WAD-CMSN builds on ("sum", the printed
#: per-sample norm, makes L_cyc about 512 times the other terms on 512-d features).
CYCLE_REDUCTION = "mean"
#: Eq. 8 default: the squared l2 norm per sample, as printed.
IML_REDUCTION = "sum"
#: Eqs. 5-6 include the semantic-side cycle ||G(F(s)) - s||_1; ``loss.semantic_cycle = False`` drops it.
SEMANTIC_CYCLE = True


def _mean(x):
    return tf.reduce_mean(tf.cast(x, tf.float32))


# ----------------------------------------------------------------------------------------------- adversarial terms
def wasserstein_critic_loss(real_scores, fake_scores):
    """Critic side of one Wasserstein term: ``E[f(fake)] - E[f(real)]`` (minimised = the critic maximises the
    Kantorovich-Rubinstein estimate of W(P_real, P_fake); Eqs. 2-4)."""
    return _mean(fake_scores) - _mean(real_scores)


def wasserstein_generator_loss(fake_scores):
    """Generator side of one Wasserstein term: ``-E[f(fake)]`` (the only part of Eqs. 2-4 depending on G/F)."""
    return -_mean(fake_scores)


def gan_critic_loss(real_logits, fake_logits):
    """JS-GAN discriminator loss (Table 4 rows "Only adversarial loss" and "Adversarial loss + identity matching
    loss", i.e. adversarial training without the Wasserstein distance): sigmoid cross-entropy with real -> 1,
    fake -> 0, ``-E[log D(real)] - E[log(1 - D(fake))]``."""
    real_logits, fake_logits = tf.cast(real_logits, tf.float32), tf.cast(fake_logits, tf.float32)
    return (_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits))
            + _mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)))


def gan_generator_loss(fake_logits):
    """Non-saturating JS-GAN generator loss ``-E[log D(fake)]`` (``adv_no_wasserstein`` ablation)."""
    fake_logits = tf.cast(fake_logits, tf.float32)
    return _mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))


def semantic_adversarial_critic_loss(f_se_s, f_se_gsk, f_se_gim, critic_loss: Callable = wasserstein_critic_loss):
    """Eq. 2, Xu et al. (critic side): f_se separates the semantic vectors ``s`` (real) from ``G_sk(x)`` and
    ``G_im(y)`` (fake). Eq. 2's ``2E f_se(s) - E f_se(G_sk(x)) - E f_se(G_im(y))``, negated for minimisation:
    ``[E f_se(G_sk(x)) - E f_se(s)] + [E f_se(G_im(y)) - E f_se(s)]``."""
    return critic_loss(f_se_s, f_se_gsk) + critic_loss(f_se_s, f_se_gim)


def semantic_adversarial_generator_loss(f_se_gsk, f_se_gim, generator_loss: Callable = wasserstein_generator_loss):
    """Eq. 2, Xu et al. (generator side): ``-E f_se(G_sk(x)) - E f_se(G_im(y))``."""
    return generator_loss(f_se_gsk) + generator_loss(f_se_gim)


def sketch_adversarial_critic_loss(f_sk_x, f_sk_fsk, critic_loss: Callable = wasserstein_critic_loss):
    """Eq. 3, Xu et al. (critic side): f_sk separates sketch features ``x`` (real) from ``F_sk(s)`` (fake):
    ``E f_sk(F_sk(s)) - E f_sk(x)``."""
    return critic_loss(f_sk_x, f_sk_fsk)


def image_adversarial_critic_loss(f_im_y, f_im_fim, critic_loss: Callable = wasserstein_critic_loss):
    """Eq. 4, Xu et al. (critic side): f_im separates photo features ``y`` (real) from ``F_im(s)`` (fake):
    ``E f_im(F_im(s)) - E f_im(y)``."""
    return critic_loss(f_im_y, f_im_fim)


def gradient_penalty(critic: Callable, real, fake, epsilon):
    """WGAN-GP term ``E[(||grad_z f(z)||_2 - 1)^2]`` at ``z = eps*real + (1-eps)*fake`` (optional Lipschitz constraint
    replacing weight clipping; ``epsilon`` [B,1] in [0,1])."""
    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    z = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(z)
        scores = critic(z, training=True)
    grads = tape.gradient(scores, z)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=-1) + 1e-12)
    return _mean(tf.square(norms - 1.0))


# ----------------------------------------------------------------------------------------------- other terms
def _reduce_features(elementwise, reduction: str):
    """Per-sample reduction over the feature axis ("sum" or "mean", see :data:`REDUCTIONS`), then the batch mean."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    per_sample = tf.reduce_sum(elementwise, -1) if reduction == "sum" else tf.reduce_mean(elementwise, -1)
    return _mean(per_sample)


def l1_distance(a, b, reduction: str = CYCLE_REDUCTION):
    """``E ||a - b||_1``: per-sample l1 norm (``reduction="sum"`` over features, as Eqs. 5-6 write it) or the
    per-element mean (``"mean"``, i.e. divided by the dimension), averaged over the batch."""
    return _reduce_features(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), reduction)


def squared_l2_distance(a, b, reduction: str = IML_REDUCTION):
    """``E ||a - b||_2^2``: per-sample squared l2 norm (``reduction="sum"``, as Eq. 8 writes it) or the per-element
    mean of the squared differences (``"mean"``), averaged over the batch."""
    return _reduce_features(tf.square(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), reduction)


def sketch_cycle_loss(x, f_sk_g_sk_x, s=None, g_sk_f_sk_s=None, reduction: str = CYCLE_REDUCTION):
    """Eq. 5, Xu et al., sketch cycle consistency: ``E||F_sk(G_sk(x)) - x||_1 + E||G_sk(F_sk(s)) - s||_1``.

    Both terms are printed in Eq. 5; the semantic-side term is added when ``s`` and ``G_sk(F_sk(s))`` are given
    (``cfg.loss.semantic_cycle``, default :data:`SEMANTIC_CYCLE`)."""
    loss = l1_distance(f_sk_g_sk_x, x, reduction)
    if s is not None and g_sk_f_sk_s is not None:
        loss = loss + l1_distance(g_sk_f_sk_s, s, reduction)
    return loss


def image_cycle_loss(y, f_im_g_im_y, s=None, g_im_f_im_s=None, reduction: str = CYCLE_REDUCTION):
    """Eq. 6, Xu et al., image cycle consistency: ``E||F_im(G_im(y)) - y||_1 + E||G_im(F_im(s)) - s||_1`` (semantic
    side optional as in :func:`sketch_cycle_loss`)."""
    loss = l1_distance(f_im_g_im_y, y, reduction)
    if s is not None and g_im_f_im_s is not None:
        loss = loss + l1_distance(g_im_f_im_s, s, reduction)
    return loss


def classification_loss(labels, logits_sketch, logits_photo):
    """Eq. 7, Xu et al.: softmax cross-entropy of the seen-class classifier on the generated semantic features,
    ``-E log P(c | G_sk(x)) - E log P(c | G_im(y))`` ("c is the category label of x and y")."""
    labels = tf.cast(labels, tf.int32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits
    return (_mean(ce(labels=labels, logits=tf.cast(logits_sketch, tf.float32)))
            + _mean(ce(labels=labels, logits=tf.cast(logits_photo, tf.float32))))


def identity_matching_loss(g_sk_x, g_im_y, f_sk_s, x, f_im_s, y, reduction: str = IML_REDUCTION):
    """Eq. 8, Xu et al., identity matching:

    ``L_iml = ||G_sk(x) - G_im(y)||_2^2 + ||F_sk(s) - x||_2^2 + ||F_im(s) - y||_2^2``

    with ``x`` a sketch feature, ``y`` a photo feature of the same class ("For a given category, the semantic
    features of a sketch and its corresponding image are the same, i.e. G_sk(x) ~ G_im(y)") and ``s`` that class's
    semantic vector fed to the semantic -> visual generators ``F`` ("under the projection of generator F(.), the
    features of a sketch or an image should be similar to the semantic features"). Arguments are the tensors
    ``G_sk(x), G_im(y), F_sk(s), x, F_im(s), y`` ([B, 64], [B, 64], [B, 512], [B, 512], [B, 512], [B, 512]); each
    term is the per-sample squared l2 norm (``reduction="sum"``, as printed; ``"mean"`` divides by the dimension)
    averaged over the batch."""
    return (squared_l2_distance(g_sk_x, g_im_y, reduction) + squared_l2_distance(f_sk_s, x, reduction)
            + squared_l2_distance(f_im_s, y, reduction))


# ----------------------------------------------------------------------------------------------- totals
def discriminator_total_loss(adv_se, adv_sk, adv_im, penalty=0.0, penalty_weight: float = 0.0):
    """``L_dis`` of Sec. 3.2, Xu et al. (the critics' part of ``L_wadv = L_gen + L_dis``; it has no equation number):
    ``L_dis = L_adv^se + L_adv^sk + L_adv^im``, the critic sides of Eqs. 2-4, plus ``lambda_gp * GP`` when the
    gradient-penalty option replaces weight clipping. (Eq. 9 is the total ``L_wadv + L_cyc + L_cls + L_iml``.)"""
    return adv_se + adv_sk + adv_im + penalty_weight * penalty


def generator_total_loss(terms: Mapping[str, tf.Tensor], weights: Mapping[str, float] = DEFAULT_WEIGHTS):
    """Eq. 10, Xu et al.: ``L_ps = L_gen + L_cyc + L_cls + L_iml`` with configurable lambda's
    (``weights`` keys adv, cyc, cls, iml; a zero weight removes the term, as in the Table 4 ablations).
    ``terms`` keys: gen, cyc, cls, iml."""
    return (weights["adv"] * terms["gen"] + weights["cyc"] * terms["cyc"] + weights["cls"] * terms["cls"]
            + weights["iml"] * terms["iml"])
