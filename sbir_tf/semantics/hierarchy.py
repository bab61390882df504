"""Class hierarchy embeddings from WordNet (WAD-CMSN, Xu, Hu, Cai, Sec. 3.1, Table 3).

1. Every class is mapped to one WordNet noun synset (:func:`class_synsets`).
2. The hierarchy's nodes are the union of the hypernym paths (up to ``entity.n.01``, the classes' own synsets
   included, instance hypernyms followed as nltk's similarity measures follow them) of the *seen* classes
   (:func:`hierarchy_nodes`). The paper (Sec. 4.2): "Under the zero-shot scenario, the seen categories are utilized
   to construct the hierarchy embedding. Hence, the hierarchical embedding for Sketchy (Extended) (TU-Berlin
   (Extended) resp.) dataset contains 354 (664 resp.) nodes". With the reviewed tables here: 278 nodes for the 100
   seen classes of Sketchy ``sempcyc25`` and 604 for the 220 seen classes of TU-Berlin ``sake30`` (580 for
   ``sempcyc30``).
3. A class's hierarchy embedding is its similarity to every node (:func:`hierarchy_embeddings`), for seen and
   unseen classes alike: WordNet path similarity ``1 / (1 + shortest path length)``, or Jiang-Conrath similarity
   turned into a bounded value by one of :data:`JCN_FORMS`.

Facts come from a :class:`~sbir_tf.semantics.taxonomy.Taxonomy` (:func:`~sbir_tf.semantics.taxonomy.get_taxonomy`):
the installed WordNet, or the WordNet facts shipped with the package for the Sketchy, TU-Berlin and synthetic class
tables.

Class -> synset, :data:`SYNSET_MAPPINGS`:

- ``"name"`` (default): the synset *of the class name*, from the reviewed tables in ``resources/``
  (``sketchy_synsets.tsv``, ``tuberlin_synsets.tsv``, ``synthetic_synsets.tsv``; review rules in their headers and
  :data:`REVIEW_RULES`): ``chair`` -> ``chair.n.01``, ``seal`` -> ``seal.n.09`` (the animal), ``computer-mouse`` ->
  ``mouse.n.04``. A class in no table falls back to the first noun sense of its name (spaces/hyphens/underscores
  tried as ``_`` and ``-``; the part in parentheses, then the part before it, tried next), which needs an installed
  WordNet.
- ``"photo_wnid"``: the synset of the ImageNet WordNet id its photos carry (Sketchy photo ids ``n02691156_...``;
  several ids per class: the most frequent), the table where a class has no id. The photo ids often name a narrower
  concept than the class (Sketchy ``chair`` photos are ``armchair.n.01``, ``violin`` mostly ``bass_fiddle.n.01``,
  ``spoon`` ``ladle.n.01``, ``dog`` ``working_dog.n.01``), so this is an option, not the default.

Classes none of this resolves raise :class:`~sbir_tf.semantics.word_vectors.MissingClassError` listing all of them;
with only the shipped facts at hand, classes outside them raise
:class:`~sbir_tf.semantics.taxonomy.MissingWordNetFacts`, naming them and the two ways to install WordNet.
"""
from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from sbir_tf.data.records import canonical_class_name
from sbir_tf.semantics import taxonomy as tx
from sbir_tf.semantics import wordnet as wnlib
from sbir_tf.semantics.word_vectors import MissingClassError

RESOURCES = Path(__file__).resolve().parent / "resources"
TUBERLIN_TABLE = RESOURCES / "tuberlin_synsets.tsv"
SKETCHY_TABLE = RESOURCES / "sketchy_synsets.tsv"
SYNTHETIC_TABLE = RESOURCES / "synthetic_synsets.tsv"
#: the reviewed class -> synset tables, one per dataset (all shipped with WordNet facts)
TABLES = {"sketchy": SKETCHY_TABLE, "tuberlin": TUBERLIN_TABLE, "synthetic": SYNTHETIC_TABLE}
MEASURES = ("path", "jcn")
SYNSET_MAPPINGS = ("name", "photo_wnid")
DEFAULT_SYNSET_MAPPING = "name"
#: Jiang-Conrath distance d -> embedding value. ``"inverse_plus_one"`` (default): ``1 / (1 + d)``, in (0, 1], exactly
#: 1 on the class's own node. ``"clipped_inverse"``: ``min(1 / d, 1)`` with nltk's conventions (1 for d = 0, 0 when
#: either synset has IC 0, i.e. the root), the form of the SEM-PCYC hierarchy code WAD-CMSN builds on.
JCN_FORMS = ("inverse_plus_one", "clipped_inverse")
DEFAULT_JCN_FORM = JCN_FORMS[0]

#: How the shipped tables are reviewed (each table's header repeats them).
REVIEW_RULES = (
    "1. The synset is a noun sense of the class name itself: the name, lower-case, with spaces and hyphens written "
    "as '_' or '-', plurals as WordNet's singular lemma, a parenthesised qualifier read as a qualifier "
    "('bear (animal)' -> bear).",
    "2. The first noun sense unless it is not the object the sketches and photos show; then the sense that is, and "
    "the note says which and why.",
    "3. Names with several drawable senses (bat, mouse, seal, ray, fan, saw, ...) carry a note naming the sense "
    "kept, even where it is the first one.",
    "4. A name that is no WordNet lemma maps to the synset naming the whole drawn object; the note starts with "
    "'not a WordNet lemma'.",
    "5. A class name in several datasets maps to the same synset in each.",
)


@dataclass(frozen=True)
class SynsetRow:
    """One row of a shipped table: class (as spelled in the dataset), synset name, review note ('' if none)."""

    class_name: str
    synset: str
    note: str = ""


def load_synset_rows(path: str | Path) -> list[SynsetRow]:
    """The rows of a ``class<TAB>synset[<TAB>note]`` file (``#`` comment lines skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or len(fields) > 3 or not fields[1].strip():
            raise ValueError(f"{path}: expected 'class<TAB>synset[<TAB>note]', got {line!r}")
        rows.append(SynsetRow(fields[0].strip(), fields[1].strip(), fields[2].strip() if len(fields) == 3 else ""))
    return rows


def load_synset_table(path: str | Path = TUBERLIN_TABLE) -> dict[str, str]:
    """``{canonical class name: synset name}`` of a table file (see :func:`load_synset_rows`)."""
    return {canonical_class_name(r.class_name): r.synset for r in load_synset_rows(path)}


def default_synset_table(dataset: str = "sketchy") -> dict[str, str]:
    """All shipped tables merged, ``dataset``'s own entries taking precedence (``tuberlin*`` -> TU-Berlin)."""
    own = next((k for k in TABLES if dataset.startswith(k)), "sketchy")
    merged: dict[str, str] = {}
    for key in [k for k in TABLES if k != own] + [own]:
        merged.update(load_synset_table(TABLES[key]))
    return merged


def name_forms(name: str) -> list[str]:
    """Lemma spellings to try for a class name, in order (see the module doc)."""
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


def first_noun_synset(name: str, taxonomy: tx.Taxonomy | None = None) -> str | None:
    """Name of the first noun synset of a class name by :func:`name_forms`, or ``None`` (installed WordNet only)."""
    taxonomy = taxonomy or tx.get_taxonomy()
    for form in name_forms(name):
        found = taxonomy.first_noun_sense(form)
        if found:
            return found
    return None


def _wnid_offset(wnid: str) -> int:
    """The offset of a noun WordNet id (:func:`~sbir_tf.semantics.wordnet.parse_wnid`; verbs rejected)."""
    pos, offset = wnlib.parse_wnid(wnid)
    if pos != "n":
        raise ValueError(f"not a WordNet noun id (expected e.g. 'n02691156'): {wnid.strip()!r}")
    return offset


def majority_wnid(wnids: str | Sequence[str]) -> str:
    """One id -> itself; a list of ids (e.g. one per photo) -> the most frequent (ties: the smallest). A majority
    rather than a common hypernym, because a single stray photo id would otherwise lift a class to a generic
    ancestor (``door`` -> ``structure.n.01``)."""
    ids = [wnids] if isinstance(wnids, str) else list(wnids)
    if not ids:
        raise ValueError("empty WordNet id list")
    counts = Counter(ids)
    return min(counts, key=lambda w: (-counts[w], w))


def check_mapping(mapping: str) -> str:
    if mapping not in SYNSET_MAPPINGS:
        raise ValueError(f"unknown class -> synset mapping {mapping!r}; choose one of {SYNSET_MAPPINGS}")
    return mapping


def class_synsets(class_names: Sequence[str], *, mapping: str = DEFAULT_SYNSET_MAPPING,
                  wnids: Mapping[str, str | Sequence[str]] | None = None, dataset: str = "sketchy",
                  table: Mapping[str, str] | None = None, taxonomy: tx.Taxonomy | None = None
                  ) -> tuple[list[str], dict[str, str]]:
    """One synset name per class and ``{class: "table" | "wnid" | "first_sense"}`` (see module doc).

    ``wnids`` (used by ``mapping="photo_wnid"`` only) keys may use any spelling of the class names (compared
    canonically). ``table`` (``{canonical name: synset name}``) replaces the shipped tables
    (:func:`default_synset_table` of ``dataset``); ``{}`` disables them.
    """
    check_mapping(mapping)
    taxonomy = taxonomy or tx.get_taxonomy()
    table = default_synset_table(dataset) if table is None else table
    canon_wnids = {canonical_class_name(k): v for k, v in (wnids or {}).items()} if mapping == "photo_wnid" else {}
    synsets, source, missing, no_facts = [], {}, [], []
    for name in class_names:
        canon = canonical_class_name(name)
        if canon in canon_wnids:
            wnid = majority_wnid(canon_wnids[canon])
            try:
                synsets.append(taxonomy.synset_of_offset(_wnid_offset(wnid)))
            except tx.MissingWordNetFacts:
                no_facts.append(f"{name} ({wnid})")
                continue
            source[name] = "wnid"
        elif canon in table:
            try:  # an installed WordNet raises ValueError (a wrong table entry), the shipped facts MissingWordNetFacts
                synsets.append(taxonomy.require(table[canon], f"synset table: {name!r} -> {table[canon]!r} is"))
            except tx.MissingWordNetFacts:
                no_facts.append(f"{name} ({table[canon]})")
                continue
            source[name] = "table"
        else:
            try:
                ss = first_noun_synset(name, taxonomy)
            except tx.MissingWordNetFacts:
                no_facts.append(name)
                continue
            if ss is None:
                missing.append(name)
                continue
            synsets.append(ss)
            source[name] = "first_sense"
    if no_facts:
        raise tx.MissingWordNetFacts(tx.missing_message(f"{len(no_facts)} class(es) are", no_facts))
    if missing:
        raise MissingClassError(missing, what="WordNet synset",
                                hint="add them to a synset table (class<TAB>synset) or use other class names")
    return synsets, source


def hierarchy_nodes(synsets: Iterable[str], taxonomy: tx.Taxonomy | None = None) -> list[str]:
    """Union of the hypernym paths of ``synsets`` (sorted by name): the hierarchy's nodes (Sec. 3.1)."""
    taxonomy = taxonomy or tx.get_taxonomy()
    return sorted(taxonomy.closure(synsets))


def jcn_values(distance: np.ndarray, form: str = DEFAULT_JCN_FORM, zero_ic: np.ndarray | None = None) -> np.ndarray:
    """Jiang-Conrath distances -> embedding values by ``form`` (:data:`JCN_FORMS`); ``zero_ic`` marks pairs in which
    a synset has information content 0 (nltk's similarity is 0 there; used by ``"clipped_inverse"``)."""
    d = np.asarray(distance, np.float64)
    if form == "inverse_plus_one":
        return 1.0 / (1.0 + d)
    if form == "clipped_inverse":
        with np.errstate(divide="ignore"):
            out = np.where(d > 0, np.minimum(1.0 / np.where(d > 0, d, 1.0), 1.0), 1.0)
        return np.where(zero_ic, 0.0, out) if zero_ic is not None else out
    raise ValueError(f"unknown Jiang-Conrath form {form!r}; choose one of {JCN_FORMS}")


def hierarchy_embeddings(synsets: Sequence[str], nodes: Sequence[str], measure: str = "path",
                         taxonomy: tx.Taxonomy | None = None, jcn_form: str = DEFAULT_JCN_FORM) -> np.ndarray:
    """``[len(synsets), len(nodes)]`` float32 similarities of each class synset to every hierarchy node.

    ``measure="path"``: WordNet path similarity. ``measure="jcn"``: Jiang-Conrath distance with the taxonomy's
    information content, mapped by ``jcn_form``. Both lie in ``[0, 1]``; path and the default JCN form are 1 exactly
    on the class's own node.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown hierarchy measure {measure!r} (expected one of {MEASURES})")
    if jcn_form not in JCN_FORMS:
        raise ValueError(f"unknown Jiang-Conrath form {jcn_form!r}; choose one of {JCN_FORMS}")
    taxonomy = taxonomy or tx.get_taxonomy()
    if measure == "path":
        return tx.path_similarity_matrix(taxonomy, synsets, nodes).astype(np.float32)
    dist = tx.jcn_distance_matrix(taxonomy, synsets, nodes)
    zero = None
    if jcn_form == "clipped_inverse":
        ic_r = np.array([taxonomy.information_content(s) for s in synsets])
        ic_c = np.array([taxonomy.information_content(n) for n in nodes])
        same = np.asarray(synsets)[:, None] == np.asarray(nodes)[None, :]
        zero = ((ic_r[:, None] == 0) | (ic_c[None, :] == 0)) & ~same
    return jcn_values(dist, jcn_form, zero).astype(np.float32)
