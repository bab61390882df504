"""Word vectors: the offline GloVe package, file loaders, the multi-word class-name rule, missing classes."""
from __future__ import annotations

import numpy as np
import pytest

from sbir_tf.paths import PACKAGE_ROOT
from sbir_tf.semantics import word_vectors as wv

SPLIT_LISTS = PACKAGE_ROOT / "data" / "split_lists"


def _toy_vectors():
    words = ["alarm", "clock", "hot_air_balloon", "t-shirt", "car", "sedan", "pipe", "smoking", "Paris",
             "table", "lamp"]
    matrix = np.arange(len(words) * 4, dtype=np.float32).reshape(len(words), 4)
    return wv.ArrayWordVectors(words, matrix, name="toy"), dict(zip(words, matrix))


@pytest.fixture(scope="module")
def glove():
    try:
        return wv.load_glove_offline()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_offline_glove_shape_and_neighbours(glove):
    assert glove.dim == 50 and len(glove) == 400_000
    king = glove["king"]
    assert king.shape == (50,) and king.dtype == np.float32
    assert wv.cosine(king, glove["queen"]) > wv.cosine(king, glove["banana"]) + 0.3
    assert wv.cosine(glove["dog"], glove["cat"]) > wv.cosine(glove["dog"], glove["airplane"])


def test_offline_glove_covers_all_benchmark_classes(glove):
    for name in ("sketchy_classes125.txt", "tuberlin_classes250.txt"):
        classes = [c.strip() for c in (SPLIT_LISTS / name).read_text().splitlines() if c.strip()]
        emb, how = wv.class_text_embeddings(glove, classes)
        assert emb.shape == (len(classes), 50) and np.all(np.isfinite(emb))
    assert how["t-shirt"] == "t-shirt" and how["alarm clock"] == "mean(alarm,clock)"


def test_name_tokens():
    assert wv.name_tokens("car_(sedan)") == ["car", "sedan"]
    assert wv.name_tokens("hot-air_balloon") == ["hot", "air", "balloon"]
    assert wv.name_tokens("alarm clock") == ["alarm", "clock"]
    assert wv.name_tokens("tablelamp") == ["table", "lamp"]     # alias


def test_multi_word_rule():
    vectors, raw = _toy_vectors()
    vec, how = wv.class_vector(vectors, "hot-air_balloon")          # joined form wins
    assert how == "hot_air_balloon" and np.array_equal(vec, raw["hot_air_balloon"])
    vec, how = wv.class_vector(vectors, "t_shirt")                  # hyphen-joined form
    assert how == "t-shirt"
    vec, how = wv.class_vector(vectors, "alarm clock")              # mean of tokens
    assert how == "mean(alarm,clock)"
    np.testing.assert_allclose(vec, (raw["alarm"] + raw["clock"]) / 2)
    vec, how = wv.class_vector(vectors, "car_(sedan)")              # parentheses dropped, content kept
    np.testing.assert_allclose(vec, (raw["car"] + raw["sedan"]) / 2)
    vec, how = wv.class_vector(vectors, "pipe (for smoking)")       # function words left out of the mean
    assert how == "mean(pipe,smoking)"
    vec, how = wv.class_vector(vectors, "paris")                    # case variants
    assert how == "Paris"
    vec, how = wv.class_vector(vectors, "alarm zebra")              # one token missing -> no vector
    assert vec is None and "zebra" in how


def test_missing_classes_listed_together():
    vectors, _ = _toy_vectors()
    with pytest.raises(wv.MissingClassError) as err:
        wv.class_text_embeddings(vectors, ["alarm clock", "zzqx", "car", "foo bar"])
    assert err.value.missing == ["zzqx", "foo bar"]
    assert isinstance(err.value, ValueError)
    assert "zzqx" in str(err.value) and "foo bar" in str(err.value) and "2 class" in str(err.value)


def test_glove_and_word2vec_files(tmp_path):
    from gensim.models import KeyedVectors

    words = ["dog", "cat", "hot_air_balloon"]
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(3, 6)).astype(np.float32)
    glove_file = tmp_path / "glove.txt"
    glove_file.write_text("".join(f"{w} {' '.join(f'{x:.6f}' for x in v)}\n" for w, v in zip(words, vecs)))
    g = wv.load_text_vectors("glove", glove_file)
    assert g.dim == 6 and "cat" in g
    np.testing.assert_allclose(g["cat"], vecs[1], atol=1e-5)

    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(words, vecs)
    binary = tmp_path / "w2v.bin"
    kv.save_word2vec_format(str(binary), binary=True)
    w = wv.load_word2vec(binary)
    assert w.dim == 6
    np.testing.assert_allclose(wv.class_vector(w, "hot-air balloon")[0], vecs[2], atol=1e-6)
    kv.save(str(tmp_path / "w2v.kv"))
    assert wv.load_word2vec(tmp_path / "w2v.kv").dim == 6

    with pytest.raises(FileNotFoundError):
        wv.load_text_vectors("word2vec", tmp_path / "absent.bin")
    with pytest.raises(ValueError, match="unknown text embedding"):
        wv.load_text_vectors("fasttext")
