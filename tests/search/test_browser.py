"""The browser demo in a real headless browser: draw on the canvas, read the results panel, compare with ``query``.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium chromium-driver``) and the Python
package ``selenium`` (extra ``dev``); both are used as installed, nothing is downloaded. Skipped with the reason
when any of them is missing. Each test saves a screenshot of the demo (into its temporary folder).

The README's screenshot ``docs/search_demo.png`` is taken by this test with a trained model and real data::

    SBIR_TF_SEARCH_DEMO_MODEL=RUN_DIR SBIR_TF_SEARCH_DEMO_PHOTOS=PHOTO_DIR SBIR_TF_SEARCH_DEMO_SKETCH=SKETCH.png \
    SBIR_TF_SEARCH_SCREENSHOT=docs/search_demo.png python -m pytest tests/search/test_browser.py

(the model indexes PHOTO_DIR instead of a small synthetic folder, and the upload test uploads SKETCH.png and saves
its screenshot to SBIR_TF_SEARCH_SCREENSHOT).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from sbir_tf.search import cli
from sbir_tf.search.index import build_index
from sbir_tf.search.search import SketchSearch
from sbir_tf.search.server import make_server

pytestmark = pytest.mark.browser

DEMO_SKETCH = os.environ.get("SBIR_TF_SEARCH_DEMO_SKETCH")
TOP = 10
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _browser_paths() -> tuple[str, str]:
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium, or the 'dev' extra)")
    binary = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip("no Chromium and chromedriver on PATH (apt-get install -y chromium chromium-driver)")
    return binary, driver


@pytest.fixture(scope="module")
def browser():
    binary, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look anything up
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1180,830", "--hide-scrollbars", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def demo_server(tiny_run, tmp_path_factory):
    """The demo over a small synthetic photo folder (4 classes x 4 photos), indexed with the tiny run's model (an
    untrained stand-in: its rankings mean nothing). With ``SBIR_TF_SEARCH_DEMO_MODEL=RUN_OR_EXPORT_DIR`` (e.g. the
    trained default run), that model is used instead, for a screenshot whose results mean something."""
    from sbir_tf.data.synthetic import make_synthetic

    tmp = tmp_path_factory.mktemp("browser_demo")
    root = make_synthetic(tmp / "synthetic", num_classes=4, photos_per_class=4, sketched_per_class=1,
                          sketches_per_photo=1, test_per_class=1)
    photos = os.environ.get("SBIR_TF_SEARCH_DEMO_PHOTOS") or root / "256x256" / "photo"
    build_index(os.environ.get("SBIR_TF_SEARCH_DEMO_MODEL") or tiny_run.path, photos, tmp / "index", progress=False)
    searcher = SketchSearch.open(tmp / "index")
    searcher.warm_up()  # as `serve` does before it listens
    server = make_server(searcher, port=0, top=TOP)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, tmp / "index", tmp
    server.shutdown()
    server.server_close()


def _wait(driver, predicate, what: str, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate(driver)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _draw(driver, canvas, strokes):
    """Each stroke a list of (x, y) offsets from the canvas centre, drawn with the mouse (pointer events)."""
    from selenium.webdriver.common.action_chains import ActionChains

    for stroke in strokes:
        chain = ActionChains(driver, duration=20)
        x0, y0 = stroke[0]
        chain.move_to_element_with_offset(canvas, x0, y0).click_and_hold()
        for (xa, ya), (xb, yb) in zip(stroke, stroke[1:]):
            chain.move_by_offset(xb - xa, yb - ya)
        chain.release().perform()


def _results(driver) -> list[dict]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#results .hit')).map(h => ({rank: Number(h.dataset.rank), "
        "path: h.dataset.path, loaded: h.querySelector('img').complete && "
        "h.querySelector('img').naturalWidth > 0}));")


def _screenshot(driver, path: Path, keep: bool) -> None:
    """Save the page to ``path``; also to ``SBIR_TF_SEARCH_SCREENSHOT`` when ``keep`` (the README's figure)."""
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    target = os.environ.get("SBIR_TF_SEARCH_SCREENSHOT")
    if keep and target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def _query_command(index_dir: Path, png_data_url: str, tmp: Path, name: str) -> list[str]:
    sketch = tmp / name
    sketch.write_bytes(base64.b64decode(png_data_url.split(",", 1)[1]))
    out = tmp / (name + ".json")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["query", "--index", str(index_dir), str(sketch), "--top", str(TOP), "--json"]) == 0
    out.write_text(buf.getvalue())
    return [r["path"] for r in json.loads(buf.getvalue())["results"]]


def test_drawing_shows_the_query_commands_ranking(browser, demo_server):
    from selenium.webdriver.common.by import By

    server, index_dir, tmp = demo_server
    browser.get(server.url)
    _wait(browser, lambda d: "photos" in d.find_element(By.ID, "model").text, "the model line")
    assert "instance search" in browser.find_element(By.ID, "model").text
    canvas = browser.find_element(By.ID, "pad")

    # a house: walls, roof, door
    _draw(browser, canvas, [
        [(-60, 70), (-60, -10), (60, -10), (60, 70), (-60, 70)],
        [(-75, -5), (0, -75), (75, -5)],
        [(-15, 70), (-15, 25), (15, 25), (15, 70)],
    ])
    _wait(browser, lambda d: d.execute_script("return window.sbirSearch.idle()"), "the results of the drawing")
    hits = _results(browser)
    assert len(hits) == TOP
    assert [h["rank"] for h in hits] == list(range(1, TOP + 1))
    _wait(browser, lambda d: all(h["loaded"] for h in _results(d)), "the result thumbnails")
    expected = _query_command(index_dir, browser.execute_script("return window.sbirSearch.png()"), tmp, "drawn.png")
    assert [h["path"] for h in hits] == expected
    assert "ms on the server" in browser.find_element(By.ID, "status").text

    # nothing came from another origin: every resource the page loaded is the demo server's
    origin = server.url.rstrip("/")
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(r.startswith(origin) for r in resources), resources

    _screenshot(browser, tmp / "drawing.png", keep=DEMO_SKETCH is None)

    # more strokes change the drawing: the panel follows (debounced) and still matches `query`
    _draw(browser, canvas, [[(-45, 5), (-25, 5), (-25, 20), (-45, 20), (-45, 5)]])
    _wait(browser, lambda d: d.execute_script("return window.sbirSearch.idle()"), "the results of the new drawing")
    expected = _query_command(index_dir, browser.execute_script("return window.sbirSearch.png()"), tmp, "more.png")
    assert [h["path"] for h in _results(browser)] == expected


def test_uploaded_sketch_is_searched(browser, demo_server):
    from selenium.webdriver.common.by import By

    server, index_dir, tmp = demo_server
    browser.get(server.url)
    _wait(browser, lambda d: "photos" in d.find_element(By.ID, "model").text, "the model line")
    sketch = (Path(DEMO_SKETCH).resolve() if DEMO_SKETCH
              else next((tmp / "synthetic" / "256x256" / "sketch").rglob("*.png")))
    browser.find_element(By.ID, "upload").send_keys(str(sketch))
    _wait(browser, lambda d: d.execute_script("return window.sbirSearch.idle() && "
                                              "document.querySelectorAll('#results .hit').length > 0"),
          "the results of the upload")
    expected = _query_command(index_dir, browser.execute_script("return window.sbirSearch.png()"), tmp, "upload.png")
    assert [h["path"] for h in _results(browser)] == expected
    _wait(browser, lambda d: all(h["loaded"] for h in _results(d)), "the result thumbnails")
    _screenshot(browser, tmp / "upload.png", keep=DEMO_SKETCH is not None)

    browser.find_element(By.ID, "clear").click()
    _wait(browser, lambda d: d.execute_script("return window.sbirSearch.idle()"), "the cleared canvas")
    assert _results(browser) == []
