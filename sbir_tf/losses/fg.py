"""Losses of Pang, Song, Xiang, Hospedales, "Cross-domain Generative Learning for Fine-Grained Sketch-Based Image
Retrieval" (BMVC 2017), Sec. 3:

    L = L_C + lambda_D * L_D + lambda_T * L_T          (overall objective, lambda_D = 10, lambda_T = 1)

* L_C (:func:`classification_loss`): softmax cross-entropy of the sketch, the positive and the negative photo.
* L_D (:func:`reconstruction_loss`): the anchor sketch reconstructed by the decoder both from its own embedding and
  from the embedding of its positive photo (the generative, cross-domain term; the target is always the sketch).
* L_T (:func:`triplet_loss`): hinge on Euclidean embedding distances with margin Delta = 0.1.

All hyper-parameters live in :class:`PangHyperparams` (``PANG_2017`` is the paper's setting).
All functions take and return float32 (inputs are cast), so they work under a mixed-precision policy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import tensorflow as tf

#: Lower bound of squared distances before the square root: keeps the gradient finite at distance 0.
_SQ_EPS = 1e-12


@dataclass(frozen=True)
class PangHyperparams:
    """Training hyper-parameters of Pang et al. 2017 (Sec. 3 and Sec. 4 "Implementation details")."""

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

    @property
    def total_iterations(self) -> int:
        return self.iterations + self.finetune_iterations


#: The setting used in the paper.
PANG_2017 = PangHyperparams()
LAMBDA_D = PANG_2017.lambda_decoder
LAMBDA_T = PANG_2017.lambda_triplet
TRIPLET_MARGIN = PANG_2017.margin


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
    """L_C, Pang et al. 2017 (Sec. 3.2): classification loss on all three branches of the triplet.

    The paper applies a softmax cross-entropy to each of the sketch, positive-photo and negative-photo embeddings
    and adds them to the objective, so this is the *sum* of the three per-branch batch *means*:
    ``mean_i CE(s_i) + mean_i CE(p+_i) + mean_i CE(p-_i)`` (not their average).
    """
    return (cross_entropy(logits_sketch, label_sketch) + cross_entropy(logits_positive, label_positive)
            + cross_entropy(logits_negative, label_negative))


def reconstruction_loss(sketch_target, recon_from_sketch, recon_from_positive) -> tf.Tensor:
    """L_D, Pang et al. 2017 (Sec. 3.3): ``mean_i ||x_s - D(E(x_s))||_2 + ||x_s - D(E(x_p+))||_2``.

    Each term is the per-sample l2 norm over all pixels and channels (not squared, not per-pixel averaged), and the
    target of *both* reconstructions is the anchor sketch ``x_s`` (in the decoder's tanh range [-1, 1]): the photo
    embedding must carry enough information to draw its sketch, which ties the two domains together.
    """
    return tf.reduce_mean(euclidean_distance(sketch_target, recon_from_sketch)
                          + euclidean_distance(sketch_target, recon_from_positive))


def triplet_loss(emb_sketch, emb_positive, emb_negative, margin: float = TRIPLET_MARGIN) -> tf.Tensor:
    """L_T, Pang et al. 2017 (Sec. 3.2): ``mean_i max(0, Delta + ||E(s)-E(p+)||_2 - ||E(s)-E(p-)||_2)``, Delta = 0.1.

    Distances are Euclidean (not squared) between the l2-normalised embeddings.
    """
    d_pos = euclidean_distance(emb_sketch, emb_positive)
    d_neg = euclidean_distance(emb_sketch, emb_negative)
    return tf.reduce_mean(tf.nn.relu(float(margin) + d_pos - d_neg))


def fg_total_loss(classification, reconstruction, triplet, lambda_decoder: float = LAMBDA_D,
                  lambda_triplet: float = LAMBDA_T) -> tf.Tensor:
    """Overall objective, Pang et al. 2017 (Sec. 3): ``L = L_C + lambda_D L_D + lambda_T L_T``."""
    return _f32(classification) + float(lambda_decoder) * _f32(reconstruction) + float(lambda_triplet) * _f32(triplet)


def fg_loss_terms(outputs: Mapping[str, tf.Tensor], labels: Mapping[str, tf.Tensor] | None = None,
                  sketch_target=None, *, use_classification: bool = True, use_reconstruction: bool | None = None,
                  use_triplet: bool = True, lambda_decoder: float = LAMBDA_D, lambda_triplet: float = LAMBDA_T,
                  margin: float = TRIPLET_MARGIN) -> dict[str, tf.Tensor]:
    """The three terms and their weighted sum for one batch: ``{"total", "classification", "reconstruction",
    "triplet"}`` (float32 scalars; a disabled term is 0 and left out of the total).

    ``outputs`` is :meth:`sbir_tf.models.fg.FGModel.forward`'s dict; ``labels`` holds ``label_sketch,
    label_positive, label_negative`` (a pipeline batch works); ``sketch_target`` is the sketch in [-1, 1] (defaults
    to ``labels["sketch_target"]``). ``use_reconstruction=None`` means "if the model has a decoder"; ``True``
    without decoder outputs raises ``ValueError``. The flags let a trainer express staged objectives (e.g. a
    classification-only stage, then the full loss).
    """
    zero = tf.constant(0.0, tf.float32)
    terms = {"classification": zero, "reconstruction": zero, "triplet": zero}
    has_recon = outputs.get("recon_from_sketch") is not None and outputs.get("recon_from_positive") is not None
    if use_reconstruction is None:
        use_reconstruction = has_recon
    if use_classification:
        if labels is None:
            raise ValueError("fg_loss_terms: the classification term needs labels (label_sketch/positive/negative)")
        terms["classification"] = classification_loss(
            outputs["logits_sketch"], outputs["logits_positive"], outputs["logits_negative"],
            labels["label_sketch"], labels["label_positive"], labels["label_negative"])
    if use_reconstruction:
        if not has_recon:
            raise ValueError("fg_loss_terms: use_reconstruction=True but the model has no decoder outputs "
                             "(built with use_decoder=False?)")
        if sketch_target is None:
            if labels is None or "sketch_target" not in labels:
                raise ValueError("fg_loss_terms: the reconstruction term needs sketch_target in [-1, 1]")
            sketch_target = labels["sketch_target"]
        terms["reconstruction"] = reconstruction_loss(sketch_target, outputs["recon_from_sketch"],
                                                      outputs["recon_from_positive"])
    if use_triplet:
        terms["triplet"] = triplet_loss(outputs["emb_sketch"], outputs["emb_positive"], outputs["emb_negative"],
                                        margin=margin)
    terms["total"] = fg_total_loss(terms["classification"], terms["reconstruction"], terms["triplet"],
                                   lambda_decoder if use_reconstruction else 0.0,
                                   lambda_triplet if use_triplet else 0.0)
    return terms
