"""WAD-CMSN networks: shapes, variable groups, replayable dropout, serialisable config."""
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.models.wadcmsn import MLP, WADCMSN, build_wadcmsn, stateless_dropout


def tiny(num_classes=3):
    return WADCMSN(num_classes, visual_dim=512, semantic_dim=64, generator_hidden=[32], critic_hidden=[16])


def test_shapes_and_groups():
    m = tiny()
    x = tf.random.normal([8, 512])
    s = tf.random.normal([8, 64])
    assert m.g_sk(x).shape == (8, 64) and m.g_im(x).shape == (8, 64)
    assert m.f_sk(s).shape == (8, 512) and m.f_im(s).shape == (8, 512)
    assert m.critic_se(s).shape == (8, 1) and m.critic_sk(x).shape == (8, 1) and m.critic_im(x).shape == (8, 1)
    assert m.classifier(s).shape == (8, 3)
    gen = {id(v) for v in m.generator_variables}
    crit = {id(v) for v in m.critic_variables}
    assert not gen & crit
    assert len(gen) == 4 * 4 + 2  # four 1-hidden-layer MLPs + linear classifier (kernel + bias each)
    assert len(crit) == 3 * 4
    assert m.embed_sketches(np.zeros((5, 512), "float32")).shape == (5, 64)


def test_dropout_is_a_function_of_the_seed():
    x = tf.ones([4, 100])
    a = stateless_dropout(x, 0.5, tf.constant([1, 2], tf.int64))
    b = stateless_dropout(x, 0.5, tf.constant([1, 2], tf.int64))
    c = stateless_dropout(x, 0.5, tf.constant([1, 3], tf.int64))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    assert set(np.unique(a.numpy())) <= {0.0, 2.0}
    mlp = MLP(10, 3, hidden=[20], dropout=0.5)
    z = tf.random.normal([4, 10])
    np.testing.assert_array_equal(mlp(z).numpy(), mlp(z, training=False, seed=tf.constant([0, 1], tf.int64)).numpy())


def test_config_and_errors():
    cfg = {"visual_dim": 512, "semantic_dim": 64, "generator_hidden": [16], "critic_hidden": [8],
           "generator_dropout": 0.1, "leaky_slope": 0.2}
    m = build_wadcmsn(cfg, 4)
    assert m.get_config()["num_seen_classes"] == 4
    assert MLP.from_config(m.g_sk.get_config()).get_config() == m.g_sk.get_config()
    with pytest.raises(ValueError, match="at least 2 seen classes"):
        WADCMSN(1)
