"""`python -m sbir_tf.data.prepare` and the jobs' `--prepared_dir`: prepared records give the same splits as raw folders."""
import argparse
import os

import numpy as np
import pytest

from sbir_tf import features as F
from sbir_tf.data import prepare
from sbir_tf.data.records import DataError
from sbir_tf.data.splits import fine_grained_split
from sbir_tf.configs import fg as fg_presets
from sbir_tf.configs import zs as zs_presets
from sbir_tf.run import cli
from sbir_tf.tasks.registry import default_output_dir
from sbir_tf.tasks import zs as zs_task
from sbir_tf.tasks.fg import FGData, FGTask
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


def _validate(cfg, split=None):
    """The run layer's checks: settings, then (with a split) the data."""
    FGTask().validate(cfg)
    if split is not None:
        FGTask().validate_data(cfg, FGData(None, split))
    return cfg


def _fg_cfg(dataset, **data):
    cfg = fg_presets.get_config("smoke")
    cfg.data.dataset = dataset
    cfg.data.update(data)
    return cfg


def test_prepare_cli_prints_counts(tiny_sketchy, capsys, tmp_path):
    raw, _ = tiny_sketchy
    assert prepare.main(["--dataset", "sketchy", "--manual_dir", str(raw), "--data_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sketchy/tx_000000000000 prepared in" in out and "photo 12" in out and "sketch 18" in out  # 3 x 4 photos, 3 x 3 x 2 sketches
    assert prepare.main(["--dataset", "sketchy", "--manual_dir", str(tmp_path / "nope"),
                         "--data_dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_tfds_name():
    assert prepare.tfds_name("qmul_v1") == "qmul_v1/shoes"
    assert prepare.tfds_name("qmul_v1", "chairs") == "qmul_v1/chairs"
    assert prepare.tfds_name("tuberlin_extended") == "tuberlin_extended"
    assert prepare.tfds_name("sketchy") == "sketchy/tx_000000000000"
    assert prepare.tfds_name("sketchy", sketch_rendering="tx_000100000000") == "sketchy/tx_000100000000"
    with pytest.raises(ValueError, match="unknown Sketchy sketch rendering 'tx_1'.*tx_000100000000"):
        prepare.tfds_name("sketchy", sketch_rendering="tx_1")
    with pytest.raises(ValueError, match="sketchy only"):
        prepare.tfds_name("sketchy_extended", sketch_rendering="tx_000100000000")
    with pytest.raises(ValueError, match="qmul_v1 only"):
        prepare.tfds_name("sketchy", "shoes")
    with pytest.raises(ValueError, match="unknown dataset"):
        prepare.tfds_name("sketchy_v2")


def test_fg_load_data_prepared_equals_raw_sketchy(tiny_sketchy):
    raw, tfds_dir = tiny_sketchy
    raw_index, raw_split = FGTask().load_data(_fg_cfg("sketchy", root=str(raw)))
    index, split = FGTask().load_data(_fg_cfg("sketchy", prepared_dir=str(tfds_dir)))
    assert index.test_instances == raw_index.test_instances == {"n00000000_1", "n00000001_1", "n00000002_1"}
    assert _sizes(split) == _sizes(raw_split)
    assert split.classes == raw_split.classes
    assert (len(split.train_sketches), len(split.query_sketches), len(split.gallery_photos)) == (12, 6, 6)
    assert all(r.path.startswith("sketchy/tx_000000000000:") for r in split.gallery_photos)  # records, not files
    _validate(_fg_cfg("sketchy", prepared_dir=str(tfds_dir)), split)


def test_fg_load_data_prepared_equals_raw_qmul(tmp_path):
    raw = make_tiny_qmul_v1(tmp_path / "raw", n_train=3, n_test=2)
    assert prepare.main(["--dataset", "qmul_v1", "--category", "shoes", "--manual_dir", str(raw),
                         "--data_dir", str(tmp_path / "tfds")]) == 0
    _, raw_split = FGTask().load_data(_fg_cfg("qmul_v1", root=str(raw), category="shoes"))
    index, split = FGTask().load_data(_fg_cfg("qmul_v1", prepared_dir=str(tmp_path / "tfds"), category="shoes"))
    assert _sizes(split) == _sizes(raw_split)
    assert (len(split.train_photos), len(split.gallery_photos)) == (3, 2)
    assert index.name == "qmul_v1"


def test_prepared_dir_flags_and_checks(tmp_path):
    qmul = FGTask("qmul")
    cfg = cli.resolve_config(qmul, cli.build_parser(qmul, "qmul_fg").parse_args(
        ["--prepared_dir", str(tmp_path), "--config", "paper"]))
    assert cfg.data.prepared_dir == str(tmp_path) and cfg.preset == "paper" and cfg.data.root is None
    assert cfg.data.dataset == "qmul_v1"
    with pytest.raises(ValueError, match="no TFDS builder"):
        _validate(_fg_cfg("synthetic", prepared_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="data.photo_rendering='tx_000100000000'.*tx_000000000000 only"):
        _validate(_fg_cfg("sketchy", prepared_dir=str(tmp_path), photo_rendering="tx_000100000000"))
    with pytest.raises(ValueError, match="data.sketch_rendering: unknown Sketchy sketch rendering 'tx_9'"):
        _validate(_fg_cfg("sketchy", prepared_dir=str(tmp_path), sketch_rendering="tx_9"))
    _validate(_fg_cfg("sketchy", prepared_dir=str(tmp_path), sketch_rendering="tx_000100000000"))
    with pytest.raises(DataError, match="not prepared"):
        FGTask().load_data(_fg_cfg("sketchy", prepared_dir=str(tmp_path)))
    argv = ["--prepared_dir", str(tmp_path), "--config", "smoke"]
    zs = zs_task.ZSTask("sketchy")
    zcfg = cli.resolve_config(zs, cli.build_parser(zs, "sketchy_zs").parse_args(argv))
    assert zs_task.uses_real_data(zcfg) and zs_task.feature_settings(zcfg)[0] == zcfg.features.image_size
    assert default_output_dir("sketchy_zs", argv).as_posix() == "runs/sketchy_zs/sketchy_smoke_full_seed0"


CENTRED = "tx_000100000000"


@pytest.fixture(scope="module")
def two_renderings(tmp_path_factory):
    """(raw root, TFDS data_dir) of a tiny Sketchy with sketch folders tx_000000000000 and tx_000100000000, both
    prepared through the CLI into one data_dir."""
    base = tmp_path_factory.mktemp("renderings")
    raw = make_tiny_sketchy(base / "raw", classes=("cat", "dog"), photos_per_class=3, sketched_per_class=2,
                            extra_sketch_renderings=(CENTRED,))
    for flags in ([], ["--sketch_rendering", CENTRED]):
        assert prepare.main(["--dataset", "sketchy", *flags, "--manual_dir", str(raw),
                             "--data_dir", str(base / "tfds")]) == 0
    return raw, base / "tfds"


def _sketch_sources(data_dir, name):
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=str(data_dir))
    ds = builder.as_dataset(split="sketch", decoders={"image": tfds.decode.SkipDecoding()})
    return sorted(ex["source"].decode() for ex in ds.as_numpy_iterator())


def test_prepare_keeps_sketch_renderings_side_by_side(two_renderings):
    """Each sketch rendering is its own TFDS config; the records' metadata names the tx_* folders they hold."""
    from sbir_tf.data.tfds_builders import load_prepared

    raw, tfds_dir = two_renderings
    default, centred = load_prepared("sketchy", tfds_dir), load_prepared(f"sketchy/{CENTRED}", tfds_dir)
    assert (default.notes["sketch_rendering"], default.notes["photo_rendering"]) == ("tx_000000000000",
                                                                                    "tx_000000000000")
    assert (centred.notes["sketch_rendering"], centred.notes["photo_rendering"]) == (CENTRED, "tx_000000000000")
    sources = _sketch_sources(tfds_dir, f"sketchy/{CENTRED}")
    assert len(sources) == 8 and all(f"/sketch/{CENTRED}/" in s for s in sources)  # 2 classes x 2 photos x 2
    assert all("/sketch/tx_000000000000/" in s for s in _sketch_sources(tfds_dir, "sketchy"))
    assert _sizes(fine_grained_split(centred)) == _sizes(fine_grained_split(default))


def _paper_cfg(tfds_dir, *extra):
    task = FGTask()
    args = cli.build_parser(task, "sketchy_fg").parse_args(["--prepared_dir", str(tfds_dir), "--config", "paper",
                                                            *extra])
    return _validate(cli.resolve_config(task, args))


def test_paper_preset_trains_from_prepared_centred_sketches(two_renderings):
    raw, tfds_dir = two_renderings
    cfg = _paper_cfg(tfds_dir)
    assert cfg.data.sketch_rendering == CENTRED
    index, split = FGTask().load_data(cfg)
    assert index.notes["sketch_rendering"] == CENTRED and index.notes["tfds_name"] == f"sketchy/{CENTRED}"
    _, raw_split = FGTask().load_data(_fg_cfg("sketchy", root=str(raw), sketch_rendering=CENTRED))
    assert _sizes(split) == _sizes(raw_split)
    _validate(cfg, split)


def test_paper_preset_without_prepared_centred_sketches_names_the_flag(tiny_sketchy):
    _, tfds_dir = tiny_sketchy  # holds sketchy/tx_000000000000 only
    cfg = _paper_cfg(tfds_dir)
    with pytest.raises(DataError) as err:
        FGTask().load_data(cfg)
    message = str(err.value)
    assert "prepared there: sketchy/tx_000000000000/" in message
    assert (f"python -m sbir_tf.data.prepare --dataset sketchy --sketch_rendering {CENTRED} --manual_dir MANUAL_DIR "
            f"--data_dir {tfds_dir}") in message
    assert "data.sketch_rendering='tx_000100000000'" in message


def test_prepared_records_of_another_rendering_are_refused(tiny_sketchy, monkeypatch):
    """Records whose metadata names another sketch folder than the config asks for are not trained on."""
    from sbir_tf.data import tfds_builders

    _, tfds_dir = tiny_sketchy
    default = tfds_builders.load_prepared("sketchy", tfds_dir)
    monkeypatch.setattr(tfds_builders, "load_prepared", lambda name, data_dir: default)
    with pytest.raises(DataError, match="hold sketch_rendering 'tx_000000000000', not "
                                        "data.sketch_rendering='tx_000100000000'"):
        FGTask().load_data(_paper_cfg(tfds_dir))


def test_prepare_cli_rejects_a_rendering_of_another_dataset(tmp_path, capsys):
    raw = make_tiny_qmul_v1(tmp_path / "raw", n_train=1, n_test=1)
    assert prepare.main(["--dataset", "qmul_v1", "--sketch_rendering", CENTRED, "--manual_dir", str(raw),
                         "--data_dir", str(tmp_path / "tfds")]) == 2
    assert "--sketch_rendering applies to sketchy only" in capsys.readouterr().err


def test_zs_prepared_sketchy_needs_extended_records_or_the_plain_reader_on_purpose(tiny_sketchy):
    """reader auto reads prepared sketchy_extended records; without them the error names the plain-Sketchy reader
    (never a silent switch to the plain Sketchy gallery)."""
    raw, tfds_dir = tiny_sketchy
    cfg = zs_presets.get_config("smoke", "sketchy")
    with pytest.raises(DataError, match="--dataset_reader sketchy"):
        zs_task._read_prepared(cfg, str(tfds_dir))
    cfg.data.reader = "sketchy"
    index, reader = zs_task._read_prepared(cfg, str(tfds_dir))
    assert reader == "sketchy"
    assert index.classes == ["cat", "dog", "owl"] and len(index.photos) == 12
    cfg.data.reader = "tuberlin_extended"
    with pytest.raises(ValueError, match="no prepared records"):
        zs_task._read_prepared(cfg, str(tfds_dir))


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


@pytest.mark.slow  # ~16 s: one training step and the evaluation of the paper preset, shrunk by flags
def test_paper_preset_run_from_prepared_centred_sketches(two_renderings, tmp_path):
    """``sketchy_fg --config paper --prepared_dir`` end to end (shrunk to seconds by flags): trains on the records of
    the centred sketches and says so in metrics.json."""
    from sbir_tf.experiments import sketchy_fg

    _, tfds_dir = two_renderings
    tiny = ["model.fc_dims=[32]", "model.embedding_dim=16", "model.decoder_channels=[16,16,8,8,8,8]",
            "train.eval_every=0", "eval.grid_queries=2", "eval.recon_pairs=2", "eval.display_size=32"]
    metrics = sketchy_fg.main(["--prepared_dir", str(tfds_dir), "--config", "paper", "--image_size", "32",
                               "--steps", "1", "--batch_size", "2", "--weights", "none",
                               "--output_dir", str(tmp_path / "run"), *(a for s in tiny for a in ("--set", s))])
    assert (metrics["preset"], metrics["sketch_rendering"], metrics["photo_rendering"]) == (
        "paper", CENTRED, "tx_000000000000")
    assert metrics["data_root"].startswith(str(tfds_dir)) and metrics["queries"] == 4
