"""The selection rule of ``fg_campaign.sh`` parts 9 and 12, applied to their records: which setting goes on to the
3-seed grid.

    python experiments/scripts/fg_select.py experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_112px \
        [experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_224px ...]
    # one line per setting, then "winner: <frozen_blocks> <steps> <image_size>" (the last line, for the campaign)

The rule, fixed before any result: the highest validation acc@1 at the last step wins, compared as counts of
queries (the validation set is the sketches of the held-out training instances, the same set in every record);
equal counts go to the cheaper setting: the smaller image size, then fewer steps, then more frozen conv blocks
(fewer layers trained). A setting's record is any ``seed<k>`` folder under the records folders; its setting is
read from ``config.json`` (``model.frozen_blocks``, ``train.steps``, ``data.image_size``), not from folder names.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Candidate:
    frozen_blocks: int
    steps: int
    image_size: int
    last_step: int
    queries: int
    hits: int  # queries whose true photo is ranked first at the last validation step

    @property
    def acc1(self) -> float:
        return self.hits / self.queries if self.queries else 0.0


def read_candidate(record: Path) -> Candidate:
    """One record's setting and its last validation reading. A record whose validation did not reach its last
    training step (an unfinished run) is an error, not a candidate."""
    config = json.loads((record / "config.json").read_text())
    metrics = json.loads((record / "metrics.json").read_text())
    rows = json.loads((record / "validation.json").read_text())
    if not rows:
        raise ValueError(f"{record}: validation.json has no rows")
    last = max(rows, key=lambda r: int(r["step"]))
    steps = int(config["train"]["steps"])
    if int(last["step"]) != steps:
        raise ValueError(f"{record}: last validation at step {last['step']}, the run trains {steps} steps")
    queries = metrics.get("validation_queries")
    if queries is None:  # records made before metrics.json held the count: its description starts with it
        queries = str(metrics.get("validation", "")).split(" ", 1)[0]
    queries = int(queries) if str(queries).isdigit() else 0
    if queries <= 0:
        raise ValueError(f"{record}: metrics.json names no validation queries ({metrics.get('validation')!r})")
    return Candidate(frozen_blocks=int(config["model"].get("frozen_blocks", 0)), steps=steps,
                     image_size=int(config["data"]["image_size"]),
                     last_step=int(last["step"]), queries=queries,
                     hits=round(float(last["val/acc@1"]) * queries))


def choose(candidates: list[Candidate]) -> Candidate:
    """The rule: most validation hits at the last step; ties go to the smaller image size, then to fewer steps, then
    to more frozen blocks."""
    if not candidates:
        raise ValueError("no candidates")
    return min(candidates, key=lambda c: (-c.hits, c.image_size, c.steps, -c.frozen_blocks))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, nargs="+",
                        help="records folders holding <setting>/<variant>/seed<k>/")
    args = parser.parse_args(argv)
    records = []
    for folder in args.records:
        found = sorted(p for p in folder.rglob("seed*") if (p / "validation.json").is_file())
        if not found:
            print(f"no records with validation.json under {folder}", file=sys.stderr)
            return 2
        records += found
    try:
        candidates = [read_candidate(r) for r in records]
    except (ValueError, KeyError, OSError) as err:
        print(f"fg_select: {err}", file=sys.stderr)
        return 2
    for c in candidates:
        print(f"{c.image_size} px, k{c.frozen_blocks}, {c.steps} steps: validation acc@1 {c.acc1:.3f} "
              f"({c.hits} of {c.queries}) at step {c.last_step}")
    winner = choose(candidates)
    print(f"winner: {winner.frozen_blocks} {winner.steps} {winner.image_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
