"""Helpers of the search tests: tiny trained-model stand-ins saved as real runs, and small image folders.

``make_tiny_run`` builds a small fine-grained model of Pang et al. (``sbir_tf.models.fg.build_fg_model``: VGG16
trunk at 32 px, random weights, one 16-d fc layer, an 8-d embedding) and saves it as a run folder with
``sbir_tf.export.save_run_model``, so the search commands go through the real ``sbir_tf.export.load_encoders`` (the
run is exported into ``RUN_DIR/export/`` on first use); the Keras model is kept so tests can compute the
evaluation code's ranking directly.
"""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from PIL import Image

IMAGE_SIZE = 32
TINY_MODEL = {"weights": None, "fc_dims": (16,), "embedding_dim": 8, "dropout": 0.0, "use_decoder": False}


class TinyRun:
    """A run folder holding ``model.keras``, the model itself and its export info."""

    def __init__(self, path: Path, model, info: dict):
        self.path, self.model, self.info = path, model, info


def make_tiny_run(path: Path, seed: int = 0) -> TinyRun:
    from sbir_tf.export import load_encoders, save_run_model
    from sbir_tf.models.fg import build_fg_model

    keras.utils.set_random_seed(seed)
    model = build_fg_model(TINY_MODEL, num_classes=2, image_size=IMAGE_SIZE)
    save_run_model(model, path)
    return TinyRun(path, model, load_encoders(path).info)


class CountingEncoders:
    """Wraps loaded encoders and counts the photos given to the photo encoder."""

    def __init__(self, encoders):
        self._encoders, self.info, self.photo_calls = encoders, encoders.info, 0

    def sketch(self, images):
        return self._encoders.sketch(images)

    def photo(self, images):
        self.photo_calls += len(images)
        return self._encoders.photo(images)


def write_shapes(folder: Path, n: int, seed: int = 0, size: int = 48, prefix: str = "img") -> list[Path]:
    """``n`` small RGB PNGs of random rectangles on white (distinct images)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        a = np.full((size, size, 3), 255, np.uint8)
        for _ in range(3):
            y, x = rng.integers(0, size - 8, 2)
            h, w = rng.integers(4, size // 2, 2)
            a[y:y + h, x:x + w] = rng.integers(0, 255, 3)
        p = folder / f"{prefix}_{i:03d}.png"
        Image.fromarray(a).save(p)
        out.append(p)
    return out


def make_tiny_zero_shot_run(path: Path, seed: int = 0) -> Path:
    """A zero-shot run folder: a tiny WAD-CMSN (8-d semantic space) on the 512-d VGG16 features of a local weight
    file, retrieval by cosine (``eval.metric``), features at 32 px on the synthetic set."""
    import json

    from sbir_tf.export import save_run_model
    from sbir_tf.models.backbones import vgg16_trunk
    from sbir_tf.models.wadcmsn import WADCMSN

    keras.utils.set_random_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    weights = path / "vgg.weights.h5"
    vgg16_trunk((32, 32, 3), name="source").save_weights(weights)
    model = WADCMSN(3, visual_dim=512, semantic_dim=8, generator_hidden=[16], critic_hidden=[8], name="wadcmsn")
    config = {"data": {"root": None, "prepared_dir": None},
              "features": {"weights": str(weights), "image_size": 64, "synthetic_image_size": 32, "load_size": None,
                           "normalize": "l2"},
              "eval": {"metric": "cosine"}}
    (path / "config.json").write_text(json.dumps(config))
    save_run_model(model, path)
    return path
