"""The run layer with a pure-Python task: the numbered resume policy, exit codes, metrics.json, flags -> keys."""
import json

import pytest

from sbir_tf.run import cli, resume, runner
from sbir_tf.run.resume import ResumeError
from tests.run.fake_task import FakeTask, expected_weight


def run(tmp_path, name="run", resume_=False, stop_after=None, task=None, **sets):
    task = task or FakeTask()
    cfg = task.get_config("cpu")
    for key, value in sets.items():
        cfg.set_path(key.replace("__", "."), value)
    return runner.run(task, cfg, tmp_path / name, resume=resume_, stop_after=stop_after, verbose=False,
                      progress=False)


def test_fresh_run_writes_one_schema(tmp_path):
    m = run(tmp_path)
    assert m["w"] == expected_weight(1.0, 6) == 21.0
    assert {k: m[k] for k in ("task", "dataset", "preset", "variant", "seed", "steps")} == {
        "task": "fake", "dataset": "numbers", "preset": "cpu", "variant": "plain", "seed": 0, "steps": 6}
    assert m["history_steps"] == [1, 2, 3, 4, 5, 6] and m["wall_time_seconds"] >= m["train_seconds"] >= 0
    out = tmp_path / "run"
    assert json.loads((out / "metrics.json").read_text()) == m
    assert json.loads((out / "config.json").read_text())["loss"] == {"scale": 1.0, "nan_at": 0}
    assert json.loads((out / "model.json").read_text()) == {"w": 21.0}
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r.get("val/w") for r in rows] == [None, None, 6.0, None, None, 21.0]  # eval every 3 steps


def test_rule2_resume_after_kill_equals_straight_run(tmp_path):
    straight = run(tmp_path, "a")
    assert run(tmp_path, "b", stop_after=5) == {}  # killed after step 5; last checkpoint at step 4
    assert resume.latest_checkpoint(tmp_path / "b").endswith("ckpt-4")
    assert not (tmp_path / "b" / "metrics.json").exists()
    resumed = run(tmp_path, "b", resume_=True)
    assert resumed["w"] == straight["w"] == 21.0  # 1+2+3+4 restored, then 5 and 6 (a restart from 0 gives 21 too,
    assert resumed["history_steps"] == [1, 2, 3, 4, 5, 6]  # but then steps 5, 6 of the killed run would repeat)
    rows = [json.loads(line) for line in (tmp_path / "b" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]  # the killed run's row 5 was cut on restore


def test_a_resumed_run_keeps_the_environment_of_each_segment(tmp_path, monkeypatch):
    from sbir_tf.train import run_dir

    commits = iter(["aaa", "bbb", "ccc"])
    monkeypatch.setattr(run_dir, "environment", lambda: {"commit": next(commits)})
    run(tmp_path, stop_after=3)  # checkpoint at step 2
    run(tmp_path, resume_=True, stop_after=5)  # from step 2; checkpoint at step 4
    env = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert env == {"commit": "bbb", "resumed_from_step": 2, "earlier": [{"commit": "aaa"}]}
    run(tmp_path, resume_=True)
    env = json.loads((tmp_path / "run" / "environment.json").read_text())
    assert env == {"commit": "ccc", "resumed_from_step": 4,
                   "earlier": [{"commit": "aaa"}, {"commit": "bbb", "resumed_from_step": 2}]}


def test_rule2_continue_to_more_steps_and_free_keys(tmp_path):
    run(tmp_path, train__steps=4)
    m = run(tmp_path, resume_=True, train__steps=6, train__log_every=2, figures__enabled=False)
    assert m["w"] == 21.0 and m["steps"] == 6  # continued from ckpt-4, not restarted


def test_rule2_other_settings_are_refused_with_each_key(tmp_path):
    run(tmp_path, stop_after=3)
    with pytest.raises(ResumeError, match=r"loss.scale: 1.0 -> 2.0; train.seed: 0 -> 1"):
        run(tmp_path, resume_=True, loss__scale=2.0, train__seed=1)


class HalfwayTask(FakeTask):
    """A task whose training changes at half its steps (as the fine-grained stage split and lr drop do)."""

    def schedule_points(self, config):
        return {"halfway": config["train"]["steps"] // 2}


def test_rule2_more_steps_may_not_move_a_point_already_passed(tmp_path):
    run(tmp_path, stop_after=5, task=HalfwayTask())  # 6 steps: halfway at 3; killed, last checkpoint at step 4
    with pytest.raises(ResumeError, match=r"at step 4 with train.steps 6 -> 8 .*halfway 3 -> 4"):
        run(tmp_path, resume_=True, task=HalfwayTask(), train__steps=8)
    assert run(tmp_path, resume_=True, task=HalfwayTask())["w"] == 21.0  # the stored length still resumes
    run(tmp_path, "b", stop_after=2, task=HalfwayTask(), train__steps=4)  # halfway at 2, checkpoint at step 2
    m = run(tmp_path, "b", resume_=True, task=HalfwayTask(), train__steps=6)  # 2 -> 3: not passed yet, allowed
    assert m["w"] == 21.0


def test_fine_grained_schedule_points_on_hand_numbers():
    from sbir_tf.configs import fg as presets
    from sbir_tf.train.fg_step import schedule_points

    cfg = presets.get_config("cpu")
    cfg.train.steps = 1000
    assert schedule_points(cfg.to_dict()) == {"learning-rate drop": 667, "start of stage2": 667}
    cfg.train.stage1_fraction = 0.5
    assert schedule_points(cfg.to_dict()) == {"learning-rate drop": 667, "start of stage2": 500}
    cfg.train.schedule = "joint"
    assert schedule_points(cfg.to_dict()) == {"learning-rate drop": 667}
    presets.apply_variant(cfg, "vgg16-D")
    cfg.train.schedule = "text"
    assert schedule_points(cfg.to_dict()) == {"learning-rate drop": 667}


def test_rule1_finished_run_is_read_back(tmp_path):
    task = FakeTask()
    first = run(tmp_path, task=task)
    again = run(tmp_path, resume_=True, task=task, train__eval_every=0)  # cadence may differ
    assert again == first and task.loads == 1  # no data read, nothing trained


def test_rule3_resume_without_checkpoint(tmp_path):
    with pytest.raises(ResumeError, match="no checkpoint"):
        run(tmp_path, resume_=True)


def test_rule4_existing_run_without_resume_names_both_remedies(tmp_path):
    run(tmp_path, stop_after=2)
    with pytest.raises(ResumeError, match="checkpoints.*pass --resume.*new --output_dir"):
        run(tmp_path)
    run(tmp_path, "done")
    with pytest.raises(ResumeError, match="finished run.*pass --resume.*new --output_dir"):
        run(tmp_path, "done")


def test_policy_table_directly(tmp_path):
    cfg = FakeTask().get_config("cpu").to_dict()
    assert resume.decide(tmp_path / "new", cfg, False).action is resume.Action.FRESH
    assert resume.is_free("figures.enabled") and resume.is_free("train.steps")
    assert not resume.is_free("train.seed") and not resume.is_free("figures")
    assert resume.config_differences({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["a.c: (absent) -> 2"]


def test_keys_added_later_at_their_old_value_are_no_difference():
    """A run stored before a key existed resumes under a config holding the key's old value, not any other value."""
    stored = {"data": {"flip": True}, "model": {"frozen_blocks": 5}}
    same = {"data": {"flip": True, "flip_pairs": False, "crop_pairs": False, "val_instances": 0},
            "model": {"frozen_blocks": 5, "classifier_scale": 1.0}}
    assert resume.config_differences(stored, same) == []
    changed = {"data": {"flip": True, "flip_pairs": True, "crop_pairs": True},
               "model": {"frozen_blocks": 5, "classifier_scale": 10.0}}
    assert resume.config_differences(stored, changed) == ["data.crop_pairs: (absent) -> True",
                                                          "data.flip_pairs: (absent) -> True",
                                                          "model.classifier_scale: (absent) -> 10.0"]
    # the type counts (0 is not False), and a key present in the stored config compares as any other
    assert resume.config_differences(stored, {**stored, "train": {"deterministic": 0}}) == [
        "train.deterministic: (absent) -> 0"]
    assert resume.config_differences({"data": {"flip_pairs": True}}, {"data": {"flip_pairs": False}}) == [
        "data.flip_pairs: True -> False"]


# ---------------------------------------------------------------------------------------------------- CLI


def main(argv):
    return cli.main(FakeTask(), "fake", argv)


def test_exit_0_and_flags_are_sugar_for_keys(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["--output_dir", str(out), "--steps", "3", "--scale", "2", "--seed", "4",
                 "--set", "train.log_every=3", "--set", "figures.enabled=false", "train.eval_every=0"]) == 0
    stored = json.loads((out / "config.json").read_text())
    assert (stored["train"]["steps"], stored["loss"]["scale"], stored["train"]["seed"]) == (3, 2.0, 4)
    assert (stored["train"]["log_every"], stored["train"]["eval_every"], stored["figures"]["enabled"]) == (3, 0, False)
    assert json.loads((out / "metrics.json").read_text())["w"] == expected_weight(2.0, 3) == 12.0
    assert "run" in capsys.readouterr().out  # the results table


def test_exit_2_one_line_for_bad_config_data_and_folder(tmp_path, capsys):
    out = str(tmp_path / "bad")
    for argv, message in ((["--set", "train.stpes=3"], "train.stpes"),
                          (["--set", "train.steps=three"], "train.steps"),
                          (["--steps", "0"], "train.steps must be"),
                          (["--set", "data.broken=true"], "numbers folder is broken"),
                          (["--resume"], "no checkpoint")):
        assert main(["--output_dir", out, *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and message in err[-1], (argv, err)
        assert not any("Traceback" in line for line in err)


def test_exit_2_error_is_a_single_line(tmp_path, capsys):
    assert main(["--output_dir", str(tmp_path / "b"), "--set", "data.broken=true"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert lines == ["error: the numbers folder is broken (data.broken) second line of the message"]


def test_exit_3_non_finite_loss_names_step_and_last_checkpoint(tmp_path, capsys):
    out = tmp_path / "nan"
    assert main(["--output_dir", str(out), "--set", "loss.nan_at=5"]) == 3
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "5" in err[0] and "ckpt-4" in err[0], err
    assert resume.latest_checkpoint(out).endswith("ckpt-4") and not (out / "metrics.json").exists()
    # resuming restores the last good checkpoint and meets the same non-finite step again; nothing is saved after
    assert main(["--output_dir", str(out), "--resume", "--set", "loss.nan_at=5"]) == 3
    assert resume.latest_checkpoint(out).endswith("ckpt-4") and not (out / "metrics.json").exists()


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--config", "paper"])  # not a preset of this task
    assert exc.value.code == 2


def test_default_preset_rule(capsys):
    args = cli.build_parser(FakeTask(), "fake").parse_args(["--data_dir", "/data"])
    said = []
    assert cli.default_preset(args, gpu=False, log=said.append) == "cpu" and "no GPU" in said[0]
    assert cli.default_preset(args, gpu=True, log=said.append) == "paper"
    assert cli.default_preset(cli.build_parser(FakeTask(), "fake").parse_args([]), gpu=True) == "cpu"


@pytest.mark.parametrize("features, warned", [(["avx2"], True), (["avx2", "avx512_bf16"], False),
                                              (["avx2", "amx_bf16"], False), (None, False)])
def test_a_bfloat16_run_on_a_cpu_that_emulates_it_is_warned_about(tmp_path, monkeypatch, capsys, features, warned):
    from sbir_tf.train import run_dir

    monkeypatch.setattr(run_dir, "cpu_features", lambda: features)
    task = FakeTask()
    cfg = task.get_config("cpu")
    cfg.set_path("train.precision", "bfloat16")
    runner.run(task, cfg, tmp_path / "run", verbose=True, progress=False)
    err = capsys.readouterr().err
    assert ("warning: train.precision=bfloat16 on a CPU without AVX512_BF16 or AMX-BF16" in err) is warned
    runner.run(task, task.get_config("cpu"), tmp_path / "f32", verbose=True, progress=False)
    assert "warning" not in capsys.readouterr().err  # float32 never is
