"""End-to-end fine-grained runs at smoke size: artefacts, resume, validation errors, a learning check."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.config import Config
from sbir_tf.data.records import DataError
from sbir_tf.experiments import fg_common, fg_presets, sketchy_fg


def smoke(**sets) -> Config:
    cfg = fg_presets.get_config("smoke")
    cfg.data.dataset = "synthetic"
    for key, value in sets.items():
        cfg.set_path(key.replace("__", "."), value)
    return cfg


@pytest.fixture(scope="module")
def synthetic_data():
    return fg_common.load_data(smoke())


def assert_artefacts(out: Path, decoder: bool = True):
    for name in ("config.json", "environment.json", "metrics.json", "history.json"):
        assert (out / name).is_file(), name
    assert list((out / "checkpoints").glob("ckpt-*.index"))
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("acc@1", "acc@5", "acc@10", "per_category_acc@1", "chance", "gallery_size", "queries", "dataset",
                "split", "image_size", "weights", "steps", "variant", "sharing", "schedule", "seed",
                "wall_time_seconds"):
        assert key in metrics, key
    assert metrics["chance"]["acc@1"] == pytest.approx(1 / metrics["gallery_size"])
    assert 0.0 <= metrics["acc@1"] <= metrics["acc@5"] <= metrics["acc@10"] <= 1.0
    try:
        import sbir_tf.eval.figures  # noqa: F401
    except ImportError:
        return metrics
    pngs = {p.name for p in (out / "figures").glob("*.png")}
    assert "retrieval_grid.png" in pngs and "loss_curves.png" in pngs
    assert ("reconstructions.png" in pngs) == decoder
    return metrics


def test_cli_smoke_on_synthetic_writes_every_artefact(tmp_path):
    out = tmp_path / "run"
    metrics = sketchy_fg.main(["--config", "smoke", "--output_dir", str(out), "--seed", "3"])
    m = assert_artefacts(out)
    assert m == metrics and m["dataset"] == "synthetic" and m["steps"] == 4 and m["seed"] == 3
    assert json.loads((out / "config.json").read_text())["train"]["seed"] == 3


def test_qmul_fg_smoke_on_tiny_qmul_v1(tmp_path):
    """qmul_fg end to end on a generated QMUL-V1 folder (array-backed sketches and edge maps): the gallery is
    exactly the test pairs' edge maps, one query sketch per test pair."""
    from sbir_tf.experiments import qmul_fg
    from tests.data.helpers import make_tiny_qmul_v1

    root = make_tiny_qmul_v1(tmp_path / "qmul", category="shoes", n_train=4, n_test=3)
    out = tmp_path / "run"
    metrics = qmul_fg.main(["--data_dir", str(root), "--category", "shoes", "--config", "smoke",
                            "--output_dir", str(out)])
    m = assert_artefacts(out)
    assert m == metrics
    assert m["dataset"] == "qmul_v1" and m["category"] == "shoes" and m["classes"] == 1
    assert m["gallery_size"] == m["queries"] == 3 and m["train_sketches"] == m["train_photos"] == 4
    assert m["distractors"] == 0
    assert m["chance"]["acc@1"] == pytest.approx(1 / 3) and m["acc@5"] == m["acc@10"] == 1.0  # K >= gallery


@pytest.mark.slow  # ~90 s: embeds the whole sketchy_mini gallery (~2,800 photos)
def test_cli_smoke_on_sketchy_mini(tmp_path, sketchy_mini_root):
    out = tmp_path / "mini"
    sketchy_fg.main(["--config", "smoke", "--data_dir", str(sketchy_mini_root), "--output_dir", str(out),
                     "--variant", "vgg16-D", "--steps", "2", "--set", "eval.val_queries=4"])
    m = assert_artefacts(out, decoder=False)
    assert m["dataset"] == "sketchy" and m["variant"] == "vgg16-D"
    assert m["queries"] > 0 and m["gallery_size"] > m["queries"] // 10  # test photos + never-sketched distractors


@pytest.mark.slow  # ~70 s (three VGG16 builds); the fast version is in tests/train/test_fg_trainer.py
def test_resume_after_kill_equals_straight_run(tmp_path, synthetic_data):
    """6 steps straight vs killed after step 5 (last checkpoint at 4) + resume: identical weights and metrics.
    Dropout is on (0.5): its seed-generator state is checkpointed, so the masks agree too."""
    cfg = smoke(train__steps=6, train__checkpoint_every=2, model__dropout=0.5, train__eval_every=0)
    straight = fg_common.run_experiment(cfg, tmp_path / "a", data=synthetic_data, verbose=False)
    assert fg_common.run_experiment(cfg, tmp_path / "b", data=synthetic_data, stop_at_step=5, verbose=False) == {}
    assert tf.train.latest_checkpoint(str(tmp_path / "b" / "checkpoints")).endswith("ckpt-4")
    with pytest.raises(ValueError, match="--resume"):  # an existing run is never silently overwritten
        fg_common.run_experiment(cfg, tmp_path / "b", data=synthetic_data, verbose=False)
    other = cfg.copy()
    other.loss.margin = 0.3
    with pytest.raises(ValueError, match="loss.margin"):  # resuming needs the same settings
        fg_common.run_experiment(other, tmp_path / "b", resume=True, data=synthetic_data, verbose=False)
    resumed = fg_common.run_experiment(cfg, tmp_path / "b", resume=True, data=synthetic_data, verbose=False)
    for key in ("acc@1", "acc@5", "acc@10", "mean_rank"):
        assert resumed[key] == pytest.approx(straight[key], abs=1e-6)
    ha = json.loads((tmp_path / "a" / "history.json").read_text())
    hb = json.loads((tmp_path / "b" / "history.json").read_text())
    assert [h["step"] for h in hb] == [h["step"] for h in ha] == list(range(1, 7))
    np.testing.assert_allclose([h["total"] for h in hb], [h["total"] for h in ha], rtol=1e-6)
    ra = tf.train.load_checkpoint(str(tmp_path / "a" / "checkpoints"))
    rb = tf.train.load_checkpoint(str(tmp_path / "b" / "checkpoints"))
    names = [n for n in ra.get_variable_to_shape_map() if n.startswith("model/")]
    assert names
    for n in names:
        np.testing.assert_allclose(rb.get_tensor(n), ra.get_tensor(n), rtol=1e-6, atol=1e-6, err_msg=n)


@pytest.mark.parametrize("sets, message", [
    ({"variant": "vgg19"}, "unknown variant"),
    ({"model__sharing": "shared"}, "unknown sharing"),
    ({"model__weights": "resnet"}, "unknown model.weights"),
    ({"model__weights": "/no/such/file.h5"}, "not found"),
    ({"data__image_size": 40}, "cannot give the decoder's output"),
    ({"train__schedule": "paper"}, "unknown schedule"),
    ({"train__strategy": "tpu"}, "unknown strategy"),
    ({"train__steps": 0}, "train.steps"),
    ({"eval__ks": [0, 5]}, "eval.ks"),
    ({"model__use_decoder": False}, "disagrees"),
])
def test_validate_config_rejects_bad_settings(sets, message):
    with pytest.raises(ValueError, match=message):
        fg_common.validate_config(smoke(**sets))


def test_weights_file_of_wrong_shape_is_rejected_up_front(tmp_path):
    import keras

    from sbir_tf.models.backbones import vgg16_trunk

    trunk = vgg16_trunk((32, 32, 3))
    bad = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, name="block1_conv1")])
    path = tmp_path / "bad.weights.h5"
    bad.save_weights(path)
    del trunk
    with pytest.raises(ValueError, match="does not fit the VGG16 encoder"):
        fg_common.validate_config(smoke(model__weights=str(path)))


def test_empty_gallery_is_rejected_before_training(synthetic_data, tmp_path):
    index, split = synthetic_data
    empty = type(split)(split.train_sketches, split.train_photos, split.query_sketches, [], split.classes)
    with pytest.raises(DataError, match="gallery is empty"):
        fg_common.run_experiment(smoke(), tmp_path / "e", data=(index, empty), verbose=False)
    assert not (tmp_path / "e").exists()


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        sketchy_fg.main(["--config", "smoke", "--variant", "alexnet"])
    assert "unknown variant" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        sketchy_fg.main(["--config", "smoke", "--resume"])


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
    index, split = fg_common.load_data(cfg)
    # a small class subset keeps it fast and the classification task learnable in a few steps
    keep = set(split.classes[:3])
    sub = type(split)(*[[r for r in getattr(split, f) if r.class_name in keep]
                        for f in ("train_sketches", "train_photos", "query_sketches", "gallery_photos")],
                      sorted(keep))
    fg_common.run_experiment(cfg, tmp_path / "l", data=(index, sub), verbose=False)
    hist = json.loads((tmp_path / "l" / "history.json").read_text())
    first = np.mean([h["total"] for h in hist[:3]])
    last = np.mean([h["total"] for h in hist[-3:]])
    assert all(math.isfinite(h["total"]) for h in hist)
    assert last < first, (first, last)
    m = assert_artefacts(tmp_path / "l")  # the same artefacts as a CLI run, on real data
    assert m["dataset"] == "sketchy" and m["gallery_size"] == len(sub.gallery_photos)
