"""``model.classifier_scale``: an Adam learning-rate multiplier of classifier C, and nothing else
(:class:`sbir_tf.models.fg.FGClassifier`)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.models.fg import FGClassifier, build_fg_model, check_classifier_scale

N_CLASSES, DIM = 5, 16


def _classifier(scale):
    keras.utils.set_random_seed(3)
    return FGClassifier(N_CLASSES, DIM, scale=scale)


def _effective(cls):
    """The kernel and bias of the logits as a function of the embedding: ``scale * W``, ``scale * b``."""
    dense = cls.get_layer("logits")
    return cls.scale * dense.kernel.numpy(), cls.scale * dense.bias.numpy()


def test_scale_one_builds_the_printed_classifier():
    cls = _classifier(1.0)
    assert [type(layer).__name__ for layer in cls.layers] == ["InputLayer", "Dense"]
    assert cls.get_config()["scale"] == 1.0


@pytest.mark.parametrize("scale", [4.0, 10.0])
def test_the_initial_classifier_is_the_same_function(scale):
    plain, scaled = _classifier(1.0), _classifier(scale)
    np.testing.assert_allclose(_effective(scaled)[0], _effective(plain)[0], rtol=1e-6, atol=1e-7)
    e = np.random.default_rng(0).normal(size=(3, DIM)).astype("float32")
    np.testing.assert_allclose(scaled(e).numpy(), plain(e).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [4.0, 10.0])
def test_one_adam_step_moves_the_effective_weights_scale_times_as_far(scale):
    # Adam's first step is lr * g / (|g| + eps), about lr * sign(g) per weight: the scaled classifier moves W by
    # lr as well, hence scale * W by scale * lr (the hand computation behind the docstring)
    lr = 1e-3
    e = tf.math.l2_normalize(tf.random.stateless_normal((8, DIM), seed=(1, 2)), axis=1)
    y = tf.constant([0, 1, 2, 3, 4, 0, 1, 2])
    moves = []
    for scale_ in (1.0, scale):
        cls = _classifier(scale_)
        before = _effective(cls)
        optimizer = keras.optimizers.Adam(learning_rate=lr, epsilon=1e-10)  # eps << |g|
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, cls(e), from_logits=True))
        grads = tape.gradient(loss, cls.trainable_variables)
        optimizer.apply(grads, cls.trainable_variables)
        after = _effective(cls)
        moves.append([a - b for a, b in zip(after, before)])
    for plain, scaled in zip(*moves):
        np.testing.assert_allclose(np.abs(plain), lr, rtol=1e-3)  # lr * sign(g): every gradient entry is non-zero
        np.testing.assert_allclose(scaled, scale * plain, rtol=1e-3)


def test_the_scale_survives_a_config_round_trip():
    cls = _classifier(10.0)
    clone = FGClassifier.from_config(cls.get_config())
    assert clone.scale == 10.0 and clone.get_layer("logit_scale").scale == 10.0


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "ten", None])
def test_a_bad_scale_is_a_clear_error_before_any_layer_is_built(bad):
    with pytest.raises(ValueError, match="classifier_scale"):
        check_classifier_scale(bad)
    with pytest.raises(ValueError, match="classifier_scale"):
        build_fg_model({"weights": None, "classifier_scale": bad}, num_classes=3, image_size=32)
