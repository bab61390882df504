"""Query an index with a sketch: decode, embed with the sketch encoder, rank the indexed photos.

Ranking is exact nearest-neighbour search in the model's metric (``export.json`` ``metric``: Euclidean for the
fine-grained model, Eq. 6 of Pang et al. 2017; the zero-shot model's own metric otherwise), the deployment ranking
the evaluation code (``sbir_tf.eval``) scores. Two backends give the same ranking:

* ``"bruteforce"`` (default) - :class:`sbir_tf.eval.retrieval.BruteForceIndex`, one traced TF matmul + top-k;
* ``"faiss"`` - :class:`sbir_tf.eval.retrieval.FaissIndex` (exact ``IndexFlatL2``/``IndexFlatIP``, optional extra
  ``ann``: ``pip install faiss-cpu``), single-threaded for single queries.

Measured on 2 shared CPU cores (queries alternating between the backends, 256-d, top 10, p50): brute force 0.6 /
1.2 / 9.1 / 25 / 86 ms and FAISS (one thread) 0.07 / 0.45 / 8.2 / 24 / 87 ms for 1k / 10k / 100k / 300k / 1M
items; FAISS with its default two threads was 3.5-13x slower than brute force from 10k up. So FAISS saves under
1 ms below 100k and nothing above, next to a sketch encoder of ~100 ms: there is no gallery size above which it
pays, the brute-force backend is the default everywhere, and FAISS stays an explicit choice (``--backend faiss``).
Approximate FAISS indexes (IVF, HNSW) would be faster at 1M but would change the ranking the evaluation code
scores.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sbir_tf.search import model as model_lib
from sbir_tf.search.images import decode_image, read_image
from sbir_tf.search.index import PhotoIndex

BACKENDS = ("bruteforce", "faiss")
DEFAULT_TOP = 10


@dataclass(frozen=True)
class Hit:
    """One ranked result: 1-based ``rank``, gallery row ``index``, ``path`` relative to the photo folder."""

    rank: int
    index: int
    path: str
    distance: float

    def as_dict(self) -> dict:
        return {"rank": self.rank, "index": self.index, "path": self.path, "distance": self.distance}


def make_backend(embeddings: np.ndarray, metric: str, backend: str = "bruteforce"):
    """The search structure over ``embeddings`` (see the module docstring for the choice)."""
    from sbir_tf.eval import retrieval

    if backend == "bruteforce":
        return retrieval.BruteForceIndex(embeddings, metric)
    if backend == "faiss":
        index = retrieval.FaissIndex(embeddings, metric)  # ImportError naming `pip install faiss-cpu` if absent
        import faiss

        faiss.omp_set_num_threads(1)  # single queries: threads only add synchronisation (measured)
        return index
    raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


class SketchSearch:
    """An index plus the encoders of the model that built it, ready to answer sketch queries."""

    def __init__(self, index: PhotoIndex, encoders, *, backend: str = "bruteforce", model_path=None,
                 index_dir=None):
        if len(index) == 0:
            raise ValueError(f"the index {index_dir or ''} holds no photos: index a folder with images first")
        model_lib.check_same_model(index.model, model_lib.identity(encoders.info),
                                   index_dir=index_dir or "(in memory)", model_path=model_path or index.model_path)
        self.index = index
        self.encoders = encoders
        self.backend_name = backend
        self._backend = make_backend(index.embeddings, index.metric, backend)

    @classmethod
    def open(cls, index_dir: str | Path, model: str | Path | None = None, *, backend: str = "bruteforce",
             encoders=None) -> "SketchSearch":
        """Load ``index_dir`` and the model it was built with (or ``model``, refused unless it is the same model)."""
        index = PhotoIndex.load(index_dir)
        model_path = Path(model) if model is not None else Path(index.model_path)
        encoders = encoders if encoders is not None else model_lib.load_encoders(model_path)
        return cls(index, encoders, backend=backend, model_path=model_path, index_dir=index_dir)

    @property
    def info(self) -> dict:
        return {"task": self.index.model["task"], "metric": self.index.metric,
                "model_id": self.index.model["model_id"], "image_size": self.index.model["image_size"],
                "photos": len(self.index), "backend": self.backend_name}

    def embed_sketch(self, sketch: np.ndarray) -> np.ndarray:
        """uint8 ``[H, W, 3]`` sketch -> float32 ``[D]`` embedding."""
        sketch = np.asarray(sketch)
        if sketch.dtype != np.uint8 or sketch.ndim != 3 or sketch.shape[-1] != 3:
            raise ValueError(f"a sketch must be uint8 [H, W, 3], got {sketch.dtype} {sketch.shape}")
        return np.asarray(self.encoders.sketch(sketch[np.newaxis]), np.float32)[0]

    def warm_up(self, size: int = 256) -> None:
        """Run one query on a blank ``size`` x ``size`` sketch, so the first real query does not pay for tracing."""
        self.search_image(np.full((size, size, 3), 255, np.uint8), 1)

    def search_embedding(self, embedding: np.ndarray, top: int = DEFAULT_TOP) -> list[Hit]:
        """The ``top`` nearest indexed photos of an embedding, nearest first (``top`` capped at the index size)."""
        if int(top) < 1:
            raise ValueError(f"--top must be >= 1, got {top}")
        k = min(int(top), len(self.index))
        dist, idx = self._backend.search(np.asarray(embedding, np.float32)[np.newaxis], k)
        return [Hit(rank=r + 1, index=int(i), path=self.index.paths[int(i)], distance=float(d))
                for r, (d, i) in enumerate(zip(dist[0], idx[0]))]

    def search_image(self, sketch: np.ndarray, top: int = DEFAULT_TOP) -> list[Hit]:
        return self.search_embedding(self.embed_sketch(sketch), top)

    def search_bytes(self, data: bytes, top: int = DEFAULT_TOP) -> list[Hit]:
        """Encoded sketch (PNG/JPEG/...) -> ranked hits (what the browser demo sends)."""
        return self.search_image(decode_image(data, name="sketch"), top)

    def search_file(self, path: str | Path, top: int = DEFAULT_TOP) -> list[Hit]:
        return self.search_image(read_image(path), top)
