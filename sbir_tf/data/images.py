"""Cheap image-file checks shared by the folder readers.

:func:`image_problem` answers "can this file be used as an image?" without decoding every pixel: PIL parses the
header and runs ``verify()`` (for PNG this checks every chunk's CRC, so a truncated PNG is caught); a JPEG must also
end with its end-of-image marker, which catches truncated JPEGs that ``verify()`` lets through.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_JPEG_EOI = b"\xff\xd9"


def is_image_name(path: str | os.PathLike) -> bool:
    """True when the file name carries an image extension (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _jpeg_is_complete(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64))
        tail = f.read().rstrip(b"\x00\r\n ")
    return tail.endswith(_JPEG_EOI)


def image_problem(path: str | os.PathLike) -> str | None:
    """``None`` when ``path`` is a readable image, else a short reason (``"not an image: ..."``, ``"corrupt image: ..."``)."""
    path = Path(path)
    if not is_image_name(path):
        return f"not an image: extension {path.suffix or '(none)'!r}"
    try:
        if path.stat().st_size == 0:
            return "corrupt image: empty file"
        with Image.open(path) as im:
            fmt = im.format
            width, height = im.size
            im.verify()
    except UnidentifiedImageError:
        return "not an image: contents are not a known image format"
    except Exception as exc:  # PIL raises many types (SyntaxError, OSError, struct.error) for damaged files
        return f"corrupt image: {type(exc).__name__}: {exc}"
    if width <= 0 or height <= 0:
        return f"corrupt image: size {width}x{height}"
    if fmt == "JPEG" and not _jpeg_is_complete(path):
        return "corrupt image: truncated JPEG (no end-of-image marker)"
    return None


def load_image(path: str | os.PathLike, mode: str = "RGB", size: int | None = None) -> np.ndarray:
    """Decode an image file to a uint8 array (``[H, W, 3]`` for RGB, ``[H, W]`` for ``"L"``), optionally resized."""
    with Image.open(path) as im:
        im = im.convert(mode)
        if size is not None and im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()


def list_files(folder: Path) -> list[Path]:
    """Regular files in ``folder`` (not recursive), sorted by name; hidden files are ignored."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def list_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder``, sorted by name; hidden folders are ignored."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_class_folders(domain_dir: Path, log, *, what: str) -> dict[str, tuple[str, list[Path]]]:
    """Valid image files per class folder of ``domain_dir``: ``{canonical class: (folder name, [files])}``.

    Each unusable file (not an image, corrupt) and each empty class folder is reported through ``log``
    (a :class:`~sbir_tf.data.records.SkipLog`); ``what`` names the domain in the reasons ("sketch", "photo").
    Two folders whose names canonicalise to the same class are merged.
    """
    from sbir_tf.data.records import canonical_class_name

    found: dict[str, tuple[str, list[Path]]] = {}
    for class_dir in list_dirs(domain_dir):
        files = list_files(class_dir)
        if not files:
            log.skip(str(class_dir), f"empty class folder: no {what} files")
            continue
        good = []
        for f in files:
            problem = image_problem(f)
            if problem:
                log.skip(str(f), problem)
            else:
                good.append(f)
        if not good:
            log.skip(str(class_dir), f"empty class folder: no usable {what} files")
            continue
        name = canonical_class_name(class_dir.name)
        folder, prev = found.get(name, (class_dir.name, []))
        found[name] = (folder, prev + good)
    return found
