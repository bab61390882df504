"""experiments/scripts/plot_fg_seeds.py: every seed of every folder is read, in seed order; bad input is an error."""
import json
from pathlib import Path

import pytest

from tests.experiments.script_loader import load_script


def write(folder: Path, seed: int, acc1: float) -> None:
    (folder / f"seed{seed}").mkdir(parents=True)
    (folder / f"seed{seed}" / "metrics.json").write_text(json.dumps(
        {"acc@1": acc1, "acc@5": 2 * acc1, "acc@10": 3 * acc1, "chance": {"acc@1": 0.001, "acc@5": 0.005}}))


def test_seeds_in_order_and_the_figure(tmp_path, monkeypatch):
    plot = load_script("plot_fg_seeds")
    for seed, acc in ((10, 0.3), (2, 0.2), (0, 0.1)):
        write(tmp_path / "a", seed, acc)
    write(tmp_path / "b", 0, 0.5)
    assert [m["acc@1"] for m in plot.seed_metrics(tmp_path / "a")] == [0.1, 0.2, 0.3]  # seed 10 after seed 2
    drawn = {}
    monkeypatch.setattr(plot, "seed_dots", lambda panels, out, title, chance: drawn.update(panels=panels, chance=chance))
    assert plot.main([f"A=B={tmp_path / 'a'}", f"b={tmp_path / 'b'}", "--out", str(tmp_path / "o.png")]) == 0
    assert drawn["panels"]["acc@5"] == {"A=B (n=3)": [0.2, 0.4, 0.6], "b (n=1)": [1.0]}
    assert drawn["chance"] == {"acc@1": 0.001, "acc@5": 0.005}


def test_an_empty_folder_or_a_bad_argument_is_an_error(tmp_path, capsys):
    plot = load_script("plot_fg_seeds")
    assert plot.main([f"a={tmp_path}", "--out", str(tmp_path / "o.png")]) == 2
    assert "no seed<k>/metrics.json" in capsys.readouterr().err
    write(tmp_path / "c", 0, 0.1)
    (tmp_path / "c" / "seed1").mkdir()
    (tmp_path / "c" / "seed1" / "metrics.json").write_text('{"acc@1": 0.1}')  # no acc@5
    assert plot.main([f"c={tmp_path / 'c'}", "--out", str(tmp_path / "o.png")]) == 2
    assert "unreadable seed<k>/metrics.json" in capsys.readouterr().err and not (tmp_path / "o.png").exists()
    with pytest.raises(SystemExit):
        plot.main(["no-label-here", "--out", str(tmp_path / "o.png")])
