import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from sbir_tf.eval import metrics, retrieval


# ------------------------------------------------------------------------------------------------- fine-grained

def test_ranks_and_acc_on_hand_example():
    # Gallery on a line; query i sits at x = 0 and its true photo at distance rank 0, 1, 2, 3 respectively.
    gallery = np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)
    queries = np.zeros((4, 1), np.float32)
    true_index = np.array([0, 1, 2, 3])
    ranks = metrics.ranks_of_true(queries, gallery, true_index)
    np.testing.assert_array_equal(ranks, [0, 1, 2, 3])
    acc = metrics.acc_at_k(queries, gallery, true_index, ks=(1, 2, 10))
    assert acc == {"acc@1": 0.25, "acc@2": 0.5, "acc@10": 1.0}


def test_ranks_count_only_strictly_closer_items():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [5.0, 5.0]], np.float32)
    queries = np.zeros((3, 2), np.float32)
    # items 0, 1, 2 are tied at distance 1: each true item gets rank 0; item 3 has three strictly closer.
    np.testing.assert_array_equal(metrics.ranks_of_true(queries, gallery, [2, 1, 3]), [0, 0, 3])


def test_acc_perfect_and_all_wrong():
    rng = np.random.default_rng(0)
    photos = rng.normal(size=(20, 8)).astype(np.float32)
    perfect = metrics.acc_at_k(photos + 1e-3, photos, np.arange(20), ks=(1, 5))
    assert perfect == {"acc@1": 1.0, "acc@5": 1.0}
    # queries equal to photo i but labelled with the photo farthest away: that photo is ranked last.
    d = retrieval.pairwise_distances(photos, photos)
    farthest = d.argmax(axis=1)
    ranks = metrics.ranks_of_true(photos, photos, farthest)
    np.testing.assert_array_equal(ranks, np.full(20, 19))
    assert metrics.acc_at_k(photos, photos, farthest, ks=(1, 10)) == {"acc@1": 0.0, "acc@10": 0.0}


def test_ranks_match_argsort_reference_with_chunking():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(30, 6)).astype(np.float32)
    g = rng.normal(size=(50, 6)).astype(np.float32)
    t = rng.integers(0, 50, size=30)
    d = retrieval.pairwise_distances(q, g).astype(np.float64)
    expected = (d < d[np.arange(30), t][:, None]).sum(axis=1)
    for chunk in (None, 1, 7):
        np.testing.assert_array_equal(metrics.ranks_of_true(q, g, t, chunk_size=chunk), expected)


def test_per_class_acc():
    ranks = np.array([0, 3, 0, 0, 12, 1])
    classes = np.array(["shoe", "shoe", "chair", "chair", "chair", "shoe"])
    assert metrics.per_class_acc(ranks, classes, k=1) == {"chair": 2 / 3, "shoe": 1 / 3}
    assert metrics.per_class_acc(ranks, classes, k=5) == {"chair": 2 / 3, "shoe": 1.0}
    with pytest.raises(ValueError, match="equal length"):
        metrics.per_class_acc(ranks, classes[:2])


def test_fine_grained_validation():
    g = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match="one entry per query"):
        metrics.ranks_of_true(np.zeros((3, 2)), g, [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        metrics.ranks_of_true(np.zeros((2, 2)), g, [0, 4])
    with pytest.raises(ValueError, match="integer"):
        metrics.ranks_of_true(np.zeros((2, 2)), g, [0.0, 1.0])
    with pytest.raises(ValueError, match="positive integers"):
        metrics.acc_from_ranks(np.array([0, 1]), ks=(0,))


# ------------------------------------------------------------------------------------------------- zero-shot

def test_average_precision_reference_hand_example():
    # ranking: R, N, R, N, R  -> AP = (1/1 + 2/3 + 3/5) / 3
    d = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    rel = np.array([1, 0, 1, 0, 1])
    assert metrics.average_precision_reference(d, rel) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # AP@3: relevant within top 3 are 2 -> (1 + 2/3) / 2; classical normalisation min(3, 3) = 3
    assert metrics.average_precision_reference(d, rel, k=3) == pytest.approx((1 + 2 / 3) / 2)
    assert metrics.average_precision_reference(d, rel, k=3, normalisation="min_k_relevant") == pytest.approx(
        (1 + 2 / 3) / 3)
    assert metrics.precision_at_k_reference(d, rel, 4) == 0.5


def _embedded_ranking(order_relevance):
    """One query at the origin; gallery item i at distance i+1 with the given relevance (labels 0 / 1)."""
    n = len(order_relevance)
    gallery = np.zeros((n, 2), np.float32)
    gallery[:, 0] = np.arange(1, n + 1)
    labels = np.where(np.asarray(order_relevance) > 0, 0, 1)
    return np.zeros((1, 2), np.float32), np.array([0]), gallery, labels


def test_map_precision_hand_example():
    q, ql, g, gl = _embedded_ranking([1, 0, 1, 0, 1, 0])
    m = metrics.map_precision(q, ql, g, gl, precision_ks=(1, 4), map_ks=(None, 3))
    assert m["mAP@all"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3, abs=1e-6)
    assert m["mAP@3"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-6)
    assert m["P@1"] == 1.0 and m["P@4"] == 0.5
    m2 = metrics.map_precision(q, ql, g, gl, precision_ks=(), map_ks=(3,), map_normalisation="min_k_relevant")
    assert m2 == {"mAP@3": pytest.approx((1 + 2 / 3) / 3, abs=1e-6)}


def test_map_average_per_query_versus_per_class_hand_example():
    # Gallery on a line: g0 = 0.0 (class A), g1 = 1.0 (B), g2 = 2.0 (A). Queries: q0 = 0.0 (A), q1 = 1.1 (A),
    # q2 = 0.9 (B); no distance ties.
    gallery = np.array([[0.0], [1.0], [2.0]], np.float32)
    gallery_labels = ["A", "B", "A"]
    queries = np.array([[0.0], [1.1], [0.9]], np.float32)
    query_labels = ["A", "A", "B"]
    # q0: ranking g0 (A), g1 (B), g2 (A), relevance 1 0 1: AP = (1/1 + 2/3) / 2 = 5/6
    # q1: distances 1.1, 0.1, 0.9 -> ranking g1 (B), g2 (A), g0 (A), relevance 0 1 1: AP = (1/2 + 2/3) / 2 = 7/12
    # q2: distances 0.9, 0.1, 1.1 -> ranking g1 (B), g0, g2, relevance 1 0 0: AP = 1
    # per query: (5/6 + 7/12 + 1) / 3 = (10 + 7 + 12) / 36 = 29/36 = 0.80556
    # per class: A = (5/6 + 7/12) / 2 = 17/24, B = 1 -> (17/24 + 1) / 2 = 41/48 = 0.85417
    # mAP@2 (AP over the top 2, divided by the relevant items found there): q0 1/1 = 1, q1 (1/2)/1 = 1/2, q2 1
    #   per query 2.5/3 = 0.83333; per class A = 3/4, B = 1 -> 7/8
    # P@1 is averaged over queries in both modes: q0 1, q1 0, q2 1 -> 2/3
    kw = dict(precision_ks=(1,), map_ks=(None, 2))
    by_query = metrics.map_precision(queries, query_labels, gallery, gallery_labels, **kw)
    by_class = metrics.map_precision(queries, query_labels, gallery, gallery_labels, map_average="class", **kw)
    assert by_query["mAP@all"] == pytest.approx(29 / 36, abs=1e-6)
    assert by_class["mAP@all"] == pytest.approx(41 / 48, abs=1e-6)
    assert by_query["mAP@2"] == pytest.approx(2.5 / 3, abs=1e-6)
    assert by_class["mAP@2"] == pytest.approx(7 / 8, abs=1e-6)
    assert by_query["P@1"] == by_class["P@1"] == pytest.approx(2 / 3)
    # the default is per query
    assert metrics.map_precision(queries, query_labels, gallery, gallery_labels, map_average="query",
                                 **kw) == by_query
    with pytest.raises(ValueError, match="map_average"):
        metrics.map_precision(queries, query_labels, gallery, gallery_labels, map_average="classes")


def test_map_precision_k_larger_than_relevant_and_gallery():
    q, ql, g, gl = _embedded_ranking([0, 1, 0, 1])
    m = metrics.map_precision(q, ql, g, gl, precision_ks=(10,), map_ks=(None, 3, 10))
    assert m["mAP@all"] == pytest.approx((1 / 2 + 2 / 4) / 2, abs=1e-6)
    assert m["mAP@3"] == pytest.approx(1 / 2, abs=1e-6)  # only one relevant within the top 3
    assert m["mAP@10"] == pytest.approx(m["mAP@all"], abs=1e-6)
    assert m["P@10"] == pytest.approx(2 / 10)
    retrieved = metrics.map_precision(q, ql, g, gl, precision_ks=(10,), map_ks=(),
                                      precision_normalisation="retrieved")
    assert retrieved["P@10"] == pytest.approx(2 / 4)


def test_map_precision_perfect_and_all_wrong():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 16)).astype(np.float32) * 10
    gl = np.repeat(np.arange(4), 30)
    g = centres[gl] + rng.normal(size=(120, 16)).astype(np.float32) * 0.1
    ql = np.repeat(np.arange(4), 5)
    q = centres[ql]
    perfect = metrics.map_precision(q, ql, g, gl, precision_ks=(10, 30), map_ks=(None, 20))
    assert perfect == {"mAP@all": pytest.approx(1.0), "mAP@20": pytest.approx(1.0),
                       "P@10": pytest.approx(1.0), "P@30": pytest.approx(1.0)}
    wrong = metrics.map_precision(q, (ql + 1) % 4, g, gl, precision_ks=(10, 30), map_ks=(20,))
    assert wrong == {"mAP@20": 0.0, "P@10": 0.0, "P@30": 0.0}
    # labels without any gallery item score 0 (not NaN)
    absent = metrics.map_precision(q, ql + 100, g, gl, precision_ks=(5,), map_ks=(None,))
    assert absent == {"mAP@all": 0.0, "P@5": 0.0}


def _references(q, ql, g, gl, k_map, k_prec):
    d = retrieval.pairwise_sq_euclidean(q, g)
    rel = ql[:, None] == gl[None, :]
    ap = [metrics.average_precision_reference(d[i], rel[i]) for i in range(len(q))]
    apk = [metrics.average_precision_reference(d[i], rel[i], k=k_map) for i in range(len(q))]
    apk_min = [metrics.average_precision_reference(d[i], rel[i], k=k_map, normalisation="min_k_relevant")
               for i in range(len(q))]
    pk = [metrics.precision_at_k_reference(d[i], rel[i], k_prec) for i in range(len(q))]
    return d, rel, np.array(ap), np.array(apk), np.array(apk_min), np.array(pk)


@pytest.mark.parametrize("chunk_size", [None, 1, 8])
def test_map_precision_matches_references_on_continuous_data(chunk_size):
    rng = np.random.default_rng(5)
    q = rng.normal(size=(40, 6)).astype(np.float32)
    g = rng.normal(size=(200, 6)).astype(np.float32)
    ql, gl = rng.integers(0, 6, 40), rng.integers(0, 6, 200)
    d, rel, ap, apk, apk_min, pk = _references(q, ql, g, gl, 25, 15)
    _, per = metrics.map_precision(q, ql, g, gl, precision_ks=(15,), map_ks=(None, 25), chunk_size=chunk_size,
                                   return_per_query=True)
    np.testing.assert_allclose(per["mAP@all"], ap, atol=1e-6)
    np.testing.assert_allclose(per["mAP@25"], apk, atol=1e-6)
    np.testing.assert_allclose(per["P@15"], pk, atol=1e-7)
    sk = [average_precision_score(rel[i], -d[i]) for i in range(len(q))]
    np.testing.assert_allclose(per["mAP@all"], sk, atol=1e-6)
    # SEM-PCYC's mAP@K: scikit-learn AP over the top-K list (0 when no relevant item is retrieved)
    top = np.argsort(d, axis=1, kind="stable")[:, :25]
    sk_k = [average_precision_score(rel[i, top[i]], -d[i, top[i]]) if rel[i, top[i]].any() else 0.0
            for i in range(len(q))]
    np.testing.assert_allclose(per["mAP@25"], sk_k, atol=1e-6)
    _, per_min = metrics.map_precision(q, ql, g, gl, precision_ks=(), map_ks=(25,),
                                       map_normalisation="min_k_relevant", return_per_query=True)
    np.testing.assert_allclose(per_min["mAP@25"], apk_min, atol=1e-6)


@pytest.mark.parametrize("map_ks", [(None, 12), (12,)])
def test_map_precision_with_ties_matches_stable_reference(map_ks):
    # Small-integer embeddings: exact float arithmetic and many exactly tied distances, across relevance.
    rng = np.random.default_rng(7)
    q = rng.integers(-1, 2, size=(30, 3)).astype(np.float32)
    g = rng.integers(-1, 2, size=(90, 3)).astype(np.float32)
    ql, gl = rng.integers(0, 3, 30), rng.integers(0, 3, 90)
    d, rel, ap, apk, _, pk = _references(q, ql, g, gl, 12, 9)
    assert (np.diff(np.sort(d, axis=1), axis=1) == 0).any(), "test data must contain ties"
    _, per = metrics.map_precision(q, ql, g, gl, precision_ks=(9,), map_ks=map_ks, chunk_size=7,
                                   return_per_query=True)
    if None in map_ks:
        np.testing.assert_allclose(per["mAP@all"], ap, atol=1e-6)
    np.testing.assert_allclose(per["mAP@12"], apk, atol=1e-6)
    np.testing.assert_allclose(per["P@9"], pk, atol=1e-7)


def test_duplicate_gallery_items_follow_stable_order_not_sklearn_grouping():
    # Duplicated gallery items share a label. The stable ranking gives the two copies consecutive ranks, while
    # scikit-learn groups tied scores into one threshold and credits both with the precision at the group's end
    # (the higher of the two), so its AP can only be higher or equal here.
    rng = np.random.default_rng(11)
    base = rng.normal(size=(30, 4)).astype(np.float32)
    base_labels = rng.integers(0, 3, 30)
    g = np.concatenate([base, base[:10]])
    gl = np.concatenate([base_labels, base_labels[:10]])
    q = rng.normal(size=(12, 4)).astype(np.float32)
    ql = rng.integers(0, 3, 12)
    _, per = metrics.map_precision(q, ql, g, gl, precision_ks=(5,), map_ks=(None,), return_per_query=True)
    d = retrieval.pairwise_sq_euclidean(q, g)
    reference = [metrics.average_precision_reference(d[i], gl == ql[i]) for i in range(len(q))]
    np.testing.assert_allclose(per["mAP@all"], reference, atol=1e-6)
    sk = np.array([average_precision_score(gl == ql[i], -d[i]) for i in range(len(q))])
    assert np.all(per["mAP@all"] <= sk + 1e-6)
    assert np.any(per["mAP@all"] < sk - 1e-4)
    # without the duplicates both agree
    _, per_base = metrics.map_precision(q, ql, base, base_labels, precision_ks=(5,), map_ks=(None,),
                                        return_per_query=True)
    d_base = retrieval.pairwise_sq_euclidean(q, base)
    sk_base = [average_precision_score(base_labels == ql[i], -d_base[i]) for i in range(len(q))]
    np.testing.assert_allclose(per_base["mAP@all"], sk_base, atol=1e-6)


def test_string_labels_and_cosine_metric():
    q, ql, g, gl = _embedded_ranking([1, 0, 1])
    names = np.array(["cat", "dog"])
    m = metrics.map_precision(q + np.float32(0.5), names[ql], g + np.float32(0.5), names[gl],
                              precision_ks=(1,), map_ks=(None,), metric="cosine")
    assert set(m) == {"mAP@all", "P@1"}
    assert 0.0 <= m["mAP@all"] <= 1.0


def test_map_precision_validation():
    q = np.zeros((2, 3), np.float32)
    g = np.ones((5, 3), np.float32)
    with pytest.raises(ValueError, match="query_labels"):
        metrics.map_precision(q, [0], g, [0] * 5)
    with pytest.raises(ValueError, match="gallery_labels"):
        metrics.map_precision(q, [0, 1], g, [0] * 4)
    with pytest.raises(ValueError, match="map_normalisation"):
        metrics.map_precision(q, [0, 1], g, [0] * 5, map_normalisation="other")
    with pytest.raises(ValueError, match="positive integers"):
        metrics.map_precision(q, [0, 1], g, [0] * 5, precision_ks=(0,))
    with pytest.raises(ValueError, match="dimension"):
        metrics.map_precision(q, [0, 1], g[:, :2], [0] * 5)

