"""WAD-CMSN Algorithm 1: the critic/generator order and tapes, weight clipping, the variants, Eq. 8 in the step,
deterministic batches, PyTorch's RMSprop."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.models.wadcmsn import WADCMSN
from sbir_tf.train.zs_step import PairSampler, PyTorchRMSprop, ZSStep, build_rmsprop, zs_step
from train_tiny import C, zs_cfg, zs_model, zs_sampler


def snapshot(variables):
    return [v.numpy().copy() for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_sampler_pairs_same_class_and_is_deterministic():
    s = zs_sampler()
    b1, b2, b3 = s.batch(5, 0), s.batch(5, 0), s.batch(5, 1)
    for k in b1:
        np.testing.assert_array_equal(b1[k], b2[k])
    assert not np.array_equal(b1["x"], b3["x"])
    sk, ph = s.indices(7)
    np.testing.assert_array_equal(s.sketch_labels[sk], s.photo_labels[ph])
    np.testing.assert_array_equal(s.batch(7)["s"], s.semantics[s.sketch_labels[sk]])
    with pytest.raises(ValueError, match="no photos"):
        PairSampler(np.zeros((2, 4)), [0, 1], np.zeros((1, 4)), [0], np.zeros((2, 3)))


def test_algorithm1_runs_n_critic_critic_updates_then_one_generator_update_on_batches_step_k():
    """Algorithm 1: for k < n_critic, a critic update on batch (step, k); then one generator update on batch
    (step, n_critic); each with the stateless seed of (seed, step, k)."""
    step, _ = zs_step(zs_model(), zs_cfg(n_critic=3), zs_sampler())
    calls = []
    critic, generator = step.critic_update, step.generator_update

    def spy(name, fn):
        def run(x, *args):
            seed = args[-1].numpy().tolist()
            k = [k for k in range(4) if np.array_equal(x.numpy(), step.sampler.batch(7, k)["x"])]
            calls.append((name, k, seed))
            return fn(x, *args)
        return run

    step.critic_update, step.generator_update = spy("critic", critic), spy("generator", generator)
    out = step(7)
    assert calls == [("critic", [0], [0, 7 * 64]), ("critic", [1], [0, 7 * 64 + 16]),
                     ("critic", [2], [0, 7 * 64 + 32]), ("generator", [3], [0, 7 * 64 + 48])]
    assert bool(out["finite"]) and "loss/critic/L_dis" in out and "loss/generator/L_ps" in out
    # with the adversarial term off (ablation) there is no critic update at all
    step_no_adv, _ = zs_step(zs_model(), zs_cfg(weights=dict(adv=0.0, cyc=1.0, cls=1.0, iml=1.0)), zs_sampler())
    assert step_no_adv.critic_batches(0) == [] and "loss/critic/L_dis" not in step_no_adv(0)


def test_critic_update_tapes_critics_only_and_generator_update_generators_only():
    m = zs_model()
    step, _ = zs_step(m, zs_cfg(), zs_sampler())
    b = step.sampler.batch(0)
    gen0, crit0 = snapshot(m.generator_variables), snapshot(m.critic_variables)
    step.critic_update(b["x"], b["y"], b["s"], step.step_seed(0, 0))
    assert not any(changed(gen0, m.generator_variables)), "critic step must not touch the generators"
    # every critic kernel moves (an output bias of a Wasserstein critic cancels in E f(fake) - E f(real))
    kernels = [c for c, v in zip(changed(crit0, m.critic_variables), m.critic_variables) if "kernel" in v.path]
    assert len(kernels) == 6 and all(kernels), "critic step must update every critic layer"
    for v in m.critic_variables:
        assert np.abs(v.numpy()).max() <= 0.01 + 1e-9
    crit1 = snapshot(m.critic_variables)
    step.generator_update(b["x"], b["y"], b["s"], b["label"], step.step_seed(0, 1))
    assert not any(changed(crit1, m.critic_variables)), "generator step must not touch the critics"
    assert all(changed(gen0, m.generator_variables)), "generator step must update G, F and the classifier"
    assert set(map(id, step.critic_optimizer._trainable_variables)) == set(map(id, m.critic_variables))
    assert set(map(id, step.generator_optimizer._trainable_variables)) == set(map(id, m.generator_variables))


def test_clipping_holds_after_training_steps():
    m = zs_model()
    step, _ = zs_step(m, zs_cfg(n_critic=2, clip_value=0.005), zs_sampler())
    for s in range(3):
        step(s)
    assert max(np.abs(v.numpy()).max() for v in m.critic_variables) <= 0.005 + 1e-9


@pytest.mark.parametrize("loss", [dict(lipschitz="gp"), dict(adversarial="gan", lipschitz="none"),
                                  dict(semantic_cycle=False, weights=dict(adv=1.0, cyc=1.0, cls=0.0, iml=0.0))])
def test_variants_train_and_stay_finite(loss):
    step, _ = zs_step(zs_model(), zs_cfg(**loss), zs_sampler())
    for s in range(2):
        out = step(s)
        assert bool(out["finite"]) and all(np.isfinite(float(v)) for k, v in out.items() if k.startswith("loss/"))
    if loss.get("lipschitz") == "gp":
        assert float(out["loss/critic/gp"]) > 0


def test_generator_update_feeds_eq8_same_class_pairs_and_f_of_s():
    # Eq. 8 in the step: ||G_sk(x) - G_im(y)||^2 + ||F_sk(s) - x||^2 + ||F_im(s) - y||^2 with x, y, s of one class
    keras.utils.set_random_seed(0)
    m = WADCMSN(C, generator_hidden=[32], critic_hidden=[16], generator_dropout=0.0)
    step, _ = zs_step(m, zs_cfg(), zs_sampler())
    b = step.sampler.batch(0, 1)
    np.testing.assert_array_equal(step.sampler.semantics[b["label"]], b["s"])
    g_sk, g_im = m.g_sk(b["x"]).numpy(), m.g_im(b["y"]).numpy()
    f_sk_s, f_im_s = m.f_sk(b["s"]).numpy(), m.f_im(b["s"]).numpy()
    expected = (np.mean(np.sum((g_sk - g_im) ** 2, axis=1)) + np.mean(np.sum((f_sk_s - b["x"]) ** 2, axis=1))
                + np.mean(np.sum((f_im_s - b["y"]) ** 2, axis=1)))
    named, applied = step.generator_update(b["x"], b["y"], b["s"], b["label"], step.step_seed(0, 1))
    assert bool(applied)
    np.testing.assert_allclose(float(named["generator/L_iml"]), expected, rtol=1e-5)


def test_config_is_read_without_hidden_defaults():
    """Every key comes from the config (the presets hold the paper's values); a missing key names itself."""
    from sbir_tf.configs.zs import get_config
    from sbir_tf.losses import wadcmsn as L

    paper = get_config("paper")
    step, trackables = zs_step(zs_model(), paper, zs_sampler())
    assert set(trackables) == {"model", "critic_optimizer", "generator_optimizer"}
    assert step.reduction == paper.loss.reduction == L.CYCLE_REDUCTION == "mean"
    assert step.iml_reduction == paper.loss.iml_reduction == L.IML_REDUCTION == "sum"
    assert step.n_critic == paper.train.n_critic == L.N_CRITIC
    cfg = zs_cfg()
    del cfg["train"]["n_critic"]
    with pytest.raises(KeyError, match="train.n_critic"):
        zs_step(zs_model(), cfg, zs_sampler())
    with pytest.raises(ValueError, match="loss.iml_reduction"):
        zs_step(zs_model(), zs_cfg(iml_reduction="max"), zs_sampler())
    with pytest.raises(ValueError, match="loss.lipschitz"):
        zs_step(zs_model(), zs_cfg(lipschitz="spectral"), zs_sampler())


def test_paper_preset_builds_pytorch_rmsprop():
    from sbir_tf.configs.zs import get_config

    paper = get_config("paper")
    _, trackables = zs_step(zs_model(), paper, zs_sampler())
    for opt in (trackables["critic_optimizer"], trackables["generator_optimizer"]):
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


def test_direct_construction_checks_its_arguments():
    with pytest.raises(ValueError, match="train.n_critic"):
        ZSStep(zs_model(), zs_sampler(), adversarial="wasserstein", lipschitz="clip", clip_value=0.01, gp_weight=10.0,
               semantic_cycle=True, reduction="mean", iml_reduction="sum", weights=dict(adv=1, cyc=1, cls=1, iml=1),
               n_critic=0, seed=0, critic_optimizer=PyTorchRMSprop(), generator_optimizer=PyTorchRMSprop())
