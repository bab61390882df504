"""Export of the sketch and photo encoders (``sbir_tf.export``): SavedModel signature, embeddings equal to the
in-memory model's, encoder routing per sharing mode, zero-shot feature pipeline, run-directory reuse, CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from sbir_tf import export as E
from sbir_tf.data.preprocessing import default_load_size
from sbir_tf.models.backbones import vgg16_feature_extractor, vgg16_trunk
from sbir_tf.models.fg import build_fg_model
from sbir_tf.models.wadcmsn import WADCMSN
from tests.helpers import assert_export_matches

TINY = {"weights": None, "fc_dims": (32,), "embedding_dim": 16, "decoder_channels": (16, 8, 8, 8, 8, 8)}
#: Exported vs in-memory embeddings, on the same uint8 images: float32 round-off only (measured: below 1e-7).
ATOL = 1e-5


def _uint8(n=3, h=50, w=40, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3)).astype(np.uint8)


def _fg_run(tmp_path: Path, sharing="siamese", image_size=32, load_size=None, **model) -> tuple[Path, object]:
    run = tmp_path / "run"
    run.mkdir()
    fg = build_fg_model({**TINY, "sharing": sharing, **model}, num_classes=3, image_size=image_size)
    (run / "config.json").write_text(json.dumps({"data": {"image_size": image_size, "load_size": load_size}}))
    E.save_run_model(fg, run)
    return run, fg


def _in_memory(encoder, images, image_size=32, load_size=None):
    load = default_load_size(image_size) if load_size is None else load_size
    return np.asarray(encoder(E.evaluation_preprocess(images, image_size, load), training=False))


def test_evaluation_preprocess_is_the_eval_pipeline(tmp_path):
    """The export's batch preprocessing equals :func:`sbir_tf.data.pipeline.image_dataset` on the same pixels."""
    from PIL import Image

    from sbir_tf.data.pipeline import image_dataset
    from sbir_tf.data.records import Record

    images = _uint8(n=2, h=61, w=61, seed=4)
    records = []
    for i, img in enumerate(images):
        path = tmp_path / f"{i}.png"
        Image.fromarray(img).save(path)
        records.append(Record(str(path), "c", f"p{i}", "photo"))
    expected = next(iter(image_dataset(records, image_size=32, load_size=45, batch_size=2))).numpy()
    got = E.evaluation_preprocess(images, 32, 45).numpy()
    assert got.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("sharing", ["siamese", "heterogeneous", "hybrid", "hybrid_fc"])
def test_fine_grained_export_matches_the_model_and_routes_each_domain(tmp_path, sharing):
    run, model = _fg_run(tmp_path, sharing)
    info = E.export_run(run, tmp_path / "out")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"sketch_encoder", "photo_encoder", "export.json"}
    assert json.loads((out / "export.json").read_text()) == info
    assert info["format"] == 1 and info["task"] == "fine_grained" and info["metric"] == "euclidean"
    assert info["image_size"] == 32 and info["load_size"] == 37 and info["embedding_dim"] == 16
    assert info["config"] == {"data": {"image_size": 32, "load_size": None}}
    assert info["source_model_sha256"] == E.file_sha256(run / "model.keras")
    images = _uint8()
    expected = {"sketch": _in_memory(model.sketch_encoder, images), "photo": _in_memory(model.photo_encoder, images)}
    diffs = assert_export_matches(E.load_encoders(out), images, expected, atol=ATOL)
    assert max(diffs.values()) < ATOL  # measured: about 3e-8
    if sharing != "siamese":  # a swapped routing would match the other encoder instead
        assert not np.allclose(expected["sketch"], expected["photo"], atol=1e-3)


def test_xla_and_plain_exports_agree(tmp_path):
    """The encoders are XLA-compiled by default (recorded in export.json); ``xla=False`` gives the plain kernels.
    Both embed like the in-memory model (measured: XLA within 6e-7 at 112 px, plain within 6e-8)."""
    run, model = _fg_run(tmp_path, "heterogeneous")
    assert E.export_run(run, tmp_path / "xla")["xla"] is True
    assert E.export_run(run, tmp_path / "plain", xla=False)["xla"] is False
    images = _uint8()
    expected = _in_memory(model.sketch_encoder, images)
    for name in ("xla", "plain"):
        got = E.load_encoders(tmp_path / name).sketch(images)
        np.testing.assert_allclose(got, expected, atol=ATOL)
    assert E.main([str(run), "--out", str(tmp_path / "cli"), "--no_xla"]) == 0
    assert json.loads((tmp_path / "cli" / "export.json").read_text())["xla"] is False


def test_saved_model_signature_takes_uint8_images_of_any_size(tmp_path):
    run, model = _fg_run(tmp_path, "heterogeneous")
    E.export_run(run, tmp_path / "out")
    serving = tf.saved_model.load(str(tmp_path / "out" / "sketch_encoder")).signatures["serving_default"]
    (args, kwargs) = serving.structured_input_signature
    assert args == () and list(kwargs) == ["images"]
    assert kwargs["images"].dtype == tf.uint8 and kwargs["images"].shape.as_list() == [None, None, None, 3]
    assert serving.structured_outputs["embedding"].shape.as_list() == [None, 16]
    for h, w in ((32, 32), (50, 40), (256, 256)):
        images = _uint8(n=2, h=h, w=w, seed=h)
        emb = serving(images=tf.constant(images))["embedding"].numpy()
        assert emb.dtype == np.float32 and emb.shape == (2, 16)
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(emb, _in_memory(model.sketch_encoder, images), atol=ATOL)


def test_export_uses_the_runs_load_size(tmp_path):
    run, model = _fg_run(tmp_path, load_size=48)
    encoders = E.load_encoders(run)
    assert encoders.info["load_size"] == 48
    images = _uint8(n=2, h=64, w=64)
    np.testing.assert_allclose(encoders.photo(images), _in_memory(model.photo_encoder, images, load_size=48),
                               atol=ATOL)
    assert not np.allclose(encoders.photo(images), _in_memory(model.photo_encoder, images), atol=1e-3)


def test_model_id_is_a_hash_of_the_exported_weights(tmp_path):
    run, model = _fg_run(tmp_path, "hybrid")
    first = E.export_run(run, tmp_path / "a")
    variables = E.inference_variables(model.sketch_encoder)
    variables += [v for v in E.inference_variables(model.photo_encoder) if id(v) not in {id(u) for u in variables}]
    assert all("seed_generator" not in v.path for v in variables) and len(variables) == 2 * 13 * 2 + 2 * 2 + 2
    settings = {"task": "fine_grained", "image_size": 32, "load_size": 37}
    assert E.identity_settings("fine_grained", first) == settings
    assert first["model_id"] == E.weights_sha256(variables, settings)
    assert first["model_id"] != E.weights_sha256(variables, {**settings, "load_size": 48})
    assert first["model_id"] != E.weights_sha256(variables)
    # a training-time call advances the dropout seed generators but leaves the weights, and so the id, unchanged
    assert any("seed_generator" in v.path for v in model.sketch_encoder.variables)
    before = E.weights_sha256(E.inference_variables(model.sketch_encoder))
    model.sketch_encoder(np.zeros((1, 32, 32, 3), np.float32), training=True)
    assert E.weights_sha256(E.inference_variables(model.sketch_encoder)) == before
    kernel = model.photo_encoder.head.get_layer("embedding").kernel
    kernel.assign(kernel.numpy() * 2.0)
    E.save_run_model(model, run)
    assert E.export_run(run, tmp_path / "c")["model_id"] != first["model_id"]


def test_load_encoders_on_a_run_dir_exports_once_and_redoes_it_when_the_model_changes(tmp_path):
    run, model = _fg_run(tmp_path)
    first = E.load_encoders(run)
    assert first.path == run / "export" and (run / "export" / "export.json").is_file()
    stamp = (run / "export" / "export.json").stat().st_mtime_ns
    again = E.load_encoders(run)
    assert (run / "export" / "export.json").stat().st_mtime_ns == stamp and again.info == first.info
    kernel = model.photo_encoder.head.get_layer("embedding").kernel
    kernel.assign(-kernel.numpy())
    E.save_run_model(model, run)
    redone = E.load_encoders(run)
    assert redone.info["model_id"] != first.info["model_id"]
    images = _uint8(n=2)
    np.testing.assert_allclose(redone.sketch(images), -first.sketch(images), atol=ATOL)  # l2(-x) = -l2(x)


def test_encoders_reject_bad_images_with_the_fix(tmp_path):
    run, _ = _fg_run(tmp_path)
    encoders = E.load_encoders(run)
    with pytest.raises(ValueError, match="uint8"):
        encoders.sketch(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[B, H, W, 3\]"):
        encoders.photo(np.zeros((32, 32, 3), np.uint8))
    assert encoders.photo(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 16)
    batch = _uint8(n=E.ENCODE_BATCH + 3, h=32, w=32)  # more than one call of the signature
    np.testing.assert_allclose(encoders.sketch(batch)[-3:], encoders.sketch(batch[-3:]), atol=ATOL)


def _zs_run(tmp_path: Path, normalize="l2", weights="file", real_data=False) -> tuple[Path, WADCMSN, str]:
    """A zero-shot run: a tiny WAD-CMSN on 512-d features of a VGG16 whose weights are a local file."""
    path = tmp_path / "vgg.weights.h5"
    vgg16_trunk((32, 32, 3), name="source").save_weights(path)
    model = WADCMSN(3, visual_dim=512, semantic_dim=8, generator_hidden=[16], critic_hidden=[8], name="wadcmsn")
    run = tmp_path / "run"
    run.mkdir()
    config = {"data": {"root": "/somewhere" if real_data else None, "prepared_dir": None},
              "features": {"weights": str(path) if weights == "file" else weights, "image_size": 64,
                           "synthetic_image_size": 32, "load_size": None, "normalize": normalize},
              "eval": {"metric": "cosine"}}
    (run / "config.json").write_text(json.dumps(config))
    E.save_run_model(model, run)
    return run, model, str(path)


@pytest.mark.parametrize("normalize", ["l2", "none"])
def test_zero_shot_export_is_features_then_normalisation_then_generator(tmp_path, normalize):
    from sbir_tf.semantics.side_info import l2_normalize_rows

    run, model, weights = _zs_run(tmp_path, normalize)
    encoders = E.load_encoders(run)
    info = encoders.info
    assert info["task"] == "zero_shot" and info["image_size"] == 32 and info["embedding_dim"] == 8
    assert info["metric"] == "cosine" and info["features"] == {"weights": weights, "normalize": normalize}
    images = _uint8(n=3, h=60, w=60)
    # the run's feature path: sbir_tf.features' extractor on the evaluation crops, the run's normalisation
    features = vgg16_feature_extractor(32, weights=weights)(E.evaluation_preprocess(images, 32, 37)).numpy()
    if normalize == "l2":
        features = l2_normalize_rows(features)
    expected = {"sketch": model.embed_sketches(features), "photo": model.embed_photos(features)}
    diffs = assert_export_matches(encoders, images, expected, atol=ATOL)
    assert max(diffs.values()) < ATOL  # measured: about 3e-8
    assert not np.allclose(expected["sketch"], expected["photo"], atol=1e-3)


def test_zero_shot_image_size_follows_real_or_synthetic_data(tmp_path):
    run, _, _ = _zs_run(tmp_path, real_data=True)
    assert E.zero_shot_settings(json.loads((run / "config.json").read_text()))["image_size"] == 64
    config = json.loads((run / "config.json").read_text())
    config["data"]["root"] = None
    assert E.zero_shot_settings(config)["image_size"] == 32


def test_zero_shot_export_needs_a_reproducible_feature_extractor(tmp_path):
    run, _, _ = _zs_run(tmp_path, weights=None)
    with pytest.raises(E.ExportError, match="features.weights is None"):
        E.export_run(run)
    (run / "config.json").unlink()
    with pytest.raises(E.ExportError, match="features"):
        E.export_run(run)


def test_fine_grained_config_must_match_the_model(tmp_path):
    run, _ = _fg_run(tmp_path)
    (run / "config.json").write_text(json.dumps({"data": {"image_size": 64}}))
    with pytest.raises(E.ExportError, match="image_size=64"):
        E.export_run(run)


def test_cli_exports_and_reports_bad_directories(tmp_path, capsys):
    run, _ = _fg_run(tmp_path)
    assert E.main([str(run), "--out", str(tmp_path / "cli")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["out"] == str(tmp_path / "cli") and printed["task"] == "fine_grained"
    assert (tmp_path / "cli" / "photo_encoder" / "saved_model.pb").is_file()
    assert E.main([str(tmp_path / "nothing")]) == 2
    assert "no model.keras" in capsys.readouterr().err
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("keep")
    assert E.main([str(run), "--out", str(tmp_path / "occupied")]) == 2
    assert (tmp_path / "occupied" / "notes.txt").read_text() == "keep"


def test_load_encoders_names_what_it_needs(tmp_path):
    with pytest.raises(E.ExportError, match="neither an export directory"):
        E.load_encoders(tmp_path)


def test_sketchy_mini_images_embed_as_in_the_evaluation_pipeline(tmp_path, sketchy_mini_root):
    """Real Sketchy images (files decoded by the data pipeline): the exported encoders give the in-memory model's
    embeddings of :func:`sbir_tf.data.pipeline.image_dataset` (max abs difference stated below)."""
    from sbir_tf.data.pipeline import image_dataset
    from sbir_tf.data.preprocessing import decode_to_rgb
    from sbir_tf.data.records import Record

    root = Path(sketchy_mini_root) / "256x256"
    sketches = sorted((root / "sketch" / "tx_000000000000" / "airplane").glob("*.png"))[:3]
    photos = sorted((root / "photo" / "tx_000000000000" / "airplane").glob("*.jpg"))[:3]
    assert len(sketches) == 3 and len(photos) == 3
    run, model = _fg_run(tmp_path, "heterogeneous", weights="hed", use_decoder=False)
    encoders = E.load_encoders(run)
    diffs = {}
    for domain, files, encoder in (("sketch", sketches, model.sketch_encoder),
                                   ("photo", photos, model.photo_encoder)):
        records = [Record(str(f), "airplane", f.stem.split("-")[0], domain) for f in files]
        batch = next(iter(image_dataset(records, image_size=32, batch_size=len(records))))
        expected = np.asarray(encoder(batch, training=False))
        images = np.stack([decode_to_rgb(tf.io.read_file(str(f))).numpy() for f in files])
        diffs.update(assert_export_matches(encoders, images, {domain: expected}, atol=ATOL))
    assert max(diffs.values()) < ATOL  # measured: below 1e-7 (float32 round-off)


def test_sketchy_mini_zero_shot_export_equals_the_feature_cache_path(tmp_path, sketchy_mini_root):
    """Real Sketchy images: the exported zero-shot encoders equal the run's path, i.e. features from
    :func:`sbir_tf.features.extract_features` (files decoded by the data pipeline), the run's ``l2`` normalisation,
    then ``G_sk`` / ``G_im``."""
    from sbir_tf.data.preprocessing import decode_to_rgb
    from sbir_tf.data.records import Record
    from sbir_tf.features import extract_features
    from sbir_tf.semantics.side_info import l2_normalize_rows

    root = Path(sketchy_mini_root) / "256x256"
    files = {"sketch": sorted((root / "sketch" / "tx_000000000000" / "ant").glob("*.png"))[:2],
             "photo": sorted((root / "photo" / "tx_000000000000" / "ant").glob("*.jpg"))[:2]}
    run, model, weights = _zs_run(tmp_path, "l2")
    encoders = E.load_encoders(run)
    diffs = {}
    for domain, paths in files.items():
        records = [Record(str(f), "ant", f.stem.split("-")[0], domain) for f in paths]
        features = l2_normalize_rows(extract_features(records, weights=weights, image_size=32))
        expected = model.embed_sketches(features) if domain == "sketch" else model.embed_photos(features)
        images = np.stack([decode_to_rgb(tf.io.read_file(str(f))).numpy() for f in paths])
        diffs.update(assert_export_matches(encoders, images, {domain: expected}, atol=ATOL))
    assert max(diffs.values()) < ATOL  # measured: below 1e-7 (float32 round-off)


@pytest.mark.slow
def test_tflite_files_embed_images_resized_to_load_size(tmp_path):
    from sbir_tf.data.preprocessing import resize_square

    run, model = _fg_run(tmp_path, "heterogeneous")
    info = E.export_run(run, tmp_path / "out", tflite=True)
    assert info["tflite"] == ["sketch_encoder.tflite", "photo_encoder.tflite"]
    images = np.round(resize_square(_uint8(n=2, h=80, w=60), 37).numpy()).astype(np.uint8)
    for domain, encoder in (("sketch", model.sketch_encoder), ("photo", model.photo_encoder)):
        interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "out" / f"{domain}_encoder.tflite"))
        inp = interpreter.get_input_details()[0]
        assert inp["dtype"] == np.uint8 and list(inp["shape_signature"]) == [-1, 37, 37, 3]
        interpreter.resize_tensor_input(inp["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], images)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        expected = np.asarray(encoder(E.tflite_preprocess(images, 32, 37), training=False))
        np.testing.assert_allclose(got, expected, atol=ATOL)  # measured: about 2e-7
