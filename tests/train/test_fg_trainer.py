"""FGTrainer on a tiny stand-in model (8 px, a few hundred parameters) with the real losses of sbir_tf.losses.fg."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.models.fg import FGModel, L2Normalize
from sbir_tf.train.checkpoints import Checkpointer
from sbir_tf.train.fg_trainer import (FGTrainer, NonFiniteLossError, make_adam, pang_loss_terms,
                                      random_state_variables, variable_groups)
from sbir_tf.train.schedules import two_stage_schedule

S, B, C = 8, 4, 3


def tiny_model(decoder=True, seed=0):
    keras.utils.set_random_seed(seed)
    enc = keras.Sequential([keras.Input((S, S, 3)), keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
                            keras.layers.Flatten(), keras.layers.Dense(8), keras.layers.Dropout(0.3),
                            L2Normalize()], name="enc")
    cls = keras.Sequential([keras.Input((8,)), keras.layers.Dense(C)], name="cls")
    dec = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4 * 4 * 4), keras.layers.Reshape((4, 4, 4)),
                            keras.layers.BatchNormalization(),
                            keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh")],
                           name="dec") if decoder else None
    return FGModel(enc, enc, cls, dec)


def batch(seed=0):
    rng = np.random.default_rng(seed)
    img = lambda: rng.normal(0, 50, (B, S, S, 3)).astype("float32")  # noqa: E731
    return {"sketch": img(), "positive": img(), "negative": img(),
            "sketch_target": rng.uniform(-1, 1, (B, S, S, 3)).astype("float32"),
            "label_sketch": rng.integers(0, C, B).astype("int32"),
            "label_positive": rng.integers(0, C, B).astype("int32"),
            "label_negative": rng.integers(0, C, B).astype("int32")}


def trainer_for(model, schedule="text", steps=4, lr=1e-2):
    stages = two_stage_schedule(schedule, steps, has_decoder=model.decoder is not None, lambda_d=10.0,
                                lambda_t=1.0, stage1_fraction=0.5)
    return FGTrainer(model, stages, make_adam(lr, 0.9, 0.999, 1e-8), global_batch=B, margin=0.1)


def snapshot(variables):
    return [np.array(v.numpy()) for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


@pytest.mark.parametrize("schedule", ["text", "printed"])
def test_stage1_updates_encoder_and_classifier_only_stage2_everything(schedule):
    model = tiny_model()
    trainer = trainer_for(model, schedule)
    groups = variable_groups(model)
    dec_all = model.decoder.variables  # trainable + batch-norm statistics
    before = {g: snapshot(v) for g, v in groups.items()}
    dec_before = snapshot(dec_all)
    trainer.train_step(0, batch(0))  # stage 1
    assert all(changed(before["encoder"], groups["encoder"]))
    assert all(changed(before["classifier"], groups["classifier"]))
    assert not any(changed(dec_before, dec_all)), "stage 1 must leave the decoder untouched"
    before = {g: snapshot(v) for g, v in groups.items()}
    trainer.train_step(2, batch(1))  # stage 2
    for g in ("encoder", "classifier", "decoder"):
        assert all(changed(before[g], groups[g])), g


def test_joint_schedule_updates_every_group_from_the_first_step():
    """``joint``: "update all the parameters together" (the strategy Sec. 3.2 rejects), one stage, full loss."""
    model = tiny_model()
    trainer = trainer_for(model, "joint")
    assert [(s.name, s.start, s.end) for s in trainer.stages] == [("joint", 0, 4)]
    groups = variable_groups(model)
    for step in (0, 3):
        before = {g: snapshot(v) for g, v in groups.items()}
        terms = trainer.train_step(step, batch(step))
        assert terms["total"] == pytest.approx(terms["cls"] + 10.0 * terms["rec"] + terms["tri"], rel=1e-6)
        assert min(terms["cls"], terms["rec"], terms["tri"]) > 0
        for g in ("encoder", "classifier", "decoder"):
            assert all(changed(before[g], groups[g])), (step, g)


def test_stage_terms_follow_schedule():
    model = tiny_model()
    text, printed = trainer_for(model, "text"), trainer_for(tiny_model(), "printed")
    t1 = text.train_step(0, batch())
    assert t1["rec"] == 0.0 and t1["tri"] > 0 and t1["total"] == pytest.approx(t1["cls"] + t1["tri"], rel=1e-6)
    p1 = printed.train_step(0, batch())
    assert p1["tri"] == 0.0 and p1["rec"] > 0
    assert p1["total"] == pytest.approx(p1["cls"] + 10.0 * p1["rec"], rel=1e-6)
    t2 = text.train_step(3, batch())
    assert t2["total"] == pytest.approx(t2["cls"] + 10.0 * t2["rec"] + t2["tri"], rel=1e-6)


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
    return FGModel(enc, enc, cls, dec)


@pytest.mark.parametrize("distance", ["norm", "pixel_mse"])
def test_trainer_total_loss_equals_hand_computation(distance):
    """The loss the trainer differentiates (its returned terms) against numpy formulas of Eq. 1, 2, 4 and 5."""
    rng = np.random.default_rng(0)

    def images(first_two):
        x = rng.normal(0, 1, (2, 2, 2, 3)).astype(np.float32)
        x[:, 0, 0, :2] = first_two
        return x

    anchor, positive, negative = np.array([[3, 4], [1, 0]], np.float32), np.array([[4, 3], [0, 2]], np.float32), \
        np.array([[6, 8], [1, 1]], np.float32)
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

    model = hand_model(recon)
    stages = two_stage_schedule("joint", 1, has_decoder=True, lambda_d=10.0, lambda_t=1.0)
    trainer = FGTrainer(model, stages, make_adam(1e-3, 0.9, 0.999, 1e-8), global_batch=2, margin=0.1,
                        decoder_distance=distance)
    got = trainer.train_step(0, b)
    for k, v in expected.items():
        assert got[k] == pytest.approx(float(v), rel=1e-5), k
    assert l_t > 0 and l_d > 0  # every term contributes


def test_trainer_rejects_unknown_decoder_distance():
    with pytest.raises(ValueError, match="decoder distance"):
        FGTrainer(tiny_model(), [], make_adam(1e-3, 0.9, 0.999, 1e-8), global_batch=B, margin=0.1,
                  decoder_distance="l1")


def test_loss_terms_hand_computed_on_a_perfect_triplet():
    """Embeddings where the positive equals the sketch and the negative is orthogonal: L_T = max(0, 0.1 + 0 - sqrt 2)
    = 0, and L_C of uniform logits is 3 * log(C)."""
    class Fixed:
        decoder = None

        def __init__(self):
            self.classifier = lambda z, training=False: tf.zeros((tf.shape(z)[0], C))
            self.sketch_encoder = self.photo_encoder = lambda x, training=False: x[:, 0, 0, :2]

    e1 = np.tile(np.array([1.0, 0.0], np.float32), (B, 1))
    e2 = np.tile(np.array([0.0, 1.0], np.float32), (B, 1))
    img = lambda e: np.broadcast_to(e[:, None, None, :], (B, 1, 1, 2)).astype("float32")  # noqa: E731
    b = {"sketch": img(e1), "positive": img(e1), "negative": img(e2), "label_sketch": np.zeros(B, "int32"),
         "label_positive": np.zeros(B, "int32"), "label_negative": np.ones(B, "int32")}
    terms = pang_loss_terms(Fixed(), b, {"cls": 1.0, "tri": 1.0}, 0.1)
    assert float(terms["tri"]) == pytest.approx(0.0)
    assert float(terms["cls"]) == pytest.approx(3 * math.log(C), rel=1e-6)
    # all wrong: positive orthogonal, negative identical -> 0.1 + sqrt(2) - 0
    b["positive"], b["negative"] = img(e2), img(e1)
    assert float(pang_loss_terms(Fixed(), b, {"tri": 1.0}, 0.1)["tri"]) == pytest.approx(0.1 + math.sqrt(2), rel=1e-5)


def test_one_trace_per_stage_and_no_decoder_variant():
    model = tiny_model(decoder=False)
    trainer = trainer_for(model, steps=6)
    assert [s.name for s in trainer.stages] == ["joint"]
    for step in range(6):
        terms = trainer.train_step(step, batch(step))
        assert terms["rec"] == 0.0
    assert trainer.step_function("joint").experimental_get_tracing_count() == 1


def test_fit_checkpoints_keeps_last_three_and_logs(tmp_path):
    model = tiny_model()
    trainer = trainer_for(model, steps=8)
    ckpt = Checkpointer(tmp_path / "ck", max_to_keep=3, model=model, optimizer=trainer.optimizer,
                        rng=random_state_variables(model))
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    batches = iter([batch(i) for i in range(8)])
    saved = []
    hist = trainer.fit(batches, start_step=0, total_steps=8, checkpointer=ckpt, checkpoint_every=2,
                       summary_writer=writer, log_every=1, on_eval=lambda s: {"acc@1": 0.5}, eval_every=4,
                       on_save=saved.append, progress=False)
    assert saved == [2, 4, 6, 8] and len(ckpt.manager.checkpoints) == 3 and ckpt.latest.endswith("-8")
    assert [h["step"] for h in hist] == list(range(1, 9))
    np.testing.assert_allclose([h["lr"] for h in hist], [1e-2] * 8, rtol=1e-6)
    assert {h["stage"] for h in hist} == {"stage1", "stage2"}
    tags = set()
    for path in (tmp_path / "tb").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    assert {"loss/total", "loss/cls", "loss/rec", "loss/tri", "lr", "val/acc@1"} <= tags
    assert trainer.step_function("stage1").experimental_get_tracing_count() == 1
    assert trainer.step_function("stage2").experimental_get_tracing_count() == 1


def test_non_finite_loss_stops_with_named_terms_and_keeps_checkpoint(tmp_path):
    model = tiny_model()
    trainer = trainer_for(model, steps=8)
    ckpt = Checkpointer(tmp_path / "ck", max_to_keep=3, model=model, optimizer=trainer.optimizer)
    trainer.fit(iter([batch(i) for i in range(2)]), start_step=0, total_steps=8, stop_at_step=2,
                checkpointer=ckpt, checkpoint_every=2, progress=False)
    good = ckpt.latest
    good_kernel = model.classifier.trainable_variables[0].numpy().copy()
    model.classifier.trainable_variables[0].assign(np.full(good_kernel.shape, np.nan, np.float32))
    with pytest.raises(NonFiniteLossError, match=r"step 3: .*cls.*not finite") as err:
        trainer.fit(iter([batch(i) for i in range(2, 8)]), start_step=2, total_steps=8, checkpointer=ckpt,
                    checkpoint_every=1, progress=False)
    assert err.value.step == 3 and math.isnan(err.value.terms["cls"]) and err.value.checkpoint == good
    assert ckpt.latest == good and len(ckpt.manager.checkpoints) == 1
    restored = tiny_model(seed=1)
    Checkpointer(tmp_path / "ck", model=restored).restore_latest()
    np.testing.assert_array_equal(restored.classifier.trainable_variables[0].numpy(), good_kernel)


def test_kill_and_resume_equals_straight_run_with_dropout(tmp_path):
    """8 steps straight vs killed after step 5 (checkpoint at 4) + a fresh process-like restore: same weights.
    Dropout (0.3) is active: its seed-generator state is checkpointed with the model."""
    batches = [batch(i) for i in range(8)]

    def fresh():
        model = tiny_model(seed=0)
        trainer = trainer_for(model, steps=8)
        ckpt = Checkpointer(tmp_path / "ck", max_to_keep=3, model=model, optimizer=trainer.optimizer,
                            rng=random_state_variables(model))
        return model, trainer, ckpt

    straight = tiny_model(seed=0)
    trainer_for(straight, steps=8).fit(iter(batches), start_step=0, total_steps=8, progress=False)
    model, trainer, ckpt = fresh()
    trainer.fit(iter(batches), start_step=0, total_steps=8, stop_at_step=5, checkpointer=ckpt, checkpoint_every=2,
                progress=False)
    model, trainer, ckpt = fresh()
    start = ckpt.restore_latest()
    assert start == 4
    trainer.fit(iter(batches[start:]), start_step=start, total_steps=8, checkpointer=ckpt, checkpoint_every=2,
                progress=False)
    for a, b in zip(straight.sketch_encoder.variables + straight.decoder.variables,
                    model.sketch_encoder.variables + model.decoder.variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)


def test_embed_reuses_one_traced_function_per_encoder():
    """Repeated evaluations (validation every N steps) do not retrace; the cache does not keep encoders alive."""
    import gc

    from sbir_tf.train import fg_trainer

    enc = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    for n in (5, 7, 3, 10, 5):
        np.testing.assert_allclose(fg_trainer.embed(enc, x[:n], batch_size=4), enc(x[:n]).numpy(), rtol=1e-6)
    assert fg_trainer._inference_fn(enc).experimental_get_tracing_count() <= 2  # full and partial batch shapes
    before = len(fg_trainer._FORWARD)
    del enc
    gc.collect()
    assert len(fg_trainer._FORWARD) == before - 1


FROZEN_CONVS = ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2")  # VGG16 blocks 1-2
TRAINED_CONVS = ("block3_conv1", "block3_conv3", "block4_conv2", "block5_conv3")


def vgg_fg_trainer(frozen_blocks, seed=0):
    """A real (tiny-headed) VGG16 model of sbir_tf.models.fg at 32 px, siamese, no decoder, and its trainer."""
    from sbir_tf.models.fg import build_fg_model

    keras.utils.set_random_seed(seed)
    model = build_fg_model({"weights": None, "fc_dims": (16,), "embedding_dim": 8, "dropout": 0.0,
                            "use_decoder": False, "frozen_blocks": frozen_blocks}, num_classes=C, image_size=32)
    stages = two_stage_schedule("text", 2, has_decoder=False, lambda_d=10.0, lambda_t=1.0)
    return model, FGTrainer(model, stages, make_adam(1e-2, 0.9, 0.999, 1e-8), global_batch=2, margin=0.1)


def vgg_batch(seed=0):
    rng = np.random.default_rng(seed)
    img = lambda: rng.normal(0, 50, (2, 32, 32, 3)).astype("float32")  # noqa: E731
    return {"sketch": img(), "positive": img(), "negative": img(),
            "sketch_target": rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"),
            "label_sketch": np.array([0, 1], "int32"), "label_positive": np.array([0, 1], "int32"),
            "label_negative": np.array([2, 0], "int32")}


def trunk_layer(model, name):
    return model.sketch_encoder.get_layer("photo_trunk").get_layer(name)


def test_frozen_blocks_are_outside_the_optimizer_and_untouched_by_a_train_step():
    full_model, full = vgg_fg_trainer(0)
    model, trainer = vgg_fg_trainer(2)
    # 4 conv layers x (kernel + bias) leave the optimizer's list, and their 2 Adam slots each go with them
    assert len(full.variables) - len(trainer.variables) == 8
    assert len(full.optimizer.variables) - len(trainer.optimizer.variables) == 16
    assert {v.path.split("/")[-2] for v in trainer.variables}.isdisjoint(FROZEN_CONVS)
    layers = {n: trunk_layer(model, n) for n in FROZEN_CONVS + TRAINED_CONVS}
    before = {n: [np.array(w.numpy()) for w in layer.weights] for n, layer in layers.items()}
    trainer.train_step(0, vgg_batch())
    for name in FROZEN_CONVS:
        for w, b in zip(layers[name].weights, before[name]):
            np.testing.assert_array_equal(w.numpy(), b, err_msg=w.path)
    for name in TRAINED_CONVS:
        assert not np.array_equal(layers[name].kernel.numpy(), before[name][0]), name


def test_frozen_blocks_round_trip_through_the_trainer_checkpoint(tmp_path):
    model, trainer = vgg_fg_trainer(2, seed=0)
    trainer.train_step(0, vgg_batch())
    ckpt = Checkpointer(tmp_path / "ck", model=model, optimizer=trainer.optimizer, rng=random_state_variables(model))
    ckpt.save(1)
    restored, restored_trainer = vgg_fg_trainer(2, seed=1)
    for name in FROZEN_CONVS:  # a different random start before the restore
        assert not np.array_equal(trunk_layer(restored, name).kernel.numpy(), trunk_layer(model, name).kernel.numpy())
    Checkpointer(tmp_path / "ck", model=restored, optimizer=restored_trainer.optimizer,
                 rng=random_state_variables(restored)).restore_latest()
    for name in FROZEN_CONVS + TRAINED_CONVS:
        for a, b in zip(trunk_layer(model, name).weights, trunk_layer(restored, name).weights):
            np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)
