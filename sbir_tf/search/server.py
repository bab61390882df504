"""The browser demo's server: the standard library's ``http.server`` in front of a :class:`SketchSearch`.

Routes (all local; the page loads nothing from the network):

* ``GET /`` - the page (:mod:`sbir_tf.search.page`);
* ``GET /api/info`` - the model and index (task, metric, model_id, image size, number of photos, default top);
* ``POST /api/search?top=K`` - body: an encoded sketch image (the canvas PNG); answer
  ``{"results": [{"rank", "index", "path", "distance"}...], "photos": N, "ms": server time}``, the same ranking as
  ``python -m sbir_tf.search query`` gives for the same image;
* ``GET /photo/<row>`` - a JPEG thumbnail of indexed photo ``row`` (only indexed photos are served).

Queries are answered one at a time (a lock around the encoders and the search).
"""
from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from sbir_tf.search.images import UnreadableImageError, thumbnail_jpeg
from sbir_tf.search.page import render_page
from sbir_tf.search.search import DEFAULT_TOP, SketchSearch

DEFAULT_PORT = 7860
DEFAULT_HOST = "127.0.0.1"
#: Largest accepted request body (an encoded sketch).
MAX_BODY_BYTES = 16 << 20
#: Largest ``top`` a request may ask for.
MAX_TOP = 100
THUMBNAIL_SIZE = 200


class SearchServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, searcher: SketchSearch, *, top: int = DEFAULT_TOP, verbose: bool = False):
        self.searcher = searcher
        self.top = int(top)
        self.verbose = verbose
        self.lock = threading.Lock()
        self.page = render_page()
        self.thumbnail = lru_cache(maxsize=1024)(self._thumbnail)
        super().__init__(address, _Handler)

    def _thumbnail(self, row: int) -> bytes:
        return thumbnail_jpeg(self.searcher.index.photo_path(row), THUMBNAIL_SIZE)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: SearchServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet unless --verbose
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def do_GET(self):  # noqa: N802 - http.server naming
        path = urlparse(self.path).path
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, self.server.page, "text/html; charset=utf-8")
        elif path == "/api/info":
            self._json(HTTPStatus.OK, {**self.server.searcher.info, "top": self.server.top})
        elif path.startswith("/photo/"):
            try:
                row = int(path[len("/photo/"):])
                if not 0 <= row < len(self.server.searcher.index):
                    raise ValueError(row)
            except ValueError:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no indexed photo {path[len('/photo/'):]!r}"})
                return
            try:
                body = self.server.thumbnail(row)
            except OSError as err:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"photo {row} cannot be read: {err}"})
                return
            self._send(HTTPStatus.OK, body, "image/jpeg", cache=True)
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {path}"})

    def do_POST(self):  # noqa: N802
        url = urlparse(self.path)
        if url.path != "/api/search":
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {url.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY_BYTES:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"send the sketch as an image body of 1 byte to "
                                                         f"{MAX_BODY_BYTES} bytes (got {length})"})
            return
        data = self.rfile.read(length)
        try:
            top = int(parse_qs(url.query).get("top", [self.server.top])[0])
            if not 1 <= top <= MAX_TOP:
                raise ValueError
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"top must be an integer in [1, {MAX_TOP}]"})
            return
        start = time.perf_counter()
        try:
            with self.server.lock:
                hits = self.server.searcher.search_bytes(data, top)
        except UnreadableImageError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        ms = 1e3 * (time.perf_counter() - start)
        self._json(HTTPStatus.OK, {"results": [h.as_dict() for h in hits], "photos": len(self.server.searcher.index),
                                   "ms": ms})


def make_server(searcher: SketchSearch, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                top: int = DEFAULT_TOP, verbose: bool = False) -> SearchServer:
    """A bound (not yet serving) server; ``port=0`` picks a free port (see ``server.url``)."""
    if not 1 <= int(top) <= MAX_TOP:
        raise ValueError(f"--top must be in [1, {MAX_TOP}], got {top}")
    return SearchServer((host, int(port)), searcher, top=top, verbose=verbose)
