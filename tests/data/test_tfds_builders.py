"""TFDS builders on tiny fake manual folders: build into a tmp data_dir, read back, compare with the raw readers."""
import zipfile

import numpy as np
import pytest
import scipy.io
import tensorflow_datasets as tfds
from PIL import Image

from sbir_tf.data.pipeline import image_dataset, triplet_dataset
from sbir_tf.data.registry import read_dataset
from sbir_tf.data.tfds_builders import QmulV1, Sketchy, SketchyExtended, TuberlinExtended, load_prepared

CLASSES = {"airplane": "n02691156", "cat": "n02121620"}


def _image(path, seed, mode="RGB"):
    rng = np.random.default_rng(seed)
    shape = (20, 20) if mode == "L" else (20, 20, 3)
    Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode).save(path)


def _tiny_sketchy(root):
    """2 classes x 3 photos (2 sketched, 1 distractor); one test instance per class; one corrupt sketch."""
    test = []
    for c, (cls, wnid) in enumerate(CLASSES.items()):
        sdir = root / "256x256" / "sketch" / "tx_000000000000" / cls
        pdir = root / "256x256" / "photo" / "tx_000000000000" / cls
        sdir.mkdir(parents=True)
        pdir.mkdir(parents=True)
        for k in range(3):
            pid = f"{wnid}_{k + 1}"
            _image(pdir / f"{pid}.jpg", 100 * c + k)
            if k < 2:
                for j in (1, 2):
                    _image(sdir / f"{pid}-{j}.png", 1000 + 100 * c + 10 * k + j)
        test.append(f"{cls}/{wnid}_1.jpg")
    (root / "256x256" / "sketch" / "tx_000000000000" / "cat" / "n02121620_2-3.png").write_bytes(b"broken")
    (root / "info").mkdir()
    (root / "info" / "testset.txt").write_text("\n".join(test) + "\n")
    return root


def _prepare(builder_cls, manual, data_dir, config=None):
    builder = builder_cls(data_dir=str(data_dir), config=config)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
    return builder


def _key(records):
    return sorted((r.domain, r.class_name, r.instance_id) for r in records)


def _check_same_as_reader(prepared, raw):
    assert _key(prepared.sketches) == _key(raw.sketches)
    assert _key(prepared.photos) == _key(raw.photos)
    assert prepared.classes == raw.classes
    assert prepared.test_instances == raw.test_instances


def test_manual_instructions_name_the_archives():
    assert "rendered_256x256.7z" in Sketchy.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "info" in Sketchy.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "EXTEND_image_sketchy" in SketchyExtended.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "png.zip" in TuberlinExtended.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "ImageResized" in TuberlinExtended.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "_sketch_db_train.mat" in QmulV1.MANUAL_DOWNLOAD_INSTRUCTIONS
    assert {"sketchy", "sketchy_extended", "tuberlin_extended", "qmul_v1"} <= set(tfds.list_builders())


def test_sketchy_builder_roundtrip_and_pipeline(tmp_path):
    manual = _tiny_sketchy(tmp_path / "manual")
    builder = _prepare(Sketchy, manual, tmp_path / "tfds")
    assert builder.info.splits["sketch"].num_examples == 8  # the corrupt sketch is skipped by the reader
    assert builder.info.splits["photo"].num_examples == 6
    raw = read_dataset("sketchy", manual)
    prepared = load_prepared("sketchy", tmp_path / "tfds")
    _check_same_as_reader(prepared, raw)
    assert prepared.test_instances == {"n02691156_1", "n02121620_1"}

    # Features: original bytes kept, labels index the sorted class list, fg flag follows the test list.
    ex = next(iter(builder.as_dataset(split="photo", decoders={"image": tfds.decode.SkipDecoding()})
                   .filter(lambda e: e["instance_id"] == "n02121620_1")))
    src = ex["source"].numpy().decode()
    assert ex["image"].numpy() == open(src, "rb").read()
    assert int(ex["label"]) == 1 and ex["class_name"].numpy() == b"cat" and bool(ex["fg_test"])
    assert builder.info.metadata["classes"] == ["airplane", "cat"]

    # The pipelines read prepared (in-memory) and raw sources alike.
    by_id = {r.instance_id: r for r in raw.photos}
    recs = sorted(prepared.photos, key=lambda r: r.instance_id)
    from_prepared = np.concatenate([b.numpy() for b in image_dataset(recs, arrays=prepared.arrays, image_size=16)])
    from_files = np.concatenate([b.numpy() for b in image_dataset([by_id[r.instance_id] for r in recs],
                                                                  image_size=16)])
    np.testing.assert_array_equal(from_prepared, from_files)
    batch = next(iter(triplet_dataset(prepared.sketches, prepared.photos, prepared.class_to_label(),
                                      arrays=prepared.arrays, image_size=16, batch_size=4)))
    assert batch["sketch"].shape == (4, 16, 16, 3)


def test_sketchy_builder_has_one_config_per_sketch_rendering(tmp_path):
    """``sketchy/tx_000100000000`` reads that sketch folder (photos stay tx_000000000000) and records it; a config
    whose folder is missing from the manual folder fails naming the folders that exist."""
    from sbir_tf.data.records import DataError
    from sbir_tf.data.sketchy import SKETCH_RENDERINGS
    from tests.data.helpers import make_tiny_sketchy

    assert [c.name for c in Sketchy.BUILDER_CONFIGS] == list(SKETCH_RENDERINGS)
    assert tfds.builder("sketchy", data_dir=str(tmp_path)).builder_config.name == "tx_000000000000"
    manual = make_tiny_sketchy(tmp_path / "manual", extra_sketch_renderings=("tx_000100000000",))
    builder = _prepare(Sketchy, manual, tmp_path / "tfds", config="tx_000100000000")
    assert builder.info.full_name.startswith("sketchy/tx_000100000000/")
    assert builder.info.metadata["notes"]["sketch_rendering"] == "tx_000100000000"
    examples = list(builder.as_dataset(split="sketch", decoders={"image": tfds.decode.SkipDecoding()})
                    .as_numpy_iterator())
    assert len(examples) == 12 and all(b"/sketch/tx_000100000000/" in ex["source"] for ex in examples)
    for ex in examples[:3]:  # the stored bytes are the centred rendering's file, not the default one's
        assert ex["image"] == open(ex["source"].decode(), "rb").read()
        assert ex["image"] != open(ex["source"].decode().replace("tx_000100000000", "tx_000000000000"), "rb").read()
    photos = builder.as_dataset(split="photo").as_numpy_iterator()
    assert all(b"/photo/tx_000000000000/" in ex["source"] for ex in photos)
    prepared = load_prepared("sketchy/tx_000100000000", tmp_path / "tfds")
    _check_same_as_reader(prepared, read_dataset("sketchy", manual, rendering="tx_000100000000"))
    with pytest.raises(DataError, match="tx_000000000110.*not found"):
        _prepare(Sketchy, manual, tmp_path / "tfds", config="tx_000000000110")


def test_sketchy_extended_builder(tmp_path):
    manual = _tiny_sketchy(tmp_path / "manual")
    extra = manual / "EXTEND_image_sketchy" / "cat"
    extra.mkdir(parents=True)
    _image(extra / "n02121620_99.jpg", 7)
    _prepare(SketchyExtended, manual, tmp_path / "tfds")
    prepared = load_prepared("sketchy_extended", tmp_path / "tfds")
    _check_same_as_reader(prepared, read_dataset("sketchy_extended", manual))
    assert len(prepared.photos) == 7


def test_tuberlin_extended_builder_extracts_png_zip(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    staging = tmp_path / "staging"
    for cls in ("alarm clock", "t-shirt"):
        (staging / "png" / cls).mkdir(parents=True)
        (manual / "ImageResized" / cls.replace(" ", "_")).mkdir(parents=True)
        for k in range(2):
            _image(staging / "png" / cls / f"{k}.png", k, mode="L")  # TU-Berlin sketches are grey PNGs
            _image(manual / "ImageResized" / cls.replace(" ", "_") / f"img_{k}.jpg", 10 + k)
    with zipfile.ZipFile(manual / "png.zip", "w") as zf:
        for f in sorted((staging / "png").rglob("*.png")):
            zf.write(f, f.relative_to(staging))
    _prepare(TuberlinExtended, manual, tmp_path / "tfds")
    assert not (manual / "png").exists()  # the manual folder is never written to
    prepared = load_prepared("tuberlin_extended", tmp_path / "tfds")
    (staging / "png").rename(manual / "png")
    _check_same_as_reader(prepared, read_dataset("tuberlin_extended", manual))
    assert prepared.classes == ["alarm_clock", "t_shirt"]
    (batch,) = list(image_dataset(prepared.sketches, arrays=prepared.arrays, image_size=16, batch_size=8))
    assert batch.shape == (4, 16, 16, 3)


def test_qmul_v1_builder_configs(tmp_path):
    manual = tmp_path / "manual" / "shoes"
    manual.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("test", 2)):
        for kind in ("sketch", "edge"):
            data = rng.integers(0, 256, size=(n, 32, 32), dtype=np.uint8)
            scipy.io.savemat(manual / f"shoes_{kind}_db_{split}.mat", {"data": data})
    builder = _prepare(QmulV1, manual.parent, tmp_path / "tfds", config="shoes")
    assert builder.info.full_name.startswith("qmul_v1/shoes")
    prepared = load_prepared("qmul_v1/shoes", tmp_path / "tfds")
    raw = read_dataset("qmul_v1", manual.parent, category="shoes")
    _check_same_as_reader(prepared, raw)
    # Array rows were PNG-encoded losslessly: decoded prepared pixels equal the .mat rows.
    import tensorflow as tf
    rec = next(r for r in prepared.sketches if r.instance_id == "shoes_test_0001")
    key, row = rec.path.rsplit("#", 1)
    decoded = tf.io.decode_png(prepared.arrays[key][int(row)]).numpy()[..., 0]
    raw_rec = next(r for r in raw.sketches if r.instance_id == "shoes_test_0001")
    rkey, rrow = raw_rec.path.rsplit("#", 1)
    np.testing.assert_array_equal(decoded, raw.arrays[rkey][int(rrow)])


def test_load_prepared_errors_when_not_built(tmp_path):
    from sbir_tf.data.records import DataError
    with pytest.raises(DataError, match="not prepared"):
        load_prepared("sketchy", tmp_path / "empty")
