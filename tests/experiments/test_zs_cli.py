"""Zero-shot CLI end to end on the synthetic set (tiny smoke run), presets/ablations, bad input."""
import json

import numpy as np
import pytest

from sbir_tf.data.records import DataError
from sbir_tf.experiments import zs_common, zs_presets


def run_cli(tmp_path, *extra, name="run"):
    out = tmp_path / name
    argv = ["--config", "smoke", "--output_dir", str(out), "--cache_dir", str(tmp_path / "cache"), *extra]
    return zs_common.main(argv, "sketchy"), out


def test_smoke_cli_end_to_end_and_resume(tmp_path, capsys):
    rc, out = run_cli(tmp_path, "--steps", "2")
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in zs_common.METRIC_KEYS:
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
    assert "WAD-CMSN (full)" in capsys.readouterr().out
    # resume to 4 steps reuses the cached features and continues from checkpoint 2
    rc, _ = run_cli(tmp_path, "--steps", "4", "--resume", "--no_figures")
    assert rc == 0
    steps = [json.loads(l)["step"] for l in (out / "history.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4]  # smoke: log every 2 steps, validation every 3
    # without --resume an existing run is not overwritten; with different settings resume is refused
    assert run_cli(tmp_path, "--steps", "4", "--no_figures")[0] == 2
    assert run_cli(tmp_path, "--steps", "6", "--resume", "--set", "loss.clip_value=0.02")[0] == 2
    err = capsys.readouterr().err
    assert "already holds checkpoints" in err and "loss.clip_value" in err


def test_raw_feature_baseline_only(tmp_path):
    rc, out = run_cli(tmp_path, "--ablation", "softmax")
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["ablation"] == "raw_features" and "wadcmsn" not in m and "mAP@all" in m["baseline_raw_features"]
    assert not list((out / "checkpoints").iterdir())


def test_ablation_presets():
    cfg = zs_presets.apply_ablation(zs_presets.get_config("paper"), "wasserstein+cycle")
    assert cfg.loss.adversarial == "wasserstein" and cfg.loss.lipschitz == "clip"
    assert dict(cfg.loss.weights) == {"adv": 1.0, "cyc": 1.0, "cls": 0.0, "iml": 0.0}
    cfg = zs_presets.apply_ablation(zs_presets.get_config("paper"), "adv_no_wasserstein+identity")
    assert cfg.loss.adversarial == "gan" and cfg.loss.lipschitz == "none"
    assert dict(cfg.loss.weights) == {"adv": 1.0, "cyc": 0.0, "cls": 0.0, "iml": 1.0}
    full = zs_presets.apply_ablation(zs_presets.get_config("paper"), "full")
    assert full.loss.clip_value == 0.01 and full.train.lr == 1e-4 and full.train.batch_size == 128
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


def test_word2vec_substitution_and_user_vectors(tmp_path, monkeypatch):
    """w2v without vectors at hand -> GloVe, said in metrics.json; --text_vectors FILE -> that file's vectors."""
    from gensim.models import KeyedVectors

    from sbir_tf.data.synthetic import CLASSES
    from sbir_tf.semantics import word_vectors as wv

    monkeypatch.setattr(wv, "local_word2vec_path", lambda: None)
    rc, out = run_cli(tmp_path, "--semantics", "w2v+path", "--ablation", "softmax", name="sub")
    assert rc == 0
    src = json.loads((out / "metrics.json").read_text())["side_information"]
    assert src["text_requested"] == "word2vec" and src["text_substituted"] is True
    assert src["text_used"] == "glove-6b-50d" and "not available offline" in src["text_note"]

    kv = KeyedVectors(vector_size=300)
    kv.add_vectors(list(CLASSES), np.random.default_rng(0).normal(size=(len(CLASSES), 300)).astype(np.float32))
    path = tmp_path / "vectors.txt"
    kv.save_word2vec_format(str(path), binary=False)
    rc, out = run_cli(tmp_path, "--semantics", "w2v+jcn", "--text_vectors", str(path), "--ablation", "softmax",
                      name="file")
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["side_information"]["text_used"] == "word2vec:vectors.txt"
    assert m["side_information"]["text_substituted"] is False and m["semantics_info"]["text_dim"] == 300
    assert json.loads((out / "config.json").read_text())["semantics"]["text_vectors"] == str(path)


def test_semantics_spec_parsing():
    assert zs_common.parse_semantics("glove+path") == ("glove", "path")
    assert zs_common.parse_semantics("w2v+jcn") == ("word2vec", "jcn")
    assert zs_common.parse_semantics("jcn") == (None, "jcn")
    with pytest.raises(ValueError, match="at most one of each"):
        zs_common.parse_semantics("w2v+path+jcn")
    with pytest.raises(ValueError, match="unknown semantics"):
        zs_common.parse_semantics("glove+bert")


def test_semantics_help_lists_only_accepted_specs():
    help_text = " ".join(zs_common.build_parser("sketchy").format_help().split())
    assert "w2v+path+jcn" not in help_text
    for spec in zs_common.SEMANTICS_EXAMPLES:
        assert spec in help_text
        text, hierarchy = zs_common.parse_semantics(spec)
        assert (text is not None) + (hierarchy is not None) == len(spec.split("+"))


def test_bad_splits_are_clear_errors():
    avail = ["a", "b", "c", "d"]
    with pytest.raises(DataError, match="both seen and unseen: \\['c'\\]"):
        zs_common.validate_split(["a", "b", "c"], [], ["c", "d"], ["c", "d"], avail, "s")
    with pytest.raises(DataError, match="absent from the data"):
        zs_common.validate_split(["a", "b"], [], ["zebra"], ["zebra"], avail, "s")
    with pytest.raises(DataError, match="also seen"):
        zs_common.validate_split(["a", "b"], ["b"], ["c"], ["c"], avail, "s")
    zs_common.validate_split(["a", "b"], ["c"], ["c", "d"], ["d"], avail, "s")


def test_bad_cli_input_returns_error(tmp_path, capsys):
    assert run_cli(tmp_path, "--semantics", "glove+w2v")[0] == 2
    assert "at most one of each" in capsys.readouterr().err
    assert run_cli(tmp_path, "--set", "train.nope=1")[0] == 2
    assert "train.nope" in capsys.readouterr().err


@pytest.mark.slow
def test_default_cpu_cli_runs(tmp_path):
    rc = zs_common.main(["--output_dir", str(tmp_path / "cpu")], "sketchy")
    assert rc == 0
    m = json.loads((tmp_path / "cpu" / "metrics.json").read_text())
    assert np.isfinite(m["wadcmsn"]["mAP@all"])


def test_feature_normalization_modes():
    from sbir_tf.experiments.zs_common import normalize_features

    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]], np.float32)
    np.testing.assert_allclose(normalize_features(x, "none"), x)
    np.testing.assert_allclose(normalize_features(x, "l2"), [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]], atol=1e-7)
    with pytest.raises(ValueError, match="features.normalize"):
        normalize_features(x, "zscore")


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
