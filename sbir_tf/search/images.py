"""Image decoding for search: the same decoder as the training and evaluation pipelines.

Photos and sketches are decoded with :func:`sbir_tf.data.preprocessing.decode_to_rgb` (TensorFlow's decoders, grey
replicated to RGB, alpha composited over white), exactly as ``sbir_tf.data.pipeline`` decodes them, so an indexed
photo gets the embedding the evaluation code computes for it. Formats TensorFlow cannot decode (WebP, TIFF) are
decoded with PIL instead. The encoders resize and preprocess themselves, so images stay at their own size here.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from sbir_tf.data.images import image_problem
from sbir_tf.data.preprocessing import decode_to_rgb

#: Extensions TensorFlow's ``decode_image`` reads; the others of ``sbir_tf.data.images.IMAGE_EXTENSIONS`` use PIL.
TF_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


class UnreadableImageError(ValueError):
    """A file that should be an image cannot be decoded."""


def _pil_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def decode_image(data: bytes, *, name: str = "image", use_pil: bool = False) -> np.ndarray:
    """Encoded image bytes -> uint8 ``[H, W, 3]``; raises :class:`UnreadableImageError` saying why it failed."""
    if not data:
        raise UnreadableImageError(f"{name}: empty file")
    try:
        if use_pil:
            image = _pil_rgb(data)
        else:
            image = decode_to_rgb(tf.constant(data)).numpy()
    except (tf.errors.OpError, OSError, ValueError, SyntaxError) as err:
        message = getattr(err, "message", None) or str(err)
        raise UnreadableImageError(f"{name}: cannot decode ({type(err).__name__}: {message.strip()[:200]})") from err
    if image.ndim != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise UnreadableImageError(f"{name}: decoded to an empty image of shape {image.shape}")
    return image


def read_image(path: str | Path) -> np.ndarray:
    """A photo or sketch file -> uint8 ``[H, W, 3]``; :class:`UnreadableImageError` when it is not a usable image."""
    path = Path(path)
    problem = image_problem(path)
    if problem:
        raise UnreadableImageError(f"{path}: {problem}")
    return decode_image(path.read_bytes(), name=str(path), use_pil=path.suffix.lower() not in TF_EXTENSIONS)


def thumbnail_jpeg(path: str | Path, size: int = 160) -> bytes:
    """JPEG bytes of the image at ``path`` fitted into ``size`` x ``size`` (for display only)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((size, size), Image.BILINEAR)
        out = io.BytesIO()
        im.save(out, format="JPEG", quality=88)
        return out.getvalue()
