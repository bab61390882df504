"""Published numbers quoted beside our measurements — the one place they live.

Every entry names the paper, the table and the row it is quoted from, the metric, the value and a note. A value is
entered only after it has been read in a retrieved copy of the paper (the ``source`` field says where: URL and
title). Entries whose value could not be checked against a source keep ``value=None`` and the note
:data:`NOT_VERIFIED`; the report prints them as "n/a (not verified)". To fill one in, read the number in the paper,
set ``value`` and ``source`` and replace the note (e.g. "Sketchy, 30k iterations, VGG16 + decoder"). Values are
fractions in [0, 1] like ours (a published 45.2% is entered as 0.452).

Source search (recorded so the next person does not repeat it): the paper text of arXiv 2202.05465 (WAD-CMSN),
Pang et al. BMVC 2017 ("Cross-domain Generative Learning for Fine-Grained Sketch-Based Image Retrieval") and
arXiv 1903.03372 (SEM-PCYC) was searched for; the retrieved copies (abstract pages such as
https://tomesphere.com/paper/2202.05465, https://deep.ai/publication/wad-cmsn-..., the SEM-PCYC introduction at
https://vdocuments.net/semantically-tied-paired-cycle-consistency-for-zero-shot-underlying-model-our.html and the
README of github.com/AnjanDutta/sem-pcyc) hold the abstracts and introductions but none of the results tables, so
no value below is verified yet.

Row keys (``match``) tell the report which of our records belong beside a paper row:
fine-grained rows match on ``variant`` / ``sharing`` (the special key ``chance`` shows a record's chance level);
zero-shot rows on ``ablation`` / ``semantics``, and the special key ``baseline`` shows the raw-feature
nearest-neighbour baseline that every zero-shot run also measures (taken from ``raw_features`` and ``full`` runs).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

NOT_VERIFIED = "not verified: enter from the paper"

PAPERS = {
    "pang2017": "Pang, Song, Xiang, Hospedales, \"Cross-domain Generative Learning for Fine-Grained Sketch-Based "
                "Image Retrieval\", BMVC 2017",
    "wadcmsn2022": "Xu, Hu, Cai, \"WAD-CMSN: Wasserstein Distance based Cross-Modal Semantic Network for Zero-Shot "
                   "Sketch-Based Image Retrieval\", arXiv 2202.05465 (2022)",
    "sempcyc2019": "Dutta, Akata, \"Semantically Tied Paired Cycle Consistency for Zero-Shot Sketch-based Image "
                   "Retrieval\", CVPR 2019, arXiv 1903.03372",
}


@dataclass(frozen=True)
class PaperNumber:
    """One quoted number: ``paper`` (key of :data:`PAPERS`), ``table`` (e.g. "Table 3"), ``row`` (the paper's row
    label), ``metric`` (our metric name: acc@1, acc@10, mAP@all, P@100, ...), ``value`` (None = not verified),
    ``dataset`` (the paper's dataset/split), ``note``, ``source`` (URL/title where the value was read) and
    ``match`` (which of our records sit beside this row, see the module docstring)."""

    paper: str
    table: str
    row: str
    metric: str
    value: float | None
    dataset: str
    note: str = NOT_VERIFIED
    source: str | None = None
    match: Mapping[str, str] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.value is not None and self.source is not None


def _rows(paper, table, dataset, rows, metrics):
    """Unverified placeholders for each (row label, match) x metric."""
    return [PaperNumber(paper, table, label, metric, None, dataset, match=dict(match))
            for label, match in rows for metric in metrics]


# ------------------------------------------------------------------------------------------- Pang et al. 2017
FG_METRICS = ("acc@1", "acc@10")

#: Table 2 (Sketchy, fine-grained): the full model against published competitors and human performance.
PANG2017_TABLE2 = _rows("pang2017", "Table 2", "Sketchy (fine-grained)", [
    ("Chance", {"chance": "chance"}),
    ("Human", {}),
    ("Sangkloy et al. 2016 (Sketchy triplet network)", {}),
    ("Ours: VGG16 + decoder (full model)", {"variant": "vgg16"}),
], FG_METRICS)

#: Table 3: with / without the decoder, VGG16 vs GoogLeNet encoders.
PANG2017_TABLE3 = _rows("pang2017", "Table 3", "Sketchy (fine-grained)", [
    ("VGG16 without decoder", {"variant": "vgg16-D"}),
    ("VGG16 with decoder", {"variant": "vgg16"}),
    ("GoogLeNet without decoder", {"variant": "googlenet-D"}),
    ("GoogLeNet with decoder", {"variant": "googlenet"}),
], FG_METRICS)

#: Table 4: weight sharing between the sketch and photo encoders.
PANG2017_TABLE4 = _rows("pang2017", "Table 4", "Sketchy (fine-grained)", [
    ("Siamese (shared weights)", {"sharing": "siamese"}),
    ("Hybrid (shared upper layers)", {"sharing": "hybrid"}),
    ("Heterogeneous (no sharing)", {"sharing": "heterogeneous"}),
], FG_METRICS)

# ------------------------------------------------------------------------------------------- WAD-CMSN 2022
ZS_METRICS = ("mAP@all", "P@100")
#: The side information of the main comparison (``zs_presets.DEFAULT_SEMANTICS``); Table 3 varies it.
MAIN_SEMANTICS = "glove+path"
_ZS_COMPARISON_ROWS = [
    ("Softmax baseline (raw VGG16 features)", {"baseline": "raw_features", "semantics": MAIN_SEMANTICS}),
    ("ZSIH (Shen et al. 2018)", {}),
    ("ZS-SBIR CVAE (Yelamarthi et al. 2018)", {}),
    ("SEM-PCYC (Dutta & Akata 2019)", {}),
    ("WAD-CMSN", {"ablation": "full", "semantics": MAIN_SEMANTICS}),
]
WADCMSN_TABLE1 = _rows("wadcmsn2022", "Table 1", "Sketchy Extended (zero-shot)", _ZS_COMPARISON_ROWS, ZS_METRICS)
WADCMSN_TABLE2 = _rows("wadcmsn2022", "Table 2", "TU-Berlin Extended (zero-shot)", _ZS_COMPARISON_ROWS,
                       ZS_METRICS)

_SEMANTIC_ROWS = [(spec, {"semantics": spec, "ablation": "full"})
                  for spec in ("glove", "w2v", "path", "jcn", "glove+path", "w2v+path", "glove+jcn", "w2v+jcn")]
#: Table 3: side-information combinations (text model and/or WordNet hierarchy measure).
WADCMSN_TABLE3 = (_rows("wadcmsn2022", "Table 3", "Sketchy Extended (zero-shot)", _SEMANTIC_ROWS, ZS_METRICS)
                  + _rows("wadcmsn2022", "Table 3", "TU-Berlin Extended (zero-shot)", _SEMANTIC_ROWS, ZS_METRICS))

_ABLATION_ROWS = [
    ("adversarial loss without Wasserstein distance", {"ablation": "adv_no_wasserstein"}),
    ("adversarial (no Wasserstein) + identity matching", {"ablation": "adv_no_wasserstein+identity"}),
    ("Wasserstein adversarial loss", {"ablation": "wasserstein"}),
    ("Wasserstein + cycle consistency", {"ablation": "wasserstein+cycle"}),
    ("Wasserstein + cycle + classification", {"ablation": "wasserstein+cycle+cls"}),
    ("full WAD-CMSN (+ identity matching)", {"ablation": "full"}),
]
_ABLATION_ROWS = [(label, {**match, "semantics": MAIN_SEMANTICS}) for label, match in _ABLATION_ROWS]
#: Table 4: loss ablations (with the main comparison's side information).
WADCMSN_TABLE4 = (_rows("wadcmsn2022", "Table 4", "Sketchy Extended (zero-shot)", _ABLATION_ROWS, ZS_METRICS)
                  + _rows("wadcmsn2022", "Table 4", "TU-Berlin Extended (zero-shot)", _ABLATION_ROWS, ZS_METRICS))

# ------------------------------------------------------------------------------------------- SEM-PCYC 2019
#: SEM-PCYC's own comparison table (its competitors on Sketchy Extended / TU-Berlin Extended).
SEMPCYC_TABLE = (_rows("sempcyc2019", "Table 2", "Sketchy Extended (zero-shot)",
                       [("SEM-PCYC", {}), ("ZSIH", {}), ("ZS-SBIR", {})], ZS_METRICS)
                 + _rows("sempcyc2019", "Table 2", "TU-Berlin Extended (zero-shot)",
                         [("SEM-PCYC", {}), ("ZSIH", {}), ("ZS-SBIR", {})], ZS_METRICS))

ALL = (PANG2017_TABLE2 + PANG2017_TABLE3 + PANG2017_TABLE4 + WADCMSN_TABLE1 + WADCMSN_TABLE2 + WADCMSN_TABLE3
       + WADCMSN_TABLE4 + SEMPCYC_TABLE)


def lookup(paper: str, table: str, row: str, metric: str, dataset: str | None = None) -> PaperNumber:
    """The entry for (paper, table, row, metric[, dataset]); ``KeyError`` naming what is missing."""
    hits = [p for p in ALL if (p.paper, p.table, p.row, p.metric) == (paper, table, row, metric)
            and (dataset is None or p.dataset == dataset)]
    if not hits:
        raise KeyError(f"no paper number for {paper} {table} row {row!r} metric {metric!r} dataset {dataset!r}")
    return hits[0]


def format_value(entry: PaperNumber | None, digits: int = 3) -> str:
    """The printed form: the number, or "n/a (not verified)"."""
    if entry is None or entry.value is None:
        return "n/a (not verified)"
    return f"{entry.value:.{digits}f}"


def check_entries(entries=ALL) -> None:
    """Consistency of the table: known paper, a source for every value, NOT_VERIFIED note for every None."""
    for e in entries:
        if e.paper not in PAPERS:
            raise ValueError(f"unknown paper {e.paper!r} in {e}")
        if e.value is not None and not e.source:
            raise ValueError(f"{e.paper} {e.table} {e.row} {e.metric}: a value needs its source")
        if e.value is None and e.note != NOT_VERIFIED:
            raise ValueError(f"{e.paper} {e.table} {e.row} {e.metric}: a missing value must say {NOT_VERIFIED!r}")
