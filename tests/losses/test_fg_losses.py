"""Losses of Pang et al. 2017 against hand computations on tiny tensors."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.losses.fg import (PANG_2017, PangHyperparams, classification_loss, fg_loss_terms, fg_total_loss,
                               reconstruction_loss, triplet_loss)

E1, E2, E3 = np.eye(3, dtype="float32")


def test_hyperparameters_of_the_paper():
    hp = PangHyperparams()
    assert (hp.lambda_decoder, hp.lambda_triplet, hp.margin) == (10.0, 1.0, 0.1)
    assert (hp.adam_beta1, hp.adam_beta2, hp.adam_epsilon, hp.batch_size) == (0.9, 0.999, 1e-8, 32)
    assert (hp.learning_rate, hp.iterations, hp.finetune_learning_rate, hp.finetune_iterations) == (
        1e-5, 20_000, 1e-6, 10_000)
    assert hp.total_iterations == 30_000 and PANG_2017 == hp
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.margin = 0.2


def test_triplet_perfect_batch_is_zero():
    anchor = np.stack([E1, E2])
    negative = np.stack([E2, E3])  # distance sqrt(2) > margin
    assert float(triplet_loss(anchor, anchor, negative)) == pytest.approx(0.0, abs=1e-5)


def test_triplet_all_wrong_batch():
    anchor = np.stack([E1, E2])
    positive = np.stack([E2, E3])   # ||a - p|| = sqrt(2)
    negative = anchor               # ||a - n|| = 0
    expected = 0.1 + math.sqrt(2.0)
    assert float(triplet_loss(anchor, positive, negative)) == pytest.approx(expected, rel=1e-5)


def test_triplet_mixed_batch_by_hand():
    a = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    p = np.array([[0.6, 0.8], [0.0, 1.0]], "float32")   # distances sqrt(0.16 + 0.64) = 0.894427, 0
    n = np.array([[0.8, 0.6], [1.0, 0.0]], "float32")   # distances sqrt(0.04 + 0.36) = 0.632456, sqrt(2)
    d_pos, d_neg = math.sqrt(0.8), math.sqrt(0.4)
    expected = (max(0.0, 0.1 + d_pos - d_neg) + 0.0) / 2  # second sample satisfied: 0.1 + 0 - 1.414 < 0
    assert float(triplet_loss(a, p, n)) == pytest.approx(expected, rel=1e-5)
    assert float(triplet_loss(a, p, n, margin=0.0)) == pytest.approx((d_pos - d_neg) / 2, rel=1e-5)


def test_triplet_gradient_finite_at_zero_distance():
    a = tf.Variable(np.stack([E1, E2]))
    with tf.GradientTape() as tape:
        loss = triplet_loss(a, a, tf.constant(np.stack([E1, E2])))
    assert np.all(np.isfinite(tape.gradient(loss, a).numpy()))


def test_classification_loss_perfect_uniform_and_by_hand():
    labels = np.array([0, 2])
    perfect = np.array([[50.0, 0, 0], [0, 0, 50.0]], "float32")
    assert float(classification_loss(perfect, perfect, perfect, labels, labels, labels)) == pytest.approx(0, abs=1e-6)
    uniform = np.zeros((2, 3), "float32")
    # sum (not mean) of the three branch losses: 3 * log(3)
    assert float(classification_loss(uniform, uniform, uniform, labels, labels, labels)) == pytest.approx(
        3 * math.log(3), rel=1e-6)
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, math.log(2.0)]], "float32")
    ce0 = -math.log(math.e / (math.e + math.e ** 2 + math.e ** 3))  # label 0
    ce1 = -math.log(2.0 / 4.0)                                      # label 2: softmax = 2 / (1 + 1 + 2)
    got = classification_loss(logits, uniform, perfect, labels, labels, labels)
    assert float(got) == pytest.approx((ce0 + ce1) / 2 + math.log(3) + 0.0, rel=1e-5)


def test_reconstruction_loss_targets_the_sketch_by_hand():
    target = np.zeros((2, 2, 2, 1), "float32")
    from_sketch = np.stack([np.ones((2, 2, 1)), np.full((2, 2, 1), 0.5)]).astype("float32")  # norms 2, 1
    from_positive = np.stack([np.zeros((2, 2, 1)), np.full((2, 2, 1), -1.5)]).astype("float32")  # norms 0, 3
    expected = ((2.0 + 0.0) + (1.0 + 3.0)) / 2
    assert float(reconstruction_loss(target, from_sketch, from_positive)) == pytest.approx(expected, rel=1e-5)
    assert float(reconstruction_loss(target, target, target)) == pytest.approx(0.0, abs=1e-5)


def test_total_loss_weights():
    assert float(fg_total_loss(1.0, 2.0, 3.0)) == pytest.approx(1 + 10 * 2 + 1 * 3)
    assert float(fg_total_loss(1.0, 2.0, 3.0, lambda_decoder=0.0, lambda_triplet=2.0)) == pytest.approx(7.0)


def _outputs(with_decoder=True):
    labels = {"label_sketch": np.array([0, 1]), "label_positive": np.array([0, 1]),
              "label_negative": np.array([1, 0]), "sketch_target": np.zeros((2, 2, 2, 1), "float32")}
    uniform = np.zeros((2, 2), "float32")
    out = {"emb_sketch": np.stack([E1, E2]), "emb_positive": np.stack([E2, E3]), "emb_negative": np.stack([E1, E2]),
           "logits_sketch": uniform, "logits_positive": uniform, "logits_negative": uniform,
           "recon_from_sketch": np.ones((2, 2, 2, 1), "float32") if with_decoder else None,
           "recon_from_positive": np.ones((2, 2, 2, 1), "float32") if with_decoder else None}
    return out, labels


def test_fg_loss_terms_full_and_staged():
    out, labels = _outputs()
    terms = fg_loss_terms(out, labels)
    l_c, l_d, l_t = 3 * math.log(2), 2.0 + 2.0, 0.1 + math.sqrt(2)
    assert float(terms["classification"]) == pytest.approx(l_c, rel=1e-5)
    assert float(terms["reconstruction"]) == pytest.approx(l_d, rel=1e-5)
    assert float(terms["triplet"]) == pytest.approx(l_t, rel=1e-5)
    assert float(terms["total"]) == pytest.approx(l_c + 10 * l_d + l_t, rel=1e-5)
    cls_only = fg_loss_terms(out, labels, use_reconstruction=False, use_triplet=False)
    assert float(cls_only["total"]) == pytest.approx(l_c, rel=1e-5) and float(cls_only["triplet"]) == 0.0


def test_fg_loss_terms_without_decoder():
    out, labels = _outputs(with_decoder=False)
    terms = fg_loss_terms(out, labels)
    assert float(terms["reconstruction"]) == 0.0
    assert float(terms["total"]) == pytest.approx(3 * math.log(2) + 0.1 + math.sqrt(2), rel=1e-5)
    with pytest.raises(ValueError, match="no decoder"):
        fg_loss_terms(out, labels, use_reconstruction=True)
