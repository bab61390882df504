"""Validation curves of a multi-seed fine-grained campaign: acc@K on the validation slice against the step, one line
per ``<variant>/seed<k>`` record (colour = seed, line style = variant), drawn with ``sbir_tf.eval.figures.curves``.

    python experiments/scripts/plot_fg_validation.py experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_112px \
        [--metric acc@1] [--out RECORDS_DIR/validation_acc@1.png] [--beside SETTING_DIR ...]

``--beside`` adds the curves of settings recorded elsewhere (a ``<setting>`` folder holding ``<variant>/seed<k>``,
e.g. the unchanged setting a held-out choice compares against), labelled ``<setting>/<variant> seed<k>``.

Each record's validation rows are read from ``validation.json`` (written by ``record_fg_seeds.sh`` from the run's
TensorBoard events) or, failing that, from the ``val/*`` entries of its ``history.jsonl``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sbir_tf.eval.figures import curves  # noqa: E402 - after the path set-up above
from sbir_tf.experiments.report import held_out_for_validation  # noqa: E402


def validation_rows(record: Path) -> list[dict]:
    """``[{"step": s, "val/acc@1": ..}, ..]`` of one record, from validation.json or history.jsonl."""
    if (record / "validation.json").is_file():
        return json.loads((record / "validation.json").read_text())
    history = record / "history.jsonl"
    if not history.is_file():
        return []
    rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
    return [row for row in rows if any(k.startswith("val/") for k in row)]


def seed_records(root: Path) -> list[Path]:
    """Every ``seed<k>`` record folder under ``root``, at any depth (``<variant>/seed<k>`` or
    ``<setting>/<variant>/seed<k>``), sorted."""
    return sorted(p for p in root.rglob("seed*") if p.is_dir() and (p / "metrics.json").is_file())


def campaign_series(root: Path, metric: str) -> dict[str, list[tuple[int, float]]]:
    """``{"<variant> seed<k>": [(step, value), ..]}`` for every record under ``root``; the variant part is the
    record's parent path relative to ``root`` (``k3_1000/vgg16-D`` for a nested layout)."""
    series = {}
    for record in seed_records(root):
        key = f"val/{metric}"
        points = [(int(r["step"]), float(r[key])) for r in validation_rows(record) if key in r]
        if points:
            series[f"{record.parent.relative_to(root).as_posix()} {record.name}"] = points
    return series


def beside_series(settings: list[Path], metric: str) -> dict[str, list[tuple[int, float]]]:
    """:func:`campaign_series` of each ``<setting>`` folder, its names prefixed with the folder's name."""
    series = {}
    for setting in settings:
        series.update({f"{setting.name}/{name}": points
                       for name, points in campaign_series(setting, metric).items()})
    return series


def record_slice(record: Path) -> str:
    """What one record's curve was read on, from its ``config.json`` and ``metrics.json``: "100 queries of the test
    split, a monitor" (``data.val_instances`` = 0) or "sketches of 30 held-out training instances"."""
    try:
        metrics = json.loads((record / "metrics.json").read_text())
        config = json.loads((record / "config.json").read_text())
    except (TypeError, OSError, ValueError):
        return "validation slice"
    held_out = held_out_for_validation(config)
    if held_out:
        return f"sketches of {held_out} held-out training instances"
    wanted = int((config.get("eval") or {}).get("val_queries", 0)) or None
    queries = int(metrics.get("queries") or 0)
    return f"{min(queries, wanted or queries)} queries of the test split, a monitor"


def slice_label(root: Path) -> str:
    """What the curves under ``root`` were read on: one phrase when every record agrees, else one per top-level
    folder ("shoes: 100 queries of the test split, a monitor; chairs: 97 ...")."""
    by_group: dict[str, str] = {}
    for record in seed_records(root):
        by_group.setdefault(record.relative_to(root).parts[0], record_slice(record))
    labels = list(dict.fromkeys(by_group.values()))
    if len(labels) <= 1:
        return labels[0] if labels else "validation slice"
    return "; ".join(f"{group}: {label}" for group, label in by_group.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path,
                        help="campaign records folder holding <variant>/seed<k>/ (or <setting>/<variant>/seed<k>/)")
    parser.add_argument("--metric", default="acc@1", choices=("acc@1", "acc@5", "acc@10"))
    parser.add_argument("--out", type=Path, help="PNG to write (default RECORDS/validation_<metric>.png)")
    parser.add_argument("--beside", type=Path, nargs="+", default=[],
                        help="<setting> folders recorded elsewhere whose curves are drawn too")
    args = parser.parse_args(argv)
    series = campaign_series(args.records, args.metric)
    if not series:
        print(f"no validation rows under {args.records} (<variant>/seed<k>/)", file=sys.stderr)
        return 2
    for setting in args.beside:
        extra = beside_series([setting], args.metric)
        if not extra:
            print(f"no validation rows under --beside {setting} (<variant>/seed<k>/)", file=sys.stderr)
            return 2
        series.update(extra)
    out = args.out or args.records / f"validation_{args.metric}.png"
    seeds = sorted({name.split(" ")[1] for name in series})
    variants = sorted({name.split(" ")[0] for name in series})
    if len(seeds) > 1:  # colour = seed, line style = variant
        styles = {name: {"color": f"C{seeds.index(name.split(' ')[1])}",
                         "linestyle": ("-", "--", ":", "-.")[variants.index(name.split(" ")[0]) % 4]}
                  for name in series}
        legend = "; colour = seed, line = variant"
    else:  # one seed: colour = variant
        styles = {name: {"color": f"C{variants.index(name.split(' ')[0])}"} for name in series}
        legend = ""
    curves(series, out, title=f"Validation {args.metric} ({slice_label(args.records)}){legend}", ylabel=args.metric,
           styles=styles)
    print(f"wrote {out} ({len(series)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
