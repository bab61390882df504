"""Retrieval metrics for fine-grained and zero-shot sketch-based image retrieval.

Fine-grained (Pang et al. 2017, Sec. 4 "Evaluation Metrics"): every query sketch has exactly one true photo in the
gallery.
  * :func:`ranks_of_true` - 0-based rank of the true photo in the Euclidean ranking of Pang et al.'s Eq. 6.
  * :func:`acc_at_k` - "acc@K": fraction of queries whose true photo is within the top K.
  * :func:`per_class_acc` - acc@K per category.

Zero-shot (Xu et al. 2022, Sec. 4.1 "Evaluation Metrics": "the same criterion described in previous work [28]", i.e.
ZSIH, Shen et al. 2018; mAP@200 / P@200 of Yelamarthi et al. 2018 as computed by the SEM-PCYC code, Dutta & Akata
2019): a gallery photo is relevant to a query sketch when both have the same class label.
  * :func:`map_precision` - mAP@all, mAP@K and P@K, mAP averaged over queries or over classes
    (``map_average``).

All distance work is float32, chunked over queries so memory stays bounded, with no Python loop per query. Only the
final means over queries are accumulated in float64.

Ordering and ties. Items are ranked by increasing distance (squared Euclidean, which gives the same order as the
Euclidean distance, or ``1 - cos``). Equal distances are ordered by gallery index (a stable sort), both in the full
ranking and in ``tf.math.top_k`` (which returns equal values lower-index first). The exception is
:func:`ranks_of_true`, which counts only the gallery items *strictly* closer than the true photo, so a true photo
tied with others gets the best (optimistic) rank of its tie group.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from sbir_tf.eval import retrieval

#: acc@K cut-offs. Pang et al. 2017 define acc@K (Sec. 4, "Evaluation Metrics") and report acc@1 (Tables 2-4); 5 and
#: 10 are extra cut-offs (their Figure 4 shows the top 10).
FINE_GRAINED_KS = (1, 5, 10)
#: P@K and mAP@K cut-offs of the zero-shot protocol; None means "all". Xu et al. report mAP and Precision@100
#: (Tables 1-2); 200 is the cut-off of Yelamarthi et al. 2018 and SEM-PCYC.
ZERO_SHOT_PRECISION_KS = (100, 200)
ZERO_SHOT_MAP_KS = (None, 200)

MAP_NORMALISATIONS = ("relevant_in_top_k", "min_k_relevant")
PRECISION_NORMALISATIONS = ("k", "retrieved")
#: How per-query AP values become mAP: "query" = mean over queries (the ZSIH / SEM-PCYC evaluation code);
#: "class" = mean over query classes of the mean AP of that class's queries (Xu et al., Sec. 4.1: "mAP = 1/n sum AP_i,
#: where AP_i is the AP of class i, n is the total number of classes").
MAP_AVERAGES = ("query", "class")


# ----------------------------------------------------------------------------------------------------------------
# Fine-grained
# ----------------------------------------------------------------------------------------------------------------

def _check_true_index(true_index, num_queries: int, num_gallery: int) -> np.ndarray:
    t = np.asarray(true_index)
    if t.ndim != 1 or t.shape[0] != num_queries:
        raise ValueError(f"true_index must be 1-D with one entry per query ({num_queries}), got shape {t.shape}")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"true_index must hold integer gallery positions, got dtype {t.dtype}")
    if t.size and (t.min() < 0 or t.max() >= num_gallery):
        raise ValueError(f"true_index values must lie in [0, {num_gallery}) (gallery size), "
                         f"got range [{t.min()}, {t.max()}]")
    return t.astype(np.int32)


def ranks_of_true(query_emb, gallery_emb, true_index, *, metric: str = "euclidean",
                  chunk_size: int | None = None) -> np.ndarray:
    """0-based rank of each query's true gallery item (0 = nearest), Eq. 6 ranking of Pang et al. 2017.

    The rank is the number of gallery items strictly closer to the query than its true item; items at exactly the
    same distance do not count (optimistic tie handling).

    Returns an int64 array [Q].
    """
    q, g = retrieval.check_pair(query_emb, gallery_emb)
    t = _check_true_index(true_index, q.shape[0], g.shape[0])
    step = int(chunk_size) if chunk_size else retrieval.auto_chunk_size(g.shape[0])
    out = []
    for start, _, d in retrieval.iter_score_chunks(q, g, metric, step):
        t_chunk = tf.constant(t[start:start + d.shape[0]])
        d_true = tf.gather(d, t_chunk, axis=1, batch_dims=1)
        closer = tf.reduce_sum(tf.cast(d < d_true[:, tf.newaxis], tf.int32), axis=1)
        out.append(closer.numpy())
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0,), np.int64)


def _check_ks(ks, name: str, allow_none: bool = False) -> tuple:
    ks = tuple(ks)
    for k in ks:
        if k is None and allow_none:
            continue
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"{name} must hold positive integers{' or None' if allow_none else ''}, got {k!r}")
    return ks


def acc_from_ranks(ranks, ks=FINE_GRAINED_KS) -> dict:
    """acc.@K = mean over queries of [rank < K] for 0-based ranks (Pang et al. 2017, Sec. 4)."""
    ks = _check_ks(ks, "ks")
    r = np.asarray(ranks)
    if r.ndim != 1 or r.size == 0:
        raise ValueError(f"ranks must be a non-empty 1-D array, got shape {r.shape}")
    return {f"acc@{k}": float(np.mean(r < k, dtype=np.float64)) for k in ks}


def acc_at_k(query_emb, gallery_emb, true_index, ks=FINE_GRAINED_KS, *, metric: str = "euclidean",
             chunk_size: int | None = None) -> dict:
    """Fine-grained acc.@K: 1 if the true photo is within the top K, averaged over all queries.

    Returns ``{"acc@1": .., "acc@5": .., "acc@10": ..}`` for the default ``ks``. Ties as in :func:`ranks_of_true`.
    """
    ks = _check_ks(ks, "ks")
    ranks = ranks_of_true(query_emb, gallery_emb, true_index, metric=metric, chunk_size=chunk_size)
    return acc_from_ranks(ranks, ks)


def per_class_acc(ranks, classes, k: int = 1) -> dict:
    """acc.@K per class: ``{class: fraction of that class's queries with rank < k}`` (classes sorted)."""
    _check_ks((k,), "k")
    r = np.asarray(ranks)
    c = np.asarray(classes)
    if r.ndim != 1 or c.ndim != 1 or r.shape[0] != c.shape[0]:
        raise ValueError(f"ranks and classes must be 1-D of equal length, got {r.shape} and {c.shape}")
    names, codes = np.unique(c, return_inverse=True)
    hits = np.bincount(codes, weights=(r < k).astype(np.float64), minlength=len(names))
    counts = np.bincount(codes, minlength=len(names))
    return {(n.item() if hasattr(n, "item") else n): float(h / n_c) for n, h, n_c in zip(names, hits, counts)}


# ----------------------------------------------------------------------------------------------------------------
# Zero-shot
# ----------------------------------------------------------------------------------------------------------------

def loo_nearest_class_mean_accuracy(features, labels) -> float:
    """Leave-one-out nearest-class-mean accuracy (Euclidean), a probe of how well fixed features separate classes.

    Each sample is classified against the class means computed without it (its own class's mean excludes it). Used
    to check pretrained weights (``experiments/scripts/weights_check.py``), not a metric of either paper.
    """
    x = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    onehot = (labels[:, None] == classes[None, :]).astype(np.float64)  # [N, C]
    sums, counts = onehot.T @ x, onehot.sum(0)  # [C, D], [C]
    own = np.argmax(onehot, axis=1)
    # squared distance to every class mean, then the own class's mean replaced by the leave-one-out mean
    means = sums / counts[:, None]
    d2 = (x ** 2).sum(1)[:, None] - 2.0 * x @ means.T + (means ** 2).sum(1)[None, :]  # [N, C]
    rows = np.arange(len(x))
    loo = (sums[own] - x) / (counts[own] - 1)[:, None]
    d2[rows, own] = ((loo - x) ** 2).sum(1)
    return float(np.mean(classes[np.argmin(d2, axis=1)] == labels))


def _label_codes(query_labels, gallery_labels, num_queries: int, num_gallery: int):
    ql = np.asarray(query_labels)
    gl = np.asarray(gallery_labels)
    if ql.ndim != 1 or ql.shape[0] != num_queries:
        raise ValueError(f"query_labels must be 1-D with one label per query ({num_queries}), got shape {ql.shape}")
    if gl.ndim != 1 or gl.shape[0] != num_gallery:
        raise ValueError(f"gallery_labels must be 1-D with one label per gallery item ({num_gallery}), "
                         f"got shape {gl.shape}")
    try:
        _, codes = np.unique(np.concatenate([ql, gl]), return_inverse=True)
    except TypeError as err:
        raise ValueError(f"labels must be mutually comparable (all ints or all strings): {err}") from err
    codes = codes.reshape(-1).astype(np.int32)
    return codes[:num_queries], codes[num_queries:]


def _scores_from_ranked_relevance(rel: np.ndarray, n_relevant: np.ndarray, num_gallery: int, precision_ks,
                                  map_ks, map_normalisation: str, precision_normalisation: str) -> dict:
    """Per-query AP / precision (float32) from ranked relevance ``rel`` [c, L] (L = G or a top-K prefix)."""
    length = rel.shape[1]
    hits = np.cumsum(rel, axis=1, dtype=np.int32)
    positions = np.arange(1, length + 1, dtype=np.float32)
    prec_at_rel = np.where(rel > 0, hits.astype(np.float32) / positions, np.float32(0.0))
    out = {}
    for k in map_ks:
        if k is None:
            denom = n_relevant
            total = prec_at_rel.sum(axis=1, dtype=np.float32)
        else:
            cut = min(k, length)
            total = prec_at_rel[:, :cut].sum(axis=1, dtype=np.float32)
            denom = hits[:, cut - 1] if map_normalisation == "relevant_in_top_k" else np.minimum(k, n_relevant)
        out[_map_key(k)] = _safe_divide(total, denom)
    for k in precision_ks:
        out[f"P@{k}"] = hits[:, min(k, length) - 1].astype(np.float32) / np.float32(_precision_divisor(
            k, num_gallery, precision_normalisation))
    return out


def _scores_from_positions(pos: np.ndarray, valid: np.ndarray, n_relevant: np.ndarray, num_gallery: int,
                           precision_ks, map_ks, map_normalisation: str, precision_normalisation: str) -> dict:
    """Per-query AP / precision (float32) from the 1-based ranks ``pos`` [c, Rmax] of each query's relevant items.

    Column j of a row holds the rank of the (j+1)-th nearest relevant item, so the precision at that item is
    ``(j + 1) / pos``; ``valid`` masks the padding of rows with fewer relevant items.
    """
    hits = np.arange(1, pos.shape[1] + 1, dtype=np.float32)[np.newaxis, :]
    prec = np.where(valid, hits / pos.astype(np.float32), np.float32(0.0))
    out = {}
    for k in map_ks:
        if k is None:
            out[_map_key(k)] = _safe_divide(prec.sum(axis=1, dtype=np.float32), n_relevant)
            continue
        within = valid & (pos <= k)
        total = np.where(within, prec, np.float32(0.0)).sum(axis=1, dtype=np.float32)
        denom = within.sum(axis=1) if map_normalisation == "relevant_in_top_k" else np.minimum(k, n_relevant)
        out[_map_key(k)] = _safe_divide(total, denom)
    for k in precision_ks:
        count = (valid & (pos <= k)).sum(axis=1).astype(np.float32)
        out[f"P@{k}"] = count / np.float32(_precision_divisor(k, num_gallery, precision_normalisation))
    return out


def _map_key(k) -> str:
    return "mAP@all" if k is None else f"mAP@{k}"


def _precision_divisor(k: int, num_gallery: int, precision_normalisation: str) -> int:
    return k if precision_normalisation == "k" else min(k, num_gallery)


def _safe_divide(total: np.ndarray, denom: np.ndarray) -> np.ndarray:
    denom = np.asarray(denom)
    return np.where(denom > 0, total / np.maximum(denom, 1).astype(np.float32), np.float32(0.0)).astype(np.float32)


def _relevant_positions_full(scores: np.ndarray, q_codes: np.ndarray, g_codes: np.ndarray, n_relevant: np.ndarray):
    """1-based ranks [c, Rmax] of each query's relevant items in the full (score, gallery index) ranking.

    Every entry is packed into one int64 key ``score_bits << (b + 1) | gallery_index << 1 | relevant``
    (b bits for the gallery index) and each row's keys are sorted (numpy's vectorised integer sort; far faster
    than a stable argsort); the lowest bit of the sorted keys is the relevance in ranking order. Column j holds the
    rank of the (j+1)-th relevant item; ``valid`` masks padding for rows with fewer relevant items.
    """
    num_gallery = scores.shape[1]
    index_bits = max(1, int(num_gallery - 1).bit_length())
    if index_bits > 31:
        raise ValueError(f"mAP@all supports galleries of up to 2^31 items, got {num_gallery}")
    shift = np.int64(index_bits + 1)
    base = np.arange(num_gallery, dtype=np.int64) << np.int64(1)
    # Scores are non-negative floats, whose bit patterns order like the values; clamping the integer view at 0
    # maps a possible -0.0 (sign bit set) to +0.0.
    keys = np.ascontiguousarray(scores, dtype=np.float32).view(np.int32).astype(np.int64)
    np.maximum(keys, 0, out=keys)
    keys <<= shift
    keys += base[np.newaxis, :]
    keys += g_codes[np.newaxis, :] == q_codes[:, np.newaxis]
    keys.sort(axis=1)
    lowest_byte = keys.view(np.uint8)[:, ::8] if np.little_endian else keys.view(np.uint8)[:, 7::8]
    rows, cols = np.nonzero(lowest_byte & np.uint8(1))
    r_max = int(n_relevant.max()) if n_relevant.size else 0
    starts = np.concatenate([[0], np.cumsum(n_relevant)[:-1]])
    pos = np.ones((len(n_relevant), max(r_max, 1)), np.int32)
    pos[rows, np.arange(rows.size) - starts[rows]] = cols + 1
    valid = np.arange(pos.shape[1])[np.newaxis, :] < n_relevant[:, np.newaxis]
    return pos, valid


def map_precision(query_emb, query_labels, gallery_emb, gallery_labels, *,
                  precision_ks=ZERO_SHOT_PRECISION_KS, map_ks=ZERO_SHOT_MAP_KS, metric: str = "euclidean",
                  map_normalisation: str = "relevant_in_top_k", precision_normalisation: str = "k",
                  map_average: str = "query", chunk_size: int | None = None, return_per_query: bool = False) -> dict:
    """Zero-shot SBIR retrieval scores: mAP@all, mAP@K and P@K over a class-labelled gallery.

    A gallery item is relevant to a query when their labels are equal. Gallery items are ranked by increasing
    distance, equal distances by gallery index (stable). With rel_i the relevance of the item at rank i (1-based),
    hits_i = sum_{j<=i} rel_j, precision P_i = hits_i / i and R the number of relevant items in the whole gallery:

    * **AP (mAP@all)** - mean over the relevant items of the precision at their rank:
      ``AP = sum_{i<=G} P_i rel_i / R``, i.e. Xu et al.'s ``AP(N) = sum_s P(s) delta_r(s)`` with N = G (the change
      in recall at rank s is rel_s / R). A query with R = 0 scores 0.
    * **AP@K (mAP@K)** - the same sum truncated to the top K, ``sum_{i<=K} P_i rel_i / N``. By default
      (``map_normalisation="relevant_in_top_k"``) N is the number of relevant items *within the top K*, as in the
      evaluation code of SEM-PCYC (``apsak``: scikit-learn's ``average_precision_score`` applied to the top-K list),
      which is the mAP@200 convention reported by the zero-shot SBIR literature; queries with no relevant item in the
      top K score 0. ``map_normalisation="min_k_relevant"`` uses N = min(K, R) instead (the classical AP@K).
    * **P@K** - relevant items in the top K divided by K (``precision_normalisation="k"``), or by min(K, G) with
      ``precision_normalisation="retrieved"`` (SEM-PCYC's ``prec`` divides by the number of items retrieved, which
      differs only when the gallery has fewer than K items).

    Ties: exactly equal distances are ranked by gallery index. scikit-learn's ``average_precision_score`` (used by
    the SEM-PCYC code) instead puts tied scores at one threshold, crediting every relevant item of a tie group with
    the precision at the group's end; the two agree whenever no relevant item is tied with another item.

    Averaging. P@K is the mean over *all* queries. mAP (every ``mAP@...`` key) follows ``map_average``:
    ``"query"`` (default) is the mean AP over all queries, as the ZSIH and SEM-PCYC evaluation code compute it;
    ``"class"`` is ``1/n sum_i AP_i`` with AP_i the mean AP of the queries of class i and n the number of classes
    that have queries, Xu et al.'s wording ("AP_i is the AP of class i"). The two agree when every class has the
    same number of queries. Keys: ``"mAP@all"`` for ``None`` in ``map_ks``, ``"mAP@{K}"`` and ``"P@{K}"``
    otherwise. With ``return_per_query=True`` a second dict of per-query float32 arrays is returned as well.

    Implementation, per query chunk: one matmul gives ranking scores. When mAP@all is requested, each row is fully
    ranked by sorting packed (score, gallery index, relevance) integer keys, which yields every relevant item's
    rank (see :func:`_relevant_positions_full`); otherwise ``tf.math.top_k`` keeps only the max(K) nearest items
    and cumulative sums of their relevance give the scores. Exact float32 ties are frequent at this scale (70,000
    distances per query), so the exact tie rule matters.
    """
    q, g = retrieval.check_pair(query_emb, gallery_emb)
    if q.shape[0] == 0:
        raise ValueError("no queries")
    precision_ks = _check_ks(precision_ks, "precision_ks")
    map_ks = _check_ks(map_ks, "map_ks", allow_none=True)
    if not precision_ks and not map_ks:
        raise ValueError("nothing to compute: precision_ks and map_ks are both empty")
    if map_normalisation not in MAP_NORMALISATIONS:
        raise ValueError(f"map_normalisation must be one of {MAP_NORMALISATIONS}, got {map_normalisation!r}")
    if precision_normalisation not in PRECISION_NORMALISATIONS:
        raise ValueError(f"precision_normalisation must be one of {PRECISION_NORMALISATIONS}, "
                         f"got {precision_normalisation!r}")
    if map_average not in MAP_AVERAGES:
        raise ValueError(f"map_average must be one of {MAP_AVERAGES} (eval.map_average), got {map_average!r}")
    q_codes, g_codes = _label_codes(query_labels, gallery_labels, q.shape[0], g.shape[0])
    num_codes = int(max(q_codes.max(), g_codes.max())) + 1
    n_relevant_all = np.bincount(g_codes, minlength=num_codes)[q_codes].astype(np.int32)
    num_gallery = g.shape[0]
    args = (precision_ks, map_ks, map_normalisation, precision_normalisation)
    full = any(k is None for k in map_ks)
    k_max = min(num_gallery, max([k for k in (*precision_ks, *map_ks) if k is not None], default=1))
    g_codes_tf = tf.constant(g_codes)
    prepared = retrieval.PreparedGallery(g, metric)
    q = prepared.prepare_queries(q)
    step = int(chunk_size) if chunk_size else retrieval.auto_chunk_size(num_gallery)
    if step < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")

    def score(start):
        s = prepared.scores(q[start:start + step])
        qc = q_codes[start:start + s.shape[0]]
        n_rel = n_relevant_all[start:start + s.shape[0]]
        if full:
            pos, valid = _relevant_positions_full(s.numpy(), qc, g_codes, n_rel)
            return _scores_from_positions(pos, valid, n_rel, num_gallery, *args)
        _, idx = tf.math.top_k(-s, k=k_max, sorted=True)
        rel = tf.cast(tf.equal(tf.gather(g_codes_tf, idx), tf.constant(qc)[:, tf.newaxis]), tf.int32).numpy()
        return _scores_from_ranked_relevance(rel, n_rel, num_gallery, *args)

    # Two chunks in flight: numpy's sort and TF's matmul release the GIL, so one chunk sorts while the next one's
    # scores are computed; never more than two score blocks are alive at once.
    parts, pending = [], []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, q.shape[0], step):
            if len(pending) == 2:
                parts.append(pending.pop(0).result())
            pending.append(pool.submit(score, start))
        parts.extend(f.result() for f in pending)
    per_query = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    means = {key: (_class_mean(v, q_codes) if map_average == "class" and key.startswith("mAP") else
                   float(np.mean(v, dtype=np.float64))) for key, v in per_query.items()}
    return (means, per_query) if return_per_query else means


def _class_mean(per_query: np.ndarray, q_codes: np.ndarray) -> float:
    """Mean over the query classes of the mean of ``per_query`` within each class (float64)."""
    sums = np.bincount(q_codes, weights=per_query.astype(np.float64))
    counts = np.bincount(q_codes, minlength=len(sums))
    present = counts > 0
    return float(np.mean(sums[present] / counts[present]))


# ----------------------------------------------------------------------------------------------------------------
# Plain references (tests only)
# ----------------------------------------------------------------------------------------------------------------

def average_precision_reference(distances_row, relevant_row, k: int | None = None,
                                normalisation: str = "relevant_in_top_k") -> float:
    """Plain-loop AP (or AP@k) of one query; the brute-force reference for :func:`map_precision` in tests.

    Ranks by distance with a stable sort (ties by gallery index), then walks the ranking accumulating precision at
    each relevant item. ``normalisation`` as in :func:`map_precision` (only used when ``k`` is given).
    """
    d = np.asarray(distances_row, dtype=np.float64)
    rel = np.asarray(relevant_row).astype(bool)
    order = np.argsort(d, kind="stable")
    limit = len(order) if k is None else min(k, len(order))
    hits, total = 0, 0.0
    for i in range(limit):
        if rel[order[i]]:
            hits += 1
            total += hits / (i + 1)
    if k is None:
        denom = int(rel.sum())
    elif normalisation == "relevant_in_top_k":
        denom = hits
    else:
        denom = min(k, int(rel.sum()))
    return total / denom if denom else 0.0


def precision_at_k_reference(distances_row, relevant_row, k: int) -> float:
    """Plain-loop P@k of one query (stable ranking), divided by k."""
    order = np.argsort(np.asarray(distances_row, dtype=np.float64), kind="stable")
    rel = np.asarray(relevant_row).astype(bool)
    return sum(1 for i in order[:k] if rel[i]) / k
