"""Distribution helpers; the fine-grained step under MirroredStrategy on two logical CPUs (in a subprocess, because
the logical devices must be configured before TensorFlow initialises) equals the single-device step, and skips a
non-finite update on every replica."""
import json
import subprocess
import sys
import textwrap

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


MIRRORED_SCRIPT = textwrap.dedent(r'''
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf, keras
    from sbir_tf.train.strategy import split_cpu, make_strategy
    split_cpu(2)
    from sbir_tf.models.fg import L2Normalize, PangModel
    from sbir_tf.train.fg_step import FGStep
    from sbir_tf.train.schedules import two_stage_schedule

    def model():
        keras.utils.set_random_seed(0)
        enc = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(5), L2Normalize()])
        return PangModel(enc, enc, keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)]), None)

    rng = np.random.default_rng(0)
    img = lambda: rng.normal(size=(4, 4, 4, 3)).astype("float32")
    batch = {"sketch": img(), "positive": img(), "negative": img(),
             "label_sketch": np.array([0, 1, 2, 1], "int32"), "label_positive": np.array([0, 1, 2, 1], "int32"),
             "label_negative": np.array([1, 2, 0, 0], "int32")}
    bad = dict(batch, label_sketch=batch["label_sketch"])
    bad["sketch"] = np.full_like(batch["sketch"], np.nan)
    batches = [batch, batch, bad]
    stages = two_stage_schedule("text", 3, has_decoder=False, lambda_d=10.0, lambda_t=1.0)
    out = {}
    for name in ("default", "mirrored"):
        strategy = make_strategy(name)
        with strategy.scope():
            m = model()
            step = FGStep(m, stages, keras.optimizers.SGD(0.5), lambda s: tf.data.Dataset.from_tensor_slices(
                {k: np.stack([b[k] for b in batches[s:]]) for k in batch}), global_batch=4, margin=0.1,
                decoder_distance="norm", learning_rate=lambda s: 0.5, strategy=strategy)
        terms = []
        for s in range(2):
            r = step(s)
            terms.append({k: float(v) for k, v in r.items() if k.startswith("loss/")})
        weights = [np.asarray(v.numpy()).ravel().tolist() for v in m.sketch_encoder.trainable_variables]
        r = step(2)  # NaN sketches: skipped on both replicas
        after = [np.asarray(v.numpy()).ravel().tolist() for v in m.sketch_encoder.trainable_variables]
        out[name] = {"replicas": strategy.num_replicas_in_sync, "terms": terms, "weights": weights,
                     "nan_finite": bool(r["finite"]), "nan_unchanged": after == weights,
                     "iterations": int(step.optimizer.iterations.numpy())}
    print("RESULT" + json.dumps(out))
''')


def test_mirrored_strategy_on_two_logical_cpus_matches_single_device_and_skips_nan():
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
    out = json.loads(line[len("RESULT"):])
    assert out["default"]["replicas"] == 1 and out["mirrored"]["replicas"] == 2
    # Same global-batch loss and the same SGD update: per-replica losses are scaled by the global batch.
    for a, b in zip(out["default"]["terms"], out["mirrored"]["terms"]):
        for k in ("loss/cls", "loss/tri", "loss/total"):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6)
    for wa, wb in zip(out["default"]["weights"], out["mirrored"]["weights"]):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    for name in ("default", "mirrored"):
        r = out[name]
        assert r["nan_finite"] is False and r["nan_unchanged"] is True and r["iterations"] == 2, (name, r)
