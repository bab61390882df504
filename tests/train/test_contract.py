"""The one trainer contract, checked on both tasks (fine-grained Pang et al. 2017 and zero-shot WAD-CMSN):
history rows, checkpoints, NaN stop with nothing saved after and the state untouched, resume equals a straight run."""
import json
import math

import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.train.errors import NonFiniteLossError
from train_tiny import TASKS, optimizer_state, trainer, weights

FG_LOSSES = {"loss/total", "loss/cls", "loss/rec", "loss/tri"}
ZS_LOSSES = {"loss/critic/adv_se", "loss/critic/adv_sk", "loss/critic/adv_im", "loss/critic/gp", "loss/critic/L_dis",
             "loss/generator/L_gen", "loss/generator/L_cyc", "loss/generator/L_cls", "loss/generator/L_iml",
             "loss/generator/L_ps"}


def read_history(run_dir):
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def tensorboard_tags(folder):
    tags = set()
    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {v.tag for v in event.summary.value}
    return tags


@pytest.mark.parametrize("task", TASKS)
def test_history_checkpoints_and_tensorboard(task, tmp_path):
    evaluated = []

    def evaluate(step):
        evaluated.append(step)
        return {"acc@1": 0.25 * step}

    _, _, t = trainer(task, tmp_path, steps=5, log_every=2, checkpoint_every=2, keep=2, evaluate=evaluate,
                      eval_every=3)
    rows = t.fit()
    assert rows == read_history(tmp_path)
    # log at 2, 4 and the last step 5; eval at 3 and the last step 5 (due() fires on the last step)
    assert [r["step"] for r in rows] == [2, 3, 4, 5] and evaluated == [3, 5]
    losses = FG_LOSSES if task == "fg" else ZS_LOSSES
    extra = {"stage"} if task == "fg" else set()
    for r in rows:
        val = {"val/acc@1"} if r["step"] in (3, 5) else set()
        assert set(r) == {"step", "lr", "time"} | losses | extra | val, r
        assert all(math.isfinite(r[k]) for k in losses)
    assert rows[1]["val/acc@1"] == 0.75
    if task == "fg":  # text schedule, stage 2 from step 2 (stage1_fraction 0.5 of 5 steps)
        assert [r["stage"] for r in rows] == ["stage1", "stage2", "stage2", "stage2"]
        np.testing.assert_allclose([r["lr"] for r in rows], [1e-2, 1e-2, 1e-2, 1e-3], rtol=1e-6)  # drop at 4 of 5
    else:
        np.testing.assert_allclose([r["lr"] for r in rows], [1e-4] * 4, rtol=1e-6)
    # checkpoints at 2, 4 and the last step 5, keeping 2
    assert [int(p.rsplit("-", 1)[1]) for p in t.checkpointer.manager.checkpoints] == [4, 5]
    assert t.latest_checkpoint.endswith("ckpt-5") and t.step == 5
    assert (losses | {"lr", "val/acc@1"}) <= tensorboard_tags(tmp_path / "tensorboard")


@pytest.mark.parametrize("task", TASKS)
def test_non_finite_loss_raises_saves_nothing_and_leaves_state_untouched(task, tmp_path):
    """Batches turn NaN at step 4 (0-based 3; FG: the L_D target, in stage 2; ZS: the features)."""
    model, step_fn, t = trainer(task, tmp_path, steps=6, checkpoint_every=2, nan_from=3)
    trackables = dict(t.checkpointer.checkpoint._trackable_children())
    t.stop_after = 3
    t.fit()
    before, slots = weights(model), optimizer_state(trackables)
    t.stop_after = None
    with pytest.raises(NonFiniteLossError) as err:
        t.fit()
    e = err.value
    assert isinstance(e, FloatingPointError)
    assert e.step == 4 and e.last_checkpoint == t.latest_checkpoint and e.last_checkpoint.endswith("ckpt-2")
    bad = [k for k, v in e.terms.items() if not math.isfinite(v)]
    expected = {"total", "rec"} if task == "fg" else {"critic/adv_se", "critic/adv_sk", "critic/L_dis"}
    assert set(bad) == expected, e.terms
    assert e.update == ("stage2" if task == "fg" else "critic[0]")
    assert f"step 4 in the {e.update} update" in str(e) and "ckpt-2" in str(e) and bad[0] in str(e)
    # nothing saved after the last good step; weights, optimizer slots and iteration counters untouched
    assert [int(p.rsplit("-", 1)[1]) for p in t.checkpointer.manager.checkpoints] == [2]
    assert [r["step"] for r in read_history(tmp_path)] == [1, 2, 3]
    for a, b in zip(before, weights(model)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(slots, optimizer_state(trackables)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("task", TASKS)
def test_resume_equals_a_straight_run(task, tmp_path):
    """6 steps straight against: killed after step 5 (last checkpoint at 4), then a new model with a different
    initialisation restored and trained to the end. Dropout is on (FG: seed-generator state in the checkpoint;
    ZS: stateless (seed, step, k) masks). Weights, optimizer state and history rows agree bit for bit."""
    straight, _, t = trainer(task, tmp_path / "a", steps=6, checkpoint_every=2)
    rows_straight = t.fit()
    _, _, first = trainer(task, tmp_path / "b", steps=6, checkpoint_every=2)
    first.stop_after = 5
    first.fit()
    assert [r["step"] for r in read_history(tmp_path / "b")] == [1, 2, 3, 4, 5]
    resumed, _, second = trainer(task, tmp_path / "b", steps=6, checkpoint_every=2, seed=123)
    assert second.restore() == 4
    assert [r["step"] for r in read_history(tmp_path / "b")] == [1, 2, 3, 4]  # the row of step 5 is cut
    rows = second.fit()
    for a, b in zip(weights(straight), weights(resumed)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(optimizer_state(dict(t.checkpointer.checkpoint._trackable_children())),
                    optimizer_state(dict(second.checkpointer.checkpoint._trackable_children()))):
        np.testing.assert_array_equal(a, b)
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]  # noqa: E731
    assert strip(rows) == strip(rows_straight) == strip(read_history(tmp_path / "b"))


@pytest.mark.parametrize("task", TASKS)
def test_restore_without_checkpoint_starts_fresh(task, tmp_path):
    _, _, t = trainer(task, tmp_path, steps=2)
    assert t.restore() == 0
    assert [r["step"] for r in t.fit()] == [1, 2]
