"""The fine-grained step (Pang et al. 2017): the two-stage schedules and their variable groups, the loss against a
hand computation (L_C, L_D, L_T, Eq. 1), the data order, non-finite gradients, frozen VGG16 blocks, embeddings."""
import gc

import keras
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.models.fg import L2Normalize, PangModel
from sbir_tf.train import inference
from sbir_tf.train.fg_step import FGStep, fg_step, make_adam, random_state_variables, variable_groups
from sbir_tf.train.schedules import two_stage_schedule
from train_tiny import B, C, fg_batch, fg_cfg, fg_dataset_fn, fg_model


def step_for(model, schedule="text", steps=4, dataset_fn=None, lr=1e-2, decoder_distance="pixel_mse", batch=B):
    stages = two_stage_schedule(schedule, steps, has_decoder=model.decoder is not None, lambda_d=10.0,
                                lambda_t=1.0, stage1_fraction=0.5)
    return FGStep(model, stages, make_adam(lr, 0.9, 0.999, 1e-8), dataset_fn or fg_dataset_fn(), global_batch=batch,
                  margin=0.1, decoder_distance=decoder_distance, learning_rate=lambda s: lr)


def snapshot(variables):
    return [np.array(v.numpy()) for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def floats(out):
    return {k[len("loss/"):]: float(v) for k, v in out.items() if k.startswith("loss/")}


@pytest.mark.parametrize("schedule", ["text", "printed"])
def test_stage1_updates_encoder_and_classifier_only_stage2_everything(schedule):
    """Sec. 3.2: "we first minimise ... with respect to theta_E and theta_C, then minimise L with respect to theta_E,
    theta_C and theta_D"."""
    model = fg_model()
    step = step_for(model, schedule)
    groups = variable_groups(model)
    dec_all = model.decoder.variables  # trainable + batch-norm statistics
    before = {g: snapshot(v) for g, v in groups.items()}
    dec_before = snapshot(dec_all)
    assert step(0)["stage"] == "stage1"
    assert all(changed(before["encoder"], groups["encoder"]))
    assert all(changed(before["classifier"], groups["classifier"]))
    assert not any(changed(dec_before, dec_all)), "stage 1 must leave the decoder untouched"
    step(1)
    before = {g: snapshot(v) for g, v in groups.items()}
    assert step(2)["stage"] == "stage2"
    for g in ("encoder", "classifier", "decoder"):
        assert all(changed(before[g], groups[g])), g


def test_joint_schedule_updates_every_group_from_the_first_step():
    """``joint``: "update all the parameters together" (the strategy Sec. 3.2 rejects), one stage, full loss."""
    model = fg_model()
    step = step_for(model, "joint")
    assert [(s.name, s.start, s.end) for s in step.stages] == [("joint", 0, 4)]
    groups = variable_groups(model)
    for i in range(4):
        before = {g: snapshot(v) for g, v in groups.items()}
        terms = floats(step(i))
        assert terms["total"] == pytest.approx(terms["cls"] + 10.0 * terms["rec"] + terms["tri"], rel=1e-6)
        if i == 0:
            assert min(terms["cls"], terms["rec"], terms["tri"]) > 0
        for g in ("encoder", "classifier", "decoder"):
            assert all(changed(before[g], groups[g])), (i, g)


def test_stage_terms_follow_schedule():
    text, printed = step_for(fg_model(), "text"), step_for(fg_model(), "printed")
    t1 = floats(text(0))
    assert t1["rec"] == 0.0 and t1["tri"] > 0 and t1["total"] == pytest.approx(t1["cls"] + t1["tri"], rel=1e-6)
    p1 = floats(printed(0))
    assert p1["tri"] == 0.0 and p1["rec"] > 0
    assert p1["total"] == pytest.approx(p1["cls"] + 10.0 * p1["rec"], rel=1e-6)
    text(1)
    text(2)
    t3 = floats(text(3))
    assert t3["total"] == pytest.approx(t3["cls"] + 10.0 * t3["rec"] + t3["tri"], rel=1e-6)


def hand_model(decoder_bias):
    """A model whose outputs are known in closed form: E(x) = l2(x[0, 0, :2]), logits = log([1, 2, 3]) for every
    input, D(z) = ``decoder_bias`` (a fixed 2x2x3 image) for every embedding."""
    select = np.zeros((12, 2), np.float32)
    select[0, 0] = select[1, 1] = 1.0  # flattened [2, 2, 3]: positions 0 and 1 are x[0, 0, 0] and x[0, 0, 1]
    enc = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(2, use_bias=False),
                            L2Normalize()], name="enc")
    enc.layers[1].kernel.assign(select)
    cls = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)], name="cls")
    cls.layers[0].kernel.assign(np.zeros((2, 3), np.float32))
    cls.layers[0].bias.assign(np.log([1.0, 2.0, 3.0]).astype(np.float32))
    dec = keras.Sequential([keras.Input((2,)), keras.layers.Dense(12), keras.layers.Reshape((2, 2, 3))], name="dec")
    dec.layers[0].kernel.assign(np.zeros((2, 12), np.float32))
    dec.layers[0].bias.assign(decoder_bias.reshape(12).astype(np.float32))
    return PangModel(enc, enc, cls, dec)


@pytest.mark.parametrize("distance", ["norm", "pixel_mse"])
def test_step_loss_equals_hand_computation(distance):
    """The loss the step differentiates (its returned terms) against numpy formulas of Eq. 1, 2, 4 and 5."""
    rng = np.random.default_rng(0)

    def images(first_two):
        x = rng.normal(0, 1, (2, 2, 2, 3)).astype(np.float32)
        x[:, 0, 0, :2] = first_two
        return x

    anchor, positive, negative = (np.array([[3, 4], [1, 0]], np.float32), np.array([[4, 3], [0, 2]], np.float32),
                                  np.array([[6, 8], [1, 1]], np.float32))
    b = {"sketch": images(anchor), "positive": images(positive), "negative": images(negative),
         "sketch_target": rng.uniform(-1, 1, (2, 2, 2, 3)).astype(np.float32),
         "label_sketch": np.array([0, 2], np.int32), "label_positive": np.array([0, 2], np.int32),
         "label_negative": np.array([1, 1], np.int32)}
    recon = rng.uniform(-1, 1, (2, 2, 3)).astype(np.float32)

    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    z_s, z_p, z_n = unit(anchor), unit(positive), unit(negative)
    l_t = np.mean(np.maximum(0, 0.1 + np.linalg.norm(z_s - z_p, axis=1) - np.linalg.norm(z_s - z_n, axis=1)))
    p = np.array([1.0, 2.0, 3.0]) / 6.0  # softmax(log [1, 2, 3]) for every input
    l_c = sum(np.mean(-np.log(p[b[k]])) for k in ("label_sketch", "label_positive", "label_negative"))
    err = (b["sketch_target"] - recon[None]).reshape(2, -1)
    d = np.sqrt((err ** 2).sum(1)) if distance == "norm" else (err ** 2).mean(1)
    l_d = np.mean(d + d)  # D(E(x_s)) and D(E(x_p+)) are both `recon` here
    expected = {"cls": l_c, "rec": l_d, "tri": l_t, "total": l_c + 10.0 * l_d + 1.0 * l_t}

    got = floats(step_for(hand_model(recon), "joint", steps=1, dataset_fn=lambda s: tf.data.Dataset.from_tensors(b),
                          decoder_distance=distance, batch=2)(0))
    for k, v in expected.items():
        assert got[k] == pytest.approx(float(v), rel=1e-5), k
    assert l_t > 0 and l_d > 0  # every term contributes


def test_step_rejects_unknown_decoder_distance():
    with pytest.raises(ValueError, match="loss.decoder_distance"):
        step_for(fg_model(), decoder_distance="l1")


def test_batches_follow_the_step_and_the_dataset_restarts_only_on_a_jump():
    """Batch of step s is the dataset_fn's first element when started at s: consecutive steps reuse the stream; a
    jump (a resumed run) restarts it at the asked step."""
    dataset_fn = fg_dataset_fn()
    step = step_for(fg_model(), dataset_fn=dataset_fn, steps=8)
    for s in (0, 1, 2, 5, 6):
        np.testing.assert_array_equal(step.batch(s)["sketch"].numpy(), fg_batch(s)["sketch"])
    assert dataset_fn.calls == [0, 5]


def test_one_trace_per_stage_and_no_decoder_variant():
    model = fg_model(decoder=False)
    step = step_for(model, steps=6)
    assert [s.name for s in step.stages] == ["joint"]
    for i in range(6):
        assert floats(step(i))["rec"] == 0.0
    assert step.update("joint").experimental_get_tracing_count() == 1


def test_non_finite_gradient_with_finite_loss_skips_the_update():
    """Infinite input images: compiled on CPU the fused conv + ReLU gives finite embeddings and losses, but the
    gradients are NaN. ``finite`` covers the gradients too: nothing changes."""
    model = fg_model()
    step = step_for(model, dataset_fn=lambda s: tf.data.Dataset.from_tensors(fg_batch(0, inf_images=True)))
    before = snapshot(model.sketch_encoder.variables + model.classifier.variables)
    iterations = int(step.optimizer.iterations.numpy())
    out = step(0)
    assert not bool(out["finite"])
    assert not any(changed(before, model.sketch_encoder.variables + model.classifier.variables))
    assert int(step.optimizer.iterations.numpy()) == iterations


def test_fg_step_from_config_builds_the_paper_optimizer_and_trackables():
    model = fg_model()
    step, trackables = fg_step(model, fg_cfg(steps=8, lr=1e-3), fg_dataset_fn())
    assert set(trackables) == {"model", "optimizer", "rng"} and trackables["model"] is model
    assert trackables["rng"] == random_state_variables(model) and len(trackables["rng"]) == 1  # the dropout
    opt = trackables["optimizer"]
    assert isinstance(opt, keras.optimizers.Adam) and opt.beta_1 == 0.9 and opt.beta_2 == 0.999
    assert [step(s)["lr"] for s in range(8)] == [1e-3] * 6 + [1e-4] * 2  # drop at 0.75 of 8 steps
    assert float(opt.learning_rate) == pytest.approx(1e-4)  # the optimizer's schedule agrees after 8 updates
    with pytest.raises(ValueError, match="train.precision"):
        fg_step(fg_model(), fg_cfg(precision="half"), fg_dataset_fn())


def test_embed_reuses_one_traced_function_per_encoder():
    """Repeated evaluations (validation every N steps) do not retrace; the cache does not keep encoders alive."""
    enc = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    for n in (5, 7, 3, 10, 5):
        np.testing.assert_allclose(inference.embed(enc, x[:n], batch_size=4), enc(x[:n]).numpy(), rtol=1e-6)
    assert inference._inference_fn(enc).experimental_get_tracing_count() <= 2  # full and partial batch shapes
    before = len(inference._FORWARD)
    del enc
    gc.collect()
    assert len(inference._FORWARD) == before - 1


FROZEN_CONVS = ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2")  # VGG16 blocks 1-2
TRAINED_CONVS = ("block3_conv1", "block3_conv3", "block4_conv2", "block5_conv3")


def vgg_step(frozen_blocks, seed=0):
    """A real (tiny-headed) VGG16 model of sbir_tf.models.fg at 32 px, siamese, no decoder, and its step."""
    from sbir_tf.models.fg import build_fg_model

    keras.utils.set_random_seed(seed)
    model = build_fg_model({"weights": None, "fc_dims": (16,), "embedding_dim": 8, "dropout": 0.0,
                            "use_decoder": False, "frozen_blocks": frozen_blocks}, num_classes=C, image_size=32)
    return model, step_for(model, steps=2, batch=2, dataset_fn=lambda s: tf.data.Dataset.from_tensors(
        fg_batch(s, size=32, batch=2)).repeat())


def trunk_layer(model, name):
    return model.sketch_encoder.get_layer("photo_trunk").get_layer(name)


def test_frozen_blocks_are_outside_the_optimizer_and_untouched_by_a_step():
    _, full = vgg_step(0)
    model, step = vgg_step(2)
    # 4 conv layers x (kernel + bias) leave the optimizer's list, and their 2 Adam slots each go with them
    assert len(full.variables) - len(step.variables) == 8
    assert len(full.optimizer.variables) - len(step.optimizer.variables) == 16
    assert {v.path.split("/")[-2] for v in step.variables}.isdisjoint(FROZEN_CONVS)
    layers = {n: trunk_layer(model, n) for n in FROZEN_CONVS + TRAINED_CONVS}
    before = {n: [np.array(w.numpy()) for w in layer.weights] for n, layer in layers.items()}
    step(0)
    for name in FROZEN_CONVS:
        for w, b in zip(layers[name].weights, before[name]):
            np.testing.assert_array_equal(w.numpy(), b, err_msg=w.path)
    for name in TRAINED_CONVS:
        assert not np.array_equal(layers[name].kernel.numpy(), before[name][0]), name


def test_frozen_blocks_round_trip_through_the_trainer_checkpoint(tmp_path):
    """The frozen (non-trainable) VGG16 blocks are saved and restored with the rest of the model."""
    from sbir_tf.train.loop import Trainer

    def trainer(seed):
        model, step = vgg_step(2, seed=seed)
        return model, Trainer(step, {"model": model, "optimizer": step.optimizer}, tmp_path, total_steps=1,
                              log_every=1, checkpoint_every=1, keep_checkpoints=1, progress=False)

    model, t = trainer(0)
    t.fit()
    restored, t2 = trainer(1)
    for name in FROZEN_CONVS:  # a different random start before the restore
        assert not np.array_equal(trunk_layer(restored, name).kernel.numpy(), trunk_layer(model, name).kernel.numpy())
    assert t2.restore() == 1
    for name in FROZEN_CONVS + TRAINED_CONVS:
        for a, b in zip(trunk_layer(model, name).weights, trunk_layer(restored, name).weights):
            np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)
