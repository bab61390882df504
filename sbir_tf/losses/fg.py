"""Losses of Pang, Song, Xiang, Hospedales, "Cross-domain Generative Learning for Fine-Grained Sketch-Based Image
Retrieval" (BMVC 2017), Sec. 3.2 "Learning Objectives":

    L = L_C + lambda_D * L_D + lambda_T * L_T          (Eq. 1; lambda_D = 10, lambda_T = 1, Sec. 4)

* L_C (:func:`classification_loss`, Eq. 2 with the softmax of Eq. 3): softmax cross-entropy of the sketch, the
  positive and the negative photo. Eq. 3 as printed normalises over the batch index ``j``; the softmax here is over
  the classes (the paper's own words: "the cross-entropy softmax loss for classification", "the number of output
  nodes equalling the number of object categories").
* L_D (:func:`reconstruction_loss`, Eq. 4): the anchor sketch reconstructed by the decoder both from its own embedding
  and from the embedding of its positive photo (the target is always the sketch). The per-sample distance is
  :func:`reconstruction_distance`, by name: ``norm`` (as printed) or ``pixel_mse``.
* L_T (:func:`triplet_loss`, Eq. 5): hinge on Euclidean embedding distances with margin Delta = 0.1.

Eqs. 2, 4 and 5 sum over the N triplets of a batch; here each term is the batch *mean*. All three terms share that
factor 1/N, so the balance of Eq. 1 is unchanged, and Adam's update does not depend on a constant loss scale (up to
its epsilon).

:func:`fg_loss_terms` computes the terms of one batch and their weighted sum; it is the loss of the trainer
(:class:`sbir_tf.train.fg_step.FGStep`). All hyper-parameters live in :class:`PangHyperparams`
(``PANG_2017`` is the paper's setting). All functions take and return float32 (inputs are cast), so they work under
a mixed-precision policy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import tensorflow as tf

#: Lower bound of squared distances before the square root: keeps the gradient finite at distance 0.
_SQ_EPS = 1e-12


@dataclass(frozen=True)
class PangHyperparams:
    """Training hyper-parameters of Pang et al. 2017 (Eq. 1-5 and Sec. 4 "Implementation Details")."""

    lambda_decoder: float = 10.0        # lambda_D, weight of the reconstruction loss L_D
    lambda_triplet: float = 1.0         # lambda_T, weight of the triplet loss L_T
    margin: float = 0.1                 # Delta, triplet margin
    batch_size: int = 32
    learning_rate: float = 1e-5         # Adam, first 20k iterations
    iterations: int = 20_000
    finetune_learning_rate: float = 1e-6  # then 10k more iterations at 1e-6
    finetune_iterations: int = 10_000
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    embedding_dim: int = 256
    decoder_distance: str = "norm"      # Eq. 4 as printed: per-sample l2 norm (see reconstruction_distance)

    @property
    def total_iterations(self) -> int:
        return self.iterations + self.finetune_iterations


#: The setting used in the paper.
PANG_2017 = PangHyperparams()
LAMBDA_D = PANG_2017.lambda_decoder
LAMBDA_T = PANG_2017.lambda_triplet
TRIPLET_MARGIN = PANG_2017.margin
#: Per-sample distances of Eq. 4 (see :func:`reconstruction_distance`).
DECODER_DISTANCES = ("norm", "pixel_mse")
#: Loss-term names: L_C, L_D, L_T.
TERMS = ("cls", "rec", "tri")


def _f32(x) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(x), tf.float32)


def euclidean_distance(a, b) -> tf.Tensor:
    """Row-wise Euclidean (not squared) distance ``||a_i - b_i||_2`` over all non-batch axes: ``[B]``."""
    diff = _f32(a) - _f32(b)
    axes = list(range(1, diff.shape.rank))
    return tf.sqrt(tf.maximum(tf.reduce_sum(tf.square(diff), axis=axes), _SQ_EPS))


def cross_entropy(logits, labels) -> tf.Tensor:
    """Mean softmax cross-entropy of integer ``labels`` ``[B]`` under ``logits`` ``[B, C]``."""
    labels = tf.cast(labels, tf.int32)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=_f32(logits)))


def classification_loss(logits_sketch, logits_positive, logits_negative,
                        label_sketch, label_positive, label_negative) -> tf.Tensor:
    """L_C, Eq. 2 (softmax of Eq. 3), Pang et al. 2017: classification loss on all three branches of the triplet.

    Eq. 2 adds the cross-entropies of the sketch, positive-photo and negative-photo embeddings, so this is the *sum*
    of the three per-branch batch *means*: ``mean_i CE(s_i) + mean_i CE(p+_i) + mean_i CE(p-_i)`` (not their
    average). The softmax is over the classes (Eq. 3 prints the sum over the batch index ``j``; module docstring).
    """
    return (cross_entropy(logits_sketch, label_sketch) + cross_entropy(logits_positive, label_positive)
            + cross_entropy(logits_negative, label_negative))


def reconstruction_distance(target, reconstruction, distance: str = PANG_2017.decoder_distance) -> tf.Tensor:
    """Per-sample distance ``d(x, x_hat)`` of one L_D term (Eq. 4, Pang et al. 2017): ``[B]`` float32.

    ``norm`` (Eq. 4 as printed, ``||x - x_hat||_2``): ``sqrt(sum_{h,w,c} (x - x_hat)^2)``, the l2 norm over all
        pixels and channels, not squared and not averaged. It grows with the image size: at 224x224x3 an error of
        0.7 per value gives ~270 per term, so ``lambda_D L_D`` (two terms, times 10) is hundreds of times
        ``L_C + L_T`` (about 3 ln 125 = 14.5 + at most 2.1 at the start).
    ``pixel_mse``: ``(1 / (H W C)) sum_{h,w,c} (x - x_hat)^2``, the mean over pixels and channels of the squared
        error (the "pixel-wise l2 reconstruction loss" of the text around Eq. 4, read per pixel). Size-independent
        and at most 4 (values in [-1, 1]), so ``lambda_D = 10`` keeps ``lambda_D L_D`` of the order of ``L_C``.
        ``pixel_mse = norm^2 / (H W C)``.

    Both compare the images over every non-batch axis; ``x`` and ``x_hat`` are in the decoder's tanh range [-1, 1].
    """
    if distance not in DECODER_DISTANCES:
        raise ValueError(f"unknown decoder distance {distance!r}; choose one of {DECODER_DISTANCES} "
                         f"(loss.decoder_distance, Eq. 4, Pang et al. 2017)")
    if distance == "norm":
        return euclidean_distance(target, reconstruction)
    diff = _f32(target) - _f32(reconstruction)
    return tf.reduce_mean(tf.square(diff), axis=list(range(1, diff.shape.rank)))


def reconstruction_loss(sketch_target, recon_from_sketch, recon_from_positive,
                        distance: str = PANG_2017.decoder_distance) -> tf.Tensor:
    """L_D, Eq. 4, Pang et al. 2017: ``mean_i d(x_s, D(E(x_s))) + d(x_s, D(E(x_p+)))``.

    ``d`` is :func:`reconstruction_distance` (``distance`` = ``norm`` as printed, or ``pixel_mse``). The target of
    *both* reconstructions is the anchor sketch ``x_s`` (in the decoder's tanh range [-1, 1]): the photo embedding
    must carry enough information to draw its sketch, which ties the two domains together.
    """
    return tf.reduce_mean(reconstruction_distance(sketch_target, recon_from_sketch, distance)
                          + reconstruction_distance(sketch_target, recon_from_positive, distance))


def triplet_loss(emb_sketch, emb_positive, emb_negative, margin: float = TRIPLET_MARGIN) -> tf.Tensor:
    """L_T, Eq. 5, Pang et al. 2017: ``mean_i max(0, Delta + ||E(s)-E(p+)||_2 - ||E(s)-E(p-)||_2)``, Delta = 0.1.

    Distances are Euclidean (not squared) between the l2-normalised embeddings.
    """
    d_pos = euclidean_distance(emb_sketch, emb_positive)
    d_neg = euclidean_distance(emb_sketch, emb_negative)
    return tf.reduce_mean(tf.nn.relu(float(margin) + d_pos - d_neg))


def paper_weights(lambda_decoder: float = LAMBDA_D, lambda_triplet: float = LAMBDA_T) -> dict[str, float]:
    """The weights of Eq. 1, Pang et al. 2017, as ``{"cls": 1, "rec": lambda_D, "tri": lambda_T}``."""
    return {"cls": 1.0, "rec": float(lambda_decoder), "tri": float(lambda_triplet)}


def total_loss(terms: Mapping[str, tf.Tensor], weights: Mapping[str, float]) -> tf.Tensor:
    """Eq. 1, Pang et al. 2017, with a stage's weights: ``sum_k weights[k] * terms[k]`` over ``cls, rec, tri``.

    The full objective is ``weights = paper_weights()``: ``L_C + lambda_D L_D + lambda_T L_T``.
    """
    return tf.add_n([tf.constant(float(weights.get(k, 0.0)), tf.float32) * _f32(terms[k]) for k in TERMS])


def fg_loss_terms(outputs: Mapping[str, tf.Tensor], batch: Mapping[str, tf.Tensor],
                  weights: Mapping[str, float] | None = None, *, margin: float = TRIPLET_MARGIN,
                  decoder_distance: str = PANG_2017.decoder_distance) -> dict[str, tf.Tensor]:
    """The loss terms of one batch and their weighted sum: ``{"cls", "rec", "tri", "total"}`` (float32 scalars).

    ``outputs``: :func:`sbir_tf.models.fg.triplet_outputs` (embeddings, logits, reconstructions). ``batch``: a
    pipeline batch, holding ``label_sketch, label_positive, label_negative`` (for L_C) and ``sketch_target`` (the
    sketch in [-1, 1], for L_D). ``weights``: multipliers of ``cls`` (L_C, Eq. 2), ``rec`` (L_D, Eq. 4) and ``tri``
    (L_T, Eq. 5); default :func:`paper_weights`. A term whose weight is 0 or missing is not computed (it is 0, and
    its inputs may be absent), so a stage of a schedule is just a set of weights. ``total`` is :func:`total_loss`.
    """
    weights = paper_weights() if weights is None else dict(weights)
    unknown = sorted(set(weights) - set(TERMS))
    if unknown:
        raise ValueError(f"fg_loss_terms: unknown loss terms {unknown}; the terms are {TERMS}")
    zero = tf.constant(0.0, tf.float32)
    terms = {k: zero for k in TERMS}
    if weights.get("cls", 0.0):
        missing = [k for k in ("label_sketch", "label_positive", "label_negative") if k not in batch]
        if missing or outputs.get("logits_sketch") is None:
            raise ValueError(f"fg_loss_terms: L_C needs the classifier's logits and the batch labels (missing: "
                             f"{missing or ['logits']})")
        terms["cls"] = classification_loss(outputs["logits_sketch"], outputs["logits_positive"],
                                           outputs["logits_negative"], batch["label_sketch"],
                                           batch["label_positive"], batch["label_negative"])
    if weights.get("rec", 0.0):
        if outputs.get("recon_from_sketch") is None or outputs.get("recon_from_positive") is None:
            raise ValueError("fg_loss_terms: the weights use L_D but there are no decoder outputs (a model built with "
                             "use_decoder=False, the -D variant, has none: give rec weight 0)")
        if "sketch_target" not in batch:
            raise ValueError("fg_loss_terms: L_D needs batch['sketch_target'], the sketch in [-1, 1]")
        terms["rec"] = reconstruction_loss(batch["sketch_target"], outputs["recon_from_sketch"],
                                           outputs["recon_from_positive"], distance=decoder_distance)
    if weights.get("tri", 0.0):
        terms["tri"] = triplet_loss(outputs["emb_sketch"], outputs["emb_positive"], outputs["emb_negative"],
                                    margin=margin)
    terms["total"] = total_loss(terms, weights)
    return terms
