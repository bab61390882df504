"""The demo server's HTTP API (no browser) and the embedded default index of ``serve``."""
from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sbir_tf.search import demo
from sbir_tf.search.index import PhotoIndex, build_index
from sbir_tf.search.search import SketchSearch
from sbir_tf.search.server import make_server

from search_helpers import write_shapes


@pytest.fixture
def served(tiny_run, tmp_path):
    write_shapes(tmp_path / "photos", 12)
    build_index(tiny_run.path, tmp_path / "photos", tmp_path / "index", progress=False)
    searcher = SketchSearch.open(tmp_path / "index")
    server = make_server(searcher, port=0, top=5)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, searcher, tmp_path
    server.shutdown()
    server.server_close()


def _request(url, data=None, content_type="image/png"):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers.get("Content-Type"), res.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read()


def test_search_endpoint_ranks_like_the_query_command(served):
    server, searcher, tmp = served
    sketch = write_shapes(tmp / "sketch", 1, seed=4)[0]
    status, ctype, body = _request(server.url + "api/search?top=4", sketch.read_bytes())
    assert status == 200 and ctype == "application/json"
    payload = json.loads(body)
    expected = searcher.search_file(sketch, top=4)
    assert [r["path"] for r in payload["results"]] == [h.path for h in expected]
    assert [r["rank"] for r in payload["results"]] == [1, 2, 3, 4]
    assert payload["photos"] == 12

    # a transparent-background canvas PNG is composited on white, as the evaluation pipeline does
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[20:40, 10:50, 3] = 255
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    white = np.full((64, 64, 3), 255, np.uint8)
    white[20:40, 10:50] = 0
    status, _, body = _request(server.url + "api/search", buf.getvalue())
    assert [r["index"] for r in json.loads(body)["results"]] == [h.index for h in searcher.search_image(white, 5)]


def test_page_info_and_photos_are_served_locally(served):
    server, searcher, _ = served
    status, ctype, page = _request(server.url)
    assert status == 200 and ctype.startswith("text/html")
    text = page.decode()
    assert "<canvas" in text and 'type="file"' in text
    assert "http://" not in text and "https://" not in text  # nothing is loaded from the network
    status, _, body = _request(server.url + "api/info")
    info = json.loads(body)
    assert info["photos"] == 12 and info["top"] == 5 and info["task"] == "fine_grained"
    status, ctype, body = _request(server.url + "photo/3")
    assert status == 200 and ctype == "image/jpeg"
    assert Image.open(io.BytesIO(body)).size == Image.open(searcher.index.photo_path(3)).size  # 48 px: no shrink
    assert _request(server.url + "photo/12")[0] == 404
    assert _request(server.url + "photo/../../etc/passwd")[0] == 404


def test_bad_requests_get_clear_errors(served):
    server, _, _ = served
    status, _, body = _request(server.url + "api/search", b"not an image")
    assert status == 400 and "cannot decode" in json.loads(body)["error"]
    status, _, body = _request(server.url + "api/search?top=0", b"x")
    assert status == 400 and "top must be" in json.loads(body)["error"]


def test_default_index_is_the_synthetic_gallery_with_the_default_run(tiny_run, tmp_path, monkeypatch):
    run_dir = tmp_path / "runs" / "sketchy_fg" / "default"
    run_dir.mkdir(parents=True)
    (run_dir / "model.keras").write_bytes((tiny_run.path / "model.keras").read_bytes())
    monkeypatch.setattr(demo, "default_run_dir", lambda: run_dir)
    messages = []
    index_dir, _ = demo.default_index(progress=False, say=messages.append)
    index = PhotoIndex.load(index_dir)
    root, files = demo.synthetic_gallery()
    assert index_dir == run_dir / "search_index" and index.paths == sorted(files) and index.photos_root == root
    from sbir_tf.data.registry import read_dataset
    from sbir_tf.data.splits import fine_grained_split

    gallery = fine_grained_split(read_dataset("synthetic")).gallery_photos
    assert sorted(Path(p.path).resolve() for p in gallery) == [root / f for f in index.paths]
    assert len(index) == len(gallery) > 10
    # a second start embeds nothing
    messages.clear()
    demo.default_index(progress=False, say=messages.append)
    assert "0 embedded now" in messages[-1]


def test_default_run_is_trained_first_when_missing(tmp_path, monkeypatch):
    run_dir = tmp_path / "missing_run"
    calls = []

    def fake_run(command, check):
        calls.append(command)
        run_dir.mkdir(parents=True)
        (run_dir / "model.keras").write_bytes(b"trained")

    monkeypatch.setattr(demo.subprocess, "run", fake_run)
    said = []
    assert demo.ensure_trained(run_dir, say=said.append) == run_dir
    assert calls and calls[0][1:] == ["-m", "sbir_tf.experiments.sketchy_fg"]
    assert "training the CPU preset first" in said[0]


def test_serve_without_an_index_starts_the_embedded_demo(tiny_run, tmp_path, monkeypatch, capsys):
    from sbir_tf.search import cli, server as server_lib

    run_dir = tmp_path / "default_run"
    run_dir.mkdir()
    (run_dir / "model.keras").write_bytes((tiny_run.path / "model.keras").read_bytes())
    monkeypatch.setattr(demo, "default_run_dir", lambda: run_dir)
    started = {}

    def serve_once(self, poll_interval=0.5):  # answer one search, then stop as Ctrl+C would
        sketch = write_shapes(tmp_path / "sketch", 1, seed=8)[0]
        worker = threading.Thread(target=lambda: started.setdefault(
            "reply", _request(self.url + "api/search?top=3", sketch.read_bytes())))
        worker.start()
        self.handle_request()
        worker.join()
        raise KeyboardInterrupt

    monkeypatch.setattr(server_lib.SearchServer, "serve_forever", serve_once)
    assert cli.main(["serve", "--port", "0"]) == 0
    out = capsys.readouterr().out
    assert f"demo index {run_dir / 'search_index'}" in out and "sketch search on http://127.0.0.1:" in out
    status, _, body = started["reply"]
    assert status == 200 and [r["rank"] for r in json.loads(body)["results"]] == [1, 2, 3]
