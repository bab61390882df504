"""A photo index: the photo-encoder embeddings of every image under a folder, with their paths and the model's identity.

``INDEX_DIR`` holds

* ``index.json`` - ``{"format": 1, "model": {model_id, task, metric, image_size, embedding_dim}, "model_path": ...,
  "photos_root": <absolute folder>, "count": N, "skipped": [{"path", "reason"}...], "updated": <UTC time>}``;
* ``paths.txt`` - the N photo paths relative to ``photos_root`` (POSIX separators, one per line, sorted);
* ``embeddings.npy`` - float32 ``[N, D]``, row i the embedding of line i;
* ``stats.npy`` - int64 ``[N, 2]``: each file's size in bytes and modification time (ns) when it was embedded.

Updating an index (:func:`build_index` on an existing ``INDEX_DIR``) embeds only the files that are new or whose
size or modification time changed, keeps the other rows and drops rows of deleted files. An index built with one
model is never extended with another (``model_id`` of ``export.json``); ``rebuild=True`` starts over. Every file
is written to a temporary name first and renamed into place, ``index.json`` last, and the index is saved every
:data:`SAVE_EVERY` new photos, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sbir_tf.data.images import is_image_name
from sbir_tf.search import model as model_lib
from sbir_tf.search.images import UnreadableImageError, read_image

INDEX_FORMAT = 1
INDEX_JSON = "index.json"
PATHS_TXT = "paths.txt"
EMBEDDINGS_NPY = "embeddings.npy"
STATS_NPY = "stats.npy"
#: Photos decoded and embedded together (batches are split further by image size: one size per encoder call).
DEFAULT_BATCH_SIZE = 32
#: A batch is also closed once its decoded photos hold this many pixels (16M: 48 MB as uint8, 192 MB as float32
#: inside the encoder), so folders of camera-sized photos do not need gigabytes per batch.
MAX_BATCH_PIXELS = 1 << 24
#: The index is saved after every this many newly embedded photos, so an interrupted run keeps its work: running
#: the same command again embeds only what is still missing.
SAVE_EVERY = 2048


@dataclass
class PhotoIndex:
    """The contents of an index folder (see the module docstring)."""

    model: dict
    model_path: str
    photos_root: Path
    paths: list[str]
    embeddings: np.ndarray
    stats: np.ndarray
    skipped: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def metric(self) -> str:
        return self.model["metric"]

    def photo_path(self, i: int) -> Path:
        """Absolute path of gallery item ``i``."""
        return self.photos_root / self.paths[i]

    @classmethod
    def load(cls, index_dir: str | Path) -> "PhotoIndex":
        """Read an index folder; ``FileNotFoundError`` / ``ValueError`` name the command that makes a valid one."""
        index_dir = Path(index_dir)
        meta_path = index_dir / INDEX_JSON
        if not meta_path.is_file():
            raise FileNotFoundError(f"{index_dir} is not a search index (no {INDEX_JSON}); build one with "
                                    f"python -m sbir_tf.search index --model RUN_OR_EXPORT_DIR --photos DIR "
                                    f"--out {index_dir}")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"{meta_path} has format {meta.get('format')!r}; this version reads format "
                             f"{INDEX_FORMAT}: rebuild it with python -m sbir_tf.search index ... --rebuild")
        paths = (index_dir / PATHS_TXT).read_text(encoding="utf-8").splitlines()
        embeddings = np.load(index_dir / EMBEDDINGS_NPY)
        stats = np.load(index_dir / STATS_NPY)
        n = int(meta["count"])
        dim = int(meta["model"]["embedding_dim"])
        if len(paths) != n or embeddings.shape != (n, dim) or stats.shape != (n, 2):
            raise ValueError(f"{index_dir} is inconsistent: index.json says {n} photos of dimension {dim}, found "
                             f"{len(paths)} paths, embeddings {embeddings.shape}, stats {stats.shape}; rebuild it "
                             f"with python -m sbir_tf.search index ... --rebuild")
        return cls(model=meta["model"], model_path=meta["model_path"], photos_root=Path(meta["photos_root"]),
                   paths=paths, embeddings=embeddings.astype(np.float32, copy=False), stats=stats,
                   skipped=list(meta.get("skipped", [])))

    def save(self, index_dir: str | Path) -> Path:
        """Write the index folder (each file through a temporary name; ``index.json`` last)."""
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        meta = {"format": INDEX_FORMAT, "model": self.model, "model_path": self.model_path,
                "photos_root": str(self.photos_root), "count": len(self.paths), "skipped": self.skipped,
                "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

        def replace(name: str, write) -> None:
            tmp = index_dir / f".{name}.tmp"
            with open(tmp, "wb") as f:
                write(f)
            os.replace(tmp, index_dir / name)

        replace(EMBEDDINGS_NPY, lambda f: np.save(f, np.ascontiguousarray(self.embeddings, np.float32)))
        replace(STATS_NPY, lambda f: np.save(f, np.ascontiguousarray(self.stats, np.int64)))
        replace(PATHS_TXT, lambda f: f.write("".join(p + "\n" for p in self.paths).encode("utf-8")))
        replace(INDEX_JSON, lambda f: f.write((json.dumps(meta, indent=1) + "\n").encode("utf-8")))
        return index_dir


@dataclass
class BuildReport:
    """What :func:`build_index` did: counts, and every skipped file with its reason."""

    embedded: list[str] = field(default_factory=list)   # new or changed files embedded in this run
    kept: int = 0                                      # rows reused from the existing index
    removed: list[str] = field(default_factory=list)    # rows dropped because their file is gone
    skipped: list[dict] = field(default_factory=list)   # unreadable files: {"path", "reason"}
    ignored: list[str] = field(default_factory=list)    # files without an image extension (not tried)

    def summary(self, total: int) -> str:
        return (f"{total} photos indexed: {len(self.embedded)} embedded now, {self.kept} unchanged, "
                f"{len(self.removed)} removed, {len(self.skipped)} unreadable skipped, "
                f"{len(self.ignored)} non-image files ignored")


def scan_photos(root: Path) -> tuple[list[str], list[str]]:
    """``(image files, other files)`` under ``root``, recursively, as sorted POSIX paths relative to ``root``.

    Hidden files and folders (names starting with ".") are left out; "image files" have an image extension
    (``sbir_tf.data.images.IMAGE_EXTENSIONS``, case-insensitive). Symlinked folders are followed, each real folder
    once.
    """
    images, others = [], []
    seen = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop or a folder linked twice: its files are listed once
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel_folder = Path(folder).relative_to(root)
        for name in files:
            if name.startswith("."):
                continue
            rel = (rel_folder / name).as_posix()
            (images if is_image_name(name) else others).append(rel)
    return sorted(images), sorted(others)


def _file_stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return int(st.st_size), int(st.st_mtime_ns)


def embed_images(embed_fn, images: list[np.ndarray], dim: int) -> np.ndarray:
    """Embed a list of uint8 ``[H, W, 3]`` images of possibly different sizes, one encoder call per size.

    Returns float32 ``[len(images), dim]`` in input order.
    """
    out = np.zeros((len(images), dim), np.float32)
    by_shape: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        by_shape.setdefault(image.shape, []).append(i)
    for rows in by_shape.values():
        emb = np.asarray(embed_fn(np.stack([images[i] for i in rows])), np.float32)
        if emb.shape != (len(rows), dim):
            raise ValueError(f"the photo encoder returned shape {emb.shape} for {len(rows)} images; "
                             f"export.json says embedding_dim {dim}")
        out[rows] = emb
    return out


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="photo", dynamic_ncols=True)


def embed_files(embed_fn, root: Path, rel_paths: list[str], dim: int, *, batch_size: int = DEFAULT_BATCH_SIZE,
                bar=None) -> tuple[list[str], np.ndarray, list[dict]]:
    """Decode and embed ``rel_paths`` under ``root``: ``(embedded paths, embeddings [n, dim], skipped)``.

    Unreadable files are skipped and listed as ``{"path", "reason"}``; the others keep their input order. A batch
    holds at most ``batch_size`` photos and about :data:`MAX_BATCH_PIXELS` pixels. ``bar``: an optional tqdm
    progress bar advanced by one per file.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    done_paths: list[str] = []
    chunks: list[np.ndarray] = []
    skipped: list[dict] = []
    batch_paths: list[str] = []
    batch_images: list[np.ndarray] = []

    advance = bar.update if bar is not None else (lambda n: None)

    def flush() -> None:
        if batch_images:
            chunks.append(embed_images(embed_fn, batch_images, dim))
            done_paths.extend(batch_paths)
        advance(len(batch_images))
        batch_paths.clear()
        batch_images.clear()

    for rel in rel_paths:
        try:
            image = read_image(root / rel)
        except (UnreadableImageError, OSError) as err:
            reason, prefix = str(err), f"{root / rel}: "
            skipped.append({"path": rel, "reason": reason[len(prefix):] if reason.startswith(prefix) else reason})
            advance(1)
            continue
        batch_images.append(image)
        batch_paths.append(rel)
        if len(batch_images) >= batch_size or sum(a.shape[0] * a.shape[1] for a in batch_images) >= MAX_BATCH_PIXELS:
            flush()
    flush()
    emb = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return done_paths, emb, skipped


def build_index(model_path: str | Path, photos_dir: str | Path, out_dir: str | Path, *, files: list[str] | None = None,
                rebuild: bool = False, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True,
                encoders=None) -> tuple[PhotoIndex, BuildReport]:
    """Create or update the index ``out_dir`` of the photos under ``photos_dir`` with the model at ``model_path``.

    Args:
      model_path: run folder or export folder (:func:`sbir_tf.search.model.load_encoders`).
      photos_dir: folder searched recursively for images (every file with an image extension).
      out_dir: index folder; an existing index there is updated (only new or changed files are embedded).
      files: optional explicit list of paths relative to ``photos_dir`` instead of the recursive scan.
      rebuild: ignore an existing index (needed to re-index with another model into the same folder).
      encoders: already loaded encoders of ``model_path`` (saves loading them twice).

    Raises:
      ModelMismatchError: ``out_dir`` holds an index of another model (and ``rebuild`` is False).
      ValueError: ``out_dir`` indexes another photo folder, or ``photos_dir`` is not a folder.
    """
    root = Path(photos_dir).resolve()
    if not root.is_dir():
        raise ValueError(f"--photos {photos_dir} is not a folder")
    out_dir = Path(out_dir)
    encoders = encoders if encoders is not None else model_lib.load_encoders(model_path)
    ident = model_lib.identity(encoders.info)
    dim = int(ident["embedding_dim"])

    old = None
    if (out_dir / INDEX_JSON).is_file() and not rebuild:
        old = PhotoIndex.load(out_dir)
        model_lib.check_same_model(old.model, ident, index_dir=out_dir, model_path=model_path)
        if old.photos_root != root:
            raise ValueError(f"the index {out_dir} covers the photos under {old.photos_root}, not {root}: pass "
                             f"--photos {old.photos_root}, another --out, or --rebuild to start over")

    report = BuildReport()
    if files is None:
        wanted, report.ignored = scan_photos(root)
    else:
        wanted = sorted(dict.fromkeys(Path(f).as_posix() for f in files))
    bad_names = [p for p in wanted if "\n" in p or "\r" in p]
    for p in bad_names:
        report.skipped.append({"path": p, "reason": "file name contains a line break (paths.txt is line based)"})
    wanted = [p for p in wanted if p not in set_of_bad] if (set_of_bad := set(bad_names)) else wanted

    stats: dict[str, tuple[int, int]] = {}
    for rel in wanted:
        try:
            stats[rel] = _file_stat(root / rel)
        except OSError as err:
            report.skipped.append({"path": rel, "reason": f"cannot stat: {err.strerror or err}"})
    wanted = [p for p in wanted if p in stats]

    old_rows = {p: i for i, p in enumerate(old.paths)} if old is not None else {}
    to_embed = [p for p in wanted
                if p not in old_rows or tuple(int(v) for v in old.stats[old_rows[p]]) != stats[p]]
    embed_set = set(to_embed)
    report.removed = [p for p in old_rows if p not in stats]
    report.kept = sum(1 for p in wanted if p in old_rows and p not in embed_set)
    fresh: dict[str, np.ndarray] = {}

    def assemble() -> PhotoIndex:
        """The index of the kept rows plus the photos embedded so far (changed files not yet re-embedded are left
        out, so an interrupted run leaves a valid index that the next run completes)."""
        paths = [p for p in wanted if p in fresh or (p in old_rows and p not in embed_set)]
        embeddings = np.zeros((len(paths), dim), np.float32)
        for i, p in enumerate(paths):
            embeddings[i] = fresh[p] if p in fresh else old.embeddings[old_rows[p]]
        return PhotoIndex(model=ident, model_path=str(Path(model_path).resolve()), photos_root=root, paths=paths,
                          embeddings=embeddings, stats=np.array([stats[p] for p in paths], np.int64).reshape(-1, 2),
                          skipped=sorted(report.skipped, key=lambda s: s["path"]))

    with _progress(len(to_embed), progress, "embedding photos") as bar:
        for start in range(0, max(len(to_embed), 1), SAVE_EVERY):
            done, emb, skipped = embed_files(encoders.photo, root, to_embed[start:start + SAVE_EVERY], dim,
                                             batch_size=batch_size, bar=bar)
            fresh.update(zip(done, emb))
            report.embedded.extend(done)
            report.skipped.extend(skipped)
            index = assemble()
            index.save(out_dir)
    return index, report
