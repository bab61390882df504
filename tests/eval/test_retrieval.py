import numpy as np
import pytest

from sbir_tf.eval import retrieval


def _data(seed=0, q=7, g=40, d=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(q, d)).astype(np.float32), rng.normal(size=(g, d)).astype(np.float32)


def test_pairwise_distances_match_numpy():
    q, g = _data()
    expected = np.sqrt(((q[:, None, :].astype(np.float64) - g[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(retrieval.pairwise_distances(q, g), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(retrieval.pairwise_sq_euclidean(q, g), expected ** 2, rtol=1e-4, atol=1e-4)


def test_pairwise_distances_are_never_negative_for_identical_rows():
    g = np.full((3, 4), 1e3, np.float32)
    d = retrieval.pairwise_sq_euclidean(g, g)
    assert d.min() >= 0.0


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("chunk_size", [None, 1, 3])
def test_top_k_matches_argsort(metric, chunk_size):
    q, g = _data(1)
    if metric == "euclidean":
        full = np.sqrt(((q[:, None, :].astype(np.float64) - g[None]) ** 2).sum(-1))
    else:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        full = 1.0 - qn.astype(np.float64) @ gn.T
    dist, idx = retrieval.top_k(q, g, 5, metric=metric, chunk_size=chunk_size)
    assert dist.shape == (7, 5) and idx.shape == (7, 5)
    assert dist.dtype == np.float32 and idx.dtype == np.int64
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(dist, np.take_along_axis(full, idx, axis=1), rtol=1e-4, atol=1e-5)
    assert np.all(np.diff(dist, axis=1) >= -1e-6)


def test_top_k_orders_ties_by_gallery_index():
    g = np.array([[1, 0], [0, 0], [1, 0], [0, 1], [0, 0]], np.float32)
    q = np.zeros((1, 2), np.float32)
    dist, idx = retrieval.top_k(q, g, 5)
    np.testing.assert_array_equal(idx[0], [1, 4, 0, 2, 3])
    np.testing.assert_allclose(dist[0], [0, 0, 1, 1, 1])


def test_top_k_input_validation():
    q, g = _data()
    with pytest.raises(ValueError, match="dimension"):
        retrieval.top_k(q, g[:, :3], 2)
    with pytest.raises(ValueError, match="k must be"):
        retrieval.top_k(q, g, 0)
    with pytest.raises(ValueError, match="k must be"):
        retrieval.top_k(q, g, len(g) + 1)
    with pytest.raises(ValueError, match="2-D"):
        retrieval.top_k(q[0], g, 2)
    with pytest.raises(ValueError, match="NaN"):
        retrieval.top_k(np.full((1, 5), np.nan), g, 2)
    with pytest.raises(ValueError, match="metric"):
        retrieval.top_k(q, g, 2, metric="manhattan")


def test_brute_force_index_matches_top_k_and_does_not_retrace():
    q, g = _data(2, q=9, g=50)
    index = retrieval.BruteForceIndex(g)
    assert index.size == 50 and index.dim == 5
    expected_d, expected_i = retrieval.top_k(q, g, 10)
    d, i = index.search(q, 10)
    np.testing.assert_array_equal(i, expected_i)
    np.testing.assert_allclose(d, expected_d, rtol=1e-5, atol=1e-6)
    for row in range(len(q)):  # single 1-D queries, different k: same traced graph
        d1, i1 = index.search(q[row], 3)
        assert d1.shape == (1, 3)
        np.testing.assert_array_equal(i1[0], expected_i[row, :3])
    index.search(q[:4], 7, chunk_size=2)
    assert index.tracing_count() == 1


def test_brute_force_index_cosine_and_validation():
    q, g = _data(3)
    index = retrieval.BruteForceIndex(g, metric="cosine")
    d, i = index.search(q, 4)
    _, expected_i = retrieval.top_k(q, g, 4, metric="cosine")
    np.testing.assert_array_equal(i, expected_i)
    assert np.all((d >= 0) & (d <= 2))
    with pytest.raises(ValueError, match="dimension"):
        index.search(q[:, :2], 3)
    with pytest.raises(ValueError, match="k must be"):
        index.search(q, 41)
    with pytest.raises(ValueError, match="empty"):
        retrieval.BruteForceIndex(np.zeros((0, 3), np.float32))


def test_search_args_shared_by_the_indexes():
    q, k = retrieval._search_args([1, 2, 3], 2.0, size=5, dim=3)  # one 1-D query -> [1, D]
    assert q.shape == (1, 3) and q.dtype == np.float32 and k == 2 and isinstance(k, int)
    with pytest.raises(ValueError, match="dimension 2 but the index holds dimension 3"):
        retrieval._search_args(np.zeros((4, 2)), 1, size=5, dim=3)
    for bad_k in (0, 6):
        with pytest.raises(ValueError, match=r"k must be in \[1, 5\]"):
            retrieval._search_args(np.zeros((4, 3)), bad_k, size=5, dim=3)


def test_faiss_index_agrees_with_brute_force_when_available():
    if not retrieval.faiss_available():
        with pytest.raises(ImportError, match="faiss"):
            retrieval.FaissIndex(np.zeros((2, 2), np.float32))
        pytest.skip("optional faiss package (extra 'ann') not installed")
    q, g = _data(4)
    d, i = retrieval.FaissIndex(g).search(q, 5)
    ed, ei = retrieval.BruteForceIndex(g).search(q, 5)
    np.testing.assert_array_equal(i, ei)
    np.testing.assert_allclose(d, ed, rtol=1e-4, atol=1e-5)
