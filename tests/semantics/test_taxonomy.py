"""WordNet facts: the shipped file (always) against hand computations, and against an installed WordNet (where
present): regenerating it, path/JCN for every pair of shipped classes, the hierarchy node counts."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sbir_tf.data.records import canonical_class_name
from sbir_tf.data.splits import zero_shot_split
from sbir_tf.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from sbir_tf.data.synthetic import WORDNET_OFFSETS
from sbir_tf.paths import PACKAGE_ROOT
from sbir_tf.semantics import hierarchy as H
from sbir_tf.semantics import taxonomy as T
from sbir_tf.semantics import wordnet as W
from sbir_tf.semantics import wordnet_pack as P

SPLIT_LISTS = PACKAGE_ROOT / "data" / "split_lists"
CLASS_LISTS = {"sketchy": "sketchy_classes125.txt", "tuberlin": "tuberlin_classes250.txt"}
#: hierarchy nodes over the seen classes of each split, name -> synset tables (README / notes; paper: 354, 664)
NODE_COUNTS = {("sketchy", "sempcyc25"): (100, 278), ("tuberlin", "sake30"): (220, 604),
               ("tuberlin", "sempcyc30"): (220, 580)}


def _classes(dataset):
    return [line.strip() for line in (SPLIT_LISTS / CLASS_LISTS[dataset]).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def shipped():
    return T.ShippedTaxonomy.load()


def _installed():
    try:
        return T.get_taxonomy(source="wordnet")
    except W.WordNetUnavailable as exc:
        pytest.skip(f"no installed WordNet: {exc}")


# ------------------------------------------------------------------------------------------- shipped file alone
def test_shipped_facts_provenance_and_shape(shipped):
    prov = shipped.data["provenance"]
    assert prov["wordnet_version"] == "3.0" and prov["ic_source"] == "semcor_cntlist"
    assert prov["generator"] == P.GENERATOR and len(prov["commit"]) == 40
    assert shipped.data["class_synsets"] == P.table_synsets()
    # closed under parents, single root with the root total as its count
    for name, fact in shipped.synsets.items():
        assert all(p in shipped.synsets for p in fact["parents"]), name
    roots = [n for n, f in shipped.synsets.items() if not f["parents"]]
    assert roots == ["entity.n.01"] and shipped.count("entity.n.01") == shipped.total


def test_shipped_path_similarity_by_hand(shipped):
    # dog -> canine -> carnivore <- feline <- cat: 4 hops (nltk documents 0.2)
    assert T.path_similarity_matrix(shipped, ["dog.n.01"], ["cat.n.01"])[0, 0] == 1.0 / (1.0 + 4)
    assert T.path_similarity_matrix(shipped, ["dog.n.01"], ["dog.n.01"])[0, 0] == 1.0
    # dog.n.01 has two hypernym paths (via canine.n.02 and via domestic_animal.n.01): 14 + 1 distinct synsets
    assert len(H.hierarchy_nodes(["dog.n.01"], shipped)) == 15
    nodes = H.hierarchy_nodes(["dog.n.01", "cat.n.01"], shipped)
    assert len(nodes) == 17 and nodes == sorted(nodes)    # + cat.n.01, feline.n.01
    for name in ("entity.n.01", "carnivore.n.01", "domestic_animal.n.01", "feline.n.01", "cat.n.01"):
        assert name in nodes


def test_shipped_jcn_by_hand(shipped):
    facts, total = shipped.synsets, shipped.data["ic_total"]
    ic = {n: -math.log(facts[n]["count"] / total) for n in ("dog.n.01", "cat.n.01", "carnivore.n.01")}
    expected = ic["dog.n.01"] + ic["cat.n.01"] - 2 * ic["carnivore.n.01"]    # lcs of dog and cat: carnivore
    dist = T.jcn_distance_matrix(shipped, ["dog.n.01", "cat.n.01"], ["cat.n.01", "entity.n.01", "dog.n.01"])
    assert dist[0, 0] == pytest.approx(expected, rel=1e-12) and dist[0, 0] > 0
    assert dist[0, 1] == pytest.approx(ic["dog.n.01"], rel=1e-12)            # IC(entity) = 0
    assert dist[0, 2] == 0.0 and dist[1, 0] == 0.0
    emb = H.hierarchy_embeddings(["dog.n.01"], ["cat.n.01", "entity.n.01", "dog.n.01"], "jcn", shipped)
    np.testing.assert_allclose(emb[0], [1 / (1 + expected), 1 / (1 + ic["dog.n.01"]), 1.0], rtol=1e-6)
    clipped = H.hierarchy_embeddings(["dog.n.01"], ["cat.n.01", "entity.n.01", "dog.n.01"], "jcn", shipped,
                                     jcn_form="clipped_inverse")
    np.testing.assert_allclose(clipped[0], [min(1 / expected, 1.0), 0.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("dataset, split", sorted(NODE_COUNTS))
def test_hierarchy_node_counts(shipped, dataset, split):
    """Nodes of the hierarchy over a split's seen classes (name -> synset tables): the counts in the notes."""
    classes = _classes(dataset)
    synsets, source = H.class_synsets(classes, dataset=dataset, taxonomy=shipped)
    assert set(source.values()) == {"table"}
    of = {canonical_class_name(c): s for c, s in zip(classes, synsets)}
    seen = zero_shot_split(classes, split).seen
    n_seen, n_nodes = NODE_COUNTS[(dataset, split)]
    assert len(seen) == n_seen
    assert len(H.hierarchy_nodes([of[canonical_class_name(c)] for c in seen], shipped)) == n_nodes


def test_photo_wnid_mapping_reads_offsets_from_the_shipped_facts(shipped):
    wnids = {c: [f"n{WORDNET_OFFSETS[c]}"] * 3 + ["n02084071"] for c in SYNTHETIC_CLASSES}  # + one stray dog id
    by_id, source = H.class_synsets(SYNTHETIC_CLASSES, mapping="photo_wnid", wnids=wnids, dataset="synthetic",
                                    taxonomy=shipped)
    by_name, _ = H.class_synsets(SYNTHETIC_CLASSES, dataset="synthetic", taxonomy=shipped)
    assert by_id == by_name and set(source.values()) == {"wnid"}
    with pytest.raises(ValueError, match="mapping"):
        H.class_synsets(["dog"], mapping="imagenet", taxonomy=shipped)


def test_class_outside_the_shipped_facts_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(W.HIDE_WORDNET_ENV, "1")
    tax = T.get_taxonomy()
    assert isinstance(tax, T.ShippedTaxonomy)
    with pytest.raises(T.MissingWordNetFacts) as err:
        H.class_synsets(["dog", "unicorn_x", "blorfnax"], taxonomy=tax)
    msg = str(err.value)
    for part in ("unicorn_x", "blorfnax", "apt-get install wordnet-base",
                 "python -m nltk.downloader wordnet wordnet_ic", W.HIDE_WORDNET_ENV):
        assert part in msg
    assert "'dog'" not in msg
    with pytest.raises(W.WordNetUnavailable, match="installed WordNet"):
        T.get_taxonomy("nltk_brown")


# ------------------------------------------------------------------------------------------- against WordNet
def test_regenerating_gives_the_shipped_file():
    installed = _installed()
    if installed.ic_source != "semcor_cntlist":  # pragma: no cover
        pytest.skip("needs the semcor_cntlist information content")
    facts = P.build_facts(installed, commit="0" * 40)
    assert P.without_commit(facts) == P.without_commit(P.read_facts())


@pytest.mark.parametrize("dataset", ["sketchy", "tuberlin"])
def test_every_class_pair_equal_to_installed_wordnet(shipped, dataset):
    installed = _installed()
    classes = _classes(dataset)
    names = sorted(set(H.class_synsets(classes, dataset=dataset, taxonomy=shipped)[0]))
    assert names == sorted(set(H.class_synsets(classes, dataset=dataset, taxonomy=installed)[0]))
    np.testing.assert_array_equal(T.path_similarity_matrix(shipped, names, names),
                                  T.path_similarity_matrix(installed, names, names))
    np.testing.assert_array_equal(T.jcn_distance_matrix(shipped, names, names),
                                  T.jcn_distance_matrix(installed, names, names))
    nodes = H.hierarchy_nodes(names, shipped)
    assert nodes == H.hierarchy_nodes(names, installed)
    for measure in H.MEASURES:
        np.testing.assert_array_equal(H.hierarchy_embeddings(names, nodes, measure, shipped),
                                      H.hierarchy_embeddings(names, nodes, measure, installed))


def _nltk_pairs(names):
    installed = _installed()
    ss = [installed.wn.synset(n) for n in names]
    return installed, ss


def test_shipped_jcn_equals_nltk_for_every_sketchy_pair(shipped):
    names = sorted(set(H.load_synset_table(H.SKETCHY_TABLE).values()))
    installed, ss = _nltk_pairs(names)
    nltk_sim = np.array([[a.jcn_similarity(b, installed.ic_counts) for b in ss] for a in ss])
    nltk_dist = np.where(nltk_sim >= W.NLTK_JCN_INF, 0.0, 1.0 / np.where(nltk_sim > 0, nltk_sim, 1.0))
    np.testing.assert_allclose(T.jcn_distance_matrix(shipped, names, names), nltk_dist, rtol=1e-12, atol=0)


def test_shipped_path_equals_nltk(shipped):
    names = sorted(set(H.load_synset_table(H.SKETCHY_TABLE).values()))[::3]   # every third: ~1 s of nltk calls
    _, ss = _nltk_pairs(names)
    nltk_path = np.array([[a.path_similarity(b) for b in ss] for a in ss])
    np.testing.assert_array_equal(T.path_similarity_matrix(shipped, names, names), nltk_path)


@pytest.mark.slow
@pytest.mark.parametrize("table", [H.SKETCHY_TABLE, H.TUBERLIN_TABLE])
def test_shipped_path_equals_nltk_every_pair(shipped, table):
    names = sorted(set(H.load_synset_table(table).values()))
    _, ss = _nltk_pairs(names)
    nltk_path = np.array([[a.path_similarity(b) for b in ss] for a in ss])
    np.testing.assert_array_equal(T.path_similarity_matrix(shipped, names, names), nltk_path)


def test_pack_cli_check(tmp_path, capsys):
    _installed()
    assert P.main(["--check"]) == 0
    stale = tmp_path / "stale.json.gz"
    facts = P.read_facts()
    facts["synsets"]["dog.n.01"]["count"] += 1
    P.write_facts(stale, facts)
    assert P.main(["--check", "--out", str(stale)]) == 1
    assert "regenerate" in capsys.readouterr().err


def test_several_wnids_take_the_majority():
    assert H.majority_wnid(["n03222176"] * 3 + ["n03222318"]) == "n03222176"
    assert H.majority_wnid(["n2", "n1", "n2", "n1"]) == "n1"          # ties: the smallest id
    with pytest.raises(ValueError, match="empty"):
        H.majority_wnid([])


def test_bad_measure_and_form_rejected(shipped):
    with pytest.raises(ValueError, match="measure"):
        H.hierarchy_embeddings(["dog.n.01"], ["dog.n.01"], "lch", shipped)
    with pytest.raises(ValueError, match="Jiang-Conrath form"):
        H.hierarchy_embeddings(["dog.n.01"], ["dog.n.01"], "jcn", shipped, jcn_form="raw")
    emb = H.hierarchy_embeddings(["dog.n.01"], H.hierarchy_nodes(["dog.n.01"], shipped), "path", shipped)
    assert emb.dtype == np.float32 and emb.shape == (1, 15) and emb.max() == 1.0


def test_absent_wordnet_uses_the_shipped_facts_without_downloading(monkeypatch):
    import nltk

    calls = []
    monkeypatch.setattr(W, "_nltk_wordnet", lambda: None)
    monkeypatch.setattr(W, "wordnet_database_dir", lambda: None)
    monkeypatch.delenv("SBIR_TF_WORDNET_DIR", raising=False)
    monkeypatch.delenv("SBIR_TF_NO_DOWNLOAD", raising=False)
    monkeypatch.delenv(W.HIDE_WORDNET_ENV, raising=False)
    monkeypatch.setattr(nltk, "download", lambda name, **kw: calls.append(name) or False)
    W.get_wordnet.cache_clear()
    try:
        tax = T.get_taxonomy()
        assert isinstance(tax, T.ShippedTaxonomy) and calls == []
        synsets, _ = H.class_synsets(["seal", "bat"], taxonomy=tax)
        assert synsets == ["seal.n.09", "bat.n.01"]
        with pytest.raises(T.MissingWordNetFacts, match="no WordNet is installed"):
            H.class_synsets(["unicorn_x"], taxonomy=tax)
    finally:
        W.get_wordnet.cache_clear()
