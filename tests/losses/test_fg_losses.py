"""Losses of Pang et al. 2017 against hand computations on tiny tensors."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.losses.fg import (PANG_2017, PangHyperparams, classification_loss, fg_loss_terms, paper_weights,
                               reconstruction_distance, reconstruction_loss, total_loss, triplet_loss)

E1, E2, E3 = np.eye(3, dtype="float32")


def test_hyperparameters_of_the_paper():
    hp = PangHyperparams()
    assert (hp.lambda_decoder, hp.lambda_triplet, hp.margin) == (10.0, 1.0, 0.1)
    assert (hp.adam_beta1, hp.adam_beta2, hp.adam_epsilon, hp.batch_size) == (0.9, 0.999, 1e-8, 32)
    assert (hp.learning_rate, hp.iterations, hp.finetune_learning_rate, hp.finetune_iterations) == (
        1e-5, 20_000, 1e-6, 10_000)
    assert hp.total_iterations == 30_000 and PANG_2017 == hp
    assert hp.decoder_distance == "norm"  # Eq. 4 as printed
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


#: Two 2x2x1 sketches in [-1, 1] and reconstructions, with the per-sample errors worked out by hand:
#: sample 0: differences 0, 1, 2, 0 -> sum of squares 5; sample 1: 0.5, 0, 0, 1.5 -> 2.5.
TARGET = np.array([[[1, 1], [1, 1]], [[-1, -1], [-1, -1]]], "float32")[..., None]
RECON = np.array([[[1, 0], [-1, 1]], [[-0.5, -1], [-1, 0.5]]], "float32")[..., None]


def test_reconstruction_distance_norm_and_pixel_mse_by_hand():
    """Eq. 4: ``norm`` = sqrt(sum of squared errors), ``pixel_mse`` = their mean over H*W*C values."""
    np.testing.assert_allclose(reconstruction_distance(TARGET, RECON, "norm"), [math.sqrt(5), math.sqrt(2.5)],
                               rtol=1e-6)
    np.testing.assert_allclose(reconstruction_distance(TARGET, RECON, "pixel_mse"), [5 / 4, 2.5 / 4], rtol=1e-6)
    # the mean runs over channels too: 1x2x3x2 zeros against 0.5 everywhere -> 12 * 0.25 = 3 summed, 0.25 averaged
    zeros, halves = np.zeros((1, 2, 3, 2), "float32"), np.full((1, 2, 3, 2), 0.5, "float32")
    assert float(reconstruction_distance(zeros, halves, "pixel_mse")[0]) == pytest.approx(0.25, rel=1e-6)
    assert float(reconstruction_distance(zeros, halves, "norm")[0]) == pytest.approx(math.sqrt(3), rel=1e-6)
    assert float(reconstruction_distance(zeros, halves)[0]) == pytest.approx(math.sqrt(3), rel=1e-6)  # default
    with pytest.raises(ValueError, match="loss.decoder_distance"):
        reconstruction_distance(zeros, halves, "l1")


@pytest.mark.parametrize("distance, d_recon, d_target", [
    ("norm", [math.sqrt(5), math.sqrt(2.5)], [2.0, 2.0]),
    ("pixel_mse", [5 / 4, 2.5 / 4], [1.0, 1.0]),
])
def test_reconstruction_loss_targets_the_sketch_by_hand(distance, d_recon, d_target):
    """L_D = mean_i d(x_s, D(E(x_s))) + d(x_s, D(E(x_p+))); both terms compare with the *sketch* x_s.

    From the sketch: RECON (distances above). From the positive: zeros, an error of 1 on each of the four values of
    either sketch: norm sqrt(4) = 2, pixel_mse 4 / 4 = 1.
    """
    from_positive = np.zeros_like(TARGET)
    expected = ((d_recon[0] + d_target[0]) + (d_recon[1] + d_target[1])) / 2
    got = reconstruction_loss(TARGET, RECON, from_positive, distance=distance)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    assert float(reconstruction_loss(TARGET, TARGET, TARGET, distance=distance)) == pytest.approx(0.0, abs=1e-5)


def test_total_loss_weights():
    terms = {"cls": 1.0, "rec": 2.0, "tri": 3.0}
    assert paper_weights() == {"cls": 1.0, "rec": 10.0, "tri": 1.0}
    assert float(total_loss(terms, paper_weights())) == pytest.approx(1 + 10 * 2 + 1 * 3)
    assert float(total_loss(terms, {"cls": 1.0, "tri": 2.0})) == pytest.approx(7.0)


def _outputs(with_decoder=True):
    batch = {"label_sketch": np.array([0, 1]), "label_positive": np.array([0, 1]),
             "label_negative": np.array([1, 0]), "sketch_target": TARGET}
    uniform = np.zeros((2, 2), "float32")
    out = {"emb_sketch": np.stack([E1, E2]), "emb_positive": np.stack([E2, E3]), "emb_negative": np.stack([E1, E2]),
           "logits_sketch": uniform, "logits_positive": uniform, "logits_negative": uniform,
           "recon_from_sketch": RECON if with_decoder else None,
           "recon_from_positive": np.zeros_like(TARGET) if with_decoder else None}
    return out, batch


@pytest.mark.parametrize("distance, l_d", [("norm", (math.sqrt(5) + 2 + math.sqrt(2.5) + 2) / 2),
                                           ("pixel_mse", (5 / 4 + 1 + 2.5 / 4 + 1) / 2)])
def test_fg_loss_terms_full_and_staged(distance, l_d):
    out, batch = _outputs()
    terms = fg_loss_terms(out, batch, decoder_distance=distance)
    l_c, l_t = 3 * math.log(2), 0.1 + math.sqrt(2)  # uniform over 2 classes; positive orthogonal, negative = anchor
    assert float(terms["cls"]) == pytest.approx(l_c, rel=1e-5)
    assert float(terms["rec"]) == pytest.approx(l_d, rel=1e-5)
    assert float(terms["tri"]) == pytest.approx(l_t, rel=1e-5)
    assert float(terms["total"]) == pytest.approx(l_c + 10 * l_d + l_t, rel=1e-5)
    cls_only = fg_loss_terms(out, batch, {"cls": 1.0})
    assert float(cls_only["total"]) == pytest.approx(l_c, rel=1e-5) and float(cls_only["tri"]) == 0.0
    printed_stage1 = fg_loss_terms(out, batch, {"cls": 1.0, "rec": 10.0}, decoder_distance=distance)
    assert float(printed_stage1["total"]) == pytest.approx(l_c + 10 * l_d, rel=1e-5)
    with pytest.raises(ValueError, match="unknown loss terms"):
        fg_loss_terms(out, batch, {"cls": 1.0, "recon": 1.0})


def test_fg_loss_terms_without_decoder():
    out, batch = _outputs(with_decoder=False)
    terms = fg_loss_terms(out, batch, {"cls": 1.0, "tri": 1.0})
    assert float(terms["rec"]) == 0.0
    assert float(terms["total"]) == pytest.approx(3 * math.log(2) + 0.1 + math.sqrt(2), rel=1e-5)
    with pytest.raises(ValueError, match="no decoder outputs"):
        fg_loss_terms(out, batch)  # the paper's weights include L_D


def test_decoder_distance_of_each_preset_and_validation():
    """``paper`` keeps Eq. 4 as printed; ``cpu`` uses the size-independent per-pixel reading; names are checked."""
    from sbir_tf.configs import fg as fg_presets
    from sbir_tf.tasks.fg import FGTask

    assert {name: fg_presets.get_config(name).loss.decoder_distance for name in fg_presets.PRESETS} == {
        "paper": "norm", "cpu": "pixel_mse", "smoke": "norm"}
    cfg = fg_presets.get_config("smoke")
    cfg.loss.decoder_distance = "mse"
    with pytest.raises(ValueError, match="loss.decoder_distance"):
        FGTask().validate(cfg)
