"""A small procedural sketch/photo dataset in the Sketchy layout: the embedded default when no data folder is given.

Each category is a family of parametric shapes (a wheel with 3-10 spokes and a variable hub, a house with a varying
roof, door and windows, ...). One photo is one *instance*: its own shape parameters, pose, colours, texture and a
cluttered background. Its sketches redraw the same instance's outline as black strokes on white, with hand-like
jitter, small pose changes, unclosed loops and randomly dropped details, so matching a sketch to its photo needs the
instance's geometry, not just its category: a fine-grained task, in miniature.

Class names are nouns found both in WordNet 3.0 and in the GloVe 6B vocabulary; photo ids are
``n<8-digit WordNet 3.0 noun offset>_<k>`` like Sketchy's ImageNet ids, so WordNet side information works unchanged.
Everything is numpy + PIL and seeded: the same arguments give the same files.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from sbir_tf.data.sketchy import DEFAULT_RENDERING

VERSION = 1
DEFAULT_DIRNAME = f"synthetic_v{VERSION}"

# class name -> WordNet 3.0 noun synset offset of the sense drawn (looked up in /usr/share/wordnet/data.noun).
WORDNET_OFFSETS = {
    "wheel": "04574999",     # a simple machine consisting of a circular frame with spokes
    "house": "03544360",     # a dwelling that serves as living quarters
    "fish": "02512053",      # any of various mostly cold-blooded aquatic vertebrates
    "cup": "03147509",       # a small open container usually used for drinking
    "key": "03613294",       # metal device shaped to operate a lock
    "tree": "13104059",      # a tall perennial woody plant
    "umbrella": "04507155",  # a lightweight handheld collapsible canopy
    "star": "13881644",      # a plane figure with 5 or more points
    "kite": "03621473",      # plaything consisting of a light frame covered with tissue paper
    "leaf": "13152742",      # the main organ of photosynthesis
    "bottle": "02876657",    # a glass or plastic vessel used for storing drinks
    "ladder": "03632277",    # steps consisting of two parallel members connected by rungs
}
CLASSES = tuple(WORDNET_OFFSETS)


@dataclass
class Part:
    """One stroke group of an instance, in object coordinates (roughly [-1, 1], y down)."""

    points: np.ndarray
    closed: bool
    body: bool  # body parts form the filled silhouette; the others are details


# ----------------------------------------------------------------------------------------------- geometry helpers
def _ellipse(cx, cy, rx, ry, start=0.0, end=2 * math.pi, n=48) -> np.ndarray:
    t = np.linspace(start, end, n, endpoint=abs(end - start - 2 * math.pi) > 1e-9)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _rect(x0, y0, x1, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)


def _pts(*xy) -> np.ndarray:
    return np.array(xy, float).reshape(-1, 2)


def _closed(p, body=False) -> Part:
    return Part(np.asarray(p, float), True, body)


def _line(p, body=False) -> Part:
    return Part(np.asarray(p, float), False, body)


# ----------------------------------------------------------------------------------------------- shape families
def _wheel(rng):
    aspect, inner, hub = rng.uniform(0.7, 1.0), rng.uniform(0.62, 0.85), rng.uniform(0.1, 0.3)
    n, phase = int(rng.integers(3, 11)), rng.uniform(0, math.pi)
    parts = [_closed(_ellipse(0, 0, 1, aspect), True), _closed(_ellipse(0, 0, inner, inner * aspect)),
             _closed(_ellipse(0, 0, hub, hub * aspect))]
    for a in phase + np.arange(n) * 2 * math.pi / n:
        parts.append(_line(_pts(hub * math.cos(a), hub * aspect * math.sin(a),
                                inner * math.cos(a), inner * aspect * math.sin(a))))
    if rng.random() < 0.5:
        parts.append(_closed(_ellipse(0, 0, hub * 0.4, hub * 0.4 * aspect, n=16)))
    return parts


def _star(rng):
    n, ratio, aspect = int(rng.integers(5, 9)), rng.uniform(0.3, 0.62), rng.uniform(0.75, 1.0)
    a = -math.pi / 2 + rng.uniform(-0.3, 0.3) + np.arange(2 * n) * math.pi / n
    r = np.where(np.arange(2 * n) % 2 == 0, 1.0, ratio) * rng.uniform(0.9, 1.1, 2 * n)
    parts = [_closed(np.stack([r * np.cos(a), aspect * r * np.sin(a)], 1), True)]
    if rng.random() < 0.6:
        k = rng.uniform(0.25, 0.6) * ratio
        parts.append(_closed(_ellipse(0, 0, k, k * aspect, n=24)))
    if rng.random() < 0.4:
        parts += [_line(_pts(0, 0, r[i] * math.cos(a[i]), aspect * r[i] * math.sin(a[i]))) for i in range(0, 2 * n, 2)]
    return parts


def _house(rng):
    w, wall_top, roof = rng.uniform(0.55, 1.0), rng.uniform(-0.2, 0.2), rng.uniform(0.35, 0.8)
    over, apex = rng.uniform(0.0, 0.15), rng.uniform(-0.25, 0.25) * w
    parts = [_closed(_rect(-w, wall_top, w, 0.8), True),
             _closed(_pts(-w - over, wall_top, apex, wall_top - roof, w + over, wall_top), True)]
    dw, dh = rng.uniform(0.12, 0.25), rng.uniform(0.3, 0.6) * (0.8 - wall_top)
    dx = rng.uniform(-w + dw + 0.05, w - dw - 0.05)
    parts.append(_closed(_rect(dx - dw / 2, 0.8 - dh, dx + dw / 2, 0.8)))
    for _ in range(int(rng.integers(1, 4))):
        s, cx = rng.uniform(0.1, 0.2), rng.uniform(-w + 0.2, w - 0.2)
        cy = rng.uniform(wall_top + 0.15, 0.8 - dh - 0.05) if 0.8 - dh - 0.05 > wall_top + 0.15 else wall_top + 0.15
        if abs(cx - dx) < dw / 2 + s:
            cx = -cx if abs(-cx - dx) > dw / 2 + s else cx
        parts += [_closed(_rect(cx - s, cy - s, cx + s, cy + s)), _line(_pts(cx - s, cy, cx + s, cy)),
                  _line(_pts(cx, cy - s, cx, cy + s))]
    if rng.random() < 0.6:
        cx = rng.uniform(0.3, 0.7) * w * rng.choice([-1, 1])
        parts.append(_closed(_rect(cx - 0.07, wall_top - roof * 0.9, cx + 0.07, wall_top - roof * 0.3)))
    return parts


def _fish(rng):
    length, height, skew = rng.uniform(0.65, 0.85), rng.uniform(0.2, 0.45), rng.uniform(-0.3, 0.3)
    t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    body = np.stack([length * np.cos(t), height * np.sin(t) * (1 + skew * np.cos(t))], 1)
    tail, fork = rng.uniform(0.2, 0.4), rng.uniform(0.0, 0.15)
    x0 = -length
    parts = [_closed(body, True),
             _closed(_pts(x0 + 0.05, 0, x0 - tail, -tail * 1.1, x0 - tail + fork, 0, x0 - tail, tail * 1.1), True)]
    ex = length * rng.uniform(0.45, 0.7)
    er = rng.uniform(0.04, 0.09)
    parts.append(_closed(_ellipse(ex, -height * 0.25, er, er, n=16)))
    fx, fh = rng.uniform(-0.3, 0.2), rng.uniform(0.12, 0.3)
    parts.append(_closed(_pts(fx - 0.2, -height * 0.9, fx, -height - fh, fx + 0.15, -height * 0.85), True))
    for sx in rng.uniform(-0.5, 0.3, int(rng.integers(0, 4))):
        parts.append(_line(_ellipse(sx, 0, 0.08, height * 0.8, -math.pi / 2, math.pi / 2, n=12)))
    parts.append(_line(_pts(ex - 0.22, -height * 0.6, ex - 0.27, 0, ex - 0.2, height * 0.6)))
    return parts


def _cup(rng):
    top, bottom, h = rng.uniform(0.45, 0.75), rng.uniform(0.3, 0.6), rng.uniform(0.7, 1.2)
    bottom = min(bottom, top)
    y0, y1 = -h / 2, h / 2
    rim = rng.uniform(0.06, 0.15)
    parts = [_closed(_pts(-top, y0, top, y0, bottom, y1, -bottom, y1), True),
             _closed(_ellipse(0, y0, top, rim))]
    hs, hy = rng.uniform(0.18, 0.35), rng.uniform(-0.15, 0.15) * h
    hx = (top + bottom) / 2
    parts.append(_line(_ellipse(hx, hy, hs, hs * rng.uniform(0.9, 1.5), -math.pi / 2, math.pi / 2, n=20), True))
    if rng.random() < 0.5:
        parts.append(_closed(_ellipse(0, y1 + 0.05, bottom + rng.uniform(0.2, 0.4), 0.08)))
    if rng.random() < 0.5:
        band = rng.uniform(-0.2, 0.2) * h
        parts.append(_line(_pts(-(top + bottom) / 2, band, (top + bottom) / 2, band)))
    return parts


def _key(rng):
    rb, thick = rng.uniform(0.25, 0.45), rng.uniform(0.05, 0.1)
    bx = -1 + rb
    kind = rng.integers(0, 3)
    if kind == 0:
        bow = _ellipse(bx, 0, rb, rb * rng.uniform(0.8, 1.2))
    elif kind == 1:
        bow = _rect(bx - rb, -rb, bx + rb, rb)
    else:
        t = np.linspace(0, 2 * math.pi, 60, endpoint=False)
        r = rb * (0.8 + 0.2 * np.cos(3 * t))
        bow = np.stack([bx + r * np.cos(t), r * np.sin(t)], 1)
    parts = [_closed(bow, True), _closed(_ellipse(bx, 0, rb * 0.35, rb * 0.35, n=16))]
    x_end = rng.uniform(0.7, 1.0)
    parts.append(_closed(_rect(bx + rb * 0.9, -thick, x_end, thick), True))
    n = int(rng.integers(2, 6))
    xs = np.linspace(x_end - 0.05, x_end - rng.uniform(0.35, 0.7), n)
    teeth = [(x_end, thick)]
    for x in xs:
        teeth += [(x, thick + rng.uniform(0.06, 0.22)), (x - 0.05, thick)]
    parts.append(_line(np.array(teeth)))
    if rng.random() < 0.5:
        parts.append(_line(_pts(bx + rb * 1.1, 0, x_end - 0.1, 0)))
    return parts


def _tree(rng):
    tw, trunk_top = rng.uniform(0.06, 0.16), rng.uniform(0.0, 0.4)
    parts = [_closed(_rect(-tw, trunk_top, tw, 0.95), True)]
    if rng.random() < 0.5:  # broad-leaved: a ring of lobes
        n, cy, r = int(rng.integers(4, 8)), trunk_top - rng.uniform(0.35, 0.5), rng.uniform(0.45, 0.65)
        t = np.linspace(0, 2 * math.pi, 90, endpoint=False)
        rr = r * (1 + 0.12 * np.abs(np.sin(n * t / 2 + rng.uniform(0, math.pi))))
        parts.append(_closed(np.stack([rr * np.cos(t), cy + rr * rng.uniform(0.75, 1.0) * np.sin(t)], 1), True))
        for fx, fy in rng.uniform(-0.5, 0.5, (int(rng.integers(0, 5)), 2)) * r:
            parts.append(_closed(_ellipse(fx, cy + fy, 0.05, 0.05, n=12)))
        parts.append(_line(_pts(0, trunk_top, rng.uniform(-0.3, 0.3), cy + 0.1)))
    else:  # conifer: stacked triangles
        tiers, top = int(rng.integers(2, 5)), -1.0
        ys = np.linspace(top, trunk_top, tiers + 1)
        for i in range(tiers):
            half = rng.uniform(0.3, 0.5) + 0.12 * i
            parts.append(_closed(_pts(0, ys[i] - 0.1, half, ys[i + 1], -half, ys[i + 1]), True))
    return parts


def _umbrella(rng):
    r, dome, n = rng.uniform(0.8, 1.0), rng.uniform(0.45, 0.8), int(rng.integers(3, 8))
    top = _ellipse(0, 0, r, dome, math.pi, 2 * math.pi, n=32)
    xs = np.linspace(r, -r, n + 1)
    scallop_depth = rng.uniform(0.05, 0.18)
    edge = []
    for a, b in zip(xs[:-1], xs[1:]):
        mid, half = (a + b) / 2, (a - b) / 2
        edge.append(_ellipse(mid, 0, half, scallop_depth, 0, math.pi, n=10))
    parts = [_closed(np.concatenate([top] + edge), True)]
    for x in xs[1:-1]:
        parts.append(_line(_pts(0, -dome, x, 0)))
    shaft_end, hook = rng.uniform(0.65, 0.9), rng.uniform(0.1, 0.22) * rng.choice([-1, 1])
    parts.append(_line(_pts(0, -dome - 0.08, 0, shaft_end), True))
    parts.append(_line(_ellipse(hook, shaft_end, abs(hook), abs(hook), 0 if hook < 0 else math.pi,
                                math.pi if hook < 0 else 2 * math.pi, n=12)[:: -1 if hook < 0 else 1], True))
    return parts


def _bottle(rng):
    bw, shoulder, nw = rng.uniform(0.25, 0.45), rng.uniform(-0.3, 0.1), rng.uniform(0.08, 0.16)
    neck_top, cap = rng.uniform(-0.9, -0.6), rng.uniform(0.06, 0.14)
    curve = _ellipse(0, shoulder, bw, rng.uniform(0.1, 0.3), math.pi, 2 * math.pi, n=16)
    outline = np.concatenate([_pts(-bw, 0.9), curve, _pts(bw, 0.9)])
    parts = [_closed(outline, True), _closed(_rect(-nw, neck_top, nw, shoulder - 0.1), True),
             _closed(_rect(-nw * 1.2, neck_top - cap, nw * 1.2, neck_top))]
    if rng.random() < 0.75:
        ly, lh = rng.uniform(0.1, 0.45), rng.uniform(0.15, 0.35)
        parts.append(_closed(_rect(-bw, ly, bw, min(ly + lh, 0.85))))
    return parts


def _kite(rng):
    cy, wl, wr, bottom = rng.uniform(-0.55, -0.2), rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.6)
    top = -0.95
    parts = [_closed(_pts(0, top, wr, cy, 0, bottom, -wl, cy), True),
             _line(_pts(0, top, 0, bottom)), _line(_pts(-wl, cy, wr, cy))]
    n = int(rng.integers(2, 6))
    ty = np.linspace(bottom, 0.98, 24)
    amp, freq = rng.uniform(0.05, 0.2), rng.uniform(1.5, 4)
    tx = amp * np.sin((ty - bottom) * freq * math.pi + rng.uniform(0, math.pi))
    parts.append(_line(np.stack([tx, ty], 1)))
    for i in np.linspace(4, 22, n).astype(int):
        x, y = tx[i], ty[i]
        parts.append(_closed(_pts(x, y, x - 0.08, y - 0.04, x - 0.08, y + 0.04)))
        parts.append(_closed(_pts(x, y, x + 0.08, y - 0.04, x + 0.08, y + 0.04)))
    return parts


def _leaf(rng):
    length, width, asym, tip = rng.uniform(0.75, 0.95), rng.uniform(0.2, 0.45), rng.uniform(-0.3, 0.3), \
        rng.uniform(0.6, 1.6)
    t = np.linspace(0, 1, 30)
    profile = width * np.sin(math.pi * t) ** tip
    xs = -length + 2 * length * t
    upper = np.stack([xs, -profile * (1 + asym)], 1)
    lower = np.stack([xs[::-1], (profile * (1 - asym))[::-1]], 1)
    parts = [_closed(np.concatenate([upper, lower[1:-1]]), True), _line(_pts(-length, 0, length, 0)),
             _line(_pts(-length, 0, -length - rng.uniform(0.1, 0.3), rng.uniform(-0.1, 0.15)), True)]
    n = int(rng.integers(2, 7))
    for x in np.linspace(-length * 0.6, length * 0.6, n):
        k = np.interp(x + 0.2, xs, profile) * 0.8
        parts += [_line(_pts(x, 0, x + 0.2, -k * (1 + asym))), _line(_pts(x, 0, x + 0.2, k * (1 - asym)))]
    return parts


def _ladder(rng):
    top_w, bottom_w, n = rng.uniform(0.2, 0.45), rng.uniform(0.35, 0.7), int(rng.integers(3, 9))
    rail = rng.uniform(0.03, 0.07)
    parts = [_closed(_pts(-top_w - rail, -0.95, -top_w + rail, -0.95, -bottom_w + rail, 0.95,
                          -bottom_w - rail, 0.95), True),
             _closed(_pts(top_w - rail, -0.95, top_w + rail, -0.95, bottom_w + rail, 0.95,
                          bottom_w - rail, 0.95), True)]
    missing = int(rng.integers(0, n)) if rng.random() < 0.3 else -1
    for i, y in enumerate(np.linspace(-0.75, 0.75, n)):
        if i == missing:
            continue
        half = top_w + (bottom_w - top_w) * (y + 0.95) / 1.9
        parts.append(_closed(_rect(-half, y - 0.03, half, y + 0.03), True))
    return parts


SHAPES = {"wheel": _wheel, "house": _house, "fish": _fish, "cup": _cup, "key": _key, "tree": _tree,
          "umbrella": _umbrella, "star": _star, "kite": _kite, "leaf": _leaf, "bottle": _bottle, "ladder": _ladder}


def make_instance(class_name: str, rng: np.random.Generator) -> list[Part]:
    """The parts of one random instance of ``class_name``, rescaled so its bounding box spans [-0.9, 0.9]."""
    parts = SHAPES[class_name](rng)
    pts = np.concatenate([p.points for p in parts])
    lo, hi = pts.min(0), pts.max(0)
    centre, half = (lo + hi) / 2, max(hi - lo) / 2
    return [Part((p.points - centre) * (0.9 / half), p.closed, p.body) for p in parts]


# ----------------------------------------------------------------------------------------------- rendering
@dataclass
class Pose:
    angle: float  # radians
    scale: float  # pixels per object unit
    dx: float
    dy: float

    def apply(self, pts: np.ndarray, size: int) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        rot = pts @ np.array([[c, s], [-s, c]])
        return rot * self.scale + np.array([size / 2 + self.dx, size / 2 + self.dy])


def _random_pose(rng, size) -> Pose:
    return Pose(rng.uniform(-0.35, 0.35), size * rng.uniform(0.33, 0.45), *rng.uniform(-0.06, 0.06, 2) * size)


def _colour(rng, lo=0.35, hi=0.95) -> np.ndarray:
    hue = rng.uniform(0, 1)
    sat, val = rng.uniform(0.35, 0.9), rng.uniform(lo, hi)
    k = (np.array([5, 3, 1]) + hue * 6) % 6
    rgb = val - val * sat * np.clip(np.minimum(k, 4 - k), 0, 1)
    return rgb * 255


def _background(rng, size) -> Image.Image:
    a, b = _colour(rng, 0.4, 1.0), _colour(rng, 0.4, 1.0)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    t = np.clip((xx - 0.5) * math.cos(angle) + (yy - 0.5) * math.sin(angle) + 0.5, 0, 1)[..., None]
    img = a * (1 - t) + b * t
    mottle = np.asarray(Image.fromarray((rng.uniform(0, 255, (6, 6))).astype(np.uint8)).resize(
        (size, size), Image.BICUBIC), float)[..., None] / 255 - 0.5
    img = np.clip(img * (1 + 0.25 * mottle), 0, 255)
    canvas = Image.fromarray(img.astype(np.uint8)).convert("RGBA")
    overlay = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(int(rng.integers(4, 10))):  # clutter: blobs, boxes and sticks
        fill = tuple(int(v) for v in _colour(rng, 0.2, 1.0)) + (int(rng.integers(60, 170)),)
        x0, y0 = rng.uniform(-0.1, 1.0, 2) * size
        w, h = rng.uniform(0.05, 0.4, 2) * size
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=fill)
        elif kind == 1:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=fill)
        else:
            draw.line([x0, y0, x0 + w * rng.choice([-1, 1]), y0 + h], fill=fill, width=int(rng.integers(2, 8)))
    return Image.alpha_composite(canvas, overlay).convert("RGB")


def render_photo(parts: list[Part], rng: np.random.Generator, pose: Pose, size: int = 256) -> Image.Image:
    """A colour photo of one instance: textured, lit object over a cluttered background."""
    image = _background(rng, size)
    base = _colour(rng)
    detail = np.clip(base * rng.uniform(0.35, 0.7) + rng.uniform(0, 60), 0, 255)
    mask = Image.new("L", (size, size), 0)
    mdraw = ImageDraw.Draw(mask)
    thick = max(3, int(size * rng.uniform(0.025, 0.04)))
    for p in parts:
        if p.body:
            xy = [tuple(v) for v in pose.apply(p.points, size)]
            if p.closed:
                mdraw.polygon(xy, fill=255)
            else:
                mdraw.line(xy, fill=255, width=thick, joint="curve")
    yy, xx = np.mgrid[0:size, 0:size] / size
    ang, freq = rng.uniform(0, math.pi), rng.uniform(6, 30)
    texture = 0.12 * np.sin((xx * math.cos(ang) + yy * math.sin(ang)) * freq * 2 * math.pi + rng.uniform(0, 6))
    light = 0.25 * ((xx - 0.5) * math.cos(ang * 2) + (yy - 0.5) * math.sin(ang * 2))
    obj = np.clip(base * (1 + texture + light)[..., None] + rng.normal(0, 6, (size, size, 3)), 0, 255)
    m = np.asarray(mask, float)[..., None] / 255
    image = Image.fromarray((np.asarray(image, float) * (1 - m) + obj * m).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    outline = tuple(int(v) for v in base * 0.4)
    dcol = tuple(int(v) for v in detail)
    for p in parts:
        xy = [tuple(v) for v in pose.apply(p.points, size)]
        if p.body and p.closed:
            draw.line(xy + xy[:1], fill=outline, width=2)
        elif not p.body:
            if p.closed and rng.random() < 0.6:
                draw.polygon(xy, fill=dcol, outline=outline)
            else:
                draw.line(xy + (xy[:1] if p.closed else []), fill=dcol, width=max(2, thick // 2), joint="curve")
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    noisy = np.asarray(image, float) + rng.normal(0, 4, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _resample(xy: np.ndarray, closed: bool, step: float) -> np.ndarray:
    pts = np.concatenate([xy, xy[:1]]) if closed else xy
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    dist = np.concatenate([[0], np.cumsum(seg)])
    if dist[-1] < 1e-6:
        return pts
    s = np.linspace(0, dist[-1], max(2, int(dist[-1] / step) + 1))
    return np.stack([np.interp(s, dist, pts[:, 0]), np.interp(s, dist, pts[:, 1])], 1)


def render_sketch(parts: list[Part], rng: np.random.Generator, pose: Pose, size: int = 256) -> Image.Image:
    """A hand-drawn-looking line sketch of the same instance: jittered, partly abstracted outline strokes."""
    pose = Pose(pose.angle + rng.normal(0, 0.06), pose.scale * (1 + rng.normal(0, 0.05)),
                pose.dx + rng.normal(0, 0.02 * size), pose.dy + rng.normal(0, 0.02 * size))
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    width = int(rng.integers(2, 4))
    drop_detail = rng.uniform(0.15, 0.45)
    wobble = rng.uniform(0.004, 0.012) * size
    for p in parts:
        if not p.body and rng.random() < drop_detail:
            continue
        xy = _resample(pose.apply(p.points, size), p.closed, step=size / 64)
        n = len(xy)
        if rng.random() < 0.3 and n > 6:  # abstraction: coarser, straighter strokes
            xy = xy[:: int(rng.integers(2, 4))]
            n = len(xy)
        t = np.linspace(0, 1, n)[:, None]
        length = float(np.linalg.norm(np.diff(xy, axis=0), axis=1).sum())
        amp = wobble * min(1.0, max(0.15, length / (0.6 * size)))  # short strokes wobble less
        drift = sum(rng.normal(0, amp, (1, 2)) * np.sin(2 * math.pi * f * t + rng.uniform(0, 6, (1, 2)))
                    for f in (0.5, 1.5, 3.0))
        xy = xy + drift + rng.normal(0, 0.25 * amp, xy.shape)
        if p.closed and n > 8:
            if rng.random() < 0.35:  # loop left open
                xy = xy[: n - int(rng.integers(1, max(2, n // 8)))]
            else:  # overshoot past the start point
                xy = np.concatenate([xy, xy[1: 1 + int(rng.integers(1, 4))]])
        draw.line([tuple(v) for v in xy], fill=0, width=width, joint="curve")
    return image.convert("RGB")


# ----------------------------------------------------------------------------------------------- dataset writer
def photo_id(class_name: str, k: int) -> str:
    """``n<WordNet offset>_<k>`` (k from 1), as Sketchy names ImageNet photos."""
    return f"n{WORDNET_OFFSETS[class_name]}_{k}"


def make_synthetic(root: str | Path, seed: int = 0, num_classes: int = 10, photos_per_class: int = 12,
                   sketched_per_class: int = 10, sketches_per_photo: int = 2, test_per_class: int = 3,
                   size: int = 256, classes: list[str] | None = None) -> Path:
    """Write the synthetic dataset under ``root`` in the Sketchy layout and return ``root``.

    Writes ``256x256/photo/tx_000000000000/<class>/<id>.jpg`` (RGB JPEG), ``256x256/sketch/tx_000000000000/<class>/
    <id>-<k>.png`` for the first ``sketched_per_class`` photos, ``info/testset.txt`` (``test_per_class`` sketched
    photos per class, seeded) and ``info/synthetic.json`` (the arguments). Output depends only on the arguments.
    """
    classes = list(classes) if classes is not None else list(CLASSES[:num_classes])
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes:
        raise ValueError(f"unknown synthetic classes {unknown}; available: {', '.join(CLASSES)}")
    if not 0 < test_per_class <= sketched_per_class <= photos_per_class:
        raise ValueError("need 0 < test_per_class <= sketched_per_class <= photos_per_class")
    root = Path(root)
    base = root / "256x256"
    test_lines = []
    for ci, cls in enumerate(classes):
        photo_dir = base / "photo" / DEFAULT_RENDERING / cls
        sketch_dir = base / "sketch" / DEFAULT_RENDERING / cls
        photo_dir.mkdir(parents=True, exist_ok=True)
        sketch_dir.mkdir(parents=True, exist_ok=True)
        test_idx = set(np.random.default_rng([seed, ci, 99]).choice(sketched_per_class, test_per_class,
                                                                    replace=False).tolist())
        for k in range(photos_per_class):
            rng = np.random.default_rng([seed, ci, k])
            parts = make_instance(cls, rng)
            pose = _random_pose(rng, size)
            pid = photo_id(cls, k + 1)
            render_photo(parts, rng, pose, size).save(photo_dir / f"{pid}.jpg", quality=90)
            if k < sketched_per_class:
                for j in range(sketches_per_photo):
                    render_sketch(parts, np.random.default_rng([seed, ci, k, j + 1]), pose, size).save(
                        sketch_dir / f"{pid}-{j + 1}.png")
                if k in test_idx:
                    test_lines.append(f"{cls}/{pid}.jpg")
    info = root / "info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "testset.txt").write_text("\n".join(test_lines) + "\n")
    meta = dict(version=VERSION, seed=seed, classes=classes, photos_per_class=photos_per_class,
                sketched_per_class=sketched_per_class, sketches_per_photo=sketches_per_photo,
                test_per_class=test_per_class, size=size,
                wnids={c: f"n{WORDNET_OFFSETS[c]}" for c in classes})
    (info / "synthetic.json").write_text(json.dumps(meta, indent=2) + "\n")
    return root


def default_root(cache_dir: str | Path | None = None) -> Path:
    """The default synthetic dataset, generated once into ``<cache>/synthetic_v1`` and reused afterwards.

    Generation happens in a temporary folder beside the target, which is then renamed into place, so an
    interrupted run never leaves a half-written dataset behind.
    """
    from sbir_tf.paths import default_cache_dir

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    target = cache / DEFAULT_DIRNAME
    if (target / "info" / "synthetic.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{DEFAULT_DIRNAME}-", dir=cache))
    try:
        make_synthetic(tmp)
        if target.exists() and not (target / "info" / "synthetic.json").is_file():
            shutil.rmtree(target)  # a leftover from an older, incomplete layout
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "info" / "synthetic.json").is_file():  # lost a race only if the winner finished
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
