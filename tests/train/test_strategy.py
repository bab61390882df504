"""Distribution and mixed-precision helpers; MirroredStrategy on two logical CPUs (in a subprocess, because the
logical devices must be configured before TensorFlow initialises)."""
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from sbir_tf.train import strategy as ST


def test_scale_to_global_batch_sums_to_global_mean():
    per_example = np.array([1.0, 2.0, 3.0, 6.0], np.float32)
    halves = [per_example[:2], per_example[2:]]
    summed = sum(float(ST.scale_to_global_batch(h.mean(), 2, 4)) for h in halves)
    assert summed == pytest.approx(per_example.mean())
    assert float(ST.scale_to_global_batch(5.0, 4, 4)) == 5.0


def test_default_strategy_and_unknown_name():
    assert ST.make_strategy("default").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="unknown strategy"):
        ST.make_strategy("tpu")


def test_mixed_precision_policy_and_loss_scale_wrapper():
    try:
        assert ST.set_mixed_precision(True) == "mixed_float16"
        assert keras.mixed_precision.global_policy().compute_dtype == "float16"
        opt = ST.wrap_optimizer(keras.optimizers.Adam(1e-3), True)
        assert isinstance(opt, keras.optimizers.LossScaleOptimizer)
        assert isinstance(ST.inner_optimizer(opt), keras.optimizers.Adam)
    finally:
        assert ST.set_mixed_precision(False) == "float32"
    plain = keras.optimizers.Adam(1e-3)
    assert ST.wrap_optimizer(plain, False) is plain and ST.inner_optimizer(plain) is plain


MIRRORED_SCRIPT = textwrap.dedent(r'''
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf, keras
    from sbir_tf.train.strategy import split_cpu, make_strategy
    split_cpu(2)
    from sbir_tf.train.fg_trainer import FGTrainer
    from sbir_tf.train.schedules import two_stage_schedule

    class Tiny:
        def __init__(self):
            keras.utils.set_random_seed(0)
            self.encoder = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(5)])
            self.sketch_encoder = self.photo_encoder = self.encoder
            self.classifier = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
            self.decoder = None
            self.encoder_variables = self.encoder.trainable_variables
            self.classifier_variables = self.classifier.trainable_variables
            self.decoder_variables = []

    def loss_fn(model, batch, weights, margin, training=True, **kwargs):
        zs = model.sketch_encoder(batch["sketch"]); zp = model.photo_encoder(batch["positive"])
        ce = keras.losses.sparse_categorical_crossentropy(batch["label_sketch"], model.classifier(zs),
                                                          from_logits=True)
        cls = tf.reduce_mean(ce)
        tri = tf.reduce_mean(tf.reduce_sum(tf.square(zs - zp), -1))
        return {"cls": cls, "rec": tf.constant(0.0), "tri": tri, "total": cls + tri}

    rng = np.random.default_rng(0)
    batch = {"sketch": rng.normal(size=(4, 4, 4, 3)).astype("float32"),
             "positive": rng.normal(size=(4, 4, 4, 3)).astype("float32"),
             "label_sketch": np.array([0, 1, 2, 1], "int32")}
    stages = two_stage_schedule("text", 2, has_decoder=False, lambda_d=10.0, lambda_t=1.0)
    out = {}
    for name in ("default", "mirrored"):
        strategy = make_strategy(name)
        with strategy.scope():
            model = Tiny()
            trainer = FGTrainer(model, stages, keras.optimizers.SGD(0.5), global_batch=4, margin=0.1,
                                strategy=strategy, loss_fn=loss_fn)
        ds = trainer.distribute(tf.data.Dataset.from_tensors(batch).repeat())
        it = iter(ds)
        terms = [trainer.train_step(s, next(it)) for s in range(2)]
        out[name] = {"replicas": strategy.num_replicas_in_sync, "terms": terms,
                     "weights": [np.asarray(v.numpy()).ravel().tolist() for v in model.encoder.trainable_variables]}
    print("RESULT" + json.dumps(out))
''')


def test_mirrored_strategy_on_two_logical_cpus_matches_single_device():
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    assert out["default"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    # Same global-batch loss and the same SGD update: per-replica losses are scaled by the global batch.
    for a, b in zip(out["default"]["terms"], out["mirrored"]["terms"]):
        for k in ("cls", "tri", "total"):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6)
    for wa, wb in zip(out["default"]["weights"], out["mirrored"]["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
