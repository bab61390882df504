"""Unusable files are skipped, counted and reported (or raise under strict); missing folders give one clear error."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
from helpers import make_tiny_qmul_v1, make_tiny_qmul_v2, make_tiny_sketchy, make_tiny_tuberlin
from PIL import Image

from sbir_tf.data.images import image_problem
from sbir_tf.data.qmul_v1 import read_qmul_v1
from sbir_tf.data.qmul_v2 import read_qmul_v2
from sbir_tf.data.records import DataError
from sbir_tf.data.sketchy import read_sketchy
from sbir_tf.data.summary import main, summarize
from sbir_tf.data.tuberlin import read_tuberlin_extended

R = "tx_000000000000"


@pytest.fixture()
def broken_sketchy(tmp_path):
    """A tiny Sketchy folder with one instance of every problem; returns (root, {problem: path})."""
    root = make_tiny_sketchy(tmp_path / "sk", classes=("cat", "dog"), photos_per_class=3)
    photo, sketch = root / "256x256" / "photo" / R, root / "256x256" / "sketch" / R
    bad = {}
    bad["corrupt"] = photo / "cat" / "n00000000_9.jpg"
    bad["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    full = (photo / "dog" / "n00000001_3.jpg").read_bytes()
    bad["truncated"] = photo / "dog" / "n00000001_3.jpg"
    bad["truncated"].write_bytes(full[: len(full) // 2])
    png = (sketch / "dog" / "n00000001_2-1.png").read_bytes()
    bad["truncated_png"] = sketch / "dog" / "n00000001_2-1.png"
    bad["truncated_png"].write_bytes(png[: len(png) - 20])
    bad["not_image"] = photo / "cat" / "notes.txt"
    bad["not_image"].write_text("hello")
    bad["empty_class"] = photo / "bird"
    bad["empty_class"].mkdir()
    (sketch / "bird").mkdir()
    bad["orphan"] = sketch / "cat" / "n00000000_7-1.png"
    Image.new("RGB", (32, 32), "white").save(bad["orphan"])
    bad["bad_name"] = sketch / "cat" / "scribble.png"
    Image.new("RGB", (32, 32), "white").save(bad["bad_name"])
    (photo / "fox").mkdir()
    Image.new("RGB", (32, 32), "red").save(photo / "fox" / "n00000005_1.jpg")
    bad["one_domain"] = photo / "fox"
    return root, bad


def test_image_problem_cases(broken_sketchy):
    _, bad = broken_sketchy
    assert image_problem(bad["corrupt"]).startswith(("corrupt image", "not an image"))
    assert "truncated JPEG" in image_problem(bad["truncated"])
    assert image_problem(bad["truncated_png"]).startswith("corrupt image")
    assert image_problem(bad["not_image"]).startswith("not an image")


def test_every_problem_is_skipped_and_reported(broken_sketchy):
    root, bad = broken_sketchy
    with pytest.warns(UserWarning) as record:
        index = read_sketchy(root)
    skipped = {s.path: s.reason for s in index.skipped}
    for name, path in bad.items():
        assert str(path) in skipped, name
    assert skipped[str(bad["orphan"])].startswith("sketch without photo")
    assert skipped[str(bad["bad_name"])].startswith("bad sketch name")
    assert skipped[str(bad["one_domain"])].startswith("class in one domain only")
    assert skipped[str(bad["empty_class"])].startswith("empty class folder")
    messages = " ".join(str(w.message) for w in record)
    assert str(bad["corrupt"]) in messages and str(bad["orphan"]) in messages
    # cat: 3 photos, 6 sketches; dog: photo 3 truncated (its 2 sketches become orphans), one sketch PNG truncated
    assert index.classes == ["cat", "dog"]
    assert len(index.photos) == 5
    assert len(index.sketches) == 6 + 6 - 2 - 1
    # every planted problem, plus the empty sketch/bird folder and the two orphaned dog sketches
    assert len(index.skipped) == len(bad) + 1 + 2
    assert index.counts()["skipped_by_reason"]["sketch without photo"] == 3


def test_strict_turns_skips_into_errors(broken_sketchy):
    root, _ = broken_sketchy
    with pytest.raises(DataError):
        read_sketchy(root, strict=True)
    assert main(["--dataset", "sketchy", "--root", str(root), "--strict"]) == 2


def test_summary_lists_skips(broken_sketchy, capsys):
    root, bad = broken_sketchy
    assert main(["--dataset", "sketchy", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert str(bad["orphan"]) in out and "sketch without photo" in out
    assert "zero-shot        sempcyc25: not available" in out and "absent from the data" in out


def test_missing_root_and_subfolders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_sketchy(tmp_path / "nowhere")
    (tmp_path / "only_photo" / "photo").mkdir(parents=True)
    with pytest.raises(DataError, match="sketch/ and photo/") as err:
        read_sketchy(tmp_path / "only_photo")
    assert "256x256" in str(err.value)
    root = make_tiny_sketchy(tmp_path / "sk")
    shutil.rmtree(root / "256x256" / "photo" / R)
    with pytest.raises(DataError, match="rendering folder .*photo"):
        read_sketchy(root)
    with pytest.raises(DataError, match="png/<class>"):
        read_tuberlin_extended(tmp_path)


def test_tuberlin_one_domain_class_and_bad_file(tmp_path):
    root = make_tiny_tuberlin(tmp_path, classes=("alarm clock", "t-shirt", "zebra"))
    (root / "png" / "t-shirt" / "README").write_text("x")
    with pytest.warns(UserWarning) as record:
        index = read_tuberlin_extended(root)
    assert any("zebra" in str(w.message) for w in record) and any("README" in str(w.message) for w in record)
    reasons = sorted(s.reason.split(":")[0] for s in index.skipped)
    assert reasons == ["class in one domain only", "not an image"]
    assert index.classes == ["alarm_clock", "t_shirt"]


def test_qmul_v1_damaged_mat_is_a_clear_error(tmp_path):
    root = make_tiny_qmul_v1(tmp_path)
    (root / "shoes" / "shoes_edge_db_test.mat").write_bytes(b"MATLAB 5.0 garbage")
    with pytest.raises(DataError, match="shoes_edge_db_test.mat"):
        read_qmul_v1(root)


def test_qmul_v2_orphan_and_bad_strokes(tmp_path):
    root = make_tiny_qmul_v2(tmp_path)
    path = root / "ShoeV2" / "ShoeV2_Coordinate"
    coords = pickle.loads(path.read_bytes())
    coords["/train/missing_1"] = np.zeros((3, 3))
    coords["/train/2429245009_9"] = np.zeros((0, 3))
    coords["no-split-key"] = np.zeros((3, 3))
    path.write_bytes(pickle.dumps(coords))
    with pytest.warns(UserWarning):
        index = read_qmul_v2(root)
    reasons = sorted(s.reason.split(":")[0] for s in index.skipped)
    assert reasons == ["bad sketch key", "bad stroke data", "sketch without photo"]
    assert len(index.sketches) == 4
    with pytest.raises(DataError):
        read_qmul_v2(root, strict=True)


def test_summary_json_on_clean_data(tmp_path, capsys):
    root = make_tiny_sketchy(tmp_path)
    s = summarize(read_sketchy(root))
    assert (s["classes"], s["photos"], s["sketches"], s["skipped"]) == (2, 6, 12, [])
    assert s["fine_grained"]["test_photos"] == 2
