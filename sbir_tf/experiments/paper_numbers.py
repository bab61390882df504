"""Published numbers quoted beside our measurements — the one place they live.

Every number of the results tables of the two reproduced papers, read from their text (``source``: the file name
in ``shared/papers/``, text extracted from the papers' PDFs; ``tests/experiments/test_paper_numbers.py`` checks every
value against those files):

* Pang et al., BMVC 2017: Table 2 (acc@1 of the competitors, ours and human), Table 3 (with / without decoder,
  VGG16 / GoogLeNet) and Table 4 (weight sharing). The paper prints acc@1 only; it has no acc@10 column.
* Xu, Hu, Cai, WAD-CMSN 2022: Tables 1-2 (mAP, Precision@100 and dimension of 13 methods on Sketchy (Extended) and
  TU-Berlin (Extended)), Table 3 (eight side-information combinations, mAP) and Table 4 (loss ablations, mAP).

Row labels are the papers' own (their spelling, e.g. ``Our_GN-D`` beside ``Ours_GN``). Table 3 of WAD-CMSN has no
row labels, only checkmarks under "Word2vec", "Glove", "Path" and "Jiang-Conrath"; its rows are labelled here by the
checked column names joined with " + ". Metric names are ours (``acc@1``, ``mAP@all``, ``P@100``, ``dimension``): the
paper's "mAP" is the mean average precision over the whole ranked gallery and "Precision@100" the precision of the
top 100. Values are fractions (a printed 50.14% is 0.5014); ``dimension`` is the retrieval feature's length.

Which of our records sit beside a paper row:

* ``match``: keys a record must have with these values. Fine-grained records: ``variant`` (``vgg16``, ``vgg16-D``,
  ``googlenet``, ``googlenet-D``, see ``sbir_tf.configs.fg.VARIANTS``) and ``sharing`` (``siamese``, ``hybrid``,
  ``heterogeneous``). Zero-shot records: ``ablation`` (Table 4 names, ``full``, ``raw_features``) and, in Table 3,
  ``semantics`` (a ``--semantics`` spec such as ``w2v+jcn``). A row without ``match`` is a competitor we do not
  run. The record's dataset must also be the entry's (Sketchy / TU-Berlin).
* ``setting``: what the paper measured the row with where the ``match`` leaves it free: the side information of
  WAD-CMSN's "ours" rows of Tables 1-2 and of every Table 4 row (a loss ablation of the same model), which Sec. 4.4
  names: "on Sketchy (Extended), the combination of Word2vec and Jiang-Conrath's hierarchical similarity achieves
  the mAP at 0.415, while on TU-Berlin (Extended) dataset, the combination of Word2vec and path similarity leads to
  the mAP value of 0.351" (the "ours" / "Our full model" values of Tables 1, 2 and 4). Records with other side
  information are still shown beside those rows, flagged as not the paper's setting.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

PAPERS = {
    "pang2017": "Pang, Song, Xiang, Hospedales, \"Cross-domain Generative Learning for Fine-Grained Sketch-Based "
                "Image Retrieval\", BMVC 2017",
    "wadcmsn2022": "Xu, Hu, Cai, \"WAD-CMSN: Wasserstein Distance based Cross-Modal Semantic Network for Zero-Shot "
                   "Sketch-Based Image Retrieval\", arXiv 2202.05465 (2022)",
}
#: The text of each paper in ``shared/papers/`` (README there) that every value was read from.
SOURCES = {"pang2017": "pang2017_fg_sbir_bmvc.txt", "wadcmsn2022": "xu2022_wad_cmsn_zs_sbir.txt"}
#: Decimal places of the fractions as the papers print them (Pang: percentages with 2 decimals).
DIGITS = {"pang2017": 4, "wadcmsn2022": 3}

#: The table captions as printed.
CAPTIONS = {
    ("pang2017", "Table 2"): "Comparative results against state-of-the-art FG-SBIR performance (acc@1).",
    ("pang2017", "Table 3"): "Evaluation of the contributions of the decoder and different basenets. (acc@1)",
    ("pang2017", "Table 4"): "Comparing different weight sharing strategies (acc@1)",
    ("wadcmsn2022", "Table 1"): "Comparison of retrieval performance with competitors on Sketchy (Extended) dataset.",
    ("wadcmsn2022", "Table 2"): "Comparison of retrieval performance with competitors on TU-Berlin (Extended) "
                                "dataset.",
    ("wadcmsn2022", "Table 3"): "The mAP results using different semantic embeddings (top) and their combinations "
                                "(bottom).",
    ("wadcmsn2022", "Table 4"): "Ablation study in terms of the mAP values.",
}

SKETCHY = "Sketchy"
SKETCHY_EXT = "Sketchy (Extended)"
TUBERLIN_EXT = "TU-Berlin (Extended)"
#: Side information of WAD-CMSN's main results per dataset (Sec. 4.4, quoted in the module docstring).
PAPER_SEMANTICS = {SKETCHY_EXT: "w2v+jcn", TUBERLIN_EXT: "w2v+path"}


@dataclass(frozen=True)
class PaperNumber:
    """One quoted number: ``paper`` (key of :data:`PAPERS`), ``table`` ("Table 3"), ``row`` (the paper's row label),
    ``metric`` (our metric name), ``value`` (a fraction; an integer for ``dimension``), ``dataset`` (as the paper
    names it), ``source`` (file name in ``shared/papers/``), ``match`` / ``setting`` (which of our records sit
    beside the row and what the paper measured it with, see the module docstring) and ``note``."""

    paper: str
    table: str
    row: str
    metric: str
    value: float | int
    dataset: str
    source: str
    match: Mapping[str, str] = field(default_factory=dict)
    setting: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


def _entries(paper: str, table: str, metrics: Sequence[str], datasets: Sequence[str], rows: Sequence[tuple],
             setting=None, note=None) -> tuple[PaperNumber, ...]:
    """Entries of one printed table. ``rows``: ``(label, values, match)`` or ``(label, values, match, setting)``,
    ``values`` in ``metrics`` order for one dataset, or in ``datasets`` order for one metric (a table with a column
    per dataset). ``setting``: ``dataset -> {key: value}`` for every row, unless the row brings its own; ``note``:
    ``dataset -> text`` for the rows with a setting."""
    per_dataset = len(metrics) == 1 and len(datasets) > 1
    out = []
    for dataset_index, dataset in enumerate(datasets):
        for label, values, match, *own_setting in rows:
            row_setting = own_setting[0] if own_setting else (setting or {}).get(dataset, {})
            pairs = ([(metrics[0], values[dataset_index])] if per_dataset else list(zip(metrics, values, strict=True)))
            for metric, value in pairs:
                out.append(PaperNumber(paper, table, label, metric, value, dataset, SOURCES[paper], dict(match),
                                       dict(row_setting), (note or {}).get(dataset, "") if row_setting else ""))
    return tuple(out)


# ------------------------------------------------------------------------------------------- Pang et al. 2017
def _fg(variant: str, sharing: str = "siamese") -> dict:
    return {"variant": variant, "sharing": sharing}


#: Table 2 (Sketchy, acc@1): the models of Sangkloy et al. (cited as [17]), ours and human performance.
PANG2017_TABLE2 = _entries("pang2017", "Table 2", ("acc@1",), (SKETCHY,), [
    ("Sia-SN-Tri [17]", (0.1617,), {}),
    ("Heter-AN-Pair [17]", (0.2136,), {}),
    ("Heter-GN-Pair [17]", (0.2736,), {}),
    ("Heter-GN-Tri [17]", (0.3710,), {}),
    ("Ours", (0.5014,), _fg("vgg16")),
    ("Human [17]", (0.5427,), {}),
])

#: Table 3 (acc@1): "-D" drops the decoder, "_GN" replaces VGG16 by GoogLeNet (Sec. 4, ablation study).
PANG2017_TABLE3 = _entries("pang2017", "Table 3", ("acc@1",), (SKETCHY,), [
    ("Ours-D", (0.4718,), _fg("vgg16-D")),
    ("Ours", (0.5014,), _fg("vgg16")),
    ("Our_GN-D", (0.4552,), _fg("googlenet-D")),
    ("Ours_GN", (0.4824,), _fg("googlenet")),
])

#: Table 4 (acc@1): heterogeneous (no sharing), hybrid (shared embedding layer) and ours (Siamese).
PANG2017_TABLE4 = _entries("pang2017", "Table 4", ("acc@1",), (SKETCHY,), [
    ("Ours-Heter", (0.4152,), _fg("vgg16", "heterogeneous")),
    ("Ours-Hybrid", (0.4955,), _fg("vgg16", "hybrid")),
    ("Ours", (0.5014,), _fg("vgg16", "siamese")),
])

# ------------------------------------------------------------------------------------------- WAD-CMSN 2022
#: Table 3 checkmark columns as printed -> our ``--semantics`` tokens.
SEMANTIC_COLUMNS = {"Word2vec": "w2v", "Glove": "glove", "Path": "path", "Jiang-Conrath": "jcn"}


def _column_names(spec: str) -> str:
    """A ``--semantics`` spec by Table 3's column names (:data:`SEMANTIC_COLUMNS` reversed): ``w2v+jcn`` ->
    ``Word2vec + Jiang-Conrath``."""
    column_of = {token: column for column, token in SEMANTIC_COLUMNS.items()}
    return " + ".join(column_of[token] for token in spec.split("+"))


_SEMANTICS_SETTING = {d: {"semantics": s} for d, s in PAPER_SEMANTICS.items()}
#: The note on the rows measured with :data:`PAPER_SEMANTICS`.
_SEMANTICS_NOTE = {d: f"the paper's model was measured with {_column_names(s)} side information on {d} (Sec. 4.4)"
                   for d, s in PAPER_SEMANTICS.items()}
_RAW = {"ablation": "raw_features"}
_FULL = {"ablation": "full"}


def _comparison(table: str, dataset: str, rows: Sequence[tuple]) -> tuple[PaperNumber, ...]:
    """Tables 1-2: 13 methods x (mAP, Precision@100, dimension). "Softmax (Baseline)" (dimension 4096 as printed)
    is matched with our raw-feature baseline ``raw_features``: nearest neighbour on raw 512-d VGG16 features."""
    return _entries("wadcmsn2022", table, ("mAP@all", "P@100", "dimension"), (dataset,), rows, note=_SEMANTICS_NOTE)


WADCMSN_TABLE1 = _comparison("Table 1", SKETCHY_EXT, [
    ("Softmax (Baseline)", (0.114, 0.172, 4096), _RAW),
    ("Siamese CNN", (0.132, 0.175, 64), {}),
    ("SaN", (0.115, 0.125, 512), {}),
    ("GN Triplet", (0.204, 0.296, 1024), {}),
    ("CMT", (0.087, 0.102, 300), {}),
    ("SSE", (0.116, 0.161, 100), {}),
    ("JLSE", (0.131, 0.185, 100), {}),
    ("SAE", (0.216, 0.293, 300), {}),
    ("FRWGAN", (0.127, 0.169, 512), {}),
    ("CVAE", (0.196, 0.284, 4096), {}),
    ("SEM-PCYC", (0.349, 0.463, 64), {}),
    ("ZSIH(binary)", (0.258, 0.342, 64), {}),
    ("ours", (0.415, 0.525, 64), _FULL, _SEMANTICS_SETTING[SKETCHY_EXT]),
])

WADCMSN_TABLE2 = _comparison("Table 2", TUBERLIN_EXT, [
    ("Softmax (Baseline)", (0.089, 0.143, 4096), _RAW),
    ("Siamese CNN", (0.109, 0.141, 64), {}),
    ("SaN", (0.089, 0.108, 512), {}),
    ("GN Triplet", (0.175, 0.253, 1024), {}),
    ("CMT", (0.062, 0.078, 300), {}),
    ("SSE", (0.089, 0.121, 220), {}),
    ("JLSE", (0.109, 0.155, 220), {}),
    ("SAE", (0.167, 0.221, 300), {}),
    ("FRWGAN", (0.110, 0.157, 512), {}),
    ("CVAE", (0.005, 0.001, 4096), {}),  # as printed
    ("SEM-PCYC", (0.297, 0.426, 64), {}),
    ("ZSIH(binary)", (0.223, 0.294, 64), {}),
    ("ours", (0.351, 0.464, 64), _FULL, _SEMANTICS_SETTING[TUBERLIN_EXT]),
])

def _semantics_row(columns: str, sketchy: float, tuberlin: float) -> tuple:
    """A Table 3 row from its checked columns ("Word2vec + Path"): full model with that side information."""
    spec = "+".join(SEMANTIC_COLUMNS[c] for c in columns.split(" + "))
    return columns, (sketchy, tuberlin), {"ablation": "full", "semantics": spec}


#: Table 3 (mAP): single embeddings (top four rows) and text + hierarchy combinations (bottom four), in the
#: paper's row order.
WADCMSN_TABLE3 = _entries("wadcmsn2022", "Table 3", ("mAP@all",), (SKETCHY_EXT, TUBERLIN_EXT), [
    _semantics_row("Glove", 0.294, 0.247),
    _semantics_row("Word2vec", 0.346, 0.254),
    _semantics_row("Path", 0.328, 0.256),
    _semantics_row("Jiang-Conrath", 0.331, 0.252),
    _semantics_row("Glove + Path", 0.351, 0.331),
    _semantics_row("Glove + Jiang-Conrath", 0.372, 0.342),
    _semantics_row("Word2vec + Path", 0.375, 0.351),
    _semantics_row("Word2vec + Jiang-Conrath", 0.415, 0.345),
])

#: Table 4 (mAP): loss ablations, in the paper's row order, with our ``--ablation`` names.
WADCMSN_TABLE4 = _entries("wadcmsn2022", "Table 4", ("mAP@all",), (SKETCHY_EXT, TUBERLIN_EXT), [
    ("Only adversarial loss", (0.128, 0.109), {"ablation": "adv_no_wasserstein"}),
    ("Adversarial loss + identity matching loss", (0.241, 0.199), {"ablation": "adv_no_wasserstein+identity"}),
    ("Adversarial loss+ Wasserstein distance(Baseline)", (0.238, 0.207), {"ablation": "wasserstein"}),
    ("Baseline+cycle consistency loss", (0.314, 0.223), {"ablation": "wasserstein+cycle"}),
    ("Baseline+classification loss", (0.307, 0.241), {"ablation": "wasserstein+cls"}),
    ("Baseline +identity matching loss", (0.301, 0.232), {"ablation": "wasserstein+identity"}),
    ("Our full model", (0.415, 0.351), _FULL),
], setting=_SEMANTICS_SETTING, note=_SEMANTICS_NOTE)

FG_TABLES = (PANG2017_TABLE2, PANG2017_TABLE3, PANG2017_TABLE4)
ZS_TABLES = (WADCMSN_TABLE1, WADCMSN_TABLE2, WADCMSN_TABLE3, WADCMSN_TABLE4)
ALL = tuple(e for table in FG_TABLES + ZS_TABLES for e in table)


def lookup(paper: str, table: str, row: str, metric: str, dataset: str | None = None) -> PaperNumber:
    """The entry for (paper, table, row, metric[, dataset]); ``KeyError`` naming what is missing, ``ValueError``
    when the row is in several datasets and none is named."""
    hits = [p for p in ALL if (p.paper, p.table, p.row, p.metric) == (paper, table, row, metric)
            and (dataset is None or p.dataset == dataset)]
    if not hits:
        raise KeyError(f"no paper number for {paper} {table} row {row!r} metric {metric!r} dataset {dataset!r}")
    if len(hits) > 1:
        raise ValueError(f"{paper} {table} row {row!r} {metric} is given for {[h.dataset for h in hits]}; "
                         f"name the dataset")
    return hits[0]


def format_value(entry: PaperNumber | None) -> str:
    """The printed form: the fraction with the paper's decimals, an integer dimension, or "—" for no entry."""
    if entry is None:
        return "—"
    if entry.metric == "dimension":
        return str(int(entry.value))
    return f"{entry.value:.{DIGITS[entry.paper]}f}"
