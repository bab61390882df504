"""Benchmarks: analytic FLOP counts against hand computations, the target table, and a ``--quick`` run of the
whole harness (so it cannot rot)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks import flops, run
from benchmarks.peak import matmul_flops, measure_matmul_peak
from benchmarks.train_step import count_samples, synthetic_triplet_batch

REPO = Path(__file__).resolve().parent.parent
L = keras.layers


def _tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, padding="same", name="conv_same")(inputs)        # 8x8x4
    x = L.Conv2D(6, 3, strides=2, padding="valid", name="conv_s2")(x)   # 3x3x6
    x = L.Conv2DTranspose(2, 2, strides=2, name="deconv")(x)            # 6x6x2
    x = L.BatchNormalization(name="bn")(x)
    x = L.Flatten()(x)                                                  # 72
    outputs = L.Dense(5, name="dense")(x)
    return keras.Model(inputs, outputs)


# Hand computation, multiply-adds per sample:
#   conv_same: 8*8 outputs * 4 filters * (3*3*3) = 6,912
#   conv_s2:   3*3 outputs * 6 filters * (3*3*4) = 1,944
#   deconv:    3*3 inputs * 6 channels * (2*2) * 2 filters = 432
#   dense:     72 * 5 = 360
TINY_MACS = {"conv_same": 6912, "conv_s2": 1944, "deconv": 432, "dense": 360}


def test_flops_tiny_model_matches_hand_computation():
    model = _tiny_model()
    rows = {r["layer"]: r["flops"] for r in flops.flops_breakdown(model)}
    for name, macs in TINY_MACS.items():
        assert rows[name] == 2 * macs, name
    assert rows["bn"] == 0
    assert flops.forward_flops(model, strict=True) == 2 * sum(TINY_MACS.values())


def test_flops_nested_model_and_training_factor():
    inner = _tiny_model()
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, L.Dense(3, name="head")(inner(inputs)))
    assert flops.forward_flops(outer) == 2 * (sum(TINY_MACS.values()) + 5 * 3)
    assert flops.training_step_flops(100) == 300 == flops.TRAIN_STEP_FACTOR * 100


def test_flops_unknown_weighted_layer_is_reported():
    inputs = keras.Input((4, 6))
    x = L.EinsumDense("abc,cd->abd", output_shape=(None, 2), name="einsum")(inputs)
    model = keras.Model(inputs, x)
    assert flops.flops_breakdown(model)[-1] == {"layer": "einsum", "type": "EinsumDense", "flops": None}
    assert flops.forward_flops(model) == 0
    with pytest.raises(ValueError, match="no FLOP rule"):
        flops.forward_flops(model, strict=True)


def test_flops_vgg16_conv_trunk():
    """VGG16 conv layers at 224 px: sum over layers of H*W*C_in*C_out*9 = 15.35 G multiply-adds."""
    model = keras.applications.VGG16(include_top=False, weights=None, input_shape=(224, 224, 3))
    blocks = [(224, [(3, 64), (64, 64)]), (112, [(64, 128), (128, 128)]),
              (56, [(128, 256), (256, 256), (256, 256)]), (28, [(256, 512), (512, 512), (512, 512)]),
              (14, [(512, 512), (512, 512), (512, 512)])]
    macs = sum(size * size * cin * cout * 9 for size, convs in blocks for cin, cout in convs)
    assert macs == 15_346_630_656
    assert flops.forward_flops(model, strict=True) == 2 * macs


def test_count_samples_counts_calls_during_tracing_only():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, L.Dense(3)(inputs))

    @tf.function
    def step(x):
        return model(x) + model(tf.concat([x, x], 0))[:2]

    with count_samples({"net": model}) as counts:
        step(tf.ones((2, 4)))
    step(tf.ones((2, 4)))  # not traced again, not counted
    assert counts == {"net": 6}
    assert "call" not in vars(model)  # the wrapper is removed


def test_synthetic_batch_matches_pipeline_contract():
    batch = synthetic_triplet_batch(2, 32, num_classes=5)
    assert set(batch) == {"sketch", "positive", "negative", "sketch_target", "label_sketch", "label_positive",
                          "label_negative"}
    assert batch["sketch"].shape == (2, 32, 32, 3) and batch["sketch"].dtype == tf.float32
    assert batch["label_sketch"].dtype == tf.int32
    assert float(tf.reduce_max(tf.abs(batch["sketch_target"]))) <= 1.0


def test_matmul_peak_is_positive_and_validates():
    assert matmul_flops(3) == 54
    result = measure_matmul_peak(64, repeats=2, warmup=1)
    assert result["gflops"] > 0 and result["gflops"] >= result["gflops_median"]
    with pytest.raises(ValueError):
        measure_matmul_peak(0)


def test_machine_slug_and_onednn(monkeypatch):
    assert run.machine_slug("Intel(R) Xeon(R) Processor", 2) == "intel-xeon-processor-2c"
    assert run.machine_slug("AMD EPYC 7B13 64-Core Processor", 8) == "amd-epyc-7b13-64-core-processor-8c"
    # TF reads the setting once, at import: the state is TF's own answer, the source names the setting
    from sbir_tf.train.run_dir import onednn_enabled

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert run.onednn_enabled() == (onednn_enabled(), "TF_ENABLE_ONEDNN_OPTS=0")
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    assert run.onednn_enabled()[1] == "TF's default for this CPU (unset)"


def _fake_results(mfu224, ratio):
    return {"machine": {"cpu": "Test CPU", "cores": 2, "tensorflow": "2.x", "onednn": True, "onednn_source": "env"},
            "settings": {"quick": False},
            "peak": {"n": 4096, "gflops": 300.0},
            "train": {"fg": {"full": {"224": {"batch_size": 32, "images_per_s": 2.0, "step_s": 48.0,
                                              "timed_steps": 2, "step_rss_mb": 9000.0, "ru_maxrss_mb": 9500.0, "mfu": mfu224}}}},
            "pipeline": {"image_size": 224, "images_per_s": 10.0 * ratio, "ratio_to_training": ratio},
            "inference": {"search": {"100000": {"ms": 4.0}, "1000000": {"ms": 80.0}}},
            "metrics": {"acc_at_k": {"seconds": 0.2, "queries": 6312, "gallery": 1250},
                        "map_precision": {"seconds": 12.0, "queries": 10_000, "gallery": 70_000}}}


def test_targets_pass_and_miss():
    status = {r["figure"]: r["status"] for r in run.evaluate_targets(_fake_results(0.8, 4.0))}
    assert status["train full 224px MFU"] == "PASS"
    assert status["train full 112px MFU"] == "n/a"
    assert status["input pipeline 224px / training consumption"] == "MISS"
    assert status["top-10 query, 100k gallery"] == "PASS"
    assert status["top-10 query, 1M gallery"] == "MISS"
    assert status["acc@K, 6,312 x 1,250"] == "PASS"
    assert status["mAP@all + P@100, 10,000 x 70,000"] == "MISS"
    status = {r["figure"]: r["status"] for r in run.evaluate_targets(_fake_results(0.5, 6.0))}
    assert status["train full 224px MFU"] == "MISS"
    assert status["input pipeline 224px / training consumption"] == "PASS"
    smaller = _fake_results(0.8, 6.0)
    smaller["metrics"]["acc_at_k"]["queries"] = 300  # a quick run's sizes are not judged against the target
    smaller["pipeline"]["image_size"] = 64
    status = {r["figure"]: r["status"] for r in run.evaluate_targets(smaller)}
    assert status["acc@K, 6,312 x 1,250"] == "n/a"
    assert status["input pipeline 224px / training consumption"] == "n/a"


def test_count_labels():
    assert [run._count(n) for n in (1000, 10_000, 100_000, 1_000_000, 1250)] == ["1k", "10k", "100k", "1M", "1,250"]


def test_to_markdown_table():
    text = run.to_markdown(_fake_results(0.8, 4.0))
    assert text.startswith("Machine: Test CPU, 2 cores, TensorFlow 2.x, oneDNN on")
    assert "| Figure | Value | Target | Status |" in text
    assert "| train full 224px MFU | 80 % | >= 75 % | PASS |" in text
    assert "| input pipeline 224px / training consumption | 4 x | >= 5 x | **MISS** |" in text
    assert "| train -D 224px MFU | - | >= 75 % | n/a |" in text


def test_bad_sizes_and_sections_raise():
    with pytest.raises(ValueError, match="multiples of 16"):
        run.run(["peak"], sizes=[100])
    with pytest.raises(ValueError, match="unknown sections"):
        run.run(["gpu"])


def _positive_numbers(node, path=""):
    """Every int/float leaf of a nested result must be a finite number >= 0 (and the headline ones > 0)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _positive_numbers(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _positive_numbers(v, f"{path}/{i}")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path, node


# Slow: every section builds and traces its own VGG16 models, and the bfloat16 section runs about 10 times slower than
# float32 on a CPU without AVX-512 BF16 (about 3 min on 2 CPU cores). The sections' code paths are covered one by one
# by the tests above; this one checks the harness that joins them.
@pytest.mark.slow
def test_quick_harness_end_to_end(tmp_path):
    """``python -m benchmarks --quick`` writes the JSON with every section, positive figures, and a table."""
    out = tmp_path / "quick.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert out.exists(), proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert not results["errors"], "\n".join(results["errors"].values())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(run.SECTIONS) <= set(results)
    assert results["machine"]["slug"] == run.machine_slug(results["machine"]["cpu"], results["machine"]["cores"])
    from sbir_tf.train.run_dir import cpu_features

    assert results["machine"]["cpu_features"] == cpu_features()  # what decides the bfloat16 figures
    assert results["peak"]["gflops"] > 0
    for variant in ("full", "-D"):
        step = results["train"]["fg"][variant]["32"]
        assert step["images_per_s"] > 0 and step["step_s"] > 0 and 0 < step["mfu"]
        assert step["step_gflop"] > 0 and step["peak_rss_mb"] > 0
        assert step["samples_per_step"]["encoder"] == 3 * step["batch_size"]
    assert "decoder" in results["train"]["fg"]["full"]["32"]["samples_per_step"]
    assert "decoder" not in results["train"]["fg"]["-D"]["32"]["samples_per_step"]
    assert results["train"]["wadcmsn"]["iteration_ms"] > 0
    for variant in ("full", "-D"):
        bf16 = results["precision"]["bfloat16"][variant]["32"]
        assert bf16["precision"] == "bfloat16" and bf16["images_per_s"] > 0 and "mfu" not in bf16
        assert bf16["speedup_over_float32"] == bf16["images_per_s"] / results["train"]["fg"][variant]["32"][
            "images_per_s"]
    live, cached = (results["frozen"]["k4"][mode]["-D"]["32"] for mode in ("live", "cached"))
    assert (live["frozen_blocks"], live["cached"], cached["frozen_blocks"], cached["cached"]) == (4, False, 4, True)
    assert cached["speedup_over_live"] == cached["images_per_s"] / live["images_per_s"]
    assert cached["samples_per_step"]["encoder"] == 3 * cached["batch_size"] and "mfu" not in cached
    assert results["pipeline"]["images_per_s"] > 0 and results["pipeline"]["ratio_to_training"] > 0
    assert results["inference"]["embedding"]["32"]["images_per_s"] > 0
    assert results["inference"]["query"]["ms"] > 0
    assert results["inference"]["search"]
    assert results["metrics"]
    for path, value in _positive_numbers({k: results[k] for k in ("peak", "train", "pipeline", "inference")}):
        assert np.isfinite(value) and value >= 0, path
    assert {t["figure"] for t in results["targets"]} == {t[0] for t in run.TARGETS}
    assert "Machine: " in proc.stdout and "figure" in proc.stdout and "target" in proc.stdout
    assert "| Figure |" in run.to_markdown(results)
    md = subprocess.run([sys.executable, "-m", "benchmarks", "--markdown", str(out)], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120)
    assert md.returncode == 0 and md.stdout == run.to_markdown(results)


def test_failing_training_configuration_does_not_stop_the_others(monkeypatch):
    import benchmarks.train_step as ts

    def fake_step(variant, size, batch_size, warmup, steps, peak_gflops):
        if size == 224:
            raise RuntimeError("training-step benchmark full 224px failed (exit -9):\nkilled")
        return {"batch_size": batch_size, "images_per_s": 20.0, "step_s": 4.8, "timed_steps": steps,
                "step_rss_mb": 1.0, "ru_maxrss_mb": 2.0, "mfu": 0.5}

    monkeypatch.setattr(ts, "measure_fg_step_isolated", fake_step)
    monkeypatch.setattr(ts, "measure_wadcmsn_iteration", lambda **kw: {"batch_size": 128, "iteration_ms": 5.0})
    errors: dict = {}
    cfg = run.settings_for(quick=False)["train"]
    out = run.run_train({**cfg, "variants": ("full",)}, (224, 64), 300.0, log=lambda m: None, errors=errors)
    assert list(errors) == ["train fg full 224px"]
    assert out["fg"]["full"]["224"] == {"error": "training-step benchmark full 224px failed (exit -9):"}
    assert out["fg"]["full"]["64"]["images_per_s"] == 20.0
    assert run._train_images_per_s(out, 224) is None and run._train_images_per_s(out, 64) == 20.0
    assert "| train full 224px | failed |" in run.to_markdown({"machine": {}, "train": out})


def test_precision_rows_and_a_failing_configuration(monkeypatch):
    """The precision section reads the speed-up against train's float32 figure; a failing configuration is kept as
    an error row and the others still run."""
    import benchmarks.train_step as ts

    def fake_step(variant, size, batch_size, warmup, steps, precision):
        if size == 224:
            raise RuntimeError("training-step benchmark -D 224px failed (exit -9):\nkilled")
        return {"batch_size": batch_size, "images_per_s": 30.0, "step_s": 3.2, "timed_steps": steps,
                "precision": precision}

    monkeypatch.setattr(ts, "measure_fg_step_isolated", fake_step)
    train = {"fg": {"-D": {"64": {"images_per_s": 12.0}}}}
    errors: dict = {}
    cfg = run.settings_for(quick=False)
    out = run.run_precision(cfg["precision"], {**cfg["train"], "variants": ("-D",)}, (224, 64), train,
                            log=lambda m: None, errors=errors)
    assert list(errors) == ["train fg -D 224px bfloat16"]
    assert out["bfloat16"]["-D"]["64"]["speedup_over_float32"] == 2.5
    md = run.to_markdown({"machine": {}, "precision": out})
    assert "| train -D 64px bfloat16 speed-up over float32 | 2.5 x |" in md
    assert "| train -D 224px bfloat16 | failed |" in md


def test_frozen_rows_read_the_cache_against_the_live_step(monkeypatch):
    """Each depth is measured live and cached with the same batch; the cached row carries its speed-up."""
    import benchmarks.train_step as ts

    calls = []

    def fake_step(variant, size, batch_size, warmup, steps, frozen_blocks, cached):
        calls.append((variant, size, frozen_blocks, cached))
        return {"batch_size": batch_size, "images_per_s": (40.0 if cached else 10.0) * frozen_blocks, "step_s": 1.0,
                "timed_steps": steps, "frozen_blocks": frozen_blocks, "cached": cached}

    monkeypatch.setattr(ts, "measure_fg_step_isolated", fake_step)
    cfg = run.settings_for(quick=False)
    out = run.run_frozen(cfg["frozen"], cfg["train"], (112,), log=lambda m: None)
    assert calls == [("-D", 112, k, c) for k in (3, 4, 5) for c in (False, True)]
    assert [out[f"k{k}"]["cached"]["-D"]["112"]["speedup_over_live"] for k in (3, 4, 5)] == [4.0, 4.0, 4.0]
    md = run.to_markdown({"machine": {}, "frozen": out})
    assert "| train -D 112px k4 cached speed-up over live | 4 x |" in md
    assert "| train -D 112px k4 live images/s (batch 32 triplets) | 40 img/s |" in md


def test_a_cached_step_trains_on_the_frozen_blocks_outputs():
    """With blocks 1..4 frozen and cached, the step's inputs are block4_pool outputs and only block 5 and the heads
    learn; asking for a cached step with nothing frozen is an error."""
    from benchmarks.train_step import measure_fg_step

    r = measure_fg_step("-D", 32, batch_size=2, warmup=1, steps=1, frozen_blocks=4, cached=True)
    assert r["cached"] and r["frozen_blocks"] == 4 and r["images_per_s"] > 0 and "step_gflop" not in r
    assert r["samples_per_step"] == {"encoder": 6, "classifier": 6}
    assert r["forward_flops_per_sample"]["encoder"] > 0
    with pytest.raises(ValueError, match="frozen_blocks in 1..5"):
        measure_fg_step("-D", 32, batch_size=2, frozen_blocks=0, cached=True)


def test_decoder_benchmark_prints_both_passes(capsys):
    from benchmarks import decoder

    assert decoder.main(["--image_size", "32", "--batch", "2", "--repeats", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("decoder 32 px, batch 2, oneDNN ") and "forward + backward" in line
    r = decoder.measure(32, 2, 1)
    assert 0 < r["forward_s"] and 0 < r["forward_backward_s"]


def test_the_step_benchmark_compiles_with_xla_when_asked(monkeypatch):
    """--jit-compile reaches the training step the runs use (FGStep's jit_compile), and the result says so."""
    from benchmarks.train_step import measure_fg_step
    from sbir_tf.train import fg_step

    seen = []

    class Recording(fg_step.FGStep):
        def __init__(self, *args, **kwargs):
            seen.append(kwargs.get("jit_compile"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(fg_step, "FGStep", Recording)
    r = measure_fg_step("-D", 32, batch_size=2, warmup=1, steps=1, jit_compile=True)
    assert seen == [True] and r["jit_compile"] is True and r["images_per_s"] > 0
    assert np.isfinite(r["loss"])


def test_summary_line_gives_the_step_and_what_the_papers_run_would_take():
    from benchmarks.train_step import summary_line

    result = {"variant": "full", "image_size": 224, "batch_size": 32, "precision": "bfloat16", "jit_compile": True,
              "frozen_blocks": 0, "cached": False, "step_s": 0.21, "timed_steps": 3, "images_per_s": 96 / 0.21,
              "achieved_gflops": 9651.5 / 0.21}
    # 30,000 x 0.21 s = 6,300 s = 1.75 h; 9.6515 TFLOP / 0.21 s = 46.0 TFLOP/s
    assert summary_line(result) == ("full 224 px, batch 32, bfloat16, XLA: 0.21 s a step (median of 3), 457 img/s, "
                                    "46 TFLOP/s; 30,000 such steps: 1.75 h")
    frozen = {**result, "jit_compile": False, "frozen_blocks": 3, "cached": True}
    del frozen["achieved_gflops"]  # not counted with frozen blocks
    assert summary_line(frozen, run_steps=1000) == ("full 224 px, batch 32, bfloat16, blocks 1-3 frozen (cached): "
                                                    "0.21 s a step (median of 3), 457 img/s; 1,000 such steps: "
                                                    "3.5 min")  # 210 s
