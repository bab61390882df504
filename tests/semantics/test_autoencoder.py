"""Feature-selection auto-encoder: the l2,1 norm and loss by hand, determinism, feature selection."""
from __future__ import annotations

import numpy as np
import pytest

from sbir_tf.semantics import autoencoder as ae


def test_l21_norm_by_hand():
    w = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0], [-2.0, 0.0]], np.float32)
    # rows: |(3,4)| = 5, 0, 1, 2
    assert float(ae.l21_norm(w)) == pytest.approx(8.0)
    assert float(ae.l21_norm(np.zeros((5, 3), np.float32))) == 0.0


def test_loss_by_hand():
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    x_hat = np.array([[1.0, 1.0], [0.0, 0.0]], np.float32)   # two of four entries off by 1 -> mse 0.5
    w = np.array([[0.0, 2.0], [3.0, 4.0]], np.float32)       # l21 = 2 + 5 = 7
    assert float(ae.reconstruction_loss(x, x_hat)) == pytest.approx(0.5)
    assert float(ae.autoencoder_loss(x, x_hat, w, beta=0.1)) == pytest.approx(0.5 + 0.7)


def _toy_input(n=12, informative=6, dead=4, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, informative + dead), np.float32)
    x[:, :informative] = rng.normal(size=(n, informative))
    return x


def test_fit_is_deterministic_and_learns():
    x = _toy_input()
    a = ae.fit_autoencoder(x, dim=8, steps=150, seed=3)
    b = ae.fit_autoencoder(x, dim=8, steps=150, seed=3)
    c = ae.fit_autoencoder(x, dim=8, steps=150, seed=4)
    assert a.codes.shape == (12, 8) and a.codes.dtype == np.float32
    np.testing.assert_array_equal(a.codes, b.codes)
    assert not np.allclose(a.codes, c.codes)
    hist = a.history["reconstruction"]
    assert hist[-1] < 0.1 * hist[0]


def test_l21_penalty_switches_off_dead_features():
    x = _toy_input()
    res = ae.fit_autoencoder(x, dim=8, steps=300, beta=1e-2, seed=0)
    live, dead = res.feature_norms[:6], res.feature_norms[6:]
    assert dead.max() < 0.2 * live.min()
    assert set(res.selected_features(rel_threshold=0.3)) == set(range(6))


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="n_classes, d"):
        ae.fit_autoencoder(np.zeros((3,), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        ae.fit_autoencoder(np.full((2, 2), np.nan, np.float32))
