"""The installed WordNet (skipped without one, or with $SBIR_TF_HIDE_WORDNET set): reader, information content,
nltk's own similarity values, the hide switch."""
from __future__ import annotations

import math

import pytest

from sbir_tf.semantics import wordnet as W

try:
    WN = W.get_wordnet()
except W.WordNetUnavailable as exc:  # pragma: no cover - machines without any WordNet, or hidden
    pytest.skip(str(exc), allow_module_level=True)


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
    assert noun[0] == noun[entity.offset()] > noun[carnivore.offset()]     # every noun descends from entity
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


def test_hide_switch_hides_installed_wordnet(monkeypatch):
    monkeypatch.setenv(W.HIDE_WORDNET_ENV, "1")
    assert W.wordnet_hidden()
    with pytest.raises(W.WordNetUnavailable, match=W.HIDE_WORDNET_ENV):
        W.get_wordnet()
    with pytest.raises(W.WordNetUnavailable, match=W.HIDE_WORDNET_ENV):
        W.get_information_content()
    monkeypatch.setenv(W.HIDE_WORDNET_ENV, "0")
    assert not W.wordnet_hidden() and W.get_wordnet().synset("dog.n.01").name() == "dog.n.01"


def test_information_content_sources():
    assert W.DEFAULT_IC_SOURCE == "semcor_cntlist"
    assert "cntlist.rev" in W.information_content_source()
    assert W.get_information_content() is W.get_information_content("semcor_cntlist")
    with pytest.raises(ValueError, match="information-content source"):
        W.get_information_content("brown")


def test_class_synsets_sources_and_missing_with_wordnet():
    from sbir_tf.semantics import hierarchy as H
    from sbir_tf.semantics import taxonomy as T
    from sbir_tf.semantics.word_vectors import MissingClassError

    tax = T.get_taxonomy(source="wordnet")
    synsets, source = H.class_synsets(["airplane", "Alarm clock", "giraffe"], mapping="photo_wnid",
                                      wnids={"airplane": "n02691156"}, taxonomy=tax)
    assert synsets == ["airplane.n.01", "alarm_clock.n.01", "giraffe.n.01"]
    assert source == {"airplane": "wnid", "Alarm clock": "table", "giraffe": "table"}
    # no tables: first noun sense, hyphen/underscore spellings and parentheses handled
    synsets, source = H.class_synsets(["hot_air_balloon", "car_(sedan)", "dog"], table={}, taxonomy=tax)
    assert synsets == ["hot-air_balloon.n.01", "sedan.n.01", "dog.n.01"]
    assert set(source.values()) == {"first_sense"}
    with pytest.raises(MissingClassError) as err:
        H.class_synsets(["dog", "blorfnax", "zzqx_wump"], table={}, taxonomy=tax)
    assert err.value.missing == ["blorfnax", "zzqx_wump"]
    with pytest.raises(ValueError, match="no noun synset"):
        H.class_synsets(["dog"], table={"dog": "dog.n.99"}, taxonomy=tax)
