"""Brute-force nearest-neighbour search over precomputed gallery embeddings.

Deployment in Pang et al. 2017 (Eq. 6) ranks gallery photos by the Euclidean distance between the query-sketch
embedding and each precomputed photo embedding; WAD-CMSN ranks in its 64-d semantic space the same way (Xu et al.,
Sec. 4.2: "the distance between the features of the sketch and those of the images is computed. Finally, top 100
images are selected"; the paper does not name the distance, Euclidean is the default here). Everything here is exact
search:

* :func:`pairwise_sq_euclidean` / :func:`pairwise_distances` - full distance matrices,
  ``||q||^2 - 2 q.g + ||g||^2`` (clamped at 0 against round-off).
* :class:`PreparedGallery` / :func:`iter_score_chunks` - ranking scores (squared distances) from a single matmul of
  augmented rows per query chunk.
* :func:`top_k` - the ``k`` nearest gallery items of every query, chunked over queries so memory stays bounded.
* :class:`BruteForceIndex` - keeps the gallery as a TF constant and answers queries through one traced
  ``tf.function`` (fixed signature, no retracing), for low single-query latency.
* :class:`FaissIndex` - optional, only when ``faiss`` is importable (extra ``ann``).

Ties: ``tf.math.top_k`` returns equal values lower-index first, so equal distances are ordered by gallery index
(a stable ordering). The metrics in :mod:`sbir_tf.eval.metrics` use the same convention.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

METRICS = ("euclidean", "cosine")

#: Upper bound on the number of query x gallery distance entries held at once (float32: 4 bytes each).
DEFAULT_CHUNK_ELEMENTS = 1 << 23


def as_embedding_matrix(x, name: str = "embeddings") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 [N, D] array, or raise ``ValueError`` saying what is wrong."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [N, D] array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_pair(queries, gallery):
    """Validate a (queries, gallery) pair of embedding matrices; returns both as float32."""
    q = as_embedding_matrix(queries, "queries")
    g = as_embedding_matrix(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]} but gallery has {g.shape[1]}")
    if g.shape[0] == 0:
        raise ValueError("gallery is empty")
    return q, g


def auto_chunk_size(num_gallery: int, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> int:
    """Number of query rows per chunk so that a chunk's distance block has about ``chunk_elements`` entries."""
    return int(max(1, chunk_elements // max(1, num_gallery)))


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return metric


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise l2 normalisation (rows of zeros stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, np.float32(1e-12))).astype(np.float32)


def sq_euclidean_tf(queries: tf.Tensor, gallery: tf.Tensor) -> tf.Tensor:
    """Squared Euclidean distances [Q, G] as ``||q||^2 - 2 q.g + ||g||^2``, clamped at 0 (Eq. 6, Pang et al. 2017)."""
    q_sq = tf.reduce_sum(tf.square(queries), axis=1, keepdims=True)
    g_sq = tf.reduce_sum(tf.square(gallery), axis=1)
    cross = tf.matmul(queries, gallery, transpose_b=True)
    return tf.maximum(q_sq - 2.0 * cross + g_sq[tf.newaxis, :], 0.0)


class PreparedGallery:
    """A gallery held once as a TF constant, arranged so that ranking costs a single matmul per query block.

    The distances come out of one matmul of augmented rows (no extra broadcast passes):

    * "euclidean": ``[q, 1, ||q||^2] . [-2 g, ||g||^2, 1] = ||q||^2 - 2 q.g + ||g||^2``, the squared Euclidean
      distance (same order as the Euclidean distance of Eq. 6, Pang et al. 2017), clamped at 0 against round-off;
      :meth:`to_distance` takes the square root of the few selected values.
    * "cosine": ``[q/|q|, 1] . [-g/|g|, 1] = 1 - cos(q, g)``, clamped to [0, 2].

    These clamped values are the "ranking scores" (smaller = nearer) used by every search and metric.
    """

    def __init__(self, gallery: np.ndarray, metric: str):
        self.metric = _check_metric(metric)
        g = np.asarray(gallery, np.float32)
        ones = np.ones((g.shape[0], 1), np.float32)
        if metric == "cosine":
            aug = np.concatenate([-l2_normalize(g), ones], axis=1)
        else:
            sq = np.einsum("ij,ij->i", g, g, dtype=np.float32)[:, np.newaxis]
            aug = np.concatenate([-2.0 * g, sq, ones], axis=1).astype(np.float32)
        self.augmented = tf.constant(aug)
        self.size = int(g.shape[0])
        self.dim = int(g.shape[1])
        self.prepared_dim = int(aug.shape[1])

    def prepare_queries(self, queries: np.ndarray) -> np.ndarray:
        """float32 [Q, prepared_dim] augmented queries (see the class docstring)."""
        q = np.asarray(queries, np.float32)
        ones = np.ones((q.shape[0], 1), np.float32)
        if self.metric == "cosine":
            return np.concatenate([l2_normalize(q), ones], axis=1)
        sq = np.einsum("ij,ij->i", q, q, dtype=np.float32)[:, np.newaxis]
        return np.concatenate([q, ones, sq], axis=1)

    def scores(self, prepared_queries) -> tf.Tensor:
        """Ranking scores [Q, G]: squared Euclidean distances or ``1 - cos`` (smaller = nearer)."""
        raw = tf.matmul(tf.convert_to_tensor(prepared_queries, tf.float32), self.augmented, transpose_b=True)
        if self.metric == "cosine":
            return tf.clip_by_value(raw, 0.0, 2.0)
        return tf.maximum(raw, 0.0)

    def to_distance(self, scores: tf.Tensor) -> tf.Tensor:
        """Distances (Euclidean, not squared; or ``1 - cos``) from ranking scores."""
        return tf.sqrt(scores) if self.metric == "euclidean" else scores


def iter_score_chunks(queries, gallery, metric: str = "euclidean", chunk_size: int | None = None):
    """Yield ``(start, prepared_query_chunk, ranking_scores[chunk, G] tf.Tensor)`` over query chunks.

    Ranking scores order the gallery exactly as the distances do (see :class:`PreparedGallery`).
    """
    q, g = check_pair(queries, gallery)
    prepared = PreparedGallery(g, metric)
    q = prepared.prepare_queries(q)
    step = int(chunk_size) if chunk_size else auto_chunk_size(prepared.size)
    if step < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    for start in range(0, q.shape[0], step):
        chunk = q[start:start + step]
        yield start, chunk, prepared.scores(chunk)


def pairwise_distances(queries, gallery, metric: str = "euclidean", squared: bool = False) -> np.ndarray:
    """Full [Q, G] float32 distance matrix: Euclidean (squared with ``squared=True``) or ``1 - cos``."""
    _check_metric(metric)
    q, g = check_pair(queries, gallery)
    if metric == "euclidean":
        rows = [sq_euclidean_tf(tf.constant(q[s:s + 1024]), tf.constant(g)).numpy() for s in range(0, len(q), 1024)]
    else:
        qn, gn = l2_normalize(q), l2_normalize(g)
        rows = [np.clip(1.0 - qn[s:s + 1024] @ gn.T, 0.0, 2.0) for s in range(0, len(q), 1024)]
    out = np.concatenate(rows, axis=0) if rows else np.zeros((0, g.shape[0]), np.float32)
    if metric == "euclidean" and not squared:
        out = np.sqrt(out)
    return out.astype(np.float32, copy=False)


def pairwise_sq_euclidean(queries, gallery) -> np.ndarray:
    """Full [Q, G] float32 matrix of squared Euclidean distances."""
    return pairwise_distances(queries, gallery, "euclidean", squared=True)


def top_k(queries, gallery, k: int, metric: str = "euclidean", chunk_size: int | None = None):
    """The ``k`` nearest gallery items of every query, nearest first.

    Args:
      queries: [Q, D] query embeddings.
      gallery: [G, D] gallery embeddings.
      k: number of neighbours; must satisfy ``1 <= k <= G``.
      metric: "euclidean" (distances returned are Euclidean, not squared) or "cosine" (``1 - cos``).
      chunk_size: query rows per distance block (default: about 8M distance entries per block).

    Returns:
      ``(distances, indices)``: float32 [Q, k] and int64 [Q, k] numpy arrays. Equal distances are ordered by
      gallery index.
    """
    q, g = check_pair(queries, gallery)
    k = int(k)
    if not 1 <= k <= g.shape[0]:
        raise ValueError(f"k must be in [1, {g.shape[0]}] (gallery size), got {k}")
    prepared = PreparedGallery(g, metric)
    dists, idx = [], []
    for _, chunk, s in iter_score_chunks(q, g, metric, chunk_size):
        values, indices = tf.math.top_k(-s, k=k, sorted=True)
        dists.append(prepared.to_distance(-values).numpy())
        idx.append(indices.numpy().astype(np.int64))
    if not dists:
        return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
    return np.concatenate(dists).astype(np.float32), np.concatenate(idx)


def _search_args(queries, k, size: int, dim: int) -> tuple[np.ndarray, int]:
    """Checked ``(queries float32 [Q, dim], k)`` of an index search; a single 1-D query [D] becomes [1, D]."""
    q = np.asarray(queries)
    if q.ndim == 1:
        q = q[np.newaxis, :]
    q = as_embedding_matrix(q, "queries")
    if q.shape[1] != dim:
        raise ValueError(f"queries have dimension {q.shape[1]} but the index holds dimension {dim}")
    k = int(k)
    if not 1 <= k <= size:
        raise ValueError(f"k must be in [1, {size}] (gallery size), got {k}")
    return q, k


class BruteForceIndex:
    """Exact nearest-neighbour index over a fixed gallery (deployment, Eq. 6 of Pang et al. 2017).

    The gallery lives in a TF constant; :meth:`search` runs one ``tf.function`` traced once with signature
    ``(float32[None, D + 2] augmented queries, int32 scalar k)``, so repeated single-query calls do not retrace.
    """

    def __init__(self, gallery, metric: str = "euclidean"):
        g = as_embedding_matrix(gallery, "gallery")
        if g.shape[0] == 0:
            raise ValueError("gallery is empty")
        self._prepared = PreparedGallery(g, metric)
        self.metric = metric
        self._search_fn = tf.function(
            self._search_graph,
            input_signature=(tf.TensorSpec([None, self._prepared.prepared_dim], tf.float32),
                             tf.TensorSpec([], tf.int32)),
            reduce_retracing=True,
        )

    @property
    def size(self) -> int:
        return self._prepared.size

    @property
    def dim(self) -> int:
        return self._prepared.dim

    def _search_graph(self, prepared_queries, k):
        values, indices = tf.math.top_k(-self._prepared.scores(prepared_queries), k=k, sorted=True)
        return self._prepared.to_distance(-values), indices

    def search(self, queries, k: int, chunk_size: int | None = None):
        """``(distances float32 [Q, k], indices int64 [Q, k])`` of the ``k`` nearest gallery items, nearest first.

        A single 1-D query of shape [D] is accepted and treated as [1, D].
        """
        q, k = _search_args(queries, k, self.size, self.dim)
        q = self._prepared.prepare_queries(q)
        step = int(chunk_size) if chunk_size else auto_chunk_size(self.size)
        kt = tf.constant(k, tf.int32)
        dists, idx = [], []
        for start in range(0, q.shape[0], step):
            d, i = self._search_fn(tf.constant(q[start:start + step]), kt)
            dists.append(d.numpy())
            idx.append(i.numpy().astype(np.int64))
        if not dists:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        return np.concatenate(dists), np.concatenate(idx)

    def tracing_count(self) -> int:
        """How many concrete graphs the search function has traced (1 after any number of searches)."""
        return self._search_fn.experimental_get_tracing_count()


def faiss_available() -> bool:
    """Whether the optional ``faiss`` package (extra ``ann``) can be imported."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class FaissIndex:
    """Exact search via ``faiss.IndexFlatL2`` / ``IndexFlatIP``; same interface as :class:`BruteForceIndex`.

    Needs the optional ``faiss`` package (``pip install sbir_tf[ann]``); raises ``ImportError`` otherwise.
    """

    def __init__(self, gallery, metric: str = "euclidean"):
        try:
            import faiss
        except ImportError as err:
            raise ImportError("FaissIndex needs the optional 'faiss' package: pip install faiss-cpu "
                              "(extra 'ann'); BruteForceIndex needs nothing extra") from err
        g = as_embedding_matrix(gallery, "gallery")
        self.metric = _check_metric(metric)
        if metric == "cosine":
            g = l2_normalize(g)
            self._index = faiss.IndexFlatIP(g.shape[1])
        else:
            self._index = faiss.IndexFlatL2(g.shape[1])
        self._index.add(g)
        self.size, self.dim = int(g.shape[0]), int(g.shape[1])

    def search(self, queries, k: int):
        q, k = _search_args(queries, k, self.size, self.dim)
        if self.metric == "cosine":
            sims, idx = self._index.search(l2_normalize(q), k)
            return np.clip(1.0 - sims, 0.0, 2.0).astype(np.float32), idx.astype(np.int64)
        sq, idx = self._index.search(q, k)
        return np.sqrt(np.maximum(sq, 0.0)).astype(np.float32), idx.astype(np.int64)
