"""WordNet access, similarities with hand-computed values, class -> synset tables, hierarchy nodes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sbir_tf.data.records import canonical_class_name
from sbir_tf.paths import PACKAGE_ROOT
from sbir_tf.semantics import hierarchy as H
from sbir_tf.semantics import wordnet as W
from sbir_tf.semantics.word_vectors import MissingClassError

try:
    WN = W.get_wordnet()
except W.WordNetUnavailable as exc:  # pragma: no cover - machines without any WordNet
    pytest.skip(str(exc), allow_module_level=True)

SPLIT_LISTS = PACKAGE_ROOT / "data" / "split_lists"


def _lines(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def test_lexnames_resource_is_the_wordnet30_table():
    rows = [line.split("\t") for line in W.LEXNAMES_FILE.read_text().splitlines()]
    assert len(rows) == 45
    assert [int(r[0]) for r in rows] == list(range(45))
    assert all(len(r[0]) == 2 for r in rows)
    expected_pos = {"noun": "1", "verb": "2", "adj": "3", "adv": "4"}
    for number, name, pos in rows:
        assert pos == expected_pos[name.split(".")[0]], name
    assert rows[3][1] == "noun.Tops" and rows[6][1] == "noun.artifact" and rows[44][1] == "adj.ppl"


def test_lexicographer_file_names_come_through():
    assert WN.synset("dog.n.01").lexname() == "noun.animal"
    assert WN.synset("chair.n.01").lexname() == "noun.artifact"


def test_path_similarity_known_pair():
    dog, cat = WN.synset("dog.n.01"), WN.synset("cat.n.01")
    assert W.path_similarity(dog, cat) == pytest.approx(0.2)  # value in nltk's documentation
    assert W.path_similarity(dog, dog) == 1.0


def test_synset_from_wnid():
    assert W.synset_from_wnid("n02691156").name() == "airplane.n.01"
    assert W.wnid_of(WN.synset("airplane.n.01")) == "n02691156"
    with pytest.raises(ValueError, match="WordNet id"):
        W.synset_from_wnid("airplane")


def test_semcor_information_content_is_propagated_and_smoothed():
    ic = W.semcor_information_content()
    noun = ic["n"]
    dog, carnivore, entity = (WN.synset(n) for n in ("dog.n.01", "carnivore.n.01", "entity.n.01"))
    assert noun[dog.offset()] >= W.IC_SMOOTHING + 1          # dog is sense-tagged in SemCor
    assert noun[carnivore.offset()] > noun[dog.offset()]     # counts flow up to hypernyms
    assert noun[0] >= noun[entity.offset()] > noun[carnivore.offset()]
    assert noun[WN.synset("aardvark.n.01").offset()] >= W.IC_SMOOTHING  # every synset starts at the smoothing
    assert W.information_content(entity, ic) == pytest.approx(-math.log(noun[entity.offset()] / noun[0]))


def test_jcn_matches_hand_computation_from_ic():
    ic = W.semcor_information_content()
    dog, cat = WN.synset("dog.n.01"), WN.synset("cat.n.01")
    lcs = WN.synset("carnivore.n.01")   # lowest common hypernym of dog and cat
    total = ic["n"][0]
    ic_dog = -math.log(ic["n"][dog.offset()] / total)
    ic_cat = -math.log(ic["n"][cat.offset()] / total)
    ic_lcs = -math.log(ic["n"][lcs.offset()] / total)
    expected = 1.0 / (ic_dog + ic_cat - 2.0 * ic_lcs)
    assert W.jcn_similarity(dog, cat, ic) == pytest.approx(expected, rel=1e-9)
    assert dog.jcn_similarity(cat, ic) == pytest.approx(expected, rel=1e-9)   # nltk agrees
    assert W.jcn_unit_similarity(dog, cat, ic) == pytest.approx(1.0 / (1.0 + 1.0 / expected))
    # identical synsets: nltk's 1e300, mapped to exactly 1
    assert W.jcn_similarity(dog, dog, ic) == W.NLTK_JCN_INF
    assert W.jcn_unit_similarity(dog, dog, ic) == 1.0


def test_hierarchy_nodes_of_dog_and_cat():
    dog, cat = WN.synset("dog.n.01"), WN.synset("cat.n.01")
    # dog.n.01 has two hypernym paths (via canine.n.02 and via domestic_animal.n.01): 14 + 1 distinct synsets
    assert len(H.hierarchy_nodes([dog])) == 15
    nodes = [n.name() for n in H.hierarchy_nodes([dog, cat])]
    assert len(nodes) == 17  # + cat.n.01, feline.n.01
    assert nodes == sorted(nodes)
    for name in ("entity.n.01", "carnivore.n.01", "domestic_animal.n.01", "feline.n.01", "cat.n.01"):
        assert name in nodes


def test_fast_similarities_equal_nltk():
    ic = W.semcor_information_content()
    synsets = [WN.synset(n) for n in ("dog.n.01", "cat.n.01", "airplane.n.01", "banana.n.02", "chair.n.01")]
    nodes = H.hierarchy_nodes(synsets[:3])
    path = H.hierarchy_embeddings(synsets, nodes, "path")
    jcn = H.hierarchy_embeddings(synsets, nodes, "jcn", ic=ic)
    for i, a in enumerate(synsets):
        for j, b in enumerate(nodes):
            assert path[i, j] == pytest.approx(a.path_similarity(b), abs=1e-6)
            assert jcn[i, j] == pytest.approx(W.jcn_unit_similarity(a, b, ic), abs=1e-6)
    # a seen class is its own node: similarity exactly 1 there
    for i in range(3):
        j = [n.name() for n in nodes].index(synsets[i].name())
        assert path[i, j] == 1.0 and jcn[i, j] == 1.0
    assert path.min() > 0 and path.max() <= 1 and jcn.min() > 0 and jcn.max() <= 1


@pytest.mark.parametrize("table, classes_file", [(H.TUBERLIN_TABLE, "tuberlin_classes250.txt"),
                                                 (H.SKETCHY_TABLE, "sketchy_classes125.txt")])
def test_shipped_synset_tables_cover_and_resolve(table, classes_file):
    mapping = H.load_synset_table(table)
    classes = _lines(SPLIT_LISTS / classes_file)
    assert {canonical_class_name(c) for c in classes} == set(mapping)
    for name, synset in mapping.items():
        assert WN.synset(synset).pos() == "n", (name, synset)


def test_synset_table_senses_fit_sketches():
    tb = H.default_synset_table("tuberlin")
    assert tb["computer_mouse"] == "mouse.n.04"
    assert tb["mouse_(animal)"] == "mouse.n.01"
    assert tb["table"] == "table.n.02"
    assert tb["hot_air_balloon"] == "hot-air_balloon.n.01"
    sk = H.default_synset_table("sketchy")
    assert sk["seal"] == "seal.n.09" and sk["jack_o_lantern"] == "jack-o'-lantern.n.02"


def test_class_synsets_sources_and_missing():
    synsets, source = H.class_synsets(["airplane", "Alarm clock", "giraffe"], wnids={"airplane": "n02691156"})
    assert [s.name() for s in synsets] == ["airplane.n.01", "alarm_clock.n.01", "giraffe.n.01"]
    assert source == {"airplane": "wnid", "Alarm clock": "table", "giraffe": "table"}
    # no tables: first noun sense, hyphen/underscore spellings and parentheses handled
    synsets, source = H.class_synsets(["hot_air_balloon", "car_(sedan)", "dog"], table={})
    assert [s.name() for s in synsets] == ["hot-air_balloon.n.01", "sedan.n.01", "dog.n.01"]
    assert set(source.values()) == {"first_sense"}
    with pytest.raises(MissingClassError) as err:
        H.class_synsets(["dog", "blorfnax", "zzqx_wump"], table={})
    assert err.value.missing == ["blorfnax", "zzqx_wump"]
    assert "blorfnax" in str(err.value) and "zzqx_wump" in str(err.value)


def test_several_wnids_take_the_majority():
    synsets, _ = H.class_synsets(["door"], wnids={"door": ["n03222176"] * 3 + ["n03222318"]})
    assert W.wnid_of(synsets[0]) == "n03222176"


def test_unknown_measure_rejected():
    with pytest.raises(ValueError, match="measure"):
        H.hierarchy_embeddings([WN.synset("dog.n.01")], [WN.synset("dog.n.01")], "lch")


def test_embeddings_are_float32_matrix():
    s = [WN.synset("dog.n.01")]
    e = H.hierarchy_embeddings(s, H.hierarchy_nodes(s), "path")
    assert e.dtype == np.float32 and e.shape == (1, 15)


def test_missing_wordnet_tries_nltk_download_only_when_allowed(monkeypatch):
    """No nltk corpus and no database folder: nltk's downloader is the last resort, and SBIR_TF_NO_DOWNLOAD
    forbids it; either way a failure is a clear WordNetUnavailable."""
    import nltk

    from sbir_tf.semantics import wordnet as W

    calls = []
    monkeypatch.setattr(W, "_nltk_wordnet", lambda: None)
    monkeypatch.setattr(W, "wordnet_database_dir", lambda: None)
    monkeypatch.delenv("SBIR_TF_WORDNET_DIR", raising=False)
    monkeypatch.setattr(nltk, "download", lambda name, **kw: calls.append(name) or False)
    try:
        W.get_wordnet.cache_clear()
        monkeypatch.setenv("SBIR_TF_NO_DOWNLOAD", "1")
        with pytest.raises(W.WordNetUnavailable, match="wordnet-base"):
            W.get_wordnet()
        assert calls == []
        W.get_wordnet.cache_clear()
        monkeypatch.delenv("SBIR_TF_NO_DOWNLOAD")
        with pytest.raises(W.WordNetUnavailable):
            W.get_wordnet()
        assert calls == ["wordnet"]
    finally:
        W.get_wordnet.cache_clear()
