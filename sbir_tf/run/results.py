"""``metrics.json`` (one writer for both papers) and the plain-text results table.

Every ``metrics.json`` starts with the run's identity, written here and nowhere else:

``task`` ("fine_grained" | "zero_shot"), ``dataset``, ``preset``, ``variant`` (fine-grained: the Table 3 variant;
zero-shot: the ablation), ``seed``, ``steps`` (None when nothing is trained), ``train_seconds``,
``wall_time_seconds``; then the task's own scores (fine-grained: flat ``acc@K``, ``chance``, ``per_category_acc@1``
...; zero-shot: the ``wadcmsn`` and ``baseline_raw_features`` score dicts ...) and ``figures``. The report
(:mod:`sbir_tf.experiments.report`) reads both.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from sbir_tf.train.run_dir import write_json

IDENTITY_KEYS = ("task", "dataset", "preset", "variant", "seed", "steps")


def metrics_record(identity: Mapping[str, Any], scores: Mapping[str, Any], *, train_seconds: float,
                   wall_seconds: float) -> dict:
    """The ``metrics.json`` dict: identity first, then the task's scores (which may refine ``dataset``)."""
    missing = [k for k in IDENTITY_KEYS if k not in identity]
    if missing:
        raise ValueError(f"run identity lacks {missing}")
    record = {k: identity[k] for k in IDENTITY_KEYS}
    record.update(scores)
    record["train_seconds"] = round(float(train_seconds), 2)
    record["wall_time_seconds"] = round(float(wall_seconds), 2)
    return record


def write_metrics(run_dir: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write ``run_dir/metrics.json`` atomically (the run is finished once this file exists)."""
    path = Path(run_dir) / "metrics.json"
    write_json(path, dict(metrics))
    return path


def format_table(title: Sequence[str], columns: Sequence[str], rows: Sequence[tuple[str, Mapping[str, Any]]],
                 *, first: str = "method", width: int = 10, digits: int = 4) -> str:
    """``title`` lines, then one row per ``(name, {column: value})``; a missing value prints as ``-``."""
    name_width = max([len(first)] + [len(name) for name, _ in rows]) + 2
    lines = list(title)
    lines.append(f"{first:<{name_width}}" + "".join(f"{c:>{width}}" for c in columns))
    for name, values in rows:
        cells = []
        for column in columns:
            value = values.get(column)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                cells.append(f"{value:>{width}.{digits}f}")
            else:
                cells.append(f"{'-':>{width}}")
        lines.append(f"{name:<{name_width}}" + "".join(cells))
    return "\n".join(lines)
