"""WAD-CMSN losses (Eqs. 2-8, L_dis and Eq. 10 of Xu et al.) against hand computations on fixed tensors."""
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.losses import wadcmsn as L


def close(a, b):
    np.testing.assert_allclose(float(a), b, rtol=1e-5, atol=1e-6)


def test_wasserstein_terms_hand_values():
    real, fake = tf.constant([[1.0], [3.0]]), tf.constant([[0.5], [-0.5]])
    close(L.wasserstein_critic_loss(real, fake), 0.0 - 2.0)  # E f(fake) - E f(real)
    close(L.wasserstein_generator_loss(fake), -0.0)
    close(L.wasserstein_generator_loss(real), -2.0)


def test_eq2_semantic_adversarial():
    s, gsk, gim = tf.constant([2.0, 4.0]), tf.constant([1.0, 1.0]), tf.constant([0.0, -2.0])
    # [E f(G_sk) - E f(s)] + [E f(G_im) - E f(s)] = (1 - 3) + (-1 - 3)
    close(L.semantic_adversarial_critic_loss(s, gsk, gim), -6.0)
    close(L.semantic_adversarial_generator_loss(gsk, gim), -1.0 + 1.0)


def test_eq3_eq4_visual_adversarial():
    close(L.sketch_adversarial_critic_loss(tf.constant([1.0, 2.0]), tf.constant([4.0, 0.0])), 2.0 - 1.5)
    close(L.image_adversarial_critic_loss(tf.constant([0.0, 0.0]), tf.constant([-1.0, -3.0])), -2.0)


def test_gan_ablation_losses():
    # logits 0 -> sigmoid 0.5 -> each BCE term log 2
    z = tf.zeros([3, 1])
    close(L.gan_critic_loss(z, z), 2 * np.log(2.0))
    close(L.gan_generator_loss(z), np.log(2.0))
    # perfect discriminator: large real logits, very negative fake logits -> ~0
    assert float(L.gan_critic_loss(tf.fill([2, 1], 30.0), tf.fill([2, 1], -30.0))) < 1e-6


def test_eq5_eq6_cycle_l1():
    x = tf.constant([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    x_rec = tf.constant([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0]])
    # per-sample l1: |0|+|1|+|2| = 3 and 1+1+0 = 2 -> mean 2.5; element mean: (1 + 2/3)/2
    close(L.sketch_cycle_loss(x, x_rec, reduction="sum"), 2.5)
    close(L.image_cycle_loss(x, x_rec, reduction="mean"), (1.0 + 2.0 / 3.0) / 2)
    s = tf.constant([[1.0, 1.0], [0.0, 0.0]])
    s_rec = tf.constant([[1.0, 0.0], [2.0, 0.0]])  # l1: 1 and 2 -> mean 1.5
    close(L.sketch_cycle_loss(x, x_rec, s, s_rec, reduction="sum"), 2.5 + 1.5)
    close(L.image_cycle_loss(x, x, s, s_rec, reduction="sum"), 1.5)  # perfect visual cycle
    # the default is the one constant the presets and the trainer use: per-element mean (s side: (1/2 + 2/2)/2)
    assert L.CYCLE_REDUCTION == "mean"
    close(L.sketch_cycle_loss(x, x_rec, s, s_rec), (1.0 + 2.0 / 3.0) / 2 + 0.75)
    with pytest.raises(ValueError, match="reduction"):
        L.l1_distance(x, x, reduction="max")


def test_eq7_classification():
    labels = tf.constant([0, 1])
    perfect = tf.constant([[50.0, 0.0], [0.0, 50.0]])
    close(L.classification_loss(labels, perfect, perfect), 0.0)
    uniform = tf.zeros([2, 2])
    close(L.classification_loss(labels, uniform, perfect), np.log(2.0))
    wrong = tf.constant([[0.0, 2.0], [2.0, 0.0]])  # -log softmax = log(1 + e^2)
    close(L.classification_loss(labels, wrong, uniform), np.log1p(np.exp(2.0)) + np.log(2.0))


def test_eq8_identity_matching_hand_computation():
    # Eq. 8: ||G_sk(x) - G_im(y)||^2 + ||F_sk(s) - x||^2 + ||F_im(s) - y||^2, per sample, then the batch mean.
    g_sk = tf.constant([[1.0, 2.0], [0.0, 0.0]])
    g_im = tf.constant([[1.0, 0.0], [3.0, 4.0]])
    # G term: row 0 diff (0, 2) -> 4; row 1 diff (-3, -4) -> 9 + 16 = 25; batch mean (4 + 25)/2 = 14.5
    f_sk_s = tf.constant([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    x = tf.constant([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]])
    # F_sk term: row 0 diff (0, -1, -2) -> 0 + 1 + 4 = 5; row 1 diff (-1, 0, 0) -> 1; mean (5 + 1)/2 = 3
    f_im_s = tf.constant([[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    y = tf.constant([[0.0, 0.0, 0.0], [0.0, 2.0, 1.0]])
    # F_im term: row 0 diff (2, 0, 0) -> 4; row 1 diff (0, -2, 0) -> 4; mean 4
    # total 14.5 + 3 + 4 = 21.5
    close(L.identity_matching_loss(g_sk, g_im, f_sk_s, x, f_im_s, y), 21.5)
    # "mean": each squared norm divided by its dimension: 14.5/2 + 3/3 + 4/3 = 7.25 + 1 + 1.3333 = 9.58333
    close(L.identity_matching_loss(g_sk, g_im, f_sk_s, x, f_im_s, y, reduction="mean"), 7.25 + 1.0 + 4.0 / 3.0)
    # the terms are not interchangeable: swapping x and y changes both F terms
    # F_sk(s) vs y: |(1,1,1) - (0,0,0)|^2 = 3 and |(0,0,0) - (0,2,1)|^2 = 5 -> mean 4
    # F_im(s) vs x: |(2,0,0) - (1,2,3)|^2 = 1 + 4 + 9 = 14 and |(0,0,1) - (1,0,0)|^2 = 2 -> mean 8
    # total 14.5 + 4 + 8 = 26.5
    close(L.identity_matching_loss(g_sk, g_im, f_sk_s, y, f_im_s, x), 26.5)
    # zero exactly when G_sk(x) = G_im(y), F_sk(s) = x and F_im(s) = y
    close(L.identity_matching_loss(g_sk, g_sk, x, x, y, y), 0.0)
    with pytest.raises(ValueError, match="reduction"):
        L.identity_matching_loss(g_sk, g_im, f_sk_s, x, f_im_s, y, reduction="max")


def test_l_dis_and_eq10_totals():
    close(L.discriminator_total_loss(1.0, 2.0, 3.0), 6.0)
    close(L.discriminator_total_loss(1.0, 2.0, 3.0, penalty=0.5, penalty_weight=10.0), 11.0)
    terms = {"gen": 1.0, "cyc": 2.0, "cls": 3.0, "iml": 4.0}
    close(L.generator_total_loss(terms), 10.0)
    close(L.generator_total_loss(terms, {"adv": 1.0, "cyc": 0.5, "cls": 0.0, "iml": 2.0}), 1 + 1 + 0 + 8)


def test_gradient_penalty_linear_critic():
    # f(z) = w.z has gradient w everywhere: GP = (||w|| - 1)^2
    w = tf.constant([[3.0], [4.0]])
    critic = lambda z, training=False: tf.matmul(z, w)  # noqa: E731
    real, fake = tf.ones([4, 2]), tf.zeros([4, 2])
    close(L.gradient_penalty(critic, real, fake, tf.fill([4, 1], 0.3)), (5.0 - 1.0) ** 2)
