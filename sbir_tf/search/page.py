"""The browser demo's single page: a drawing canvas, an upload button and the ranked photos, self-contained.

Everything the page needs is in this one HTML string (inline CSS and JavaScript, system fonts): nothing is
fetched from the network, only the page's own ``/api/*`` and ``/photo/*`` routes (:mod:`sbir_tf.search.server`).
The canvas is sent as a PNG (``canvas.toBlob``) to ``POST /api/search?top=K``, debounced while drawing; responses
to superseded queries are dropped, so the panel always shows the latest drawing's results.
"""
from __future__ import annotations

#: Canvas side in pixels (what is sent; the encoders resize to the model's image size).
CANVAS_SIZE = 256
#: Milliseconds without drawing before a query is sent.
DEBOUNCE_MS = 250

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sbir_tf sketch search</title>
<style>
  :root { --fg: #222; --muted: #666; --line: #ddd; --accent: #2b83ba; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg);
         background: #f6f6f4; }
  header { padding: 12px 20px; border-bottom: 1px solid var(--line); background: #fff; }
  header h1 { margin: 0; font-size: 18px; }
  header p { margin: 4px 0 0; color: var(--muted); font-size: 13px; }
  main { display: flex; gap: 20px; padding: 20px; flex-wrap: wrap; align-items: flex-start; }
  #left { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
  #pad { width: __SIZE__px; height: __SIZE__px; border: 1px solid #bbb; border-radius: 4px; background: #fff;
         touch-action: none; cursor: crosshair; display: block; }
  .tools { display: flex; gap: 8px; margin-top: 10px; align-items: center; flex-wrap: wrap; font-size: 13px; }
  button, label.button { font: inherit; padding: 5px 10px; border: 1px solid #bbb; border-radius: 4px;
         background: #fafafa; cursor: pointer; }
  button:hover, label.button:hover { background: #eee; }
  #upload { display: none; }
  #right { flex: 1; min-width: 320px; }
  #status { color: var(--muted); font-size: 13px; margin-bottom: 10px; min-height: 1.2em; }
  #results { display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 10px; }
  .hit { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px; position: relative; }
  .hit img { width: 100%; aspect-ratio: 1 / 1; object-fit: cover; display: block; border-radius: 3px;
         background: #eee; }
  .rank { position: absolute; top: 10px; left: 10px; background: var(--accent); color: #fff; font-weight: 600;
         font-size: 13px; border-radius: 10px; min-width: 22px; padding: 1px 6px; text-align: center; }
  .meta { font-size: 11px; color: var(--muted); margin-top: 3px; overflow: hidden; text-overflow: ellipsis;
         white-space: nowrap; }
  .empty { color: var(--muted); font-size: 14px; }
</style>
</head>
<body>
<header>
  <h1>Sketch search</h1>
  <p id="model">loading model information&hellip;</p>
</header>
<main>
  <section id="left">
    <canvas id="pad" width="__SIZE__" height="__SIZE__" aria-label="drawing canvas"></canvas>
    <div class="tools">
      <button id="undo" type="button">Undo</button>
      <button id="clear" type="button">Clear</button>
      <label class="button" for="upload">Upload sketch&hellip;</label>
      <input id="upload" type="file" accept="image/*">
      <label>pen <input id="pen" type="range" min="1" max="12" value="3"></label>
      <label>top <select id="top"><option>5</option><option selected>10</option><option>20</option></select></label>
    </div>
  </section>
  <section id="right">
    <div id="status">Draw something on the canvas (or upload a sketch).</div>
    <div id="results" data-query="0"></div>
  </section>
</main>
<script>
(function () {
  "use strict";
  const SIZE = __SIZE__, DEBOUNCE = __DEBOUNCE__;
  const pad = document.getElementById("pad"), ctx = pad.getContext("2d");
  const results = document.getElementById("results"), statusLine = document.getElementById("status");
  const pen = document.getElementById("pen"), topSelect = document.getElementById("top");
  let strokes = [], current = null, background = null, timer = null, waiting = false, sent = 0;

  function redraw() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, SIZE, SIZE);
    if (background) ctx.drawImage(background, 0, 0, SIZE, SIZE);
    ctx.strokeStyle = "#000"; ctx.lineCap = "round"; ctx.lineJoin = "round";
    for (const s of strokes) {
      ctx.lineWidth = s.width;
      ctx.beginPath();
      ctx.moveTo(s.points[0][0], s.points[0][1]);
      for (const p of s.points.slice(1)) ctx.lineTo(p[0], p[1]);
      if (s.points.length === 1) ctx.lineTo(s.points[0][0] + 0.01, s.points[0][1]);
      ctx.stroke();
    }
  }
  function isBlank() { return strokes.length === 0 && !background; }
  function point(ev) {
    const r = pad.getBoundingClientRect();
    return [(ev.clientX - r.left) * SIZE / r.width, (ev.clientY - r.top) * SIZE / r.height];
  }
  function schedule(delay) {
    clearTimeout(timer);
    waiting = true;
    timer = setTimeout(query, delay === undefined ? DEBOUNCE : delay);
  }
  pad.addEventListener("pointerdown", (ev) => {
    pad.setPointerCapture(ev.pointerId);
    current = {width: Number(pen.value), points: [point(ev)]};
    strokes.push(current);
    redraw();
  });
  pad.addEventListener("pointermove", (ev) => {
    if (!current) return;
    current.points.push(point(ev));
    redraw();
    schedule();
  });
  function endStroke() { if (current) { current = null; schedule(); } }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  document.getElementById("undo").addEventListener("click", () => { strokes.pop(); redraw(); schedule(0); });
  document.getElementById("clear").addEventListener("click", () => {
    strokes = []; background = null; redraw(); schedule(0);
  });
  topSelect.addEventListener("change", () => schedule(0));
  document.getElementById("upload").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    const img = new Image();
    img.onload = () => { background = img; strokes = []; redraw(); schedule(0); URL.revokeObjectURL(img.src); };
    img.onerror = () => { statusLine.textContent = "That file is not an image the browser can read."; };
    img.src = URL.createObjectURL(file);
    ev.target.value = "";
  });

  function render(data, id) {
    results.innerHTML = "";
    for (const hit of data.results) {
      const card = document.createElement("figure");
      card.className = "hit"; card.style.margin = "0";
      card.dataset.rank = hit.rank; card.dataset.path = hit.path; card.dataset.distance = hit.distance;
      const img = document.createElement("img");
      img.src = "photo/" + hit.index; img.alt = hit.path; img.title = hit.path;
      const badge = document.createElement("span");
      badge.className = "rank"; badge.textContent = hit.rank;
      const name = document.createElement("figcaption");
      name.className = "meta"; name.textContent = hit.path.split("/").slice(-2).join("/"); name.title = hit.path;
      const dist = document.createElement("div");
      dist.className = "meta"; dist.textContent = "distance " + hit.distance.toPrecision(3);
      card.append(img, badge, name, dist);
      results.append(card);
    }
    results.dataset.query = String(id);
    statusLine.textContent = "top " + data.results.length + " of " + data.photos + " photos, " +
      data.ms.toFixed(0) + " ms on the server";
  }
  async function query() {
    waiting = false;
    const id = ++sent;
    if (isBlank()) {
      results.innerHTML = '<p class="empty">Draw something on the canvas (or upload a sketch).</p>';
      results.dataset.query = String(id);
      statusLine.textContent = "";
      return;
    }
    const blob = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    statusLine.textContent = "searching\u2026";
    try {
      const res = await fetch("api/search?top=" + encodeURIComponent(topSelect.value),
                              {method: "POST", headers: {"Content-Type": "image/png"}, body: blob});
      const data = await res.json();
      if (id !== sent) return;           // the drawing changed since: its own query's answer will follow
      if (res.ok) render(data, id);
      else { statusLine.textContent = "error: " + data.error; results.dataset.query = String(id); }
    } catch (err) {
      if (id === sent) { statusLine.textContent = "error: " + err; results.dataset.query = String(id); }
    }
  }
  // For scripted use (and the tests): the canvas as a PNG data URL; idle() is true once the results on screen
  // belong to the current drawing (no query waiting for the debounce, none in flight).
  window.sbirSearch = { png: () => pad.toDataURL("image/png"),
                        idle: () => !waiting && !current && Number(results.dataset.query) === sent };
  fetch("api/info").then((r) => r.json()).then((info) => {
    const kind = info.task === "zero_shot" ? "category search (zero-shot model)"
                                           : "instance search (fine-grained model)";
    document.getElementById("model").textContent = kind + " \u00b7 " + info.photos + " photos \u00b7 " +
      info.metric + " distance \u00b7 model " + info.model_id.slice(0, 12) + " \u00b7 " + info.image_size + " px";
    topSelect.value = String(info.top);
    if (!Array.from(topSelect.options).some((o) => o.value === String(info.top))) {
      const o = document.createElement("option"); o.textContent = String(info.top); topSelect.append(o);
      topSelect.value = String(info.top);
    }
  }).catch((err) => { document.getElementById("model").textContent = "error: " + err; });
  redraw();
})();
</script>
</body>
</html>
"""


def render_page() -> bytes:
    """The page as UTF-8 bytes, with the canvas size and debounce filled in."""
    return (PAGE.replace("__SIZE__", str(CANVAS_SIZE)).replace("__DEBOUNCE__", str(DEBOUNCE_MS))).encode("utf-8")
