"""The WordNet noun facts behind the hierarchy embeddings, from an installed WordNet or from the shipped file.

WAD-CMSN (Xu, Hu, Cai, Sec. 3.1) measures class similarity in WordNet "by path similarity (computing the number of
hops) and Jiang-Conrath [16]". Both need only a few facts about each synset involved: its hypernyms (and instance
hypernyms), and, for Jiang-Conrath, its information content. A :class:`Taxonomy` serves exactly these facts:

- :class:`WordNetTaxonomy` reads them from an installed WordNet 3.0 (:func:`sbir_tf.semantics.wordnet.get_wordnet`)
  and its information content (:func:`sbir_tf.semantics.wordnet.get_information_content`);
- :class:`ShippedTaxonomy` reads them from ``resources/wordnet_facts.json.gz``, generated from WordNet 3.0 by
  ``python -m sbir_tf.semantics.wordnet_pack``: the synsets of the shipped class tables (Sketchy, TU-Berlin, the
  synthetic set), all their ancestors, and the SemCor information content of each.

:func:`get_taxonomy` returns the installed one when WordNet loads (and ``$SBIR_TF_HIDE_WORDNET`` is unset), else
the shipped one. The similarity matrices (:func:`path_similarity_matrix`, :func:`jcn_distance_matrix`) are computed
the same way from either source, vectorised over all pairs, and equal nltk's per-pair values:

- path similarity ``1 / (1 + d)``, ``d`` = the fewest hypernym / instance-hypernym edges from the two synsets up to
  a common ancestor (nltk ``Synset.path_similarity``), 0 without a common ancestor;
- Jiang-Conrath distance ``IC(a) + IC(b) - 2 IC(lcs)`` (Jiang & Conrath 1997), ``IC(s) = -log(count(s) /
  count(root))``, ``lcs`` = the common ancestor of highest IC (nltk ``_lcs_ic``); 0 for ``a == b``.
"""
from __future__ import annotations

import functools
import gzip
import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sbir_tf.semantics import wordnet as wnlib

RESOURCES = Path(__file__).resolve().parent / "resources"
#: the shipped WordNet facts (package data; regenerate with ``python -m sbir_tf.semantics.wordnet_pack``)
SHIPPED_FACTS = RESOURCES / "wordnet_facts.json.gz"
FACTS_FORMAT = "sbir_tf.wordnet_facts"
FACTS_FORMAT_VERSION = 1
#: elements of the [rows, cols, universe] blocks the vectorised similarities work on (bounds memory, ~32 MB)
_BLOCK_ELEMENTS = 4_000_000


def read_json_gz(path: str | Path) -> dict:
    """The JSON object of a gzip-compressed UTF-8 file (the shipped resource files)."""
    with gzip.open(path, "rt", encoding="utf8") as fh:
        return json.load(fh)


class MissingWordNetFacts(wnlib.WordNetUnavailable):
    """A class or synset outside the shipped WordNet facts, with no installed WordNet to look it up in."""


def missing_message(what: str, items: Sequence[str] = ()) -> str:
    """``what`` (e.g. "class 'unicorn' is") not in the shipped facts, the items named, and how to install WordNet."""
    reason = (f"installed WordNet is hidden (${wnlib.HIDE_WORDNET_ENV}=1)" if wnlib.wordnet_hidden()
              else "no WordNet is installed")
    listed = f": {', '.join(items)}" if items else ""
    return (f"{what} not in the shipped WordNet facts ({SHIPPED_FACTS.name}: the Sketchy, TU-Berlin and synthetic "
            f"class tables and their hypernyms){listed}; {reason}. To use them, {wnlib.INSTALL_HINT}.")


class Taxonomy:
    """Noun synsets by name (``"dog.n.01"``): parents, WordNet offset, lemmas, information-content count.

    Subclasses provide :meth:`has`, :meth:`_parents`, :meth:`offset`, :meth:`synset_of_offset`, :meth:`lemmas`,
    :meth:`count`, :meth:`first_noun_sense` and the attributes ``total`` (root count), ``kind``
    (``"wordnet"``/``"shipped"``), ``description`` and ``ic_source``.
    """

    kind = ""
    description = ""
    ic_source = ""
    total = 1.0

    def __init__(self):
        self._up: dict[str, dict[str, int]] = {}
        self._ic: dict[str, float] = {}

    # ------------------------------------------------------------------ facts (subclasses)
    def has(self, name: str) -> bool:
        raise NotImplementedError

    def _parents(self, name: str) -> tuple[str, ...]:
        raise NotImplementedError

    def offset(self, name: str) -> int:
        raise NotImplementedError

    def synset_of_offset(self, offset: int) -> str:
        raise NotImplementedError

    def lemmas(self, name: str) -> list[str]:
        raise NotImplementedError

    def count(self, name: str) -> float:
        raise NotImplementedError

    def first_noun_sense(self, form: str) -> str | None:
        """First noun synset of a lemma spelling (``"hot-air_balloon"``), or ``None``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ derived
    def require(self, name: str, what: str | None = None) -> str:
        """``name`` if known, else :class:`MissingWordNetFacts` (``what``, e.g. "class 'unicorn' is", names the
        asker)."""
        if not self.has(name):
            raise MissingWordNetFacts(missing_message(what or f"synset {name!r} is"))
        return name

    def parents(self, name: str) -> tuple[str, ...]:
        """Hypernyms and instance hypernyms of ``name``."""
        return self._parents(self.require(name))

    def ancestors(self, name: str) -> dict[str, int]:
        """``{ancestor: fewest hypernym edges up to it}`` including ``name`` itself at 0 (breadth first, cached)."""
        if name not in self._up:
            dist = {self.require(name): 0}
            frontier, depth = [name], 0
            while frontier:
                depth += 1
                nxt = []
                for s in frontier:
                    for h in self._parents(s):
                        if h not in dist:
                            dist[h] = depth
                            nxt.append(h)
                frontier = nxt
            self._up[name] = dist
        return self._up[name]

    def closure(self, names: Iterable[str]) -> set[str]:
        """The synsets and all their ancestors (the nodes of all their hypernym paths)."""
        out: set[str] = set()
        for n in names:
            out |= self.ancestors(n).keys()
        return out

    def information_content(self, name: str) -> float:
        """``IC(s) = -log(count(s) / count(root))`` (Resnik 1995; nltk's ``information_content``)."""
        if name not in self._ic:
            c = self.count(self.require(name))
            self._ic[name] = math.inf if c == 0 else -math.log(c / self.total)
        return self._ic[name]


class WordNetTaxonomy(Taxonomy):
    """Facts read from an installed WordNet through nltk."""

    kind = "wordnet"

    def __init__(self, wn=None, ic_source: str = wnlib.DEFAULT_IC_SOURCE, ic: dict | None = None):
        super().__init__()
        self.wn = wn if wn is not None else wnlib.get_wordnet(download=False)
        self.ic_source = wnlib.check_ic_source(ic_source) if ic is None else "given"
        self._ic_counts = ic
        self.description = f"installed WordNet {self.wn.get_version()}: {wnlib.wordnet_reader_source()}"
        self._synsets: dict = {}

    @property
    def ic_counts(self) -> dict:
        if self._ic_counts is None:
            self._ic_counts = wnlib.get_information_content(self.ic_source)
        return self._ic_counts

    @property
    def total(self) -> float:
        return float(self.ic_counts["n"][0])

    def synset(self, name: str):
        if name not in self._synsets:
            from nltk.corpus.reader.wordnet import WordNetError

            try:
                ss = self.wn.synset(name)
            except (WordNetError, ValueError):
                ss = None
            if ss is not None and ss.pos() != "n":
                raise ValueError(f"{name!r} is not a noun synset")
            self._synsets[name] = ss
        return self._synsets[name]

    def has(self, name: str) -> bool:
        return self.synset(name) is not None

    def require(self, name: str, what: str | None = None) -> str:
        """``name`` if known, else ``ValueError`` (``what``, e.g. "synset 'x.n.01' is", names the asker)."""
        if not self.has(name):
            raise ValueError(f"{what or f'synset {name!r} is'} no noun synset of {self.description}")
        return name

    def _parents(self, name: str) -> tuple[str, ...]:
        ss = self.synset(name)
        return tuple(h.name() for h in ss.hypernyms() + ss.instance_hypernyms())

    def offset(self, name: str) -> int:
        return int(self.synset(self.require(name)).offset())

    def synset_of_offset(self, offset: int) -> str:
        from nltk.corpus.reader.wordnet import WordNetError

        try:
            return self.wn.synset_from_pos_and_offset("n", int(offset)).name()
        except (WordNetError, ValueError) as exc:
            raise ValueError(f"no WordNet noun synset at offset {offset:08d}") from exc

    def lemmas(self, name: str) -> list[str]:
        return list(self.synset(self.require(name)).lemma_names())

    def count(self, name: str) -> float:
        return float(self.ic_counts["n"][self.offset(name)])

    def first_noun_sense(self, form: str) -> str | None:
        found = self.wn.synsets(form, pos="n")
        return found[0].name() if found else None

    def noun_senses(self, form: str) -> list[str]:
        """All noun synsets of a lemma spelling, in WordNet's sense order."""
        return [s.name() for s in self.wn.synsets(form, pos="n")]


class ShippedTaxonomy(Taxonomy):
    """Facts read from the shipped file (or another file written by :mod:`sbir_tf.semantics.wordnet_pack`)."""

    kind = "shipped"

    def __init__(self, data: dict, path: str | Path | None = None):
        super().__init__()
        if data.get("format") != FACTS_FORMAT or data.get("format_version") != FACTS_FORMAT_VERSION:
            raise ValueError(f"{path or 'data'} is not a {FACTS_FORMAT} v{FACTS_FORMAT_VERSION} file")
        self.data = data
        self.path = Path(path) if path is not None else None
        self.synsets = data["synsets"]
        self.total = float(data["ic_total"])
        prov = data["provenance"]
        self.ic_source = prov["ic_source"]
        self.description = (f"shipped WordNet {prov['wordnet_version']} facts ({self.path.name if self.path else 'data'}"
                            f", {len(self.synsets)} synsets, generated at commit {prov.get('commit', '?')[:12]})")
        self._by_offset = {int(v["offset"]): k for k, v in self.synsets.items()}

    @classmethod
    def load(cls, path: str | Path = SHIPPED_FACTS) -> "ShippedTaxonomy":
        path = Path(path)
        if not path.is_file():
            raise wnlib.WordNetUnavailable(f"shipped WordNet facts not found at {path}; regenerate them with "
                                           f"python -m sbir_tf.semantics.wordnet_pack, or {wnlib.INSTALL_HINT}")
        return cls(read_json_gz(path), path)

    def has(self, name: str) -> bool:
        return name in self.synsets

    def _parents(self, name: str) -> tuple[str, ...]:
        return tuple(self.synsets[name]["parents"])

    def offset(self, name: str) -> int:
        return int(self.synsets[self.require(name)]["offset"])

    def synset_of_offset(self, offset: int) -> str:
        if int(offset) not in self._by_offset:
            raise MissingWordNetFacts(missing_message(f"WordNet id n{int(offset):08d} is"))
        return self._by_offset[int(offset)]

    def lemmas(self, name: str) -> list[str]:
        return list(self.synsets[self.require(name)]["lemmas"])

    def count(self, name: str) -> float:
        return float(self.synsets[self.require(name)]["count"])

    def first_noun_sense(self, form: str) -> str | None:
        raise MissingWordNetFacts(missing_message(f"the name {form!r} is"))


@functools.lru_cache(maxsize=4)
def _installed(ic_source: str) -> WordNetTaxonomy:
    return WordNetTaxonomy(ic_source=ic_source)


@functools.lru_cache(maxsize=1)
def _shipped() -> ShippedTaxonomy:
    return ShippedTaxonomy.load()


def get_taxonomy(ic_source: str = wnlib.DEFAULT_IC_SOURCE, source: str = "auto") -> Taxonomy:
    """The taxonomy to use: ``source="auto"`` = the installed WordNet when it loads (and is not hidden), else the
    shipped facts; ``"wordnet"`` / ``"shipped"`` force one. The shipped facts carry only the ``semcor_cntlist``
    information content."""
    wnlib.check_ic_source(ic_source)
    if source not in ("auto", "wordnet", "shipped"):
        raise ValueError(f"unknown WordNet source {source!r}; choose auto, wordnet or shipped")
    if source in ("auto", "wordnet"):
        try:
            wnlib.get_wordnet(download=False)     # installed only: no download where the shipped facts serve
            return _installed(ic_source)
        except wnlib.WordNetUnavailable:
            if source == "wordnet":
                raise
    if ic_source != wnlib.DEFAULT_IC_SOURCE:
        raise wnlib.WordNetUnavailable(f"information content {ic_source!r} needs an installed WordNet (the shipped "
                                       f"facts carry {wnlib.DEFAULT_IC_SOURCE!r} only); {wnlib.INSTALL_HINT}")
    return _shipped()


get_taxonomy.cache_clear = lambda: (_installed.cache_clear(), _shipped.cache_clear())


# ---------------------------------------------------------------------------------------------------------------------
# Vectorised similarities
# ---------------------------------------------------------------------------------------------------------------------

def _ancestor_matrices(tax: Taxonomy, rows: Sequence[str], cols: Sequence[str]):
    """Universe of all ancestors, and ``[n, U]`` hop distances (``inf`` = not an ancestor) for rows and cols."""
    universe = sorted(tax.closure(list(rows) + list(cols)))
    index = {u: k for k, u in enumerate(universe)}

    def dist(names):
        out = np.full((len(names), len(universe)), np.inf)
        for i, n in enumerate(names):
            for a, d in tax.ancestors(n).items():
                out[i, index[a]] = d
        return out

    return universe, dist(rows), dist(cols)


def _blocks(n_rows: int, n_cols: int, n_universe: int):
    step = max(1, _BLOCK_ELEMENTS // max(1, n_cols * n_universe))
    for start in range(0, n_rows, step):
        yield slice(start, min(n_rows, start + step))


def path_similarity_matrix(tax: Taxonomy, rows: Sequence[str], cols: Sequence[str]) -> np.ndarray:
    """``[len(rows), len(cols)]`` float64 path similarities ``1 / (1 + d)`` (0 where no common ancestor)."""
    _, dr, dc = _ancestor_matrices(tax, rows, cols)
    out = np.zeros((len(rows), len(cols)))
    for blk in _blocks(len(rows), len(cols), dr.shape[1]):
        d = (dr[blk, None, :] + dc[None, :, :]).min(axis=2)
        with np.errstate(divide="ignore"):
            out[blk] = np.where(np.isfinite(d), 1.0 / (1.0 + d), 0.0)
    return out


def jcn_distance_matrix(tax: Taxonomy, rows: Sequence[str], cols: Sequence[str]) -> np.ndarray:
    """``[len(rows), len(cols)]`` float64 Jiang-Conrath distances ``IC(a) + IC(b) - 2 IC(lcs)`` (0 for ``a == b``,
    clipped at 0 as nltk's per-pair values never go below it)."""
    universe, dr, dc = _ancestor_matrices(tax, rows, cols)
    ic_u = np.array([tax.information_content(u) for u in universe])
    ic_r = np.array([tax.information_content(r) for r in rows])
    ic_c = np.array([tax.information_content(c) for c in cols])
    ar, ac = np.isfinite(dr), np.isfinite(dc)
    lcs = np.zeros((len(rows), len(cols)))
    for blk in _blocks(len(rows), len(cols), len(universe)):
        common = ar[blk, None, :] & ac[None, :, :]
        lcs[blk] = np.where(common, ic_u, -np.inf).max(axis=2, initial=-np.inf)
    lcs = np.where(np.isfinite(lcs), lcs, 0.0)      # no common ancestor: nltk's subsumer IC of 0
    dist = ic_r[:, None] + ic_c[None, :] - 2.0 * lcs
    same = np.asarray(rows)[:, None] == np.asarray(cols)[None, :]
    return np.where(same, 0.0, np.maximum(dist, 0.0))


__all__ = ["Taxonomy", "WordNetTaxonomy", "ShippedTaxonomy", "MissingWordNetFacts", "get_taxonomy",
           "path_similarity_matrix", "jcn_distance_matrix", "read_json_gz", "SHIPPED_FACTS", "FACTS_FORMAT",
           "FACTS_FORMAT_VERSION"]
