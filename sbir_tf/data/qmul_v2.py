"""Reader for QMUL-ShoeV2 / ChairV2 (Yu et al. 2021; Bhunia et al. 2020 release): photos plus vector sketches.

Layout::

    <root>/photo/<photo>.png|.jpg         (also accepted: photos/, or trainB/ + testB/)
    <root>/<Name>_Coordinate              pickle: dict  key -> float array [n_points, 3] of (x, y, pen_up)

``root`` may be the ``ShoeV2``/``ChairV2`` folder, or its parent with ``category="shoes"|"chairs"``.

Accepted key format: a ``/``-separated path whose last part is ``<photo>_<k>`` (``<photo>`` may itself contain
``_``; an extension such as ``.svg`` is ignored) and one of whose earlier parts starts with ``train`` or ``test``
(``train/...``, ``/test/...``, ``trainA/...``, ``ShoeV2/testA/...``). Sketch ``<photo>_<k>`` depicts
``<photo>.png``. Photos sketched in a ``test`` key form the fine-grained test set.

Coordinates are on a 256x256 canvas (larger drawings are scaled down to fit); ``pen_up == 1`` on a point ends the
stroke after it. Sketches are rasterised to uint8 ``[256, 256]`` images (black lines on white) into an
array-backed index: ``Record.path`` is ``<pickle>#<row>``.

The pickle is read with :class:`NumpyOnlyUnpickler`, which only rebuilds numpy arrays; any other global in the file
(functions, classes) is refused with :class:`~sbir_tf.data.records.DataError`, so loading never executes code.
"""
from __future__ import annotations

import importlib
import io
import pickle
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from sbir_tf.data.images import image_problem, list_files
from sbir_tf.data.records import PHOTO, SKETCH, DataError, DatasetIndex, Record, SkipLog, canonical_class_name

CANVAS = 256
STROKE_WIDTH = 3
CATEGORY_FOLDERS = {"shoes": ("ShoeV2", "shoev2", "shoes"), "chairs": ("ChairV2", "chairv2", "chairs")}
_KEY_LAST = re.compile(r"^(?P<photo>.+)_(?P<k>\d+)$")

# (module, name) globals a vector-sketch pickle may reference: numpy array reconstruction only.
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # bytes written by Python 2 pickles (array buffers)
    ("builtins", "bytearray"), ("builtins", "complex"), ("__builtin__", "bytearray"),
})


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that admits only the globals in :data:`ALLOWED_GLOBALS` (plain containers need none)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataError(f"refusing to load {module}.{name} from a data pickle: only numpy arrays are allowed")
        if module.startswith("numpy.core"):  # numpy >= 2 moved numpy.core to numpy._core
            try:
                return getattr(importlib.import_module("numpy._core" + module[len("numpy.core"):]), name)
            except ImportError:
                pass
        if module == "__builtin__":
            module = "builtins"
        return getattr(importlib.import_module(module), name)


def safe_load_pickle(path: str | Path):
    """Load a pickle that may only contain containers, numbers, strings and numpy arrays."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    try:
        return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or not a pickle
        raise DataError(f"{path} is not a readable vector-sketch pickle: {type(exc).__name__}: {exc}") from exc


def parse_key(key: str) -> tuple[str, str, int] | None:
    """``"/train/2429245009_1"`` -> ``("train", "2429245009", 1)``; ``None`` when the key does not fit the format."""
    parts = [p for p in str(key).replace("\\", "/").split("/") if p]
    if len(parts) < 2:
        return None
    last = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    match = _KEY_LAST.match(last)
    split = next((s for p in parts[:-1] for s in ("train", "test") if p.lower().startswith(s)), None)
    if not match or split is None:
        return None
    return split, match.group("photo"), int(match.group("k"))


def rasterise_strokes(points, size: int = CANVAS, width: int = STROKE_WIDTH) -> np.ndarray:
    """Draw ``[n, 3]`` (x, y, pen_up) points as black polylines on a white ``size x size`` uint8 image.

    Consecutive points are joined until a point with ``pen_up == 1``, which ends the stroke. Points on a larger
    canvas than ``size`` are scaled down to fit.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3 or len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError(f"expected a non-empty finite [n, 3] array of (x, y, pen_up), got shape {pts.shape}")
    xy = pts[:, :2]
    extent = xy.max()
    if extent > size * 1.05:
        xy = xy * ((size - 1) / extent)
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    stroke: list[tuple[float, float]] = []
    for (x, y), pen_up in zip(xy, pts[:, 2]):
        stroke.append((float(x), float(y)))
        if pen_up >= 0.5:
            _draw_stroke(draw, stroke, width)
            stroke = []
    _draw_stroke(draw, stroke, width)
    return np.asarray(image, dtype=np.uint8)


def _draw_stroke(draw: ImageDraw.ImageDraw, stroke, width: int) -> None:
    if len(stroke) == 1:
        x, y = stroke[0]
        r = width / 2
        draw.ellipse([x - r, y - r, x + r, y + r], fill=0)
    elif len(stroke) > 1:
        draw.line(stroke, fill=0, width=width, joint="curve")


def normalise_category(category: str) -> str:
    """``"ShoeV2"``, ``"shoe"``, ``"shoes"`` -> ``"shoes"``; ``"ChairV2"`` -> ``"chairs"``."""
    for name in CATEGORY_FOLDERS:
        if name.rstrip("s") in category.lower():
            return name
    raise DataError(f"unknown QMUL-V2 category {category!r}; expected one of {', '.join(CATEGORY_FOLDERS)}")


def _find_root(root: Path, category: str | None) -> Path:
    if not root.is_dir():
        raise DataError(f"QMUL-V2 root {root} does not exist (expected photo/ and a *_Coordinate pickle inside)")
    if category:
        cands = [root / name for name in CATEGORY_FOLDERS[normalise_category(category)]] + [root]
    else:
        cands = [root] + [root / name for names in CATEGORY_FOLDERS.values() for name in names]
    for cand in cands:
        if cand.is_dir() and list(cand.glob("*_Coordinate*")):
            return cand
    raise DataError(f"no QMUL-V2 vector-sketch pickle (*_Coordinate) found; looked in "
                    f"{', '.join(str(c) for c in cands)} (expected <Name>_Coordinate beside photo/)")


def _photo_files(base: Path) -> list[Path]:
    folders = [base / n for n in ("photo", "photos", "trainB", "testB") if (base / n).is_dir()]
    if not folders:
        raise DataError(f"no QMUL-V2 photo folder under {base}: expected photo/ (or photos/, trainB/ + testB/)")
    return [f for folder in folders for f in list_files(folder)]


def read_qmul_v2(root: str | Path, category: str | None = None, strict: bool = False,
                 stroke_width: int = STROKE_WIDTH) -> DatasetIndex:
    """Index a QMUL-V2 set; sketches are rasterised from the vector pickle into ``DatasetIndex.arrays``."""
    base = _find_root(Path(root).expanduser(), category)
    pickle_path = sorted(base.glob("*_Coordinate*"))[0]
    try:
        class_name = normalise_category(category or pickle_path.name)
    except DataError:
        class_name = canonical_class_name(pickle_path.name.split("_Coordinate")[0]) or "sketch"
    log = SkipLog(strict)

    photos: list[Record] = []
    photo_ids = set()
    for f in _photo_files(base):
        problem = image_problem(f)
        if problem:
            log.skip(str(f), problem)
        elif f.stem not in photo_ids:
            photo_ids.add(f.stem)
            photos.append(Record(str(f), class_name, f.stem, PHOTO))

    coords = safe_load_pickle(pickle_path)
    if not isinstance(coords, dict):
        raise DataError(f"{pickle_path} holds a {type(coords).__name__}; expected a dict key -> [n, 3] array")
    rows, sketches, test_ids = [], [], set()
    for key in sorted(coords, key=str):
        parsed = parse_key(key)
        ref = f"{pickle_path}[{key!r}]"
        if parsed is None:
            log.skip(ref, "bad sketch key: expected [.../]<train|test...>/<photo>_<k>")
            continue
        split, photo, _ = parsed
        if photo not in photo_ids:
            log.skip(ref, f"sketch without photo: no {photo}.png|.jpg among the photos")
            continue
        try:
            image = rasterise_strokes(coords[key], width=stroke_width)
        except (ValueError, TypeError) as exc:
            log.skip(ref, f"bad stroke data: {exc}")
            continue
        sketches.append(Record(f"{pickle_path}#{len(rows)}", class_name, photo, SKETCH))
        rows.append(image)
        if split == "test":
            test_ids.add(photo)
    if not sketches:
        raise DataError(f"no usable sketches in {pickle_path} match the photos under {base}")
    arrays = {str(pickle_path): np.stack(rows)}
    return DatasetIndex(name="qmul_v2", root=str(Path(root)), sketches=sketches, photos=photos, skipped=log.items,
                        test_instances=frozenset(test_ids), arrays=arrays,
                        notes={"category": class_name, "pickle": str(pickle_path)})
