"""Where things live: the shared real-data folder, default output folders, package resources; what a file holds
(its SHA-256)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent


def shared_data_dir() -> Path | None:
    """The real-data folder (``shared/data``) if it can be found, else ``None``.

    Looked for in ``$SBIR_TF_SHARED_DATA``, then ``../shared/data`` beside the checkout.
    """
    env = os.environ.get("SBIR_TF_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for cand in candidates:
        if cand.is_dir():
            return cand.resolve()
    return None


def default_cache_dir() -> Path:
    """Cache for extracted features, synthetic data and embeddings (``$SBIR_TF_CACHE`` or ``~/.cache/sbir_tf``)."""
    path = Path(os.environ.get("SBIR_TF_CACHE", Path.home() / ".cache" / "sbir_tf"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
