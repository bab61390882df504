"""Checks shared by the model and export tests: config round trip, ``.keras`` reload, exported encoders.

Each returns what it measured so a test can state it; each fails on the implementation it guards against (a config
that does not rebuild the same class and structure, a reload that keeps fresh random weights, an export that routes
a domain through the wrong encoder or preprocesses differently).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping

import keras
import numpy as np


def assert_config_round_trip(obj):
    """``obj`` -> serialised config -> JSON text -> a new object of the same class with an equal ``get_config``.

    Returns the clone (fresh weights: ``from_config`` builds the architecture only).
    """
    config = obj.get_config()
    text = json.dumps(keras.saving.serialize_keras_object(obj))
    clone = keras.saving.deserialize_keras_object(json.loads(text))
    assert type(clone) is type(obj), (type(clone), type(obj))
    assert clone.get_config() == config
    assert len(clone.weights) == len(obj.weights)
    assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in obj.weights]
    return clone


def assert_keras_reload(model, run_dir: Path, outputs: Callable[[object], np.ndarray]) -> tuple[object, float]:
    """Save ``model`` with :func:`sbir_tf.export.save_run_model`, reload it with ``load_run_model`` and compare
    ``outputs(model)`` with ``outputs(reloaded)``: they must be identical (max abs difference 0.0, the same ops on
    the same weights). A model rebuilt from its config alone must differ, so equal outputs prove the weights came
    from the file. Returns ``(reloaded, max_abs_difference)``."""
    from sbir_tf.export import load_run_model, save_run_model

    path = save_run_model(model, run_dir)
    assert path == Path(run_dir) / "model.keras" and path.is_file()
    reloaded = load_run_model(run_dir)
    assert type(reloaded) is type(model)
    expected, got = np.asarray(outputs(model)), np.asarray(outputs(reloaded))
    diff = float(np.max(np.abs(expected - got)))
    assert diff == 0.0, f"reloaded model differs from the saved one by {diff}"
    fresh = type(model).from_config(model.get_config())
    assert not np.allclose(np.asarray(outputs(fresh)), expected), "outputs do not depend on the saved weights"
    return reloaded, diff


def assert_export_matches(encoders, images: np.ndarray, expected: Mapping[str, np.ndarray],
                          atol: float = 1e-5) -> dict[str, float]:
    """Exported ``encoders.sketch`` / ``encoders.photo`` on uint8 ``images`` against the in-memory model's embeddings
    ``expected[domain]``; every difference must be below ``atol``. Returns ``{domain: max_abs_difference}``."""
    diffs = {}
    for domain, reference in expected.items():
        got = getattr(encoders, domain)(images)
        assert got.dtype == np.float32 and got.shape == np.asarray(reference).shape, (got.dtype, got.shape)
        diffs[domain] = float(np.max(np.abs(got - np.asarray(reference))))
        assert diffs[domain] < atol, f"exported {domain} encoder differs by {diffs[domain]} (tolerance {atol})"
    return diffs
