"""The reviewed class -> synset tables: coverage, agreement across datasets, the senses of ambiguous names, and (with
an installed WordNet) the review rules of ``hierarchy.REVIEW_RULES`` for every row."""
from __future__ import annotations

import re

import pytest

from sbir_tf.data.records import canonical_class_name
from sbir_tf.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from sbir_tf.data.synthetic import WORDNET_OFFSETS
from sbir_tf.paths import PACKAGE_ROOT
from sbir_tf.semantics import hierarchy as H
from sbir_tf.semantics import taxonomy as T
from sbir_tf.semantics import wordnet as W

SPLIT_LISTS = PACKAGE_ROOT / "data" / "split_lists"
LISTS = {"sketchy": "sketchy_classes125.txt", "tuberlin": "tuberlin_classes250.txt"}
#: names with several drawable senses: each carries a note (rule 3), with the sense the sketches show
AMBIGUOUS = {"bat": "bat.n.01", "mouse": "mouse.n.01", "seal": "seal.n.09", "ray": "ray.n.07", "fan": "fan.n.01",
             "saw": "saw.n.02", "knife": "knife.n.01", "tank": "tank.n.01", "computer_mouse": "mouse.n.04",
             "mouse_(animal)": "mouse.n.01", "crane_(machine)": "crane.n.04", "diamond": "diamond.n.01",
             "table": "table.n.02", "key": "key.n.01", "star": "star.n.05", "kite": "kite.n.03",
             "flower": "flower.n.01"}
#: classes whose photo ids name a narrower concept; the name mapping must give the class's own synset
BY_NAME = {"chair": "chair.n.01", "violin": "violin.n.01", "spoon": "spoon.n.01", "dog": "dog.n.01",
           "tree": "tree.n.01", "shoe": "shoe.n.01", "hat": "hat.n.01", "hedgehog": "hedgehog.n.02",
           "cow": "cow.n.01", "windmill": "windmill.n.01", "door": "door.n.01"}


def _lines(name):
    return [line.strip() for line in (SPLIT_LISTS / name).read_text().splitlines() if line.strip()]


def _rows():
    return [(ds, row) for ds, path in H.TABLES.items() for row in H.load_synset_rows(path)]


@pytest.mark.parametrize("dataset", sorted(LISTS))
def test_tables_cover_the_class_lists_exactly(dataset):
    rows = H.load_synset_rows(H.TABLES[dataset])
    assert [r.class_name for r in rows] == _lines(LISTS[dataset])       # dataset spelling, list order


def test_synthetic_table_matches_the_synthetic_photo_ids():
    shipped = T.ShippedTaxonomy.load()
    table = H.load_synset_table(H.SYNTHETIC_TABLE)
    assert sorted(table) == sorted(SYNTHETIC_CLASSES)
    for name in SYNTHETIC_CLASSES:
        assert shipped.offset(table[name]) == int(WORDNET_OFFSETS[name]), name


def test_same_name_same_synset_in_every_table():
    seen = {}
    for ds, row in _rows():
        canon = canonical_class_name(row.class_name)
        if canon in seen:
            assert seen[canon][1] == row.synset, (canon, seen[canon], ds)
        seen[canon] = (ds, row.synset)


def test_ambiguous_and_narrow_names():
    merged = {**H.default_synset_table("sketchy"), **H.default_synset_table("tuberlin")}
    notes = {canonical_class_name(r.class_name): r.note for _, r in _rows()}
    for name, synset in AMBIGUOUS.items():
        assert merged[name] == synset, name
        assert notes[name], f"{name}: ambiguous name without a note"
    for name, synset in BY_NAME.items():
        assert merged[name] == synset, name


def test_every_table_synset_is_in_the_shipped_facts():
    shipped = T.ShippedTaxonomy.load()
    for ds, row in _rows():
        assert shipped.has(row.synset), (ds, row)


def test_notes_are_single_line_text():
    for ds, row in _rows():
        assert "\t" not in row.note and row.note == row.note.strip(), (ds, row)


# ------------------------------------------------------------------------------------------- review rules
def _review_forms(class_name):
    """Lemma spellings of a name with a parenthesised qualifier read as a qualifier (rule 1)."""
    outer = re.sub(r"\s*\(.*?\)\s*", " ", class_name).strip()
    return H.name_forms(outer) + H.name_forms(class_name)


def test_review_rules_against_wordnet():
    try:
        tax = T.get_taxonomy(source="wordnet")
    except W.WordNetUnavailable as exc:
        pytest.skip(f"needs an installed WordNet for sense order: {exc}")
    problems = []
    for ds, row in _rows():
        senses = next((s for s in (tax.noun_senses(f) for f in _review_forms(row.class_name)) if s), [])
        if not tax.has(row.synset):
            problems.append(f"{ds} {row}: no such noun synset")
        elif not senses:                                            # rule 4
            if not row.note.startswith("not a WordNet lemma"):
                problems.append(f"{ds} {row}: name is no lemma, note must start 'not a WordNet lemma'")
        elif row.synset == senses[0]:                               # rule 2, first sense
            continue
        elif row.synset in senses:                                  # rule 2, another sense of the name
            if senses[0] not in row.note:
                problems.append(f"{ds} {row}: not the first sense; the note must name {senses[0]}")
        elif not any(s in row.note for s in senses):                # rule 1 exception: say what was rejected
            problems.append(f"{ds} {row}: not a sense of the name ({senses}); the note must name the rejected one")
    assert not problems, "\n".join(problems)
