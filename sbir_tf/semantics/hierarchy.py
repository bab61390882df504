"""Class hierarchy embeddings from WordNet (WAD-CMSN, Xu, Hu, Cai, Sec. 3.1, Table 3).

1. Every class is mapped to one WordNet noun synset (:func:`class_synsets`).
2. The hierarchy's nodes are the union of the hypernym paths (up to ``entity.n.01``, the classes' own synsets
   included) of the *seen* classes (:func:`hierarchy_nodes`); the paper reports 354 nodes for Sketchy and 664 for
   TU-Berlin.
3. A class's hierarchy embedding is its similarity to every node (:func:`hierarchy_embeddings`), for seen and
   unseen classes alike: WordNet path similarity ``1 / (1 + shortest path length)``, or Jiang-Conrath similarity
   mapped to ``[0, 1]`` as ``1 / (1 + JCN distance)`` (see :func:`sbir_tf.semantics.wordnet.jcn_unit_similarity`).

Class -> synset, in order of preference:

- a WordNet id given for the class (``wnids``; Sketchy photo ids start with ImageNet WordNet ids, ``n02691156`` ->
  ``airplane.n.01``). A class given several ids (some Sketchy classes mix sub-categories, e.g. ``tree``; pass one id
  per photo) maps to its most frequent id;
- the shipped tables ``resources/tuberlin_synsets.tsv`` (all 250 TU-Berlin classes) and
  ``resources/sketchy_synsets.tsv`` (all 125 Sketchy classes): senses checked by hand for what the sketches show
  (``computer-mouse`` -> ``mouse.n.04``, ``table`` -> ``table.n.02`` furniture, ``seal`` -> ``seal.n.09`` the
  animal); the first noun sense unless a note in the file says otherwise;
- the first noun sense of the name (spaces/hyphens/underscores tried as ``_`` and ``-``; the part in parentheses,
  then the part before it, tried next: ``car_(sedan)`` -> ``car``).

Classes none of this resolves raise :class:`~sbir_tf.semantics.word_vectors.MissingClassError` listing all of them.
"""
from __future__ import annotations

import itertools
from collections import Counter
import re
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from sbir_tf.data.records import canonical_class_name
from sbir_tf.semantics import wordnet as wnlib
from sbir_tf.semantics.word_vectors import MissingClassError

RESOURCES = Path(__file__).resolve().parent / "resources"
TUBERLIN_TABLE = RESOURCES / "tuberlin_synsets.tsv"
SKETCHY_TABLE = RESOURCES / "sketchy_synsets.tsv"
MEASURES = ("path", "jcn")


def load_synset_table(path: str | Path = TUBERLIN_TABLE) -> dict[str, str]:
    """``{canonical class name: synset name}`` from a ``class<TAB>synset[<TAB>note]`` file (``#`` comments)."""
    table = {}
    for line in Path(path).read_text(encoding="utf8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise ValueError(f"{path}: expected 'class<TAB>synset', got {line!r}")
        table[canonical_class_name(fields[0])] = fields[1].strip()
    return table


def _name_forms(name: str) -> list[str]:
    """Lemma spellings to try for a class name (rule 3 of the module doc)."""
    outer = re.sub(r"\s*\(.*?\)\s*", " ", name).strip()
    inner = re.findall(r"\((.*?)\)", name)
    forms = []
    for part in [name, *inner, outer]:
        tokens = [t for t in re.split(r"[\s_\-()]+", part.strip().lower()) if t]
        if not tokens:
            continue
        for seps in itertools.product(("_", "-"), repeat=len(tokens) - 1):
            forms.append(tokens[0] + "".join(s + t for s, t in zip(seps, tokens[1:])))
        if len(tokens) > 1:
            forms.append("".join(tokens))
    return list(dict.fromkeys(forms))


def first_noun_synset(name: str):
    """First noun synset of a class name by :func:`_name_forms`, or ``None``."""
    wn = wnlib.get_wordnet()
    for form in _name_forms(name):
        found = wn.synsets(form, pos="n")
        if found:
            return found[0]
    return None


def _synset_of_wnids(wnids: str | Sequence[str]):
    """One id -> its synset; a list of ids (e.g. one per photo) -> the synset of the most frequent id (ties: the
    smallest id). A majority rather than a common hypernym, because a single stray photo id would otherwise lift
    a class to a generic ancestor (``door`` -> ``structure.n.01``)."""
    ids = [wnids] if isinstance(wnids, str) else list(wnids)
    if not ids:
        raise ValueError("empty WordNet id list")
    counts = Counter(ids)
    best = min(counts, key=lambda w: (-counts[w], w))
    return wnlib.synset_from_wnid(best)


def default_synset_table(dataset: str = "sketchy") -> dict[str, str]:
    """The shipped Sketchy and TU-Berlin tables merged, ``dataset``'s own entries taking precedence."""
    first, second = (TUBERLIN_TABLE, SKETCHY_TABLE) if dataset.startswith("tuberlin") else (SKETCHY_TABLE,
                                                                                             TUBERLIN_TABLE)
    return {**load_synset_table(second), **load_synset_table(first)}


def class_synsets(class_names: Sequence[str], *, wnids: Mapping[str, str | Sequence[str]] | None = None,
                  dataset: str = "sketchy", table: Mapping[str, str] | None = None) -> tuple[list, dict[str, str]]:
    """One synset per class and ``{class: "wnid" | "table" | "first_sense"}`` (see module doc).

    ``wnids`` keys may use any spelling of the class names (compared canonically). ``table`` (``{canonical name:
    synset name}``) replaces the shipped tables (:func:`default_synset_table` of ``dataset``); ``{}`` disables them.
    """
    wn = wnlib.get_wordnet()
    table = default_synset_table(dataset) if table is None else table
    canon_wnids = {canonical_class_name(k): v for k, v in (wnids or {}).items()}
    synsets, source, missing = [], {}, []
    for name in class_names:
        canon = canonical_class_name(name)
        if canon in canon_wnids:
            synsets.append(_synset_of_wnids(canon_wnids[canon]))
            source[name] = "wnid"
        elif canon in table:
            synsets.append(wn.synset(table[canon]))
            source[name] = "table"
        else:
            ss = first_noun_synset(name)
            if ss is None:
                missing.append(name)
                continue
            synsets.append(ss)
            source[name] = "first_sense"
    if missing:
        raise MissingClassError(missing, what="WordNet synset",
                                hint="pass their WordNet ids (wnids=...) or add them to a synset table")
    return synsets, source


def hypernym_closure(synset) -> set:
    """The synset and all its (instance) hypernym ancestors = the nodes of all its hypernym paths."""
    return {s for path in synset.hypernym_paths() for s in path}


def hierarchy_nodes(synsets: Iterable) -> list:
    """Union of the hypernym paths of ``synsets`` (sorted by synset name): the hierarchy's nodes (Sec. 3.1)."""
    nodes = set()
    for ss in synsets:
        nodes |= hypernym_closure(ss)
    return sorted(nodes, key=lambda s: s.name())


class _AncestorCache:
    """Per-synset ``{ancestor: shortest hypernym distance}`` (self at 0), computed once; gives nltk's path
    similarity and Jiang-Conrath values without nltk's per-pair graph walks."""

    def __init__(self):
        self._dist = {}

    def distances(self, ss) -> dict:
        if ss not in self._dist:
            dist = {ss: 0}
            frontier, depth = [ss], 0
            while frontier:
                depth += 1
                nxt = []
                for s in frontier:
                    for h in s.hypernyms() + s.instance_hypernyms():
                        if h not in dist:
                            dist[h] = depth
                            nxt.append(h)
                frontier = nxt
            self._dist[ss] = dist
        return self._dist[ss]

    def path_similarity(self, a, b) -> float:
        """``1 / (1 + shortest path length through a common ancestor)`` (nltk ``path_similarity``), 0 if none."""
        da, db = self.distances(a), self.distances(b)
        common = da.keys() & db.keys()
        if not common:
            return 0.0
        return 1.0 / (1.0 + min(da[c] + db[c] for c in common))

    def jcn_distance(self, a, b, ic) -> float:
        """``IC(a) + IC(b) - 2 max_{c common ancestor} IC(c)`` (Jiang & Conrath 1997); 0 when ``a == b``."""
        if a == b:
            return 0.0
        common = self.distances(a).keys() & self.distances(b).keys()
        lcs = max((wnlib.information_content(c, ic) for c in common), default=0.0)
        return max(wnlib.information_content(a, ic) + wnlib.information_content(b, ic) - 2.0 * lcs, 0.0)


def hierarchy_embeddings(synsets: Sequence, nodes: Sequence, measure: str = "path", ic: dict | None = None
                         ) -> np.ndarray:
    """``[len(synsets), len(nodes)]`` float32 similarities of each class synset to every hierarchy node.

    ``measure="path"``: WordNet path similarity. ``measure="jcn"``: ``1 / (1 + JCN distance)`` with information
    content ``ic`` (default :func:`sbir_tf.semantics.wordnet.get_information_content`). Both lie in ``[0, 1]`` and
    are 1 exactly on the class's own node.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown hierarchy measure {measure!r} (expected one of {MEASURES})")
    if measure == "jcn" and ic is None:
        ic = wnlib.get_information_content()
    cache = _AncestorCache()
    out = np.zeros((len(synsets), len(nodes)), dtype=np.float32)
    for i, ss in enumerate(synsets):
        for j, node in enumerate(nodes):
            if measure == "path":
                out[i, j] = cache.path_similarity(ss, node)
            else:
                out[i, j] = 1.0 / (1.0 + cache.jcn_distance(ss, node, ic))
    return out
