"""Settings side by side, one dot per seed: the test acc@K of fine-grained records, for reading a difference against
the spread of the seeds (``sbir_tf.eval.figures.seed_dots``).

    python experiments/scripts/plot_fg_seeds.py --out experiments/fg_sketchy_mini_weight_sharing_seeds.png \
        "siamese, live=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_112px/vgg16" \
        "hybrid, cache=experiments/fg_sketchy_mini_imagenet-offline_pixel_mse_k5_views8_hybrid_112px/vgg16" ...

Each ``LABEL=FOLDER`` names a folder holding ``seed<k>/metrics.json``; every seed recorded there is drawn. The dashed
line is chance (``metrics.json``'s ``chance``, the same for every folder of one gallery).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sbir_tf.eval.figures import seed_dots  # noqa: E402 - after the path set-up above

METRICS = ("acc@1", "acc@5", "acc@10")


def seed_metrics(folder: Path) -> list[dict]:
    """``metrics.json`` of every ``seed<k>`` under ``folder``, by seed number."""
    found = [(int(p.parent.name[4:]), p) for p in folder.glob("seed*/metrics.json") if p.parent.name[4:].isdigit()]
    return [json.loads(p.read_text()) for _, p in sorted(found)]


def parse_setting(text: str) -> tuple[str, Path]:
    label, sep, folder = text.rpartition("=")
    if not sep or not label or not folder:
        raise argparse.ArgumentTypeError(f"expected LABEL=FOLDER, got {text!r}")
    return label, Path(folder)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", type=parse_setting, metavar="LABEL=FOLDER",
                        help="a label and a folder holding seed<k>/metrics.json")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", default="Test acc@K per seed")
    args = parser.parse_args(argv)
    panels: dict[str, dict[str, list[float]]] = {m: {} for m in METRICS}
    chance: dict[str, float] = {}
    for label, folder in args.settings:
        try:
            records = seed_metrics(folder)
            values = {m: [float(r[m]) for r in records] for m in METRICS}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"unreadable seed<k>/metrics.json under {folder} ({label}): {exc!r}", file=sys.stderr)
            return 2
        if not records:
            print(f"no seed<k>/metrics.json under {folder} ({label})", file=sys.stderr)
            return 2
        for m in METRICS:
            panels[m][f"{label} (n={len(records)})"] = values[m]
        chance = chance or {m: float(v) for m, v in (records[0].get("chance") or {}).items() if m in METRICS}
    seed_dots(panels, args.out, title=args.title, chance=chance)
    print(f"wrote {args.out} ({len(args.settings)} settings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
