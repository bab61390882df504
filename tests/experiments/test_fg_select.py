"""experiments/scripts/fg_select.py: the part-9 selection rule on tiny records laid out as the campaign writes them
(``<setting>/vgg16-D/seed0/`` with config.json, metrics.json, validation.json)."""
import json
from pathlib import Path

import pytest

from tests.experiments.script_loader import load_script


def write_setting(root: Path, frozen: int, steps: int, acc_by_step: dict[int, float], queries: int = 332,
                  image_size: int = 112) -> Path:
    record = root / f"k{frozen}_{steps}" / "vgg16-D" / "seed0"
    record.mkdir(parents=True)
    (record / "config.json").write_text(json.dumps({"model": {"frozen_blocks": frozen}, "train": {"steps": steps},
                                                    "data": {"image_size": image_size}}))
    (record / "metrics.json").write_text(json.dumps(
        {"validation": f"{queries} sketches of 60 training instances held out of training (data.val_instances)"}))
    (record / "validation.json").write_text(json.dumps(
        [{"step": s, "val/acc@1": a} for s, a in sorted(acc_by_step.items())]))
    return record


def test_last_step_decides_not_the_best_step(tmp_path, capsys):
    fg_select = load_script("fg_select")
    # k0 peaks higher mid-run (20 of 332 at step 500) but ends lower: the rule reads the last step only
    write_setting(tmp_path, 0, 1000, {500: 20 / 332, 1000: 3 / 332})
    write_setting(tmp_path, 3, 1000, {500: 9 / 332, 1000: 7 / 332})
    write_setting(tmp_path, 3, 2000, {1000: 3 / 332, 2000: 8 / 332})
    assert fg_select.main([str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "winner: 3 2000 112"
    assert "112 px, k0, 1000 steps: validation acc@1 0.009 (3 of 332) at step 1000" in lines


def test_equal_counts_go_to_the_cheaper_setting(tmp_path):
    fg_select = load_script("fg_select")
    candidates = [fg_select.read_candidate(write_setting(tmp_path, f, s, {s: 7 / 332}))
                  for f, s in ((3, 2000), (0, 1000), (3, 1000))]
    assert [c.hits for c in candidates] == [7, 7, 7]
    winner = fg_select.choose(candidates)
    assert (winner.frozen_blocks, winner.steps) == (3, 1000)  # fewer steps first, then more frozen blocks
    assert fg_select.choose(candidates[:2]).steps == 1000


def test_an_unfinished_run_is_an_error_not_a_candidate(tmp_path, capsys):
    fg_select = load_script("fg_select")
    write_setting(tmp_path, 3, 1000, {1000: 7 / 332})
    write_setting(tmp_path, 3, 2000, {1000: 3 / 332, 1250: 20 / 332})  # stopped at step 1250 of 2000
    assert fg_select.main([str(tmp_path)]) == 2
    assert "last validation at step 1250, the run trains 2000 steps" in capsys.readouterr().err
    with pytest.raises(ValueError):
        fg_select.choose([])


def test_the_structured_query_count_wins_over_the_description(tmp_path):
    fg_select = load_script("fg_select")
    record = write_setting(tmp_path, 3, 1000, {1000: 7 / 200}, queries=332)
    metrics = json.loads((record / "metrics.json").read_text())
    # the monitor read a 200-query slice of the 332 held-out sketches: the count it read is the one that converts
    (record / "metrics.json").write_text(json.dumps({**metrics, "validation_queries": 200}))
    candidate = fg_select.read_candidate(record)
    assert (candidate.queries, candidate.hits) == (200, 7)


def test_several_record_folders_and_the_image_size(tmp_path, capsys):
    """Part 12 against part 9: a 224 px setting wins only with more hits; equal hits go to the smaller image."""
    fg_select = load_script("fg_select")
    write_setting(tmp_path / "112px", 3, 2000, {2000: 10 / 332})
    write_setting(tmp_path / "224px", 3, 1000, {1000: 11 / 332}, image_size=224)
    assert fg_select.main([str(tmp_path / "112px"), str(tmp_path / "224px")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "winner: 3 1000 224"
    tie = [fg_select.Candidate(3, 1000, 224, 1000, 332, 10), fg_select.Candidate(3, 2000, 112, 2000, 332, 10)]
    assert fg_select.choose(tie).image_size == 112
    assert fg_select.main([str(tmp_path / "112px"), str(tmp_path / "missing")]) == 2
    assert "no records with validation.json under" in capsys.readouterr().err


def write_head_setting(root: Path, name: str, hits1: int, hits10: int, queries: int = 332) -> Path:
    """A part-14 record: settings differ in config keys the acc1 rule does not read, so the folder names them."""
    record = root / name / "vgg16-D" / "seed0"
    record.mkdir(parents=True)
    (record / "config.json").write_text(json.dumps({"model": {"frozen_blocks": 3}, "train": {"steps": 1000},
                                                    "data": {"image_size": 112}}))
    (record / "metrics.json").write_text(json.dumps({"validation_queries": queries}))
    (record / "validation.json").write_text(json.dumps(
        [{"step": 1000, "val/acc@1": hits1 / queries, "val/acc@10": hits10 / queries}]))
    return record


def test_acc10_rule_reads_top10_hits_not_acc1(tmp_path, capsys):
    fg_select = load_script("fg_select")
    write_head_setting(tmp_path, "base", hits1=12, hits10=40)
    write_head_setting(tmp_path, "cls10", hits1=8, hits10=47)  # fewer acc@1 hits, more top-10 hits: it wins
    write_head_setting(tmp_path, "gap", hits1=15, hits10=33)
    assert fg_select.main(["--rule", "acc10", "--order", "base,cls10,gap", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "winner: cls10"
    assert "gap: validation acc@10 0.099 (33 of 332), acc@1 0.045 (15) at step 1000" in lines
    # the acc1 rule on the same records picks gap
    assert fg_select.main([str(tmp_path)]) == 0


def test_acc10_ties_go_to_acc1_then_to_the_order(tmp_path):
    fg_select = load_script("fg_select")
    a, b, c = (fg_select.read_candidate(write_head_setting(tmp_path, n, h1, 40))
               for n, h1 in (("base", 9), ("cls10", 11), ("gap", 11)))
    assert fg_select.choose_by_acc10([a, b, c], ["base", "cls10", "gap"]).setting == "cls10"
    assert fg_select.choose_by_acc10([a, b, c], ["base", "gap", "cls10"]).setting == "gap"
    assert fg_select.choose_by_acc10([a], ["base"]).setting == "base"


def test_acc10_needs_every_setting_in_the_order(tmp_path, capsys):
    fg_select = load_script("fg_select")
    write_head_setting(tmp_path, "base", 9, 40)
    write_head_setting(tmp_path, "wide", 9, 41)
    assert fg_select.main(["--rule", "acc10", "--order", "base", str(tmp_path)]) == 2
    assert "['wide'] are not named" in capsys.readouterr().err
    assert fg_select.main(["--rule", "acc10", str(tmp_path)]) == 2
