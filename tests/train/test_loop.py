"""The loop itself on a pure-Python step: the cadence predicate, rows, the error, argument checks, progress."""
import math

import pytest
import tensorflow as tf

from sbir_tf.train.errors import NonFiniteLossError
from sbir_tf.train.loop import Trainer, due


@pytest.mark.parametrize("step, every, total, expected", [
    (2, 2, 5, True), (3, 2, 5, False), (5, 2, 5, True),  # the last step always fires
    (1, 1, 5, True), (4, 0, 5, False), (5, 0, 5, False), (5, -1, 5, False),  # every <= 0: never
    (10, 10, 100, True), (11, 10, 100, False)])
def test_due(step, every, total, expected):
    assert due(step, every, total) is expected


class CountingStep:
    """w <- w + 1 per step; the loss is 1 / (w + 1), NaN from step ``nan_at`` (0-based) on, which is not applied."""

    def __init__(self, nan_at=None):
        self.w = tf.Variable(0.0)
        self.nan_at = nan_at

    def __call__(self, step):
        if self.nan_at is not None and step >= self.nan_at:
            return {"finite": False, "lr": 0.1, "loss/a": 1.0, "loss/b": math.nan}
        self.w.assign_add(1.0)
        return {"finite": tf.constant(True), "lr": 0.1, "loss/a": tf.constant(1.0) / (self.w + 1.0), "loss/b": 2.0}


def test_rows_hold_the_step_lr_losses_and_validation(tmp_path):
    step = CountingStep()
    t = Trainer(step, {"w": step.w}, tmp_path, total_steps=4, log_every=3, checkpoint_every=0, keep_checkpoints=1,
                evaluate=lambda s: {"map": s / 10}, eval_every=2, progress=False)
    rows = t.fit()
    assert [(r["step"], sorted(r)) for r in rows] == [
        (2, ["loss/a", "loss/b", "lr", "step", "time", "val/map"]), (3, ["loss/a", "loss/b", "lr", "step", "time"]),
        (4, ["loss/a", "loss/b", "lr", "step", "time", "val/map"])]
    assert rows[0]["loss/a"] == pytest.approx(1 / 3) and rows[2]["val/map"] == 0.4 and rows[1]["lr"] == 0.1
    # checkpoint_every 0: only the final checkpoint
    assert [p.rsplit("-", 1)[1] for p in t.checkpointer.manager.checkpoints] == ["4"]
    assert float(step.w.numpy()) == 4.0 and t.step == 4


def test_error_names_step_update_terms_and_checkpoint(tmp_path):
    step = CountingStep(nan_at=2)
    t = Trainer(step, {"w": step.w}, tmp_path, total_steps=4, log_every=1, checkpoint_every=1, keep_checkpoints=5,
                progress=False)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at step 3: b not finite \(a=1, b=nan\); the "
                                                  r"update was not applied and nothing was saved; last good "
                                                  r"checkpoint: .*ckpt-2"):
        t.fit()
    assert t.step == 2 and len(t.checkpointer.manager.checkpoints) == 2
    no_checkpoint = NonFiniteLossError(1, {"x": math.inf}, None, update="generator")
    assert no_checkpoint.last_checkpoint is None and "in the generator update" in str(no_checkpoint)
    assert str(no_checkpoint).endswith("last good checkpoint: none")
    grads_only = NonFiniteLossError(7, {"x": 1.0}, "ck/ckpt-6")
    assert "loss terms finite but a gradient is NaN/Inf" in str(grads_only)


def test_a_step_that_reports_finite_but_returns_nan_is_still_stopped(tmp_path):
    class Liar(CountingStep):
        def __call__(self, step):
            return dict(super().__call__(step), **{"loss/b": math.nan})

    step = Liar()
    with pytest.raises(NonFiniteLossError, match="step 1"):
        Trainer(step, {"w": step.w}, tmp_path, total_steps=2, log_every=1, checkpoint_every=1, keep_checkpoints=1,
                progress=False).fit()


def test_arguments_are_checked(tmp_path):
    w = tf.Variable(0.0)
    with pytest.raises(ValueError, match="keep_checkpoints"):
        Trainer(CountingStep(), {"w": w}, tmp_path, total_steps=2, log_every=1, checkpoint_every=1, keep_checkpoints=0)
    with pytest.raises(ValueError, match="reserved"):
        Trainer(CountingStep(), {"step": w}, tmp_path, total_steps=2, log_every=1, checkpoint_every=1,
                keep_checkpoints=1)


def test_progress_line_shows_step_losses_rate_and_eta(tmp_path, capsys):
    step = CountingStep()
    Trainer(step, {"w": step.w}, tmp_path, total_steps=3, log_every=1, checkpoint_every=1, keep_checkpoints=1,
            images_per_step=12, progress=True).fit()
    err = capsys.readouterr().err
    assert "[train] step 3/3 a=0.25 b=2 img/s=" in err and "eta=" in err


def test_validation_scores_get_a_line_of_their_own(tmp_path, capsys):
    step = CountingStep()
    Trainer(step, {"w": step.w}, tmp_path, total_steps=4, log_every=1, checkpoint_every=0, keep_checkpoints=1,
            evaluate=lambda s: {"acc@1": s / 8}, eval_every=2, progress=True).fit()
    lines = [line for line in capsys.readouterr().err.splitlines() if "validation" in line]
    assert lines == ["[train] step 2/4 validation acc@1=0.25", "[train] step 4/4 validation acc@1=0.5"]
