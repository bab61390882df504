"""The encoders behind a search: loaded from an export or a run folder, identified by the export's ``model_id``.

Encoders come from :func:`sbir_tf.export.load_encoders` (an export folder written by ``python -m sbir_tf.export``,
or a run folder, exported once on first use). ``Encoders.sketch`` / ``Encoders.photo`` take uint8 ``[B, H, W, 3]``
batches of one size and apply the model's own resize and preprocessing; ``Encoders.info`` is the ``export.json``
dict, whose fields :data:`IDENTITY_KEYS` an index records so that a query with another model is refused.
"""
from __future__ import annotations

from pathlib import Path

#: ``export.json`` fields that identify the model an index was built with. ``model_id`` (sha256 of the exported
#: weights) decides; the others are recorded so the refusal can say what differs.
IDENTITY_KEYS = ("model_id", "task", "metric", "image_size", "embedding_dim")
METRICS = ("euclidean", "cosine")


class ModelMismatchError(ValueError):
    """An index is used with a model other than the one that embedded its photos."""


def load_encoders(path: str | Path):
    """``sbir_tf.export.load_encoders(path)``: the sketch and photo encoders of an export or run folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model folder {path} does not exist: pass a run folder (holding model.keras) or "
                                f"an export folder (python -m sbir_tf.export RUN_DIR --out DIR)")
    from sbir_tf.export import load_encoders as load

    encoders = load(path)
    identity(encoders.info)  # fails early, naming the missing field, on an incomplete export.json
    return encoders


def identity(info: dict) -> dict:
    """The :data:`IDENTITY_KEYS` of an ``export.json`` dict, checked (``ValueError`` naming what is missing)."""
    missing = [k for k in IDENTITY_KEYS if k not in info]
    if missing:
        raise ValueError(f"the model's export.json lacks {missing}; export the run again with "
                         f"python -m sbir_tf.export RUN_DIR --out DIR")
    if info["metric"] not in METRICS:
        raise ValueError(f"export.json metric must be one of {METRICS}, got {info['metric']!r}")
    return {k: info[k] for k in IDENTITY_KEYS}


def check_same_model(index_identity: dict, model_identity: dict, *, index_dir, model_path) -> None:
    """Raise :class:`ModelMismatchError` unless both identities name the same ``model_id``."""
    if index_identity.get("model_id") == model_identity.get("model_id"):
        return
    differs = [f"{k}: index {index_identity.get(k)!r} vs model {model_identity.get(k)!r}"
               for k in IDENTITY_KEYS if index_identity.get(k) != model_identity.get(k)]
    raise ModelMismatchError(
        f"the index {index_dir} was built with another model than {model_path} ({'; '.join(differs)}). "
        f"Query with the model the index was built with, or rebuild the index for this model: "
        f"python -m sbir_tf.search index --model {model_path} --photos PHOTO_DIR --out NEW_INDEX_DIR "
        f"(or the same --out with --rebuild to replace it)")
