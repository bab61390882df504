"""Zero-shot command lines end to end on the synthetic set (tiny smoke runs), resume by metrics and losses,
presets/ablations, bad input, no silent substitutes."""
import json

import numpy as np
import pytest

from sbir_tf.configs import zs as zs_presets
from sbir_tf.data.records import DataError
from sbir_tf.experiments import sketchy_zs, tuberlin_zs
from sbir_tf.tasks.registry import default_output_dir
from sbir_tf.tasks import zs as zs_task


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One feature cache for the module: the synthetic set's features are extracted once."""
    return tmp_path_factory.mktemp("zs_cache")


def run_cli(tmp_path, cache_dir, *extra, name="run", main=sketchy_zs.main):
    out = tmp_path / name
    argv = ["--config", "smoke", "--output_dir", str(out), "--cache_dir", str(cache_dir), *extra]
    return main(argv), out


def history(out):
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


def test_smoke_cli_end_to_end(tmp_path, cache_dir, capsys):
    rc, out = run_cli(tmp_path, cache_dir, "--steps", "2")
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (m["task"], m["dataset"], m["preset"], m["variant"], m["steps"]) == ("zero_shot", "sketchy", "smoke",
                                                                                "full", 2)
    for key in zs_task.METRIC_KEYS:
        assert 0.0 <= m["wadcmsn"][key] <= 1.0 and 0.0 <= m["baseline_raw_features"][key] <= 1.0
    assert m["split"]["name"] == "synthetic" and m["ablation"] == "full" and m["semantics"] == "glove+jcn"
    sources = m["side_information"]
    assert sources["text_requested"] == "glove" and sources["text_used"] == "glove-6b-50d"
    assert sources["text_substituted"] is False and sources["synset_mapping"] == "name"
    assert sources["wordnet_kind"] in ("wordnet", "shipped") and sources["ic_source"] == "semcor_cntlist"
    assert m["semantics_info"]["synsets"]["star"] == "star.n.05"            # the drawn shape, not the sun
    assert not set(m["split"]["seen"]) & set(m["split"]["test"])
    for fig in ("retrieval_grid", "tsne", "curves_losses"):
        assert (out / "figures").joinpath(m["figures"][fig].split("/")[-1]).stat().st_size > 0
    assert json.loads((out / "config.json").read_text())["train"]["steps"] == 2
    assert (out / "environment.json").exists() and list((out / "tensorboard").iterdir())
    assert (out / "model.keras").is_file()
    assert "WAD-CMSN (full)" in capsys.readouterr().out


def test_resume_to_more_steps_equals_a_straight_run(tmp_path, cache_dir, capsys):
    """2 steps, then --resume to 4: the scores and every logged loss equal those of a straight 4-step run (the
    stateless (seed, step, k) batches and the restored optimiser state make it exact)."""
    assert run_cli(tmp_path, cache_dir, "--steps", "4", "--no_figures", name="straight")[0] == 0
    assert run_cli(tmp_path, cache_dir, "--steps", "2", "--no_figures", name="b")[0] == 0
    rc, out = run_cli(tmp_path, cache_dir, "--steps", "4", "--resume", "--no_figures", name="b")
    assert rc == 0
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed["wadcmsn"] == straight["wadcmsn"] and resumed["steps"] == 4
    a, b = history(tmp_path / "straight"), history(out)
    assert [r["step"] for r in b] == [r["step"] for r in a] == [2, 3, 4]  # log every 2, validation every 3
    for ra, rb in zip(a, b):  # (validation differs by design: the 2-step run validated at its last step)
        assert {k: v for k, v in ra.items() if k.startswith("loss/") or k == "lr"} == \
            {k: v for k, v in rb.items() if k.startswith("loss/") or k == "lr"}
    assert b[-1]["val/mAP@all"] == a[-1]["val/mAP@all"]
    # without --resume an existing run is not overwritten; with different settings resume is refused
    assert run_cli(tmp_path, cache_dir, "--steps", "4", "--no_figures", name="b")[0] == 2
    assert run_cli(tmp_path, cache_dir, "--steps", "6", "--resume", "--set", "loss.clip_value=0.02", name="b")[0] == 2
    err = capsys.readouterr().err
    assert "already holds a finished run" in err and "loss.clip_value: 0.01 -> 0.02" in err


def test_tuberlin_zs_smoke_and_default_folder(tmp_path, cache_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["--config", "smoke", "--cache_dir", str(cache_dir), "--steps", "2", "--no_figures",
            "--ablation", "wad-cmsn"]
    assert tuberlin_zs.main(argv) == 0
    out = default_output_dir("tuberlin_zs", argv)
    assert out.as_posix() == "runs/tuberlin_zs/synthetic_smoke_full_seed0"
    m = json.loads((tmp_path / out / "metrics.json").read_text())
    assert m["dataset"] == "tuberlin" and m["split"]["name"] == "synthetic" and m["semantics"] == "glove+path"


def test_raw_feature_baseline_only(tmp_path, cache_dir):
    rc, out = run_cli(tmp_path, cache_dir, "--ablation", "softmax")
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["ablation"] == "raw_features" and "wadcmsn" not in m and "mAP@all" in m["baseline_raw_features"]
    assert m["steps"] is None and not list((out / "checkpoints").iterdir()) and not (out / "model.keras").exists()
    assert default_output_dir("sketchy_zs", ["--ablation", "softmax", "--seed", "2"]).as_posix() == \
        "runs/sketchy_zs/synthetic_cpu_raw_features_seed2"
    assert default_output_dir("sketchy_zs", ["--semantics", "glove+path", "--seed", "2"]).as_posix() == \
        "runs/sketchy_zs/synthetic_cpu_full_seed2_sem-glove-path"


def test_sketchy_without_extended_folder_is_an_error_not_plain_sketchy(tmp_path, cache_dir, capsys):
    from tests.data.helpers import make_tiny_sketchy

    root = make_tiny_sketchy(tmp_path / "sk", classes=("cat", "dog", "owl"))
    rc, _ = run_cli(tmp_path, cache_dir, "--data_dir", str(root))
    assert rc == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "no Sketchy Extended photo folder" in err[0] and str(root) in err[0]
    assert "--dataset_reader sketchy" in err[0]


def test_ablation_presets():
    cfg = zs_presets.apply_ablation(zs_presets.get_config("paper"), "wasserstein+cycle")
    assert cfg.loss.adversarial == "wasserstein" and cfg.loss.lipschitz == "clip"
    assert dict(cfg.loss.weights) == {"adv": 1.0, "cyc": 1.0, "cls": 0.0, "iml": 0.0}
    cfg = zs_presets.apply_ablation(zs_presets.get_config("paper"), "adv_no_wasserstein+identity")
    assert cfg.loss.adversarial == "gan" and cfg.loss.lipschitz == "none"
    assert dict(cfg.loss.weights) == {"adv": 1.0, "cyc": 0.0, "cls": 0.0, "iml": 1.0}
    full = zs_presets.apply_ablation(zs_presets.get_config("paper"), "full")
    assert full.loss.clip_value == 0.01 and full.train.base_lr == 1e-4 and full.train.batch_size == 128
    assert full.model.semantic_dim == 64 and full.features.image_size == 224
    with pytest.raises(ValueError, match="unknown ablation"):
        zs_presets.apply_ablation(full, "nope")
    assert zs_presets.get_config("paper", "tuberlin").data.split == "sempcyc30"


def test_semantics_defaults_per_preset():
    """paper: Table 3's best rows (w2v+jcn on Sketchy, 0.415; w2v+path on TU-Berlin, 0.351); cpu/smoke: the
    offline GloVe with the same hierarchy measure; class -> synset by name."""
    expected = {"paper": ("w2v+jcn", "w2v+path"), "cpu": ("glove+jcn", "glove+path"),
                "smoke": ("glove+jcn", "glove+path")}
    for preset, (sketchy, tuberlin) in expected.items():
        assert zs_presets.get_config(preset, "sketchy").semantics.spec == sketchy
        assert zs_presets.get_config(preset, "tuberlin").semantics.spec == tuberlin
    sem = zs_presets.get_config("paper", "sketchy").semantics
    assert sem.synsets == "name" and sem.text_fallback == "glove" and sem.text_vectors is None


def test_word2vec_substitution_and_user_vectors(tmp_path, cache_dir, monkeypatch):
    """w2v without vectors at hand -> GloVe, said in metrics.json; --text_vectors FILE -> that file's vectors."""
    from gensim.models import KeyedVectors

    from sbir_tf.data.synthetic import CLASSES
    from sbir_tf.semantics import word_vectors as wv

    monkeypatch.setattr(wv, "local_word2vec_path", lambda: None)
    rc, out = run_cli(tmp_path, cache_dir, "--semantics", "w2v+path", "--ablation", "softmax", name="sub")
    assert rc == 0
    src = json.loads((out / "metrics.json").read_text())["side_information"]
    assert src["text_requested"] == "word2vec" and src["text_substituted"] is True
    assert src["text_used"] == "glove-6b-50d" and "not available offline" in src["text_note"]

    kv = KeyedVectors(vector_size=300)
    kv.add_vectors(list(CLASSES), np.random.default_rng(0).normal(size=(len(CLASSES), 300)).astype(np.float32))
    path = tmp_path / "vectors.txt"
    kv.save_word2vec_format(str(path), binary=False)
    rc, out = run_cli(tmp_path, cache_dir, "--semantics", "w2v+jcn", "--text_vectors", str(path),
                      "--ablation", "softmax", name="file")
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["side_information"]["text_used"] == "word2vec:vectors.txt"
    assert m["side_information"]["text_substituted"] is False and m["semantics_info"]["text_dim"] == 300
    assert json.loads((out / "config.json").read_text())["semantics"]["text_vectors"] == str(path)


def test_semantics_spec_parsing():
    assert zs_presets.parse_semantics("glove+path") == ("glove", "path")
    assert zs_presets.parse_semantics("w2v+jcn") == ("word2vec", "jcn")
    assert zs_presets.parse_semantics("jcn") == (None, "jcn")
    with pytest.raises(ValueError, match="at most one of each"):
        zs_presets.parse_semantics("w2v+path+jcn")
    with pytest.raises(ValueError, match="unknown semantics"):
        zs_presets.parse_semantics("glove+bert")


def test_semantics_help_lists_only_accepted_specs(capsys):
    with pytest.raises(SystemExit):
        sketchy_zs.main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "w2v+path+jcn" not in help_text
    for spec in zs_presets.SEMANTICS_EXAMPLES:
        assert spec in help_text
        text, hierarchy = zs_presets.parse_semantics(spec)
        assert (text is not None) + (hierarchy is not None) == len(spec.split("+"))


def test_bad_splits_are_clear_errors():
    avail = ["a", "b", "c", "d"]
    with pytest.raises(DataError, match="both seen and unseen: \\['c'\\]"):
        zs_task.validate_split(["a", "b", "c"], [], ["c", "d"], ["c", "d"], avail, "s")
    with pytest.raises(DataError, match="absent from the data"):
        zs_task.validate_split(["a", "b"], [], ["zebra"], ["zebra"], avail, "s")
    with pytest.raises(DataError, match="also seen"):
        zs_task.validate_split(["a", "b"], ["b"], ["c"], ["c"], avail, "s")
    zs_task.validate_split(["a", "b"], ["c"], ["c", "d"], ["d"], avail, "s")


def test_bad_cli_input_returns_error(tmp_path, cache_dir, capsys):
    for argv, message in ((["--semantics", "glove+w2v"], "at most one of each"),
                          (["--set", "train.nope=1"], "train.nope"),
                          (["--set", "train.lr=0.1"], "'train.lr' is now 'train.base_lr'"),
                          (["--set", "data.dir=/x"], "'data.dir' is now 'data.root'"),
                          (["--set", "train.steps=2.5"], "train.steps"),
                          (["--set", "ablation=softmax"], "--ablation raw_features"),
                          (["--set", "ablation=wasserstein"], "disagrees with loss.adversarial"),
                          (["--precision", "fp8"], "fp8")):
        assert run_cli(tmp_path, cache_dir, *argv, name="bad")[0] == 2, argv
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and message in err[0], (argv, err)
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_default_cpu_cli_runs(tmp_path):
    assert sketchy_zs.main(["--output_dir", str(tmp_path / "cpu")]) == 0
    m = json.loads((tmp_path / "cpu" / "metrics.json").read_text())
    assert np.isfinite(m["wadcmsn"]["mAP@all"])


def test_feature_normalization_modes():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], np.float32)
    np.testing.assert_allclose(zs_task.normalize_features(x, "none"), x)
    np.testing.assert_allclose(zs_task.normalize_features(x, "l2"), [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]], atol=1e-7)
    with pytest.raises(ValueError, match="features.normalize"):
        zs_task.normalize_features(x, "zscore")


def test_semantic_normalization_centres_on_seen_classes_only():
    from sbir_tf.semantics.side_info import normalize_semantics

    s = np.array([[1.0, 1.0], [1.0, 3.0], [5.0, 1.0]], np.float32)  # rows 0, 1 seen; row 2 unseen
    np.testing.assert_allclose(normalize_semantics(s, [0, 1], "none"), s)
    np.testing.assert_allclose(normalize_semantics(s, [0, 1], "l2")[0], [2 ** -0.5, 2 ** -0.5], atol=1e-6)
    # seen mean (1, 2): (0, -1), (0, 1), (4, -1) -> unit vectors
    expected = np.array([[0, -1], [0, 1], [4 / 17 ** 0.5, -1 / 17 ** 0.5]], np.float32)
    np.testing.assert_allclose(normalize_semantics(s, [0, 1], "center_l2"), expected, atol=1e-6)
    with pytest.raises(ValueError, match="semantics.normalize"):
        normalize_semantics(s, [0, 1], "pca")
