"""Index and query: the evaluation code's ranking, unreadable files, model identity, incremental updates, CLI."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sbir_tf.export import export_run, load_encoders
from sbir_tf.search import cli
from sbir_tf.search.index import PhotoIndex, build_index
from sbir_tf.search.model import ModelMismatchError
from sbir_tf.search.search import SketchSearch

from search_helpers import IMAGE_SIZE, CountingEncoders, write_shapes

MINI_CLASSES = ("cup", "airplane")


def _mini_subset(root: Path, tmp: Path):
    """Photo folder of two sketchy_mini classes (symlinks) and the sketches of their photos."""
    from sbir_tf.data.sketchy import DEFAULT_RENDERING

    photos = tmp / "photos"
    sketches = []
    for cls in MINI_CLASSES:
        src = root / "256x256" / "photo" / DEFAULT_RENDERING / cls
        if not src.is_dir():
            pytest.skip(f"sketchy_mini has no class folder {cls}")
        (photos / cls).mkdir(parents=True)
        for f in sorted(src.iterdir()):
            (photos / cls / f.name).symlink_to(f)
        sketch_dir = root / "256x256" / "sketch" / DEFAULT_RENDERING / cls
        sketches += sorted(sketch_dir.glob("*-1.png"))
    return photos, sketches


def _eval_ranks(model, sketch_files, photo_files):
    """Ranks of the true photos as the evaluation code computes them (pipeline + ``ranks_of_true``)."""
    from sbir_tf.data.pipeline import image_dataset
    from sbir_tf.data.records import Record
    from sbir_tf.eval.metrics import ranks_of_true

    def embed(files, domain):
        records = [Record(str(f), "c", Path(f).stem.split("-")[0], domain) for f in files]
        ds = image_dataset(records, image_size=IMAGE_SIZE, batch_size=16)
        encoder = model.sketch_encoder if domain == "sketch" else model.photo_encoder
        return np.concatenate([encoder(b, training=False).numpy() for b in ds])

    q, g = embed(sketch_files, "sketch"), embed(photo_files, "photo")
    where = {Path(p).stem: i for i, p in enumerate(photo_files)}
    true = np.array([where[Path(s).stem.split("-")[0]] for s in sketch_files])
    return ranks_of_true(q, g, true), true


def test_sketch_ranks_its_photo_where_the_evaluation_code_does(sketchy_mini_root, tiny_run, tmp_path):
    photos, sketches = _mini_subset(sketchy_mini_root, tmp_path)
    index, report = build_index(tiny_run.path, photos, tmp_path / "index", progress=False)
    assert len(index) == 50 and not report.skipped
    searcher = SketchSearch.open(tmp_path / "index")
    eval_ranks, true = _eval_ranks(tiny_run.model, sketches, [index.photo_path(i) for i in range(len(index))])
    search_ranks = []
    for sketch in sketches:
        hits = searcher.search_file(sketch, top=len(index))
        photo_id = sketch.stem.split("-")[0]
        search_ranks.append(next(h.rank for h in hits if Path(h.path).stem == photo_id))
    # evaluation ranks are 0-based; query ranks 1-based
    assert search_ranks == [int(r) + 1 for r in eval_ranks]
    assert len(set(search_ranks)) > 3  # the model is not trivially constant: ranks vary between sketches


def test_query_distances_are_the_euclidean_distances_of_the_embeddings(tiny_run, tmp_path):
    write_shapes(tmp_path / "photos", 12)
    sketch = write_shapes(tmp_path / "sketch", 1, seed=7)[0]
    build_index(tiny_run.path, tmp_path / "photos", tmp_path / "index", progress=False)
    searcher = SketchSearch.open(tmp_path / "index")
    hits = searcher.search_file(sketch, top=5)
    # by hand: embed the sketch file through the export, rank every photo by ||s - p||
    pixels = np.asarray(Image.open(sketch).convert("RGB"))[None]
    s = searcher.encoders.sketch(pixels)[0]
    dist = np.sqrt(((searcher.index.embeddings - s) ** 2).sum(axis=1))
    order = np.argsort(dist, kind="stable")[:5]
    assert [h.index for h in hits] == order.tolist()
    np.testing.assert_allclose([h.distance for h in hits], dist[order], rtol=1e-4, atol=1e-5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]


def test_unreadable_files_are_reported_and_skipped(tiny_run, tmp_path, capsys):
    photos = tmp_path / "photos"
    write_shapes(photos / "a", 2)
    write_shapes(photos / "b" / "deeper", 1, prefix="deep")
    good = Image.new("RGB", (40, 30), (10, 200, 30))
    good.save(photos / "b" / "whole.jpg", quality=90)
    jpeg = (photos / "b" / "whole.jpg").read_bytes()
    (photos / "b" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (photos / "b" / "fake.png").write_text("this is not a picture")
    (photos / "b" / "empty.png").write_bytes(b"")
    (photos / "notes.txt").write_text("not an image name: ignored, not tried")
    (photos / ".hidden.png").write_bytes(b"hidden files are left out")
    (photos / "b" / "loop").symlink_to(photos, target_is_directory=True)  # a symlink loop is walked once

    code = cli.main(["index", "--model", str(tiny_run.path), "--photos", str(photos), "--out",
                     str(tmp_path / "index"), "--no_progress"])
    out, err = capsys.readouterr()
    assert code == 0
    index = PhotoIndex.load(tmp_path / "index")
    assert index.paths == ["a/img_000.png", "a/img_001.png", "b/deeper/deep_000.png", "b/whole.jpg"]
    skipped = {s["path"]: s["reason"] for s in index.skipped}
    assert sorted(skipped) == ["b/empty.png", "b/fake.png", "b/truncated.jpg"]
    assert "truncated" in skipped["b/truncated.jpg"].lower() and "empty" in skipped["b/empty.png"]
    for path in skipped:
        assert f"skipped {path}:" in err
    assert "4 photos indexed" in out and "3 unreadable skipped" in out and "1 non-image files ignored" in out


def test_a_query_with_another_model_is_refused(tiny_run, other_run, tmp_path, capsys):
    write_shapes(tmp_path / "photos", 4)
    sketch = write_shapes(tmp_path / "sketch", 1, seed=3)[0]
    out = str(tmp_path / "index")
    assert cli.main(["index", "--model", str(tiny_run.path), "--photos", str(tmp_path / "photos"),
                     "--out", out, "--no_progress"]) == 0
    assert tiny_run.info["model_id"] != other_run.info["model_id"]
    other = tmp_path / "other_export"  # the other model as an export folder (python -m sbir_tf.export RUN --out)
    assert export_run(other_run.path, other)["model_id"] == other_run.info["model_id"]

    with pytest.raises(ModelMismatchError, match="another model"):
        SketchSearch.open(out, other)
    capsys.readouterr()
    assert cli.main(["query", "--index", out, "--model", str(other), str(sketch)]) == 2
    assert "another model" in capsys.readouterr().err
    # nor may an index be extended with another model; --rebuild starts over with it
    assert cli.main(["index", "--model", str(other), "--photos", str(tmp_path / "photos"),
                     "--out", out, "--no_progress"]) == 2
    assert "--rebuild" in capsys.readouterr().err
    assert PhotoIndex.load(out).model["model_id"] == tiny_run.info["model_id"]
    assert cli.main(["index", "--model", str(other), "--photos", str(tmp_path / "photos"),
                     "--out", out, "--no_progress", "--rebuild"]) == 0
    assert PhotoIndex.load(out).model["model_id"] == other_run.info["model_id"]
    assert cli.main(["query", "--index", out, str(sketch)]) == 0  # the recorded model is now the other one


def test_reindexing_a_grown_folder_embeds_only_new_and_changed_files(tiny_run, tmp_path):
    photos = tmp_path / "photos"
    first = write_shapes(photos, 5)
    index1, report1 = build_index(tiny_run.path, photos, tmp_path / "index", progress=False)
    assert len(report1.embedded) == 5 and report1.kept == 0

    added = write_shapes(photos / "new", 3, seed=11, prefix="added")
    write_shapes(tmp_path / "elsewhere", 1, seed=12, prefix="changed")[0].replace(first[1])
    os.utime(first[1], ns=(10**18, 10**18))  # a changed file: new content and modification time
    first[4].unlink()                          # a deleted file
    encoders = CountingEncoders(load_encoders(tiny_run.path))
    index2, report2 = build_index(tiny_run.path, photos, tmp_path / "index", progress=False, encoders=encoders)

    rel_added = sorted(f"new/{p.name}" for p in added)
    assert sorted(report2.embedded) == sorted(rel_added + [first[1].name])
    assert encoders.photo_calls == 4  # the encoder saw exactly the new and the changed files
    assert report2.kept == 3 and report2.removed == [first[4].name]
    assert index2.paths == sorted([first[0].name, first[1].name, first[2].name, first[3].name] + rel_added)
    for name in (first[0].name, first[2].name, first[3].name):  # unchanged rows are carried over bit for bit
        np.testing.assert_array_equal(index2.embeddings[index2.paths.index(name)],
                                      index1.embeddings[index1.paths.index(name)])
    changed = index2.embeddings[index2.paths.index(first[1].name)]
    assert not np.allclose(changed, index1.embeddings[index1.paths.index(first[1].name)])

    encoders3 = CountingEncoders(load_encoders(tiny_run.path))
    _, report3 = build_index(tiny_run.path, photos, tmp_path / "index", progress=False, encoders=encoders3)
    assert report3.embedded == [] and encoders3.photo_calls == 0 and report3.kept == 7


def test_query_cli_prints_ranked_paths_json_and_writes_the_grid(tiny_run, tmp_path, capsys):
    write_shapes(tmp_path / "photos", 8)
    sketch = write_shapes(tmp_path / "sketch", 1, seed=5)[0]
    out = str(tmp_path / "index")
    assert cli.main(["index", "--model", str(tiny_run.path), "--photos", str(tmp_path / "photos"),
                     "--out", out, "--no_progress"]) == 0
    capsys.readouterr()
    grid = tmp_path / "grid.png"
    assert cli.main(["query", "--index", out, str(sketch), "--top", "3", "--json", "--grid", str(grid)]) == 0
    payload = json.loads(capsys.readouterr().out)
    expected = SketchSearch.open(out).search_file(sketch, top=3)
    assert [r["path"] for r in payload["results"]] == [h.path for h in expected]
    assert [r["rank"] for r in payload["results"]] == [1, 2, 3]
    with Image.open(grid) as im:
        assert im.width > 2 * im.height  # a strip: sketch + 3 photos side by side
    assert cli.main(["query", "--index", out, str(sketch), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [["1", expected[0].path], ["2", expected[1].path]]


def test_bad_inputs_name_the_fix(tiny_run, tmp_path, capsys):
    assert cli.main(["query", "--index", str(tmp_path / "missing"), "x.png"]) == 2
    assert "python -m sbir_tf.search index" in capsys.readouterr().err
    write_shapes(tmp_path / "photos", 2)
    out = str(tmp_path / "index")
    cli.main(["index", "--model", str(tiny_run.path), "--photos", str(tmp_path / "photos"), "--out", out,
              "--no_progress"])
    bad = tmp_path / "bad.png"
    bad.write_text("no")
    capsys.readouterr()
    assert cli.main(["query", "--index", out, str(bad)]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert cli.main(["index", "--model", str(tiny_run.path), "--photos", str(tmp_path / "nowhere"), "--out",
                     out]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_faiss_backend_ranks_like_brute_force(tiny_run, tmp_path):
    pytest.importorskip("faiss", reason="optional extra 'ann' (faiss-cpu) not installed")
    write_shapes(tmp_path / "photos", 10)
    sketch = write_shapes(tmp_path / "sketch", 1, seed=9)[0]
    build_index(tiny_run.path, tmp_path / "photos", tmp_path / "index", progress=False)
    brute = SketchSearch.open(tmp_path / "index").search_file(sketch, top=10)
    faiss_hits = SketchSearch.open(tmp_path / "index", backend="faiss").search_file(sketch, top=10)
    assert [h.index for h in faiss_hits] == [h.index for h in brute]
    np.testing.assert_allclose([h.distance for h in faiss_hits], [h.distance for h in brute], rtol=1e-4, atol=1e-5)


def test_zero_shot_model_searches_by_its_cosine_metric(tmp_path):
    from search_helpers import make_tiny_zero_shot_run

    run = make_tiny_zero_shot_run(tmp_path / "zs_run")
    write_shapes(tmp_path / "photos", 9)
    sketch = write_shapes(tmp_path / "sketch", 1, seed=2)[0]
    index, _ = build_index(run, tmp_path / "photos", tmp_path / "index", progress=False)
    assert index.model["task"] == "zero_shot" and index.metric == "cosine" and index.embeddings.shape == (9, 8)
    searcher = SketchSearch.open(tmp_path / "index")
    hits = searcher.search_file(sketch, top=9)
    # by hand: 1 - cos between the sketch's and every photo's embedding, ascending
    pixels = np.asarray(Image.open(sketch).convert("RGB"))[None]
    s = searcher.encoders.sketch(pixels)[0]
    g = index.embeddings
    one_minus_cos = 1.0 - g @ s / (np.linalg.norm(g, axis=1) * np.linalg.norm(s))
    order = np.argsort(one_minus_cos, kind="stable")
    assert [h.index for h in hits] == order.tolist()
    np.testing.assert_allclose([h.distance for h in hits], one_minus_cos[order], rtol=1e-4, atol=1e-5)
    assert searcher.info["task"] == "zero_shot"


def test_photos_of_mixed_sizes_are_batched_by_size_and_keep_their_order(tmp_path, monkeypatch):
    from sbir_tf.search import index as index_lib

    sizes = [(30, 40), (50, 50), (30, 40), (20, 20), (50, 50)]
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(np.full((h, w, 3), 10 * i, np.uint8)).save(tmp_path / f"p{i}.png")
    calls = []

    def fake_encoder(images):  # embedding = (first pixel value, height, width): order is checkable by hand
        calls.append(images.shape)
        return np.stack([[im[0, 0, 0], im.shape[0], im.shape[1]] for im in images]).astype(np.float32)

    paths = [f"p{i}.png" for i in range(5)]
    done, emb, skipped = index_lib.embed_files(fake_encoder, tmp_path, paths, 3, batch_size=3)
    assert done == paths and not skipped
    np.testing.assert_array_equal(emb, [[10 * i, h, w] for i, (h, w) in enumerate(sizes)])
    # batch 1 = p0..p2: one call for the two 30x40 photos, one for the 50x50; batch 2 = p3, p4: one call each
    assert calls == [(2, 30, 40, 3), (1, 50, 50, 3), (1, 20, 20, 3), (1, 50, 50, 3)]

    calls.clear()
    monkeypatch.setattr(index_lib, "MAX_BATCH_PIXELS", 2 * 30 * 40)  # a batch closes at 2,400 pixels
    index_lib.embed_files(fake_encoder, tmp_path, paths, 3, batch_size=32)
    assert [c[0] for c in calls] == [1, 1, 1, 1, 1]  # p0+p1 already exceed it, and so on


def test_an_interrupted_indexing_run_keeps_its_work(tiny_run, tmp_path, monkeypatch):
    from sbir_tf.search import index as index_lib

    write_shapes(tmp_path / "photos", 5)
    monkeypatch.setattr(index_lib, "SAVE_EVERY", 2)
    encoders = CountingEncoders(load_encoders(tiny_run.path))
    real_photo = encoders.photo

    def photo_then_stop(images):
        if encoders.photo_calls >= 4:
            raise KeyboardInterrupt  # Ctrl+C while the third chunk is embedded
        return real_photo(images)

    encoders.photo = photo_then_stop
    with pytest.raises(KeyboardInterrupt):
        build_index(tiny_run.path, tmp_path / "photos", tmp_path / "index", batch_size=1, progress=False,
                    encoders=encoders)
    assert PhotoIndex.load(tmp_path / "index").paths == [f"img_{i:03d}.png" for i in range(4)]
    again = CountingEncoders(load_encoders(tiny_run.path))
    index, report = build_index(tiny_run.path, tmp_path / "photos", tmp_path / "index", progress=False,
                                encoders=again)
    assert report.embedded == ["img_004.png"] and again.photo_calls == 1 and len(index) == 5
