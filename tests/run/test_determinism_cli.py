"""Deterministic mode on the real CLI: a run of ``sketchy_fg --deterministic`` (embedded synthetic data, 32 px, 18
steps, a checkpoint every 3) killed with SIGKILL right after a randomly chosen checkpoint and resumed with
``--resume`` in a new process ends bit-identical to a straight run in a third process: every tensor of the final
checkpoint (weights, Adam slots, dropout seed states, step), the history rows and the test metrics. Two straight runs
would add nothing: the killed run's first part is itself a straight run in its own process, so a process-level
difference would already show as a difference from the straight run."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
STEPS, EVERY = 18, 3
ARGS = ["--config", "smoke", "--deterministic", "--steps", str(STEPS), "--image_size", "32",
        "--set", f"train.checkpoint_every={EVERY}", "train.keep_checkpoints=3", "train.eval_every=0",
        "train.log_every=1", "model.dropout=0.5"]  # dropout on: its seed-generator state must resume too
#: metrics.json keys that are wall-clock times or paths inside the run folder
NOT_COMPARED = {"train_seconds", "wall_time_seconds", "figures"}


def command(out, *extra):
    return [sys.executable, "-m", "sbir_tf.experiments.sketchy_fg", *ARGS, "--output_dir", str(out), *extra]


def environment():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", SBIR_TF_NO_DOWNLOAD="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run(out, *extra):
    proc = subprocess.run(command(out, *extra), cwd=REPO, env=environment(), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def latest_step(out) -> int:
    state = out / "checkpoints" / "checkpoint"
    if not state.exists():
        return 0
    found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M)
    return int(found.group(1)) if found else 0


def run_and_kill(out, at_step: int) -> int:
    """Start a run and SIGKILL it as soon as its newest checkpoint is ``ckpt-<at_step>``; returns that step."""
    proc = subprocess.Popen(command(out), cwd=REPO, env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while latest_step(out) < at_step:
            assert proc.poll() is None, f"run ended before step {at_step}: {proc.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return latest_step(out)


def final_tensors(out) -> dict:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(out / "checkpoints" / f"ckpt-{STEPS}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def history(out) -> list:
    rows = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


def metrics(out) -> dict:
    m = json.loads((out / "metrics.json").read_text())
    return {k: v for k, v in m.items() if k not in NOT_COMPARED}


def assert_identical(a, b):
    ta, tb = final_tensors(a), final_tensors(b)
    assert sorted(ta) == sorted(tb)
    assert any("optimizer" in name for name in ta) and any("rng" in name for name in ta)
    for name in ta:
        if isinstance(ta[name], bytes):  # the checkpoint's object graph
            assert ta[name] == tb[name], name
        else:
            assert ta[name].dtype == tb[name].dtype and np.array_equal(ta[name], tb[name]), name
    assert history(a) == history(b)
    assert metrics(a) == metrics(b)


# In the default suite (the CLI-level check of deterministic mode): two single-threaded VGG16 runs of 18 steps plus
# their evaluation.
def test_a_killed_and_resumed_run_is_bit_identical_to_a_straight_run(tmp_path):
    at_step = random.Random().choice(range(EVERY, STEPS, EVERY))  # a random checkpointed step before the end
    killed_at = run_and_kill(tmp_path / "killed", at_step)
    assert at_step <= killed_at < STEPS, (at_step, killed_at)
    assert not (tmp_path / "killed" / "metrics.json").exists()
    run(tmp_path / "killed", "--resume")
    run(tmp_path / "straight")
    try:
        assert_identical(tmp_path / "straight", tmp_path / "killed")
    except AssertionError as error:
        raise AssertionError(f"killed at checkpoint {killed_at}: {error}") from error
