"""Deterministic mode at trainer level, each run in its own process: two straight runs agree bit for bit, and a
run killed with SIGKILL right after a random checkpoint and resumed equals them."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent / "determinism_script.py"
STEPS, EVERY = 12, 2


def command(task, run_dir, *extra):
    return [sys.executable, str(SCRIPT), task, str(run_dir), *extra]


def run(task, run_dir, *extra):
    proc = subprocess.run(command(task, run_dir, *extra), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def latest_step(run_dir) -> int:
    state = Path(run_dir) / "checkpoints" / "checkpoint"
    found = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', state.read_text(), re.M) if state.exists() else None
    return int(found.group(1)) if found else 0


def final(run_dir) -> list:
    with np.load(Path(run_dir) / "final.npz") as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def history(run_dir) -> list:
    rows = [json.loads(line) for line in (Path(run_dir) / "history.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows]


@pytest.mark.slow  # ~45 s per task on 2 cores: four fresh processes (TensorFlow start-up dominates)
@pytest.mark.parametrize("task", ["fg", "zs"])
def test_straight_runs_agree_and_a_killed_run_resumes_to_the_same_bits(task, tmp_path):
    run(task, tmp_path / "a")
    run(task, tmp_path / "b")
    at_step = random.Random().choice(range(EVERY, STEPS, EVERY))
    proc = subprocess.Popen(command(task, tmp_path / "killed", "--sleep", "0.3"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while latest_step(tmp_path / "killed") < at_step:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed_at = latest_step(tmp_path / "killed")
    assert at_step <= killed_at < STEPS and not (tmp_path / "killed" / "final.npz").exists()
    assert f"RESTORED {killed_at}" in run(task, tmp_path / "killed", "--resume")
    a, b, resumed = final(tmp_path / "a"), final(tmp_path / "b"), final(tmp_path / "killed")
    assert len(a) == len(b) == len(resumed) > 10
    for x, y, z in zip(a, b, resumed):
        assert x.dtype == y.dtype == z.dtype
        assert np.array_equal(x, y) and np.array_equal(x, z), f"killed at checkpoint {killed_at}"
    assert history(tmp_path / "a") == history(tmp_path / "b") == history(tmp_path / "killed")


def test_enable_determinism_must_come_first():
    script = textwrap.dedent('''
        import tensorflow as tf
        from sbir_tf.train.determinism import enable_determinism
        tf.constant(1.0) + 1.0  # TensorFlow has initialised its thread pools
        try:
            enable_determinism(0, threads=2)
        except RuntimeError as err:
            print("REFUSED", err)
    ''')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED enable_determinism must be called before TensorFlow runs its first op" in proc.stdout
    with pytest.raises(ValueError, match="threads"):
        from sbir_tf.train.determinism import enable_determinism

        enable_determinism(0, threads=0)
