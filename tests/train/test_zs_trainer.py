"""WAD-CMSN Algorithm 1: update order, weight clipping, exact resume, NaN stop, deterministic batches."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.models.wadcmsn import WADCMSN
from sbir_tf.train.zs_trainer import NonFiniteLossError, PairSampler, ZSTrainer

C = 3
LOSS = dict(adversarial="wasserstein", lipschitz="clip", clip_value=0.01, gp_weight=10.0, semantic_cycle=True,
            reduction="sum", weights=dict(adv=1.0, cyc=1.0, cls=1.0, iml=1.0))
TRAIN = dict(steps=4, lr=1e-4, n_critic=1, seed=0, log_every=1, eval_every=0, checkpoint_every=2)


def sampler(nan=False, seed=0):
    rng = np.random.default_rng(0)
    sl, pl = np.arange(24) % C, np.arange(18) % C
    sk = rng.random((24, 512)).astype("float32")
    if nan:
        sk[:] = np.nan
    return PairSampler(sk, sl, rng.random((18, 512)).astype("float32"), pl,
                       rng.normal(size=(C, 64)).astype("float32"), batch_size=8, seed=seed)


def model(seed=0):
    keras.utils.set_random_seed(seed)
    return WADCMSN(C, generator_hidden=[32], critic_hidden=[16], generator_dropout=0.3)


def snapshot(variables):
    return [v.numpy().copy() for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_sampler_pairs_same_class_and_is_deterministic():
    s = sampler()
    b1, b2, b3 = s.batch(5, 0), s.batch(5, 0), s.batch(5, 1)
    for k in b1:
        np.testing.assert_array_equal(b1[k], b2[k])
    assert not np.array_equal(b1["x"], b3["x"])
    sk, ph = s.indices(7)
    np.testing.assert_array_equal(s.sketch_labels[sk], s.photo_labels[ph])
    np.testing.assert_array_equal(s.batch(7)["s"], s.semantics[s.sketch_labels[sk]])
    with pytest.raises(ValueError, match="no photos"):
        PairSampler(np.zeros((2, 4)), [0, 1], np.zeros((1, 4)), [0], np.zeros((2, 3)))


def test_algorithm1_update_order_and_clipping():
    m = model()
    t = ZSTrainer(m, sampler(), LOSS, TRAIN)
    b = t.sampler.batch(0)
    gen0, crit0 = snapshot(m.generator_variables), snapshot(m.critic_variables)
    t._critic_fn(b["x"], b["y"], b["s"], t._step_seed(0, 0))
    assert not any(changed(gen0, m.generator_variables)), "critic step must not touch the generators"
    # every critic kernel moves (an output bias of a Wasserstein critic cancels in E f(fake) - E f(real))
    kernels = [c for c, v in zip(changed(crit0, m.critic_variables), m.critic_variables) if "kernel" in v.path]
    assert len(kernels) == 6 and all(kernels), "critic step must update every critic layer"
    for v in m.critic_variables:
        assert np.abs(v.numpy()).max() <= 0.01 + 1e-9
    crit1 = snapshot(m.critic_variables)
    t._generator_fn(b["x"], b["y"], b["s"], b["label"], t._step_seed(0, 1))
    assert not any(changed(crit1, m.critic_variables)), "generator step must not touch the critics"
    assert all(changed(gen0, m.generator_variables)), "generator step must update G, F and the classifier"


def test_clipping_holds_after_training_steps():
    m = model()
    t = ZSTrainer(m, sampler(), dict(LOSS, clip_value=0.005), dict(TRAIN, n_critic=2))
    t.fit(steps=3, progress=False)
    assert max(np.abs(v.numpy()).max() for v in m.critic_variables) <= 0.005 + 1e-9


@pytest.mark.parametrize("loss", [dict(LOSS, lipschitz="gp"), dict(LOSS, adversarial="gan", lipschitz="none"),
                                  dict(LOSS, semantic_cycle=False, weights=dict(adv=1.0, cyc=1.0, cls=0.0, iml=0.0))])
def test_variants_train_and_stay_finite(loss):
    t = ZSTrainer(model(), sampler(), loss, TRAIN)
    hist = t.fit(steps=2, progress=False)
    assert len(hist) == 2 and all(np.isfinite(v) for v in hist[-1].values())
    if loss["lipschitz"] == "gp":
        assert hist[-1]["critic/gp"] > 0


def test_resume_is_exact(tmp_path):
    straight = model()
    ZSTrainer(straight, sampler(), LOSS, TRAIN, checkpoint_dir=tmp_path / "a").fit(progress=False)

    first = model()
    ZSTrainer(first, sampler(), LOSS, TRAIN, checkpoint_dir=tmp_path / "b",
              history_path=tmp_path / "b" / "h.jsonl").fit(steps=2, progress=False)  # "killed" after 2 steps
    resumed = model(seed=123)  # different init: everything must come from the checkpoint
    t = ZSTrainer(resumed, sampler(), LOSS, TRAIN, checkpoint_dir=tmp_path / "b",
                  history_path=tmp_path / "b" / "h.jsonl")
    hist = t.fit(resume=True, progress=False)
    assert [r["step"] for r in hist] == [1, 2, 3, 4]
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="already holds checkpoints"):
        ZSTrainer(model(), sampler(), LOSS, TRAIN, checkpoint_dir=tmp_path / "b").fit(progress=False)


def test_nan_stops_with_step_and_terms_and_keeps_checkpoint(tmp_path):
    m = model()
    t = ZSTrainer(m, sampler(), LOSS, TRAIN, checkpoint_dir=tmp_path)
    t.fit(steps=2, progress=False)
    good = t.checkpointer.latest
    before = snapshot(m.weights)
    t.sampler = sampler(nan=True)
    with pytest.raises(NonFiniteLossError, match=r"step 3 in the critic update: critic/adv_se=nan, critic/adv_sk=nan"):
        t.fit(steps=4, resume=True, progress=False)
    assert t.checkpointer.latest == good
    assert not any(changed(before, m.weights)), "the non-finite update must not be applied"


def test_generator_step_feeds_eq8_same_class_pairs_and_f_of_s():
    # Eq. 8 in the trainer: ||G_sk(x) - G_im(y)||^2 + ||F_sk(s) - x||^2 + ||F_im(s) - y||^2 with x, y, s of one class
    keras.utils.set_random_seed(0)
    m = WADCMSN(C, generator_hidden=[32], critic_hidden=[16], generator_dropout=0.0)
    t = ZSTrainer(m, sampler(), LOSS, TRAIN)
    b = t.sampler.batch(0, 1)
    np.testing.assert_array_equal(t.sampler.semantics[b["label"]], b["s"])
    g_sk, g_im = m.g_sk(b["x"]).numpy(), m.g_im(b["y"]).numpy()
    f_sk_s, f_im_s = m.f_sk(b["s"]).numpy(), m.f_im(b["s"]).numpy()
    expected = (np.mean(np.sum((g_sk - g_im) ** 2, axis=1)) + np.mean(np.sum((f_sk_s - b["x"]) ** 2, axis=1))
                + np.mean(np.sum((f_im_s - b["y"]) ** 2, axis=1)))
    named, finite = t._generator_fn(b["x"], b["y"], b["s"], b["label"], t._step_seed(0, 1))
    assert bool(finite)
    np.testing.assert_allclose(float(named["generator/L_iml"]), expected, rtol=1e-5)


def test_trainer_defaults_are_the_preset_values():
    from sbir_tf.experiments.zs_presets import get_config
    from sbir_tf.losses import wadcmsn as L

    paper = get_config("paper")
    bare = ZSTrainer(model(), sampler(), dict(adversarial="wasserstein", lipschitz="clip", weights=LOSS["weights"]),
                     dict(steps=1))
    assert bare.cycle_reduction == paper.loss.reduction == L.CYCLE_REDUCTION == "mean"
    assert bare.iml_reduction == paper.loss.iml_reduction == L.IML_REDUCTION == "sum"
    assert bare.semantic_cycle is paper.loss.semantic_cycle is True
    with pytest.raises(ValueError, match="loss.iml_reduction"):
        ZSTrainer(model(), sampler(), dict(LOSS, iml_reduction="max"), TRAIN)


def test_paper_preset_builds_pytorch_rmsprop():
    from sbir_tf.experiments.zs_presets import get_config
    from sbir_tf.train.zs_trainer import PyTorchRMSprop, build_rmsprop

    paper = get_config("paper")
    t = ZSTrainer(model(), sampler(), paper.loss, dict(paper.train, steps=1))
    for opt in (t.critic_optimizer, t.generator_optimizer):
        # torch.optim.RMSprop defaults: alpha 0.99, eps 1e-8 outside the square root (Keras: rho 0.9, eps 1e-7)
        assert isinstance(opt, PyTorchRMSprop)
        assert opt.rho == 0.99 and opt.epsilon == 1e-8
        np.testing.assert_allclose(float(opt.learning_rate), 1e-4, rtol=1e-6)
        assert opt.momentum == 0.0 and not opt.centered
    keras_style = build_rmsprop(dict(paper.train, rmsprop_epsilon_placement="inside_sqrt"), "k")
    assert type(keras_style) is keras.optimizers.RMSprop and keras_style.rho == 0.99
    with pytest.raises(ValueError, match="rmsprop_epsilon_placement"):
        build_rmsprop(dict(paper.train, rmsprop_epsilon_placement="outside"), "bad")


def test_pytorch_rmsprop_update_matches_hand_computation():
    from sbir_tf.train.zs_trainer import PyTorchRMSprop

    lr, rho, eps = 0.01, 0.99, 1e-8
    w0 = np.array([1.0, -2.0, 0.5], np.float32)
    g = np.array([0.1, 1e-5, -3.0], np.float32)
    # Step 1 (v starts at 0): v = (1 - rho) g^2 = 0.01 g^2, so sqrt(v) = 0.1 |g|.
    # PyTorch: w - lr g / (sqrt(v) + eps):
    #   0.1:   0.1 / (0.01 + 1e-8) = 9.999990 -> 1 - 0.0999999 = 0.9000001
    #   1e-5:  1e-5 / (1e-6 + 1e-8) = 9.900990 -> -2 - 0.0990099 = -2.0990099
    #   -3:    -3 / (0.3 + 1e-8) = -9.9999997 -> 0.5 + 0.1 = 0.6
    torch_step1 = np.array([0.9000001, -2.0990099, 0.6], np.float32)
    # Keras: w - lr g / sqrt(v + eps):
    #   0.1:   sqrt(1e-4 + 1e-8) = 0.0100005 -> 0.1 / 0.0100005 = 9.99950 -> 1 - 0.0999950 = 0.9000050
    #   1e-5:  sqrt(1e-12 + 1e-8) = 1.00005e-4 -> 1e-5 / 1.00005e-4 = 0.099995 -> -2 - 0.00099995 = -2.00099995
    #   -3:    sqrt(0.09 + 1e-8) = 0.3 (to 1.7e-8) -> 0.5 + 0.1 = 0.6
    # The small gradient moves 0.099 (PyTorch) against 0.001 (Keras): the two rules differ, not only their constants.
    keras_step1 = np.array([0.9000050, -2.00099995, 0.6], np.float32)
    # Step 2 with the same g: v = 0.99 * 0.01 g^2 + 0.01 g^2 = 0.0199 g^2, sqrt(v) = 0.1410674 |g|;
    # PyTorch: 0.1 -> 0.01 * 0.1 / (0.01410674 + 1e-8) = 0.0708882 -> 0.9000001 - 0.0708882 = 0.8291119
    torch_step2_first = 0.8291119

    def run(optimizer, steps):
        w = keras.Variable(w0)
        for _ in range(steps):
            optimizer.apply([tf.constant(g)], [w])
        return w.numpy()

    np.testing.assert_allclose(run(PyTorchRMSprop(learning_rate=lr, rho=rho, epsilon=eps), 1), torch_step1,
                               rtol=0, atol=2e-7)
    np.testing.assert_allclose(run(keras.optimizers.RMSprop(learning_rate=lr, rho=rho, epsilon=eps), 1), keras_step1,
                               rtol=0, atol=2e-7)
    assert abs(run(PyTorchRMSprop(learning_rate=lr, rho=rho, epsilon=eps), 2)[0] - torch_step2_first) < 2e-7
    with pytest.raises(ValueError, match="momentum=0"):
        PyTorchRMSprop(momentum=0.9)
