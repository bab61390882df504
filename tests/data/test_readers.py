"""Each reader on real data where available, otherwise on tiny generated folders."""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import make_tiny_qmul_v1, make_tiny_qmul_v2, make_tiny_sketchy, make_tiny_tuberlin
from PIL import Image

from sbir_tf.data.qmul_v1 import read_qmul_v1
from sbir_tf.data.qmul_v2 import parse_key, rasterise_strokes, read_qmul_v2, safe_load_pickle
from sbir_tf.data.records import DataError, array_ref
from sbir_tf.data.registry import read_dataset
from sbir_tf.data.sketchy import photo_id_from_line, read_sketchy, wordnet_id
from sbir_tf.data.sketchy_extended import read_sketchy_extended
from sbir_tf.data.tuberlin import read_tuberlin_extended


@pytest.fixture(scope="module")
def sketchy_mini(sketchy_mini_root):
    return read_sketchy(sketchy_mini_root)


def test_sketchy_mini_counts(sketchy_mini):
    c = sketchy_mini.counts()
    assert (c["classes"], c["photos"], c["sketches"], c["sketched_photos"]) == (125, 3125, 3125, 578)
    assert len(sketchy_mini.test_instances) == 250
    assert sketchy_mini.skipped == []


def test_sketchy_mini_names_and_wnids(sketchy_mini):
    assert "hot_air_balloon" in sketchy_mini.classes and "jack_o_lantern" in sketchy_mini.classes
    assert "car_(sedan)" in sketchy_mini.classes
    assert sketchy_mini.notes["wnids"]["airplane"] == "n02691156"
    sketch = next(s for s in sketchy_mini.sketches if s.path.endswith("n02691156_10151-1.png"))
    assert (sketch.class_name, sketch.instance_id) == ("airplane", "n02691156_10151")
    photo_ids = {p.instance_id for p in sketchy_mini.photos}
    assert all(s.instance_id in photo_ids for s in sketchy_mini.sketches)


def test_sketchy_accepts_every_root_form(sketchy_mini_root):
    inner = read_sketchy(sketchy_mini_root / "256x256")
    assert len(inner.photos) == 3125 and len(inner.test_instances) == 250  # info/ found one level up


def test_wordnet_id_and_testset_line_forms():
    assert wordnet_id("n02691156_10151") == "n02691156"
    assert wordnet_id("img_12") == ""
    for line in ("airplane/n02691156_10151.jpg", "airplane/n02691156_10151", "n02691156_10151", " n02691156_10151.JPG\n"):
        assert photo_id_from_line(line) == "n02691156_10151"


def test_sketchy_rendered_layout_and_bare_testset(tmp_path):
    make_tiny_sketchy(tmp_path / "rendered_256x256", classes=("hot-air_balloon", "cat"), testset=False)
    (tmp_path / "rendered_256x256" / "256x256").rename(tmp_path / "tmp")
    base = tmp_path / "rendered_256x256"
    (tmp_path / "tmp").rename(base / "256x256")
    (tmp_path / "info").mkdir()
    (tmp_path / "info" / "testset.txt").write_text("n00000000_2\ncat/n00000001_1\n")
    index = read_sketchy(tmp_path)
    assert index.classes == ["cat", "hot_air_balloon"]
    assert index.test_instances == {"n00000000_2", "n00000001_1"}
    assert read_sketchy(base / "256x256").counts() == index.counts()


def test_sketchy_rendering_choice_and_invalid_lists(tmp_path):
    root = make_tiny_sketchy(tmp_path, classes=("cat",), photos_per_class=2)
    alt = root / "256x256" / "sketch" / "tx_000100000000" / "cat"
    alt.mkdir(parents=True)
    Image.new("RGB", (32, 32), "white").save(alt / "n00000000_1-1.png")
    index = read_sketchy(root, rendering="tx_000100000000")
    assert len(index.sketches) == 1 and index.notes["photo_rendering"] == "tx_000000000000"
    with pytest.raises(DataError, match="tx_000000000000"):
        read_sketchy(root, rendering="tx_000900000000")
    (root / "info" / "invalid-error.txt").write_text("n00000000_1-2\ncat/n00000000_2-1.png\n")
    assert len(read_sketchy(root).sketches) == 4
    filtered = read_sketchy(root, exclude_invalid=True)
    assert len(filtered.sketches) == 2 and filtered.notes["excluded_invalid"] == 2


def _rendering_of(record) -> str:
    return Path(record.path).parts[-3]


def test_sketch_and_photo_renderings_are_chosen_separately(tmp_path):
    """A layout with both photo renderings and two sketch renderings: each domain reads the folder it is given."""
    import shutil

    from sbir_tf.data.sketchy import CENTRED_SKETCH_RENDERING, PHOTO_RENDERINGS, SKETCH_RENDERINGS
    from sbir_tf.configs import fg as fg_presets
    from sbir_tf.tasks.fg import FGTask

    root = make_tiny_sketchy(tmp_path, classes=("cat", "dog"), photos_per_class=2)
    for domain in ("sketch", "photo"):
        base = root / "256x256" / domain
        shutil.copytree(base / "tx_000000000000", base / "tx_000100000000")
    assert CENTRED_SKETCH_RENDERING == "tx_000100000000" and "centred and uniformly scaled" in SKETCH_RENDERINGS[
        CENTRED_SKETCH_RENDERING]
    assert "bounding box" in PHOTO_RENDERINGS["tx_000100000000"]

    centred = read_sketchy(root, rendering="tx_000100000000")  # photos stay whole: no switch to bounding-box crops
    assert {_rendering_of(r) for r in centred.sketches} == {"tx_000100000000"}
    assert {_rendering_of(r) for r in centred.photos} == {"tx_000000000000"}
    assert (centred.notes["sketch_rendering"], centred.notes["photo_rendering"]) == ("tx_000100000000",
                                                                                     "tx_000000000000")
    crops = read_sketchy(root, photo_rendering="tx_000100000000")
    assert {_rendering_of(r) for r in crops.sketches} == {"tx_000000000000"}
    assert {_rendering_of(r) for r in crops.photos} == {"tx_000100000000"}
    assert centred.counts() == crops.counts() == read_sketchy(root).counts()

    paper = fg_presets.get_config("paper")
    assert (paper.data.sketch_rendering, paper.data.photo_rendering) == ("tx_000100000000", "tx_000000000000")
    for name in ("cpu", "smoke"):
        cfg = fg_presets.get_config(name)
        assert (cfg.data.sketch_rendering, cfg.data.photo_rendering) == ("tx_000000000000", "tx_000000000000")
    paper.data.root = str(root)
    index, split = FGTask().load_data(paper)  # the experiments pass both settings to the reader
    assert {_rendering_of(r) for r in split.train_sketches + split.query_sketches} == {"tx_000100000000"}
    assert {_rendering_of(r) for r in split.train_photos + split.gallery_photos} == {"tx_000000000000"}
    paper.data.photo_rendering = "tx_000100000000"
    index, split = FGTask().load_data(paper)
    assert {_rendering_of(r) for r in index.photos} == {"tx_000100000000"}


def test_missing_rendering_names_the_setting(tmp_path):
    from sbir_tf.configs import fg as fg_presets
    from sbir_tf.tasks.fg import FGTask

    root = make_tiny_sketchy(tmp_path, classes=("cat",), photos_per_class=2)
    with pytest.raises(DataError, match=r"photo rendering folder .*tx_000100000000.*tx_000000000000.*"
                                        r"data\.photo_rendering"):
        read_sketchy(root, photo_rendering="tx_000100000000")
    cfg = fg_presets.get_config("paper")  # the centred sketches, absent here (as in sketchy_mini)
    cfg.data.root = str(root)
    with pytest.raises(DataError, match=r"sketch rendering folder .*available: \['tx_000000000000'\].*"
                                        r"data\.sketch_rendering"):
        FGTask().load_data(cfg)


def test_sketchy_extended_merges_photos(tmp_path):
    root = make_tiny_sketchy(tmp_path, classes=("hot-air_balloon", "cat"), photos_per_class=2)
    ext = root / "EXTEND_image_sketchy" / "hot_air_balloon"
    ext.mkdir(parents=True)
    for name in ("n09999999_1", "n00000000_1"):  # the second duplicates a Sketchy photo
        Image.new("RGB", (32, 32), "blue").save(ext / f"{name}.jpg")
    index = read_sketchy_extended(root)
    assert index.name == "sketchy_extended"
    assert len(index.photos) == 5 and index.notes["extended_duplicates"] == 1
    assert {p.class_name for p in index.photos if "EXTEND" in p.path} == {"hot_air_balloon"}
    assert index.test_instances == read_sketchy(root).test_instances
    with pytest.raises(DataError, match="extended_photo"):
        read_sketchy_extended(make_tiny_sketchy(tmp_path / "plain"))


def test_tuberlin_matches_class_spellings(tmp_path):
    root = make_tiny_tuberlin(tmp_path)
    index = read_tuberlin_extended(root)
    assert index.classes == ["alarm_clock", "t_shirt"]
    assert len(index.sketches) == 6 and len(index.photos) == 4
    assert all(s.instance_id == "" for s in index.sketches)
    assert index.test_instances is None and index.counts()["sketched_photos"] == 0


def test_qmul_v1_real_pair_counts(qmul_v1_root):
    for category, (n_train, n_test) in {"shoes": (304, 115), "chairs": (200, 97), "handbags": (400, 168)}.items():
        index = read_qmul_v1(qmul_v1_root, category)
        assert index.notes["pairs"] == {"train": n_train, "test": n_test}
        assert len(index.test_instances) == n_test and index.classes == [category]
        key, row = array_ref(index.sketches[-1].path)
        assert index.arrays[key].shape == (n_test, 256, 256) and row == n_test - 1
        assert index.sketches[-1].instance_id == index.photos[-1].instance_id


def test_qmul_v1_tiny_and_set_folder_root(tmp_path):
    root = make_tiny_qmul_v1(tmp_path, "chairs")
    a, b = read_qmul_v1(root, "chair"), read_qmul_v1(root / "chairs", "chairs")
    assert a.counts() == b.counts() and a.notes["pairs"] == {"train": 4, "test": 2}
    with pytest.raises(DataError, match="unknown QMUL-V1 category"):
        read_qmul_v1(root, "hats")
    with pytest.raises(DataError, match=r"shoes_\{sketch,edge\}_db"):
        read_qmul_v1(root, "shoes")


def test_qmul_v2_reads_and_rasterises(tmp_path):
    root = make_tiny_qmul_v2(tmp_path)
    index = read_qmul_v2(root, category="shoes")
    assert len(index.photos) == 2 and len(index.sketches) == 4
    assert index.test_instances == {"a_b"}  # a photo id containing "_" still parses
    key, _ = array_ref(index.sketches[0].path)
    arr = index.arrays[key]
    assert arr.shape == (4, 256, 256) and arr.dtype == np.uint8
    assert {s.instance_id for s in index.sketches} == {"2429245009", "a_b"}


def test_qmul_v2_key_format():
    assert parse_key("/train/2429245009_1") == ("train", "2429245009", 1)
    assert parse_key("ShoeV2/testA/a_b_12.svg") == ("test", "a_b", 12)
    assert parse_key("2429245009_1") is None and parse_key("/val/x_1") is None


def test_rasterise_pen_up_breaks_strokes():
    img = rasterise_strokes([[10, 10, 0], [50, 10, 1], [10, 100, 0], [50, 100, 1]], width=1)
    assert img[10, 30] == 0 and img[100, 30] == 0
    assert img[55, 30] == 255  # no line joins the end of stroke 1 to the start of stroke 2
    assert img[55, 10] == 255


def test_safe_pickle_loads_arrays_and_refuses_code(tmp_path):
    good = tmp_path / "good"
    good.write_bytes(pickle.dumps({"/train/x_1": np.arange(6.0).reshape(2, 3)}, protocol=5))
    assert safe_load_pickle(good)["/train/x_1"].shape == (2, 3)

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    bad = tmp_path / "Evil_Coordinate"
    bad.write_bytes(pickle.dumps({"/train/x_1": Evil()}))
    with pytest.raises(DataError, match="refusing to load"):
        safe_load_pickle(bad)
    assert not (tmp_path / "pwned").exists()


def test_registry(tmp_path, sketchy_mini_root):
    assert read_dataset("sketchy", sketchy_mini_root).name == "sketchy"
    with pytest.raises(DataError, match="unknown dataset"):
        read_dataset("imagenet", tmp_path)
    with pytest.raises(DataError, match="needs a root"):
        read_dataset("sketchy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean folder gives no skip warnings
        assert read_dataset("tuberlin_extended", make_tiny_tuberlin(tmp_path / "tb")).name == "tuberlin_extended"
