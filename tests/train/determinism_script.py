"""A tiny deterministic training run in its own process (for tests/train/test_determinism.py).

``python determinism_script.py TASK RUN_DIR [--resume] [--sleep S]``: enables determinism, trains the tiny TASK
model ("fg" or "zs", dropout on) for 12 steps with a checkpoint every 2, and writes every model and optimizer
variable to RUN_DIR/final.npz. ``--sleep`` pauses after each step (time for a test to kill the process).
"""
import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from sbir_tf.train.determinism import determinism_enabled, enable_determinism  # noqa: E402

STEPS, EVERY = 12, 2


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("task")
    p.add_argument("run_dir")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--sleep", type=float, default=0.0)
    args = p.parse_args()
    enable_determinism(7)

    import numpy as np
    import tensorflow as tf

    from sbir_tf.train.loop import Trainer
    from train_tiny import build, optimizer_state, weights

    assert determinism_enabled()
    assert tf.config.threading.get_intra_op_parallelism_threads() == 1
    assert tf.config.threading.get_inter_op_parallelism_threads() == 1
    model, step_fn, trackables = build(args.task, seed=7, steps=STEPS)

    def slow_step(step):
        out = step_fn(step)
        time.sleep(args.sleep)
        return out

    trainer = Trainer(slow_step, trackables, args.run_dir, total_steps=STEPS, log_every=1, checkpoint_every=EVERY,
                      keep_checkpoints=2, progress=False)
    if args.resume:
        print("RESTORED", trainer.restore(), flush=True)
    trainer.fit()
    arrays = weights(model) + optimizer_state(trackables)
    np.savez(Path(args.run_dir) / "final.npz", *arrays)


if __name__ == "__main__":
    main()
