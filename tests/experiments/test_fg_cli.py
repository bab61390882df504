"""Fine-grained runs end to end at smoke size: the reported numbers against a recomputation from the saved model,
default folders, resume, validation errors, no silent substitutes, a learning check on real data."""
import json
from pathlib import Path

import numpy as np
import pytest

from sbir_tf.config import Config
from sbir_tf.configs import fg as fg_presets
from sbir_tf.data.records import DataError
from sbir_tf.experiments import qmul_fg, sketchy_fg
from sbir_tf.run import runner
from sbir_tf.tasks.registry import default_output_dir
from sbir_tf.tasks.fg import FGData, FGTask, embed_records


def smoke(**sets) -> Config:
    cfg = fg_presets.get_config("smoke")
    cfg.data.dataset = "synthetic"
    for key, value in sets.items():
        cfg.set_path(key.replace("__", "."), value)
    return cfg


@pytest.fixture(scope="module")
def synthetic_data():
    return FGTask().load_data(smoke())


def recompute(out: Path, data: FGData, cfg: Config) -> dict:
    """acc@K and mean rank from the saved model.keras, by numpy: rank = gallery photos strictly closer (Euclidean)
    than the query's own photo; acc@K = share of queries with rank < K."""
    from sbir_tf.export import load_run_model

    model = load_run_model(out)
    split = data.split
    q = embed_records(model.sketch_encoder, split.query_sketches, data.index, cfg).astype(np.float64)
    g = embed_records(model.photo_encoder, split.gallery_photos, data.index, cfg).astype(np.float64)
    where = {p.instance_id: i for i, p in enumerate(split.gallery_photos)}
    true = np.array([where[s.instance_id] for s in split.query_sketches])
    d = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    ranks = (d < d[np.arange(len(q)), true][:, None]).sum(1)
    return {**{f"acc@{k}": float(np.mean(ranks < k)) for k in cfg.eval.ks}, "mean_rank": float(ranks.mean())}


def assert_artefacts(out: Path, decoder: bool = True) -> dict:
    for name in ("config.json", "environment.json", "metrics.json", "history.jsonl", "model.keras"):
        assert (out / name).is_file(), name
    assert list((out / "checkpoints").glob("ckpt-*.index"))
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "fine_grained"
    assert metrics["chance"] == {f"acc@{k}": min(1.0, k / metrics["gallery_size"]) for k in (1, 5, 10)}
    pngs = {p.name for p in (out / "figures").glob("*.png")}
    assert "retrieval_grid.png" in pngs and "loss_curves.png" in pngs
    assert ("reconstructions.png" in pngs) == decoder
    return metrics


def test_readme_command_writes_the_default_folder_and_its_numbers_are_the_saved_models(tmp_path, monkeypatch,
                                                                                       synthetic_data):
    """``python -m sbir_tf.experiments.sketchy_fg`` (here with the smoke preset): synthetic data, the deterministic
    folder ``default_output_dir``, and acc@K / mean rank equal to a recomputation from model.keras (exactly: the
    same float32 embeddings, ranked independently)."""
    monkeypatch.chdir(tmp_path)
    argv = ["--config", "smoke", "--seed", "3"]
    assert sketchy_fg.main(argv) == 0
    out = tmp_path / default_output_dir("sketchy_fg", argv)
    assert out == tmp_path / "runs" / "sketchy_fg" / "synthetic_smoke_vgg16_seed3"
    m = assert_artefacts(out)
    assert (m["dataset"], m["preset"], m["variant"], m["steps"], m["seed"]) == ("synthetic", "smoke", "vgg16", 4, 3)
    cfg = Config(json.loads((out / "config.json").read_text()))
    again = recompute(out, synthetic_data, cfg)
    assert {k: m[k] for k in again} == again
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all("loss/total" in r for r in rows)
    # the same command again is refused (never overwritten); with --resume the finished run is read back
    assert sketchy_fg.main(argv) == 2
    assert sketchy_fg.main(argv + ["--resume"]) == 0
    assert json.loads((out / "metrics.json").read_text()) == m


def test_qmul_fg_smoke_on_tiny_qmul_v1(tmp_path):
    """qmul_fg end to end on a generated QMUL-V1 folder (array-backed sketches and edge maps): the gallery is
    exactly the test pairs' edge maps, one query sketch per test pair."""
    from tests.data.helpers import make_tiny_qmul_v1

    root = make_tiny_qmul_v1(tmp_path / "qmul", category="shoes", n_train=4, n_test=3)
    out = tmp_path / "run"
    assert qmul_fg.main(["--data_dir", str(root), "--category", "shoes", "--config", "smoke",
                         "--variant", "vgg16-D", "--output_dir", str(out)]) == 0
    m = assert_artefacts(out, decoder=False)
    assert m["dataset"] == "qmul_v1" and m["category"] == "shoes" and m["classes"] == 1
    assert m["gallery_size"] == m["queries"] == 3 and m["train_sketches"] == m["train_photos"] == 4
    assert m["distractors"] == 0 and m["split"].endswith("gallery: test photos only)")
    assert m["validation"].startswith("a fixed slice of the test queries and gallery")
    assert m["validation_queries"] == m["validation_gallery"] == 3  # the slice (8 + 8) holds the whole test side
    assert m["chance"]["acc@1"] == pytest.approx(1 / 3) and m["acc@5"] == m["acc@10"] == 1.0  # K >= gallery
    assert default_output_dir("qmul_fg", ["--category", "chairs", "--config", "smoke"]) == \
        Path("runs/qmul_fg/qmul_v1-chairs_smoke_vgg16_seed0")
    # switches that differ from the preset enter the name (so two such runs never share a folder); defaults do not
    assert default_output_dir("qmul_fg", ["--category", "chairs", "--config", "smoke", "--schedule", "joint",
                                          "--frozen_blocks", "3", "--sharing", "siamese"]) == \
        Path("runs/qmul_fg/qmul_v1-chairs_smoke_vgg16_seed0_schedule-joint_frozen-3")


def test_validation_on_held_out_training_instances(tmp_path, capsys):
    """--set data.val_instances=2 on a tiny QMUL-V1 set: two training pairs leave training and become the validation
    set the curve is read on; the test side is unchanged; too many held out is a clear error before any build."""
    from tests.data.helpers import make_tiny_qmul_v1

    root = make_tiny_qmul_v1(tmp_path / "qmul", category="shoes", n_train=5, n_test=3)
    argv = ["--data_dir", str(root), "--category", "shoes", "--config", "smoke", "--variant", "vgg16-D",
            "--set", "train.eval_every=2"]
    out = tmp_path / "run"
    assert qmul_fg.main(argv + ["--set", "data.val_instances=2", "--output_dir", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["train_photos"] == m["train_sketches"] == 3 and m["queries"] == m["gallery_size"] == 3
    assert m["validation"].startswith("2 sketches of 2 training instances held out of training")
    assert m["validation_queries"] == m["validation_gallery"] == 2  # the held-out pairs, not the test side
    assert m["split"] == ("fine_grained (train: sketched non-test photos except 2 instances held out for validation; "
                          "queries: sketches of test photos; gallery: test photos only)")
    val = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines() if "val/acc@1" in line]
    assert [r["step"] for r in val] == [2, 4]
    assert "validation during training: 2 sketches of 2 training instances" in capsys.readouterr().err
    assert default_output_dir("qmul_fg", ["--config", "smoke", "--set", "data.val_instances=2"]) == \
        Path("runs/qmul_fg/qmul_v1-shoes_smoke_vgg16_seed0_val-2")
    # one class of 5 training instances: at most 4 can be held out
    assert qmul_fg.main(argv + ["--set", "data.val_instances=5", "--output_dir", str(tmp_path / "bad")]) == 2
    assert "only 4 training instances can be held out" in capsys.readouterr().err


@pytest.mark.slow  # ~90 s: embeds the whole sketchy_mini gallery (~2,800 photos)
def test_cli_smoke_on_sketchy_mini(tmp_path, sketchy_mini_root):
    out = tmp_path / "mini"
    assert sketchy_fg.main(["--config", "smoke", "--data_dir", str(sketchy_mini_root), "--output_dir", str(out),
                            "--variant", "vgg16-D", "--steps", "2", "--set", "eval.val_queries=4"]) == 0
    m = assert_artefacts(out, decoder=False)
    assert m["dataset"] == "sketchy" and m["variant"] == "vgg16-D"
    assert m["queries"] > 0 and m["gallery_size"] > m["queries"] // 10  # test photos + never-sketched distractors
    assert m["distractors"] > 0 and f"+ {m['distractors']} never-sketched distractors" in m["split"]


@pytest.mark.slow  # ~70 s (three VGG16 builds); the run layer's resume rules are tested fast in tests/run
def test_resume_after_kill_equals_straight_run(tmp_path, synthetic_data):
    """6 steps straight vs killed after step 5 (last checkpoint at 4) + resume: identical metrics and weights.
    Dropout is on (0.5): its seed-generator state is checkpointed, so the masks agree too."""
    import tensorflow as tf

    cfg = smoke(train__steps=6, train__checkpoint_every=2, model__dropout=0.5, train__eval_every=0)
    straight = runner.run(FGTask(), cfg, tmp_path / "a", data=synthetic_data, verbose=False)
    assert runner.run(FGTask(), cfg, tmp_path / "b", data=synthetic_data, stop_after=5, verbose=False) == {}
    resumed = runner.run(FGTask(), cfg, tmp_path / "b", resume=True, data=synthetic_data, verbose=False)
    for key in ("acc@1", "acc@5", "acc@10", "mean_rank"):
        assert resumed[key] == straight[key]
    ra = tf.train.load_checkpoint(str(tmp_path / "a" / "checkpoints"))
    rb = tf.train.load_checkpoint(str(tmp_path / "b" / "checkpoints"))
    names = [n for n in ra.get_variable_to_shape_map() if n.startswith("model/")]
    assert names
    for n in names:
        np.testing.assert_allclose(rb.get_tensor(n), ra.get_tensor(n), rtol=1e-6, atol=1e-6, err_msg=n)


@pytest.mark.parametrize("sets, message", [
    ({"variant": "vgg19"}, "unknown variant"),
    ({"model__sharing": "shared"}, "unknown sharing"),
    ({"model__weights": "resnet"}, "model.weights: unknown weights"),
    ({"model__weights": "/no/such/file.h5"}, "not found"),
    ({"data__image_size": 40}, "cannot give the decoder's output"),
    ({"train__schedule": "paper"}, "unknown schedule"),
    ({"train__strategy": "tpu"}, "unknown strategy"),
    ({"train__precision": "float8"}, "float8"),
    ({"train__steps": 0}, "train.steps"),
    ({"eval__ks": [0, 5]}, "eval.ks"),
    ({"model__use_decoder": False}, "disagrees"),
    ({"data__dataset": "sketchy"}, r"256x256/sketch/tx_\*/<class>.*info/testset.txt"),
])
def test_validate_rejects_bad_settings(sets, message):
    with pytest.raises(ValueError, match=message):
        FGTask().validate(smoke(**sets))


def test_cli_errors_are_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for argv, message in ((["--variant", "alexnet"], "unknown variant"),
                          (["--set", "data.dataset=sketchy"], "needs --data_dir"),
                          (["--resume"], "no checkpoint"),
                          (["--set", "train.nope=1"], "train.nope"),
                          (["--precision", "half"], "half")):
        assert sketchy_fg.main(["--config", "smoke", *argv]) == 2, argv
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and message in err[0], (argv, err)
    assert not (tmp_path / "runs").exists()  # nothing was written for a bad setting


def test_real_data_without_gpu_uses_cpu_preset_and_paper_prints_an_estimate(tmp_path, capsys):
    missing = str(tmp_path / "no_sketchy")
    assert sketchy_fg.main(["--data_dir", missing, "--output_dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no GPU found: using the cpu preset" in err
    assert str(default_output_dir("sketchy_fg", ["--data_dir", missing])) == \
        "runs/sketchy_fg/sketchy_cpu_vgg16_seed0"
    assert sketchy_fg.main(["--data_dir", missing, "--config", "paper", "--output_dir", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "an estimate, 30,000 steps x 36.6 s/step" in err and "12.7 days" in err  # 30000 * 36.6 s


def test_weights_file_of_wrong_shape_is_rejected_before_training(tmp_path, synthetic_data):
    import keras

    bad = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, name="block1_conv1")])
    path = tmp_path / "bad.weights.h5"
    bad.save_weights(path)
    with pytest.raises(ValueError, match="block1_conv1"):
        runner.run(FGTask(), smoke(model__weights=str(path)), tmp_path / "w", data=synthetic_data, verbose=False)
    assert not list((tmp_path / "w" / "checkpoints").glob("ckpt-*"))


def test_empty_gallery_is_rejected_before_training(synthetic_data, tmp_path):
    split = synthetic_data.split
    empty = type(split)(split.train_sketches, split.train_photos, split.query_sketches, [], split.classes)
    with pytest.raises(DataError, match="gallery is empty"):
        runner.run(FGTask(), smoke(), tmp_path / "e", data=FGData(synthetic_data.index, empty), verbose=False)
    assert not (tmp_path / "e").exists()


def test_undecodable_training_image_is_an_error_naming_the_file(tmp_path):
    """No white substitute: a photo that stops decoding after the folder was indexed fails the run (exit-2 class
    DataError) with its path."""
    from tests.data.helpers import make_tiny_sketchy

    root = make_tiny_sketchy(tmp_path / "sk", classes=("cat", "dog"), photos_per_class=3)
    cfg = smoke(data__dataset="sketchy", data__root=str(root), train__eval_every=0)
    data = FGTask().load_data(cfg)
    for photo in data.split.train_photos:
        Path(photo.path).write_bytes(b"\x89PNG truncated")
    with pytest.raises(DataError, match=r"could not decode image .*\.(png|jpg)"):
        runner.run(FGTask(), cfg, tmp_path / "run", data=data, verbose=False, progress=False)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_presets_paper_numbers():
    p = fg_presets.get_config("paper")
    assert (p.data.image_size, p.train.batch_size, p.train.steps) == (224, 32, 30000)
    assert (p.train.beta_1, p.train.beta_2, p.train.epsilon) == (0.9, 0.999, 1e-8)
    assert (p.train.base_lr, p.train.final_lr) == (1e-5, 1e-6)
    assert round(p.train.steps * p.train.lr_drop_fraction) == 20000
    assert (p.loss.lambda_d, p.loss.lambda_t, p.loss.margin) == (10.0, 1.0, 0.1)
    assert fg_presets.get_config("cpu").data.image_size == 64
    with pytest.raises(ValueError, match="unknown config"):
        fg_presets.get_config("gpu")


def test_training_on_sketchy_mini_lowers_the_loss(tmp_path, sketchy_mini_root):
    """A few steps on real data, fixed batch order: the stage-1 loss (L_C + L_T) falls."""
    cfg = smoke(train__steps=12, train__eval_every=0, train__base_lr=1e-3, train__final_lr=1e-3,
                train__stage1_fraction=1.0, data__dataset="sketchy", data__root=str(sketchy_mini_root))
    cfg.model.update(fc_dims=[64], embedding_dim=32)
    data = FGTask().load_data(cfg)
    # a small class subset keeps it fast and the classification task learnable in a few steps
    split = data.split
    keep = set(split.classes[:3])
    sub = type(split)(*[[r for r in getattr(split, f) if r.class_name in keep]
                        for f in ("train_sketches", "train_photos", "query_sketches", "gallery_photos")],
                      sorted(keep))
    m = runner.run(FGTask(), cfg, tmp_path / "l", data=FGData(data.index, sub), verbose=False, progress=False)
    hist = [json.loads(line) for line in (tmp_path / "l" / "history.jsonl").read_text().splitlines()]
    first = np.mean([h["loss/total"] for h in hist[:3]])
    last = np.mean([h["loss/total"] for h in hist[-3:]])
    assert all(np.isfinite(h["loss/total"]) for h in hist)
    assert last < first, (first, last)
    assert m["dataset"] == "sketchy" and m["gallery_size"] == len(sub.gallery_photos)
