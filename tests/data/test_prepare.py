"""`python -m sbir_tf.data.prepare` and the jobs' `--prepared_dir`: prepared records give the same splits as raw folders."""
import argparse
import os

import numpy as np
import pytest

from sbir_tf import features as F
from sbir_tf.data import prepare
from sbir_tf.data.records import DataError
from sbir_tf.experiments import fg_common, fg_presets, zs_common
from tests.data.helpers import make_tiny_qmul_v1, make_tiny_sketchy


@pytest.fixture(scope="module")
def tiny_sketchy(tmp_path_factory):
    """(raw root, TFDS data_dir) of a tiny Sketchy with distractor photos, prepared through the CLI."""
    base = tmp_path_factory.mktemp("prep")
    raw = make_tiny_sketchy(base / "raw", classes=("cat", "dog", "owl"), photos_per_class=4, sketched_per_class=3)
    assert prepare.main(["--dataset", "sketchy", "--manual_dir", str(raw), "--data_dir", str(base / "tfds")]) == 0
    return raw, base / "tfds"


def _sizes(split):
    return {f: sorted((r.class_name, r.instance_id) for r in getattr(split, f))
            for f in ("train_sketches", "train_photos", "query_sketches", "gallery_photos")}


def _fg_cfg(dataset, **data):
    cfg = fg_presets.get_config("smoke")
    cfg.data.dataset = dataset
    cfg.data.update(data)
    return cfg


def test_prepare_cli_prints_counts(tiny_sketchy, capsys, tmp_path):
    raw, _ = tiny_sketchy
    assert prepare.main(["--dataset", "sketchy", "--manual_dir", str(raw), "--data_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sketchy prepared in" in out and "photo 12" in out and "sketch 18" in out  # 3 x 4 photos, 3 x 3 x 2 sketches
    assert prepare.main(["--dataset", "sketchy", "--manual_dir", str(tmp_path / "nope"),
                         "--data_dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_tfds_name():
    assert prepare.tfds_name("qmul_v1") == "qmul_v1/shoes"
    assert prepare.tfds_name("qmul_v1", "chairs") == "qmul_v1/chairs"
    assert prepare.tfds_name("tuberlin_extended") == "tuberlin_extended"
    with pytest.raises(ValueError, match="qmul_v1 only"):
        prepare.tfds_name("sketchy", "shoes")
    with pytest.raises(ValueError, match="unknown dataset"):
        prepare.tfds_name("sketchy_v2")


def test_fg_load_data_prepared_equals_raw_sketchy(tiny_sketchy):
    raw, tfds_dir = tiny_sketchy
    raw_index, raw_split = fg_common.load_data(_fg_cfg("sketchy", root=str(raw)))
    index, split = fg_common.load_data(_fg_cfg("sketchy", prepared_dir=str(tfds_dir)))
    assert index.test_instances == raw_index.test_instances == {"n00000000_1", "n00000001_1", "n00000002_1"}
    assert _sizes(split) == _sizes(raw_split)
    assert split.classes == raw_split.classes
    assert (len(split.train_sketches), len(split.query_sketches), len(split.gallery_photos)) == (12, 6, 6)
    assert all(r.path.startswith("sketchy:") for r in split.gallery_photos)  # read from the records, not files
    fg_common.validate_config(_fg_cfg("sketchy", prepared_dir=str(tfds_dir)), split)


def test_fg_load_data_prepared_equals_raw_qmul(tmp_path):
    raw = make_tiny_qmul_v1(tmp_path / "raw", n_train=3, n_test=2)
    assert prepare.main(["--dataset", "qmul_v1", "--category", "shoes", "--manual_dir", str(raw),
                         "--data_dir", str(tmp_path / "tfds")]) == 0
    _, raw_split = fg_common.load_data(_fg_cfg("qmul_v1", root=str(raw), category="shoes"))
    index, split = fg_common.load_data(_fg_cfg("qmul_v1", prepared_dir=str(tmp_path / "tfds"), category="shoes"))
    assert _sizes(split) == _sizes(raw_split)
    assert (len(split.train_photos), len(split.gallery_photos)) == (3, 2)
    assert index.name == "qmul_v1"


def test_prepared_dir_flags_and_checks(tmp_path):
    parser = fg_common.build_parser("x", "", qmul=True)
    cfg = fg_common.config_from_args(parser.parse_args(["--prepared_dir", str(tmp_path)]), dataset="qmul_v1")
    assert cfg.data.prepared_dir == str(tmp_path) and cfg.preset == "paper" and cfg.data.root is None
    with pytest.raises(ValueError, match="no TFDS builder"):
        fg_common.validate_config(_fg_cfg("synthetic", prepared_dir=str(tmp_path)))
    for key in ("sketch_rendering", "photo_rendering"):
        with pytest.raises(ValueError, match=f"data.{key}='tx_000100000000'.*tx_000000000000 only"):
            fg_common.validate_config(_fg_cfg("sketchy", prepared_dir=str(tmp_path), **{key: "tx_000100000000"}))
    with pytest.raises(DataError, match="not prepared"):
        fg_common.load_data(_fg_cfg("sketchy", prepared_dir=str(tmp_path)))
    zcfg = zs_common.config_from_args(zs_common.build_parser("sketchy").parse_args(
        ["--prepared_dir", str(tmp_path), "--config", "smoke"]), "sketchy")
    assert zs_common.uses_real_data(zcfg) and zs_common.feature_settings(zcfg)[0] == zcfg.features.image_size
    assert "sempcyc25" in str(zs_common.default_output_dir(zcfg))


def test_zs_reads_prepared_sketchy_when_extended_absent(tiny_sketchy, capsys):
    raw, tfds_dir = tiny_sketchy
    cfg = zs_common.zs_presets.get_config("smoke", "sketchy")
    index, reader = zs_common._read_prepared(cfg, str(tfds_dir))
    assert reader == "sketchy" and "sketchy_extended" in capsys.readouterr().err
    assert index.classes == ["cat", "dog", "owl"] and len(index.photos) == 12
    cfg.data.reader = "tuberlin_extended"
    with pytest.raises(ValueError, match="no prepared records"):
        zs_common._read_prepared(cfg, str(tfds_dir))


def test_feature_cache_key_of_prepared_records(tiny_sketchy, monkeypatch):
    """Record paths "<name>:<split>#<row>" are fingerprinted by the in-memory bytes, without any file stat."""
    _, tfds_dir = tiny_sketchy
    from sbir_tf.data.tfds_builders import load_prepared

    index = load_prepared("sketchy", tfds_dir)
    before = F.cache_key(index.photos, None, 32, arrays=index.arrays)
    assert before == F.cache_key(index.photos, None, 32, arrays=index.arrays)  # stable

    real_stat = os.stat

    def no_record_stat(path, *a, **k):
        assert not str(path).startswith("sketchy:"), f"stat of a record key {path}"
        return real_stat(path, *a, **k)

    monkeypatch.setattr(os, "stat", no_record_stat)
    changed = dict(index.arrays)
    photos = changed["sketchy:photo"].copy()
    photos[0] = bytes(photos[0]) + b"\0"  # one prepared image differs
    changed["sketchy:photo"] = photos
    after = F.cache_key(index.photos, None, 32, arrays=changed)
    assert after["records_sha256"] != before["records_sha256"]
    assert F.array_digest(np.array([b"ab", b"c"], object)) != F.array_digest(np.array([b"a", b"bc"], object))
