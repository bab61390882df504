"""Median training step time per ``model.frozen_blocks`` from the runs of ``frozen_blocks_timing.sh``.

Step times come from each run's ``history.jsonl`` (older records: ``history.json``; ``time``: seconds since the loop started, logged at steps 1, 2, 4,
..., 12). The interval 0->1 (tracing of the first step) is left out; "steps 2->12" includes the stage-2 trace.
Usage: python experiments/scripts/frozen_blocks_timing.py [RUNS_DIR] (default: the recorded runs)
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

IMAGES_PER_STEP = 36  # 12 triplets


def history(run: Path) -> list[dict]:
    """The run's logged rows: ``history.jsonl`` (one JSON row per line), or ``history.json`` of older records."""
    if (run / "history.jsonl").is_file():
        return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    return json.loads((run / "history.json").read_text())


def seconds_per_step(run: Path, first: int, last: int) -> float:
    times = {row["step"]: row["time"] for row in history(run)}
    return (times[last] - times[first]) / (last - first)


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / \
        "fg_frozen_blocks_timing_112px"
    by_k = defaultdict(list)
    for run in sorted(p for p in root.iterdir() if (p / "metrics.json").is_file()):
        k = json.loads((run / "metrics.json").read_text())["frozen_blocks"]
        by_k[k].append((seconds_per_step(run, 2, 8), seconds_per_step(run, 10, 12), seconds_per_step(run, 2, 12)))
    print("| frozen blocks | runs | stage 1 (2->8) s/step | stage 2 (10->12) s/step | steps 2->12 s/step (img/s) |")
    print("|---|---|---|---|---|")
    for k in sorted(by_k):
        s1, s2, both = (statistics.median(v) for v in zip(*by_k[k]))
        print(f"| {k} | {len(by_k[k])} | {s1:.2f} | {s2:.2f} | {both:.2f} ({IMAGES_PER_STEP / both:.1f}) |")


if __name__ == "__main__":
    main()
