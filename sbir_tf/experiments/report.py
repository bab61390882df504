"""Experiment records -> Markdown tables laid out like the papers' tables, published numbers beside ours.

    python -m sbir_tf.experiments.report [--root experiments] [--out REPORT.md]
    python -m sbir_tf.experiments.report --aggregate runs/zs_s0 runs/zs_s1 runs/zs_s2 --aggregate_out experiments/zs_full

A *record* is a folder holding ``metrics.json`` (plus ``config.json``, ``environment.json`` and ``figures/``, as
``sbir_tf.train.run_dir.RunDir`` writes them). Three kinds are read:

* fine-grained (``fg_common.run_experiment``): ``acc@K``, ``chance``, ``variant``, ``sharing``, ``schedule``,
  ``dataset``, ``image_size``, ``weights``, ``steps``, ...
* zero-shot (``zs_common.run``): ``wadcmsn`` / ``baseline_raw_features`` score dicts (``mAP@all``, ``P@100``,
  ``mAP@200``, ``P@200``), ``split``, ``semantics``, ``ablation``, ``features``, ``seed``, ...
* multi-seed zero-shot (:func:`aggregate_runs`), schema::

      {"task": "zero_shot", "aggregate": {"seeds": [0, 1, 2], "n": 3, "std_ddof": 1,
                                          "mean": {"mAP@all": ..}, "std": {"mAP@all": ..},
                                          "baseline_raw_features": {"mean": {..}, "std": {..}}},
       "runs": [{"seed": 0, "source": "runs/zs_s0", "wadcmsn": {..}, "baseline_raw_features": {..}}, ...],
       "dataset": .., "data": .., "split": .., "semantics": .., "ablation": .., "config": .., "features": ..,
       "steps": ..}

  ``mean``/``std`` are over the seeds' WAD-CMSN scores (the baseline's for the ``raw_features`` ablation); ``std``
  is the sample standard deviation (``ddof=1``; 0 for a single seed). Seed runs nested inside an aggregate's folder
  or named in its ``runs`` are not reported again on their own.

Every measured number is printed with what it was measured on (dataset, split, image size, weights, steps, device,
preset) and a "comparable to paper" flag, so a CPU run on synthetic or mini data is never mistaken for a
reproduction. Published numbers come only from :mod:`sbir_tf.experiments.paper_numbers`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sbir_tf.experiments import paper_numbers as P

FG_KS = ("acc@1", "acc@5", "acc@10")
ZS_METRICS = ("mAP@all", "P@100", "mAP@200", "P@200")
NO_RECORD = "—"
KINDS = ("fine_grained", "zero_shot", "zero_shot_aggregate")


# ------------------------------------------------------------------------------------------------ records
@dataclass
class Record:
    """One experiment folder: its ``metrics.json`` and, when present, ``config.json`` / ``environment.json``."""

    path: Path
    kind: str
    metrics: dict
    config: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    name: str = ""


def record_kind(metrics: dict) -> str | None:
    """``fine_grained``, ``zero_shot``, ``zero_shot_aggregate`` or None (not an experiment record)."""
    if metrics.get("task") == "zero_shot" and isinstance(metrics.get("aggregate"), dict):
        return "zero_shot_aggregate"
    if "acc@1" in metrics:
        return "fine_grained"
    if "baseline_raw_features" in metrics or "wadcmsn" in metrics:
        return "zero_shot"
    return None


def _read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return default
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def load_record(folder: str | Path, root: str | Path | None = None) -> Record:
    """The record in ``folder``; ``ValueError`` when its ``metrics.json`` is missing or of no known kind."""
    folder = Path(folder)
    metrics = _read_json(folder / "metrics.json")
    if not isinstance(metrics, dict):
        raise ValueError(f"{folder}: no metrics.json (a record folder holds metrics.json, config.json, "
                         f"environment.json and figures/)")
    kind = record_kind(metrics)
    if kind is None:
        raise ValueError(f"{folder}/metrics.json is neither a fine-grained (acc@K) nor a zero-shot "
                         f"(wadcmsn/baseline_raw_features or an aggregate) record")
    try:
        name = str(folder.relative_to(root)) if root is not None else folder.name
    except ValueError:
        name = folder.name
    return Record(folder, kind, metrics, _read_json(folder / "config.json", {}) or {},
                  _read_json(folder / "environment.json", {}) or {}, name)


def find_records(root: str | Path) -> tuple[list[Record], list[str]]:
    """All records under ``root`` (sorted by path) and a list of warnings for folders that were skipped."""
    root = Path(root)
    if not root.is_dir():
        return [], [f"no records folder {root}"]
    records, warnings = [], []
    for metrics_path in sorted(root.rglob("metrics.json")):
        try:
            records.append(load_record(metrics_path.parent, root))
        except ValueError as err:
            warnings.append(str(err))
    aggregates = [r for r in records if r.kind == "zero_shot_aggregate"]
    covered = set()
    for agg in aggregates:
        for run in agg.metrics.get("runs", []):
            if run.get("source"):
                covered.add(Path(run["source"]).resolve())
    kept = []
    for r in records:
        inside = any(a is not r and a.path.resolve() in r.path.resolve().parents for a in aggregates)
        if r.kind != "zero_shot_aggregate" and (inside or r.path.resolve() in covered):
            continue  # a seed of an aggregate: reported through the aggregate
        kept.append(r)
    return kept, warnings


# ------------------------------------------------------------------------------------------------ identity
def _device(env: dict) -> str:
    gpus = env.get("gpus") or []
    if gpus:
        return f"GPU x{len(gpus)}"
    return "CPU" + (f" ({env['cores']} cores)" if env.get("cores") else "") if env else "unknown"


def _commit(env: dict) -> str:
    commit = env.get("commit")
    return commit[:8] if commit else "unknown"


def _is_small_data(root: str | None, source: str | None) -> str | None:
    text = f"{root or ''} {source or ''}".lower()
    if "synthetic" in text:
        return "synthetic data"
    if "mini" in text:
        return "mini subset"
    return None


def identity(record: Record) -> dict:
    """What a measured number was measured on, as short strings (the columns every table prints)."""
    m, env = record.metrics, record.environment
    if record.kind == "fine_grained":
        dataset = str(m.get("dataset", "?"))
        if m.get("category") and dataset.startswith("qmul"):
            dataset += f"/{m['category']}"
        small = _is_small_data(m.get("data_root"), dataset)
        split = str(m.get("split", "?")).split(" ")[0]
        ident = {"model": f"{m.get('variant', '?')}, {m.get('sharing', '?')}, schedule {m.get('schedule', '?')}",
                 "dataset": dataset + (f" ({small})" if small and small not in dataset else ""),
                 "split": split, "image_size": f"{m.get('image_size', '?')} px",
                 "weights": str(m.get("weights")), "steps": str(m.get("steps", "?")),
                 "preset": str(m.get("preset", "?")), "seeds": str(m.get("seed", "?"))}
    else:
        data = m.get("data") or {}
        split = m.get("split") or {}
        small = _is_small_data(data.get("root"), data.get("source"))
        features = m.get("features") or {}
        source = data.get("source")
        ident = {"model": f"{m.get('ablation', '?')}, {m.get('semantics', '?')}",
                 "dataset": f"{m.get('dataset', '?')}" + (f" [{source}]" if source else "")
                            + (f" ({small})" if small and small not in str(source) else ""),
                 "split": (f"{split.get('name', '?')} ({split.get('num_seen', '?')} seen / "
                           f"{split.get('num_test', split.get('num_unseen', '?'))} test classes)"),
                 "image_size": f"{features.get('image_size', '?')} px",
                 "weights": str(features.get("weights", "?")), "steps": str(m.get("steps", "n/a (no training)")),
                 "preset": str(m.get("config", "?"))}
        if record.kind == "zero_shot_aggregate":
            ident["seeds"] = ",".join(str(s) for s in m["aggregate"].get("seeds", []))
        else:
            ident["seeds"] = str(m.get("seed", "?"))
    ident["device"] = _device(env)
    ident["commit"] = _commit(env)
    comparable = ident["preset"] == "paper" and small is None
    ident["comparable"] = "yes" if comparable else "no"
    return ident


IDENTITY_COLUMNS = (("model", "Model"), ("dataset", "Dataset"), ("split", "Split"), ("image_size", "Image size"),
                    ("weights", "Weights"), ("steps", "Steps"), ("seeds", "Seed(s)"), ("preset", "Preset"),
                    ("device", "Device"), ("commit", "Commit"), ("comparable", "Paper setting?"))


# ------------------------------------------------------------------------------------------------ values
def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "n/a"
    try:
        return f"{float(x):.{digits}f}"
    except (TypeError, ValueError):
        return str(x)


def zs_scores(record: Record, which: str = "wadcmsn") -> dict | None:
    """``{metric: (mean, std or None)}`` of a zero-shot record's WAD-CMSN (``which="wadcmsn"``) or raw-feature
    baseline (``which="baseline"``) scores; None when the record has none."""
    m = record.metrics
    if record.kind == "zero_shot":
        scores = m.get("wadcmsn") if which == "wadcmsn" else m.get("baseline_raw_features")
        return None if scores is None else {k: (v, None) for k, v in scores.items()}
    if record.kind == "zero_shot_aggregate":
        agg = m["aggregate"]
        if which == "wadcmsn":
            if m.get("ablation") == "raw_features":
                return None
            mean, std = agg.get("mean"), agg.get("std", {})
        else:
            base = agg.get("baseline_raw_features") or {}
            mean, std = base.get("mean"), base.get("std", {})
        return None if not mean else {k: (v, std.get(k)) for k, v in mean.items()}
    return None


def _cell(pair, n: int | None = None) -> str:
    if pair is None:
        return "n/a"
    mean, std = pair
    if std is None:
        return _fmt(mean)
    return f"{_fmt(mean)} ± {_fmt(std)}" + (f" (n={n})" if n else "")


def _n_seeds(record: Record) -> int | None:
    return int(record.metrics["aggregate"].get("n", 0)) or None if record.kind == "zero_shot_aggregate" else None


def _canonical_semantics(spec) -> tuple | str:
    try:
        from sbir_tf.experiments.zs_common import parse_semantics

        return parse_semantics(str(spec))
    except (ValueError, ImportError):
        return str(spec)


def _ablation(name) -> str:
    try:
        from sbir_tf.experiments.zs_presets import canonical_ablation

        return canonical_ablation(str(name))
    except (ValueError, ImportError):
        return str(name)


def _dataset_family(text: str) -> str:
    t = text.lower().replace("-", "").replace("_", "")
    return "tuberlin" if "tuberlin" in t else "sketchy" if ("sketchy" in t or "synthetic" in t) else t


def matches(entry: P.PaperNumber, record: Record) -> bool:
    """Whether ``record`` belongs beside the paper row ``entry`` (see ``paper_numbers`` row keys)."""
    if not entry.match:
        return False
    m = record.metrics
    if record.kind == "fine_grained":
        if entry.paper != "pang2017":
            return False
        for key, want in entry.match.items():
            if key == "chance":
                continue
            if str(m.get(key)) != want:
                return False
        if "sharing" in entry.match and m.get("variant") != "vgg16":
            return False  # Table 4 compares sharing with the full VGG16 model
        return True
    if entry.paper != "wadcmsn2022" or _dataset_family(str(m.get("dataset", ""))) != _dataset_family(entry.dataset):
        return False
    for key, want in entry.match.items():
        if key == "baseline":  # every zero-shot run measures it; shown once per setting, from these two
            if _ablation(m.get("ablation")) not in ("raw_features", "full"):
                return False
            continue
        if key == "ablation" and _ablation(m.get("ablation")) != want:
            return False
        if key == "semantics" and _canonical_semantics(m.get("semantics")) != _canonical_semantics(want):
            return False
    return True


# ------------------------------------------------------------------------------------------------ tables
def _md_row(cells: Sequence) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _md_table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    return [_md_row(header), _md_row(["---"] * len(header)), *(_md_row(r) for r in rows)]


def _group(entries: Iterable[P.PaperNumber]):
    """Paper entries grouped by (paper, table, dataset) then row, keeping the file's order."""
    groups: dict = {}
    for e in entries:
        groups.setdefault((e.paper, e.table, e.dataset), {}).setdefault(e.row, {})[e.metric] = e
    return groups


def _ours_values(entry: P.PaperNumber, record: Record, metrics: Sequence[str]) -> list[str]:
    m = record.metrics
    if record.kind == "fine_grained":
        source = m.get("chance", {}) if "chance" in entry.match else m
        return [_fmt(source.get(k)) for k in metrics]
    scores = zs_scores(record, "baseline" if "baseline" in entry.match else "wadcmsn")
    if scores is None:
        return ["n/a"] * len(metrics)
    return [_cell(scores.get(k), _n_seeds(record)) for k in metrics]


def paper_table(entries: Sequence[P.PaperNumber], records: Sequence[Record]) -> list[str]:
    """Markdown for one paper table: each paper row (quoted values) with every matching record of ours."""
    (paper, table, dataset), = {(e.paper, e.table, e.dataset) for e in entries}
    metrics = list(dict.fromkeys(e.metric for e in entries))
    header = (["Paper row"] + [f"Paper {k} (quoted)" for k in metrics] + [f"Ours {k}" for k in metrics]
              + ["Our record"] + [title for _, title in IDENTITY_COLUMNS])
    rows = []
    for row, by_metric in _group(entries)[(paper, table, dataset)].items():
        quoted = [P.format_value(by_metric.get(k)) for k in metrics]
        first = next(iter(by_metric.values()))
        mine = [r for r in records if matches(first, r)]
        if "chance" in first.match:  # one chance line per distinct gallery, not one per run
            galleries = {}
            for r in mine:
                galleries.setdefault((r.metrics.get("data_root"), r.metrics.get("gallery_size")), r)
            mine = list(galleries.values())
        if not mine:
            rows.append([row, *quoted, *([NO_RECORD] * len(metrics)), "no record", *([""] * len(IDENTITY_COLUMNS))])
        for r in mine:
            ident = identity(r)
            label = row + (" — our chance level" if "chance" in first.match else
                           " — our raw-feature baseline" if "baseline" in first.match else "")
            rows.append([label, *quoted, *_ours_values(first, r, metrics), f"`{r.name}`",
                         *(ident[key] for key, _ in IDENTITY_COLUMNS)])
    sources = sorted({e.source for e in entries if e.source})
    lines = [f"### {P.PAPERS[paper].split(',')[0]} et al. — {table}, {dataset}", "",
             f"Paper columns are quoted from {P.PAPERS[paper]}, {table}"
             + (f" (source: {'; '.join(sources)})" if sources else "")
             + "; \"n/a (not verified)\" = not yet checked against the paper. \"Ours\" columns are measured by this "
               "package on the setting in the columns to their right.", ""]
    return lines + _md_table(header, rows) + [""]


def records_table(records: Sequence[Record], kind: str) -> list[str]:
    """Every record of one task with all its numbers and identity."""
    if kind == "fine_grained":
        header = (["Record", "Variant", "Sharing", "Schedule"] + list(FG_KS) + ["chance acc@1", "queries",
                  "gallery"] + [t for _, t in IDENTITY_COLUMNS])
        rows = []
        for r in records:
            m = r.metrics
            rows.append([f"`{r.name}`", m.get("variant"), m.get("sharing"), m.get("schedule"),
                         *(_fmt(m.get(k)) for k in FG_KS), _fmt((m.get("chance") or {}).get("acc@1")),
                         m.get("queries", "?"), m.get("gallery_size", "?"),
                         *(identity(r)[k] for k, _ in IDENTITY_COLUMNS)])
    else:
        header = (["Record", "Ablation", "Semantics"] + [f"WAD-CMSN {k}" for k in ZS_METRICS]
                  + [f"raw-feature NN {k}" for k in ZS_METRICS[:2]] + [t for _, t in IDENTITY_COLUMNS])
        rows = []
        for r in records:
            wad, base, n = zs_scores(r, "wadcmsn") or {}, zs_scores(r, "baseline") or {}, _n_seeds(r)
            rows.append([f"`{r.name}`", r.metrics.get("ablation"), r.metrics.get("semantics"),
                         *(_cell(wad.get(k), n) for k in ZS_METRICS), *(_cell(base.get(k), n) for k in ZS_METRICS[:2]),
                         *(identity(r)[k] for k, _ in IDENTITY_COLUMNS)])
    return _md_table(header, rows) + [""]


def _tables(entries: Sequence[P.PaperNumber]) -> list[list[P.PaperNumber]]:
    return [[e for e in entries if (e.paper, e.table, e.dataset) == key] for key in _group(entries)]


FG_PAPER_TABLES = (P.PANG2017_TABLE2, P.PANG2017_TABLE3, P.PANG2017_TABLE4)
ZS_PAPER_TABLES = (P.WADCMSN_TABLE1, P.WADCMSN_TABLE2, P.WADCMSN_TABLE3, P.WADCMSN_TABLE4)


def render_fine_grained(records: Sequence[Record]) -> str:
    """Pang et al. 2017 Tables 2-4 with our fine-grained records beside them, then all fine-grained records."""
    fg = [r for r in records if r.kind == "fine_grained"]
    lines = ["## Fine-grained SBIR (Pang et al., BMVC 2017)", ""]
    for group in FG_PAPER_TABLES:
        for entries in _tables(group):
            lines += paper_table(entries, fg)
    lines += ["### All fine-grained records", ""]
    lines += records_table(fg, "fine_grained") if fg else ["No fine-grained records.", ""]
    return "\n".join(lines)


def render_zero_shot(records: Sequence[Record]) -> str:
    """WAD-CMSN Tables 1-4 with our zero-shot records (single seeds and aggregates), then all of them."""
    zs = [r for r in records if r.kind in ("zero_shot", "zero_shot_aggregate")]
    lines = ["## Zero-shot SBIR (WAD-CMSN, Xu, Hu, Cai 2022)", ""]
    for group in ZS_PAPER_TABLES:
        for entries in _tables(group):
            lines += paper_table(entries, zs)
    lines += ["### Competitors as reported by SEM-PCYC (Dutta & Akata, CVPR 2019)", ""]
    for entries in _tables(P.SEMPCYC_TABLE):
        lines += paper_table(entries, [])
    lines += ["### All zero-shot records", ""]
    lines += records_table(zs, "zero_shot") if zs else ["No zero-shot records.", ""]
    return "\n".join(lines)


def render_report(records: Sequence[Record], warnings: Sequence[str] = (), root: str | Path = "experiments") -> str:
    head = ["# sbir_tf experiment report", "",
            f"Records read from `{root}`: {len(records)} "
            f"({sum(r.kind == 'fine_grained' for r in records)} fine-grained, "
            f"{sum(r.kind != 'fine_grained' for r in records)} zero-shot).", "",
            "**Reading this report.** Columns marked *quoted* are numbers published in the papers (table and row "
            "given; \"n/a (not verified)\" where the value has not been checked against the paper text). Columns "
            "marked *Ours* are measured by this package; the columns to their right say on what: dataset (synthetic "
            "data and mini subsets are flagged), split, image size, weights, training steps, seeds, preset, device "
            "and commit. Only rows with *Paper setting? = yes* (paper preset on the full dataset) are meant to be "
            "compared with the published numbers; everything else is a sanity check. Fine-grained numbers are "
            "fractions (acc@K in [0, 1]); zero-shot numbers are mAP / precision in [0, 1]; `a ± b (n=k)` is the "
            "mean ± sample standard deviation over k seeds.", ""]
    if warnings:
        head += ["Skipped folders:", "", *(f"- {w}" for w in warnings), ""]
    return "\n".join(head + [render_fine_grained(records), render_zero_shot(records)]).rstrip() + "\n"


def build_report(root: str | Path = "experiments") -> str:
    records, warnings = find_records(root)
    return render_report(records, warnings, root)


# ------------------------------------------------------------------------------------------------ aggregate
_SAME_ACROSS_SEEDS = ("dataset", "semantics", "ablation", "config", "steps", "features")


def _mean_std(values: Sequence[dict]) -> tuple[dict, dict]:
    keys = [k for k in values[0] if all(k in v and v[k] is not None for v in values)]
    arr = {k: np.array([float(v[k]) for v in values]) for k in keys}
    mean = {k: float(a.mean()) for k, a in arr.items()}
    std = {k: float(a.std(ddof=1)) if len(a) > 1 else 0.0 for k, a in arr.items()}
    return mean, std


def aggregate_runs(run_dirs: Sequence[str | Path], out_dir: str | Path) -> dict:
    """Build a multi-seed zero-shot record in ``out_dir`` from seed runs of one setting (schema: module docstring).

    The runs must be zero-shot records that differ only in their seed (same dataset, split, semantics, ablation,
    preset, steps and features); ``config.json``, ``environment.json`` and ``figures/`` are copied from the first
    run. Returns the written ``metrics.json`` dict.
    """
    from sbir_tf.train.run_dir import write_json

    if not run_dirs:
        raise ValueError("aggregate_runs needs at least one run folder")
    runs = [load_record(d) for d in run_dirs]
    for r in runs:
        if r.kind != "zero_shot":
            raise ValueError(f"{r.path} is a {r.kind} record; aggregate_runs combines single zero-shot runs")
    first = runs[0].metrics
    for r in runs[1:]:
        for key in _SAME_ACROSS_SEEDS:
            if r.metrics.get(key) != first.get(key):
                raise ValueError(f"{r.path} differs from {runs[0].path} in {key!r}: {r.metrics.get(key)!r} vs "
                                 f"{first.get(key)!r}; only the seed may differ between aggregated runs")
        if (r.metrics.get("split") or {}).get("name") != (first.get("split") or {}).get("name"):
            raise ValueError(f"{r.path} uses another split than {runs[0].path}")
    seeds = [r.metrics.get("seed") for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"duplicate seeds {seeds}: each aggregated run must use its own seed")

    main_key = "baseline_raw_features" if first.get("ablation") == "raw_features" else "wadcmsn"
    if any(main_key not in r.metrics for r in runs):
        raise ValueError(f"every run needs {main_key!r} scores in its metrics.json")
    mean, std = _mean_std([r.metrics[main_key] for r in runs])
    b_mean, b_std = _mean_std([r.metrics["baseline_raw_features"] for r in runs]) \
        if all("baseline_raw_features" in r.metrics for r in runs) else ({}, {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {key: first.get(key) for key in ("dataset", "data", "split", "semantics", "ablation", "config",
                                              "features", "steps", "num_queries", "num_gallery")}
    record.update({
        "task": "zero_shot",
        "aggregate": {"seeds": seeds, "n": len(runs), "std_ddof": 1, "scores": main_key, "mean": mean, "std": std,
                      "baseline_raw_features": {"mean": b_mean, "std": b_std}},
        "runs": [{"seed": r.metrics.get("seed"), "source": str(r.path), "wadcmsn": r.metrics.get("wadcmsn"),
                  "baseline_raw_features": r.metrics.get("baseline_raw_features"), "val": r.metrics.get("val")}
                 for r in runs],
        "copied_from": str(runs[0].path),
    })
    for name in ("config.json", "environment.json"):
        if (runs[0].path / name).is_file():
            shutil.copy2(runs[0].path / name, out / name)
    if (runs[0].path / "figures").is_dir():
        shutil.copytree(runs[0].path / "figures", out / "figures", dirs_exist_ok=True)
    write_json(out / "metrics.json", record)
    return record


# ------------------------------------------------------------------------------------------------ CLI
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sbir_tf.experiments.report",
                                description="Collect experiment records into Markdown tables beside the papers' "
                                            "numbers, or aggregate zero-shot seed runs into one record.")
    p.add_argument("--root", default="experiments", help="folder searched (recursively) for metrics.json")
    p.add_argument("--out", default=None, help="Markdown file to write (default: print)")
    p.add_argument("--aggregate", nargs="+", default=None, metavar="RUN_DIR",
                   help="zero-shot seed runs to combine into one multi-seed record (needs --aggregate_out)")
    p.add_argument("--aggregate_out", default=None, help="folder of the multi-seed record")
    args = p.parse_args(argv)
    try:
        if args.aggregate:
            if not args.aggregate_out:
                p.error("--aggregate needs --aggregate_out")
            rec = aggregate_runs(args.aggregate, args.aggregate_out)
            print(f"wrote {args.aggregate_out}/metrics.json: seeds {rec['aggregate']['seeds']}, mean "
                  + ", ".join(f"{k}={v:.4f}" for k, v in rec["aggregate"]["mean"].items()))
            return 0
        text = build_report(args.root)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out:
        from sbir_tf.train.run_dir import atomic_write_text

        atomic_write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
