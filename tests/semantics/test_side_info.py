"""End-to-end class semantics (text + hierarchy + auto-encoder), text-model resolution and substitution, the CLI,
sketchy_mini's photo-id hierarchy. Runs with or without an installed WordNet (shipped facts)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sbir_tf.semantics import hierarchy as H
from sbir_tf.semantics import side_info as S
from sbir_tf.semantics import taxonomy as T
from sbir_tf.semantics import word_vectors as wv
from sbir_tf.semantics import wordnet as W
from sbir_tf.semantics.side_info import class_semantics, l2_normalize_rows, side_information

try:
    wv.glove_offline_dir()
except FileNotFoundError as exc:  # pragma: no cover
    pytest.skip(str(exc), allow_module_level=True)

CLASSES = ["airplane", "alarm_clock", "hot-air_balloon", "car_(sedan)", "dog", "cat", "jack_o_lantern",
           "teddy_bear", "t-shirt", "giraffe"]
SEEN = CLASSES[:7]
STEPS = 120


def test_class_semantics_end_to_end_deterministic():
    m1, info = class_semantics(CLASSES, text="glove", hierarchy="path", seen=SEEN, ae_steps=STEPS)
    m2, _ = class_semantics(CLASSES, text="glove", hierarchy="path", seen=SEEN, ae_steps=STEPS)
    assert m1.shape == (10, 64) and m1.dtype == np.float32 and np.all(np.isfinite(m1))
    np.testing.assert_array_equal(m1, m2)
    synsets, _ = H.class_synsets(SEEN)
    assert info["hierarchy_nodes"] == len(H.hierarchy_nodes(synsets))
    assert info["text_dim"] == 50 and info["input_dim"] == 50 + info["hierarchy_nodes"]
    assert info["synsets"]["jack_o_lantern"] == "jack-o'-lantern.n.02"
    assert len({tuple(r) for r in np.round(m1, 5)}) == 10   # classes stay distinct


@pytest.mark.parametrize("text, hierarchy", [(None, "jcn"), ("glove", None)])
def test_single_kind_of_side_information(text, hierarchy):
    side = side_information(CLASSES[:5], text=text, hierarchy=hierarchy, dim=16, ae_steps=30)
    assert side.semantic.shape == (5, 16)
    assert (side.text is None) == (text is None) and (side.hierarchy is None) == (hierarchy is None)
    if hierarchy == "jcn":
        assert side.hierarchy.max() == 1.0 and side.hierarchy.min() > 0 and "ic_source" in side.info


def test_bad_choices_rejected():
    with pytest.raises(ValueError, match="at least one"):
        class_semantics(CLASSES, text=None, hierarchy=None)
    with pytest.raises(ValueError, match="hierarchy measure"):
        class_semantics(CLASSES, hierarchy="lch")
    with pytest.raises(ValueError, match="seen classes not among"):
        class_semantics(CLASSES, seen=["dog", "unicorn_x"])


def test_l2_normalize_rows():
    x = l2_normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]])


def test_cli_with_class_list(tmp_path):
    from sbir_tf.semantics.cli import main

    out = tmp_path / "sem.npz"
    assert main(["--classes", "dog,cat,airplane,giraffe", "--seen", "dog,cat,airplane", "--text", "glove",
                 "--hierarchy", "path", "--dim", "8", "--ae-steps", "20", "--out", str(out)]) == 0
    data = np.load(out)
    assert list(data["classes"]) == ["dog", "cat", "airplane", "giraffe"]
    assert list(data["seen"]) == [True, True, True, False]
    assert data["text"].shape == (4, 50) and data["semantic"].shape == (4, 8)
    assert data["hierarchy"].shape == (4, len(data["nodes"]))
    info = json.loads(str(data["info_json"]))
    assert info["hierarchy_nodes"] == len(data["nodes"]) and info["text"] == "glove"
    # the vectors the zero-shot jobs match against: centred on the three seen classes, unit norm
    from sbir_tf.semantics.side_info import normalize_semantics

    assert info["normalize"] == "center_l2"
    np.testing.assert_allclose(data["semantic_normalized"], normalize_semantics(data["semantic"], [0, 1, 2],
                                                                                "center_l2"), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(data["semantic_normalized"], axis=1), 1.0, atol=1e-5)


def test_cli_reports_missing_classes(tmp_path, capsys):
    from sbir_tf.semantics.cli import main

    assert main(["--classes", "dog,blorfnax,zzqx", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "blorfnax" in err and "zzqx" in err and "'dog'" not in err
    assert not (tmp_path / "x.npz").exists()


def test_sketchy_mini_photo_id_hierarchy(sketchy_mini_root):
    """The photo-id mapping on sketchy_mini's SEM-PCYC seen classes: 316 nodes (the name mapping: 278, test_taxonomy;
    paper, full Sketchy: 354). The photo ids name narrower concepts for 39 of the 125 classes."""
    from sbir_tf.semantics.cli import _seen_classes, _sketchy_classes

    try:
        tax = T.get_taxonomy(source="wordnet")     # the photo ids reach beyond the shipped facts
    except W.WordNetUnavailable as exc:
        pytest.skip(str(exc))
    classes, wnids = _sketchy_classes(sketchy_mini_root)
    seen = _seen_classes(classes, "sketchy", "sempcyc25")
    assert len(classes) == 125 and len(seen) == 100
    by_id, source = H.class_synsets(classes, mapping="photo_wnid", wnids=wnids, taxonomy=tax)
    assert set(source.values()) == {"wnid"}
    index = {c: i for i, c in enumerate(classes)}
    assert len(H.hierarchy_nodes([by_id[index[c]] for c in seen], tax)) == 316
    by_name, _ = H.class_synsets(classes, taxonomy=tax)
    differ = {c: a for c, a, b in zip(classes, by_id, by_name) if a != b}
    assert len(differ) == 39
    assert differ["chair"] == "armchair.n.01" and differ["hedgehog"] == "echidna.n.02"
    # the default ignores the ids
    assert H.class_synsets(classes, wnids=wnids, taxonomy=tax)[0] == by_name


def test_word2vec_without_vectors_is_substituted_and_says_so(monkeypatch):
    monkeypatch.setattr(wv, "local_word2vec_path", lambda: None)
    vectors, meta = S.resolve_text_vectors("word2vec", ["dog", "cat"])
    assert meta["text_requested"] == "word2vec" and meta["text_substituted"] is True
    assert meta["text_used"] == "glove-6b-50d" and "not available offline" in meta["text_note"]
    with pytest.raises(FileNotFoundError, match="--text_vectors"):
        S.resolve_text_vectors("word2vec", ["dog"], fallback="error")
    monkeypatch.setenv("SBIR_TF_NO_DOWNLOAD", "1")
    with pytest.raises(FileNotFoundError, match="SBIR_TF_NO_DOWNLOAD"):
        S.resolve_text_vectors("word2vec", ["dog"], fallback="download")
    with pytest.raises(ValueError, match="text fallback"):
        S.resolve_text_vectors("word2vec", ["dog"], fallback="fasttext")


def test_user_vectors_file_is_used_as_given(tmp_path):
    from gensim.models import KeyedVectors

    words = ["dog", "cat", "airplane", "giraffe"]
    vecs = np.eye(4, 300, dtype=np.float32) + 0.5
    kv = KeyedVectors(vector_size=300)
    kv.add_vectors(words, vecs)
    path = tmp_path / "w2v.bin"
    kv.save_word2vec_format(str(path), binary=True)
    side = side_information(words, text="word2vec", text_path=path, hierarchy="path", seen=words[:3], dim=8,
                            ae_steps=10)
    np.testing.assert_array_equal(side.text, vecs)
    src = side.info["sources"]
    assert src["text_requested"] == "word2vec" and src["text_used"] == "word2vec:w2v.bin"
    assert src["text_substituted"] is False and "word2vec_binary" in src["text_origin"]
    assert src["synset_mapping"] == "name" and src["wordnet_kind"] in ("wordnet", "shipped")
    assert "text word2vec = word2vec:w2v.bin" in S.describe_sources(side.info)


def test_hidden_wordnet_uses_the_shipped_facts_and_names_outside_classes(monkeypatch):
    monkeypatch.setenv(W.HIDE_WORDNET_ENV, "1")
    side = side_information(CLASSES[:5], text=None, hierarchy="jcn", seen=CLASSES[:3], dim=4, ae_steps=5)
    assert side.info["wordnet_kind"] == "shipped" and side.info["ic_source"] == "semcor_cntlist"
    assert "shipped WordNet 3.0 facts" in side.info["wordnet_source"]
    with pytest.raises(T.MissingWordNetFacts, match="unicorn_x.*apt-get install wordnet-base"):
        side_information(["dog", "cat", "unicorn_x"], text=None, hierarchy="path", dim=4, ae_steps=5)


def test_cli_with_wordnet_hidden_reports_outside_classes(tmp_path, capsys, monkeypatch):
    from sbir_tf.semantics.cli import main

    monkeypatch.setenv(W.HIDE_WORDNET_ENV, "1")
    assert main(["--classes", "dog,cat,unicorn_x", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "unicorn_x" in err and "python -m nltk.downloader wordnet wordnet_ic" in err
    assert not (tmp_path / "x.npz").exists()
