"""The registry of published numbers (``sbir_tf.experiments.paper_numbers``) against the papers' text.

The papers' text (``shared/papers/*.txt``, tab-separated table rows) is parsed here independently of the registry:
every table row is found by its label (WAD-CMSN Table 3 by its checkmark columns, Pang's one-line tables by the
label's column in the header line), every value is read from its column, and the registry must hold exactly those
rows, metrics and printed values.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from sbir_tf.experiments import paper_numbers as P
from sbir_tf.paths import REPO_ROOT, shared_data_dir

#: Entries per printed table: rows x metrics x datasets.
EXPECTED_COUNTS = {("pang2017", "Table 2"): 6, ("pang2017", "Table 3"): 4, ("pang2017", "Table 4"): 3,
                   ("wadcmsn2022", "Table 1"): 13 * 3, ("wadcmsn2022", "Table 2"): 13 * 3,
                   ("wadcmsn2022", "Table 3"): 8 * 2, ("wadcmsn2022", "Table 4"): 7 * 2}
#: Our ablation names in the order of WAD-CMSN Table 4's rows.
TABLE4_ABLATIONS = ["adv_no_wasserstein", "adv_no_wasserstein+identity", "wasserstein", "wasserstein+cycle",
                    "wasserstein+cls", "wasserstein+identity", "full"]
COLUMN_METRICS = {"mAP": "mAP@all", "Precision@100": "P@100", "Dimension": "dimension"}


# ----------------------------------------------------------------------------------------------- the papers' text
def papers_dir() -> Path:
    data = shared_data_dir()
    candidates = ([data.parent / "papers"] if data else []) + [REPO_ROOT.parent / "shared" / "papers"]
    if os.environ.get("SBIR_TF_SHARED_DATA"):
        candidates.insert(0, Path(os.environ["SBIR_TF_SHARED_DATA"]).parent / "papers")
    for cand in candidates:
        if all((cand / name).is_file() for name in P.SOURCES.values()):
            return cand
    pytest.skip(f"the papers' text {sorted(P.SOURCES.values())} is not in shared/papers beside the checkout "
                f"(looked in {[str(c) for c in candidates]})")


def table_blocks(text: str) -> dict[str, list[list[str]]]:
    """``{"Table N": rows}``: runs of consecutive tab-separated lines, each named by the "Table N:" caption within
    three lines of it (WAD-CMSN's Table 3 caption is printed above its table, the others below)."""
    lines = text.splitlines()
    runs, start = [], None
    for i, line in enumerate(lines + [""]):
        if "\t" in line and start is None:
            start = i
        elif "\t" not in line and start is not None:
            runs.append((start, i))
            start = None
    blocks = {}
    for first, end in runs:
        near = lines[max(0, first - 3):first] + lines[end:end + 3]
        names = {m.group(1) for line in near for m in [re.match(r"(Table \d+):", line)] if m}
        assert len(names) == 1, f"table at line {first + 1}: captions nearby {names}"
        blocks[names.pop()] = [line.split("\t") for line in lines[first:end]]
    return blocks


def header_index(rows: list[list[str]], first_cell: str) -> int:
    """Index of the header row holding ``first_cell`` (the rows below it are the table body)."""
    return next(i for i, row in enumerate(rows) if first_cell in [c.strip() for c in row])


def pang_table(rows: list[list[str]]) -> dict[str, str]:
    """Pang et al.'s tables are one label line and one value line: ``{label: printed value}``, by column."""
    assert len(rows) == 2, rows
    labels, values = ([c.strip() for c in r] for r in rows)
    assert len(labels) == len(values) and len(set(labels)) == len(labels), rows
    return dict(zip(labels, values))


def wadcmsn_comparison(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    """Tables 1-2: ``{method: {metric: printed value}}``; the method is the cell left of the "mAP" column (the
    first cell is the garbled row-group label), the value columns are located by the header line."""
    head = header_index(rows, "mAP")
    columns = {name.strip(): i for i, name in enumerate(rows[head]) if name.strip() in COLUMN_METRICS}
    label_col = columns["mAP"] - 1
    out = {row[label_col].strip(): {COLUMN_METRICS[name]: row[i].strip() for name, i in columns.items()}
           for row in rows[head + 1:]}
    assert len(out) == len(rows) - head - 1, "a method label is printed twice"
    return out


def wadcmsn_semantics(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    """Table 3: ``{checked columns joined by " + ": {dataset: printed mAP}}``. The checkmark columns are the header
    cells named in ``SEMANTIC_COLUMNS``; the two mAP columns follow them (Sketchy, then TU-Berlin)."""
    head = header_index(rows, "Word2vec")
    names = [c.strip() for c in rows[head]]
    check_cols = [i for i, n in enumerate(names) if n in P.SEMANTIC_COLUMNS]
    assert [names[i] for i in check_cols] == list(P.SEMANTIC_COLUMNS)
    value_cols = (check_cols[-1] + 1, check_cols[-1] + 2)
    out = {}
    for row in rows[head + 1:]:
        checked = [names[i] for i in check_cols if row[i].strip() == "\\checkmark"]
        assert all(row[i].strip() in ("", "\\checkmark") for i in check_cols), row
        assert " + ".join(checked) not in out, f"checkmarks {checked} printed twice"
        out[" + ".join(checked)] = {P.SKETCHY_EXT: row[value_cols[0]].strip(),
                                    P.TUBERLIN_EXT: row[value_cols[1]].strip()}
    return out


def wadcmsn_ablation(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    """Table 4: ``{loss function: {dataset: printed mAP}}``."""
    head = header_index(rows, "Loss function")
    assert [c.strip() for c in rows[head]] == ["Loss function", "Sketchy (Extended)", "TU-Berlin (Extended)"]
    return {row[0].strip(): {P.SKETCHY_EXT: row[1].strip(), P.TUBERLIN_EXT: row[2].strip()}
            for row in rows[head + 1:]}


def published(folder: Path) -> dict[tuple, str]:
    """``(paper, table, dataset, row, metric) -> value as printed`` for every number of the registry's tables."""
    out = {}
    pang = table_blocks((folder / P.SOURCES["pang2017"]).read_text())
    for table in ("Table 2", "Table 3", "Table 4"):
        for label, value in pang_table(pang[table]).items():
            out["pang2017", table, P.SKETCHY, label, "acc@1"] = value
    wad = table_blocks((folder / P.SOURCES["wadcmsn2022"]).read_text())
    for table, dataset in (("Table 1", P.SKETCHY_EXT), ("Table 2", P.TUBERLIN_EXT)):
        for label, by_metric in wadcmsn_comparison(wad[table]).items():
            for metric, value in by_metric.items():
                out["wadcmsn2022", table, dataset, label, metric] = value
    for table, parse in (("Table 3", wadcmsn_semantics), ("Table 4", wadcmsn_ablation)):
        for label, by_dataset in parse(wad[table]).items():
            for dataset, value in by_dataset.items():
                out["wadcmsn2022", table, dataset, label, "mAP@all"] = value
    return out


# ----------------------------------------------------------------------------------------------- the registry
def printed(entry: P.PaperNumber) -> str:
    """The registry value in the paper's print format (Pang: percent with 2 decimals; WAD-CMSN: 3 decimals)."""
    if entry.metric == "dimension":
        return str(entry.value)
    if entry.paper == "pang2017":
        return f"{entry.value * 100:.2f}%"
    return f"{entry.value:.3f}"


def registry(entries=P.ALL) -> dict[tuple, str]:
    out = {}
    for e in entries:
        key = (e.paper, e.table, e.dataset, e.row, e.metric)
        assert key not in out, f"duplicate registry entry {key}"
        out[key] = printed(e)
    return out


def mismatches(paper: dict[tuple, str], ours: dict[tuple, str]) -> list[str]:
    problems = [f"in the paper, not in the registry: {k} = {paper[k]}" for k in paper.keys() - ours.keys()]
    problems += [f"in the registry, not in the paper: {k}" for k in ours.keys() - paper.keys()]
    problems += [f"{k}: registry {ours[k]}, paper {paper[k]}" for k in paper.keys() & ours.keys()
                 if ours[k] != paper[k]]
    return sorted(problems)


@pytest.fixture(scope="module")
def paper_text_numbers():
    return published(papers_dir())


def test_every_registry_value_is_the_papers_number_in_its_row_and_column(paper_text_numbers):
    assert mismatches(paper_text_numbers, registry()) == []


def test_registry_rows_and_columns_are_exactly_the_papers(paper_text_numbers):
    counts = {}
    for paper, table, *_ in paper_text_numbers:
        counts[paper, table] = counts.get((paper, table), 0) + 1
    assert counts == EXPECTED_COUNTS
    assert set(registry()) == set(paper_text_numbers)


@pytest.mark.parametrize("paper, table, row, metric, dataset, wrong", [
    ("wadcmsn2022", "Table 1", "ours", "mAP@all", P.SKETCHY_EXT, 0.416),
    ("wadcmsn2022", "Table 2", "SSE", "dimension", P.TUBERLIN_EXT, 100),
    ("wadcmsn2022", "Table 3", "Glove + Path", "mAP@all", P.TUBERLIN_EXT, 0.351),
    ("pang2017", "Table 3", "Our_GN-D", "acc@1", P.SKETCHY, 0.4562),
])
def test_a_wrong_digit_in_the_registry_is_reported(paper_text_numbers, paper, table, row, metric, dataset, wrong):
    good = P.lookup(paper, table, row, metric, dataset)
    entries = [dataclasses.replace(e, value=wrong) if e == good else e for e in P.ALL]
    problems = mismatches(paper_text_numbers, registry(entries))
    assert len(problems) == 1 and row in problems[0] and table in problems[0]


def test_table3_swapped_checkmarks_are_reported(paper_text_numbers):
    """Two rows with their labels exchanged (Word2vec vs Glove alone) must not pass."""
    swap = {"Glove": "Word2vec", "Word2vec": "Glove"}
    entries = [dataclasses.replace(e, row=swap.get(e.row, e.row)) if e.table == "Table 3" else e for e in P.ALL]
    assert len(mismatches(paper_text_numbers, registry(entries))) == 4


# ----------------------------------------------------------------------------------------------- consistency
def test_counts_per_table_and_sources():
    counts = {}
    for e in P.ALL:
        counts[e.paper, e.table] = counts.get((e.paper, e.table), 0) + 1
        assert e.source == P.SOURCES[e.paper] and (e.paper, e.table) in P.CAPTIONS
    assert counts == EXPECTED_COUNTS


def test_values_are_fractions_and_dimensions_integers():
    for e in P.ALL:
        if e.metric == "dimension":
            assert isinstance(e.value, int) and e.value > 0, e
        else:
            assert isinstance(e.value, float) and 0.0 <= e.value <= 1.0, e


def test_fine_grained_matches_use_our_variant_and_sharing_names():
    from sbir_tf.configs.fg import VARIANTS
    from sbir_tf.models.fg import SHARING

    matched = {(e.table, e.row): dict(e.match) for e in P.ALL if e.paper == "pang2017" and e.match}
    assert all(m["variant"] in VARIANTS and m["sharing"] in SHARING for m in matched.values())
    assert matched == {
        ("Table 2", "Ours"): {"variant": "vgg16", "sharing": "siamese"},
        ("Table 3", "Ours-D"): {"variant": "vgg16-D", "sharing": "siamese"},
        ("Table 3", "Ours"): {"variant": "vgg16", "sharing": "siamese"},
        ("Table 3", "Our_GN-D"): {"variant": "googlenet-D", "sharing": "siamese"},
        ("Table 3", "Ours_GN"): {"variant": "googlenet", "sharing": "siamese"},
        ("Table 4", "Ours-Heter"): {"variant": "vgg16", "sharing": "heterogeneous"},
        ("Table 4", "Ours-Hybrid"): {"variant": "vgg16", "sharing": "hybrid"},
        ("Table 4", "Ours"): {"variant": "vgg16", "sharing": "siamese"},
    }


def test_zero_shot_matches_name_our_ablations_and_semantics():
    from sbir_tf.configs.zs import parse_semantics

    table4 = [e for e in P.WADCMSN_TABLE4 if e.dataset == P.SKETCHY_EXT]
    assert [e.match["ablation"] for e in table4] == TABLE4_ABLATIONS
    for table in (P.WADCMSN_TABLE1, P.WADCMSN_TABLE2):
        matched = {e.row: dict(e.match) for e in table if e.match}
        assert matched == {"Softmax (Baseline)": {"ablation": "raw_features"}, "ours": {"ablation": "full"}}
    for e in P.WADCMSN_TABLE3:  # the row label's checked columns are the matched semantics
        tokens = [P.SEMANTIC_COLUMNS[c] for c in e.row.split(" + ")]
        assert e.match == {"ablation": "full", "semantics": "+".join(tokens)}
        parse_semantics(e.match["semantics"])
    paper_semantics = {P.SKETCHY_EXT: "w2v+jcn", P.TUBERLIN_EXT: "w2v+path"}
    with_setting = [e for e in P.ALL if e.setting]
    assert {(e.table, e.row) for e in with_setting if e.table != "Table 4"} == {("Table 1", "ours"),
                                                                               ("Table 2", "ours")}
    assert len([e for e in with_setting if e.table == "Table 4"]) == 14
    assert all(e.setting == {"semantics": paper_semantics[e.dataset]} and e.note for e in with_setting)


def test_paper_semantics_are_the_table3_rows_that_give_the_full_model_value():
    """Sec. 4.4's side information reproduces Table 1/2's "ours" mAP in Table 3, per dataset."""
    for dataset, spec in P.PAPER_SEMANTICS.items():
        t3 = [e for e in P.WADCMSN_TABLE3 if e.dataset == dataset and e.match["semantics"] == spec]
        full = [e for e in P.WADCMSN_TABLE1 + P.WADCMSN_TABLE2
                if e.dataset == dataset and e.row == "ours" and e.metric == "mAP@all"]
        assert len(t3) == 1 and len(full) == 1 and t3[0].value == full[0].value


def test_lookup_and_format_value():
    assert P.format_value(P.lookup("pang2017", "Table 3", "Ours_GN", "acc@1")) == "0.4824"
    assert P.format_value(P.lookup("wadcmsn2022", "Table 2", "CVAE", "mAP@all")) == "0.005"
    assert P.format_value(P.lookup("wadcmsn2022", "Table 1", "SaN", "dimension")) == "512"
    assert P.format_value(None) == "—"
    with pytest.raises(KeyError, match="Table 9"):
        P.lookup("pang2017", "Table 9", "Ours", "acc@1")
    with pytest.raises(ValueError, match="name the dataset"):
        P.lookup("wadcmsn2022", "Table 4", "Our full model", "mAP@all")


def test_table4_labels_agree_with_the_ablation_presets():
    from sbir_tf.configs import zs as zs_presets

    for dataset in (P.SKETCHY_EXT, P.TUBERLIN_EXT):
        rows = {e.match["ablation"]: e.row for e in P.WADCMSN_TABLE4 if e.dataset == dataset}
        assert list(rows.items()) == list(zs_presets.TABLE4_ROWS.items())
    assert all(zs_presets.canonical_ablation(e.match["ablation"]) == e.match["ablation"]
               for e in P.ALL if "ablation" in e.match)
