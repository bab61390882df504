"""The selection rules of ``fg_campaign.sh``, applied to its held-out records: which setting goes on to the 3-seed
grid.

    python experiments/scripts/fg_select.py experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_112px \
        [experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_val60_224px ...]
    # one line per setting, then "winner: <frozen_blocks> <steps> <image_size>" (the last line, for the campaign)
    python experiments/scripts/fg_select.py --rule acc10 --order base,cls10,gap <records folder>
    # one line per setting, then "winner: <setting folder name>"

Rule ``acc1`` (parts 9 and 12), fixed before any result: the highest validation acc@1 at the last step wins,
compared as counts of queries (the validation set is the sketches of the held-out training instances, the same set
in every record); equal counts go to the cheaper setting: the smaller image size, then fewer steps, then more
frozen conv blocks (fewer layers trained). Its setting is read from ``config.json`` (``model.frozen_blocks``,
``train.steps``, ``data.image_size``), not from folder names.

Rule ``acc10`` (part 14), fixed before its runs: part 12 showed acc@1 on 332 validation queries (7-10 hits) too
noisy to choose on, so the most validation queries with the true photo in the top 10 at the last step win (about
40 hits, four times the count); equal counts go to more acc@1 hits, then to the setting named first in
``--order`` (the campaign names the unchanged setting first). Its settings are the folder names above
``<variant>/seed<k>``, since they differ in config keys the ``acc1`` rule does not read.

A setting's record is any ``seed<k>`` folder under the records folders.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path


RULES = ("acc1", "acc10")


@dataclass(frozen=True)
class Candidate:
    frozen_blocks: int
    steps: int
    image_size: int
    last_step: int
    queries: int
    hits: int  # queries whose true photo is ranked first at the last validation step
    hits10: int = 0  # ... in the top 10
    setting: str = ""  # the folder above <variant>/seed<k>

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
    return Candidate(setting=record.parents[1].name,
                     frozen_blocks=int(config["model"].get("frozen_blocks", 0)), steps=steps,
                     image_size=int(config["data"]["image_size"]),
                     last_step=int(last["step"]), queries=queries,
                     hits=round(float(last["val/acc@1"]) * queries),
                     hits10=round(float(last.get("val/acc@10", 0.0)) * queries))


def choose(candidates: list[Candidate]) -> Candidate:
    """The rule: most validation hits at the last step; ties go to the smaller image size, then to fewer steps, then
    to more frozen blocks."""
    if not candidates:
        raise ValueError("no candidates")
    return min(candidates, key=lambda c: (-c.hits, c.image_size, c.steps, -c.frozen_blocks))


def choose_by_acc10(candidates: list[Candidate], order: list[str]) -> Candidate:
    """Rule ``acc10``: most validation top-10 hits at the last step; ties go to more acc@1 hits, then to the setting
    named first in ``order``."""
    if not candidates:
        raise ValueError("no candidates")
    missing = sorted({c.setting for c in candidates} - set(order))
    if missing:
        raise ValueError(f"settings {missing} are not named in --order {order}")
    return min(candidates, key=lambda c: (-c.hits10, -c.hits, order.index(c.setting)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path, nargs="+",
                        help="records folders holding <setting>/<variant>/seed<k>/")
    parser.add_argument("--rule", choices=RULES, default="acc1", help="acc1 (parts 9, 12) or acc10 (part 14)")
    parser.add_argument("--order", default="", help="acc10: comma-separated setting names, for ties (first wins)")
    args = parser.parse_args(argv)
    order = [name for name in args.order.split(",") if name]
    if args.rule == "acc10" and not order:
        print("fg_select: --rule acc10 needs --order", file=sys.stderr)
        return 2
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
    if args.rule == "acc10":
        for c in candidates:
            print(f"{c.setting}: validation acc@10 {c.hits10 / c.queries:.3f} ({c.hits10} of {c.queries}), "
                  f"acc@1 {c.acc1:.3f} ({c.hits}) at step {c.last_step}")
        try:
            winner = choose_by_acc10(candidates, order)
        except ValueError as err:
            print(f"fg_select: {err}", file=sys.stderr)
            return 2
        print(f"winner: {winner.setting}")
        return 0
    for c in candidates:
        print(f"{c.image_size} px, k{c.frozen_blocks}, {c.steps} steps: validation acc@1 {c.acc1:.3f} "
              f"({c.hits} of {c.queries}) at step {c.last_step}")
    winner = choose(candidates)
    print(f"winner: {winner.frozen_blocks} {winner.steps} {winner.image_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
