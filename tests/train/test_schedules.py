"""Learning-rate and training schedules (Sec. 3.2 "Model training strategy" and Sec. 4, Pang et al. 2017)."""
import numpy as np
import pytest

from sbir_tf.train import schedules as S


def test_paper_learning_rate_drops_at_20000_of_30000():
    assert S.pang_learning_rate(0) == 1e-5
    assert S.pang_learning_rate(19_999) == 1e-5
    assert S.pang_learning_rate(20_000) == 1e-6
    assert S.pang_learning_rate(29_999) == 1e-6


def test_learning_rate_scales_proportionally_for_short_runs():
    # 300 steps: drop after 2/3 -> step 200
    assert S.drop_step(300) == 200
    assert S.pang_learning_rate(199, total_steps=300) == 1e-5
    assert S.pang_learning_rate(200, total_steps=300) == 1e-6
    assert S.drop_step(10) == 7  # round(6.67)


def test_keras_schedule_matches_function():
    sched = S.PangLearningRate(total_steps=30)
    got = [float(sched(s)) for s in range(30)]
    want = [S.pang_learning_rate(s, total_steps=30) for s in range(30)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert S.PangLearningRate(**sched.get_config()).drop_at == sched.drop_at == 20


def test_text_schedule_stage1_is_encoder_first_with_triplet():
    st = S.two_stage_schedule("text", 30, has_decoder=True, lambda_d=10.0, lambda_t=1.0)
    assert [(s.name, s.start, s.end) for s in st] == [("stage1", 0, 20), ("stage2", 20, 30)]
    assert st[0].weights == {"cls": 1.0, "tri": 1.0} and st[0].groups == ("encoder", "classifier")
    assert not st[0].uses_decoder
    assert st[1].weights == {"cls": 1.0, "rec": 10.0, "tri": 1.0}
    assert st[1].groups == ("encoder", "classifier", "decoder")


def test_printed_schedule_stage1_uses_frozen_decoder_loss():
    st = S.two_stage_schedule("printed", 9, has_decoder=True, lambda_d=10.0, lambda_t=1.0, stage1_fraction=1 / 3)
    assert [(s.start, s.end) for s in st] == [(0, 3), (3, 9)]
    assert st[0].weights == {"cls": 1.0, "rec": 10.0} and "decoder" not in st[0].groups
    assert st[0].uses_decoder


def test_joint_schedule_is_one_stage_over_everything():
    """Sec. 3.2: "update all the parameters together" with the full objective L, the strategy the paper rejects."""
    st = S.two_stage_schedule("joint", 9, has_decoder=True, lambda_d=10.0, lambda_t=1.0, stage1_fraction=1 / 3)
    assert [(s.name, s.start, s.end) for s in st] == [("joint", 0, 9)]
    assert st[0].weights == {"cls": 1.0, "rec": 10.0, "tri": 1.0}
    assert st[0].groups == ("encoder", "classifier", "decoder")
    assert S.SCHEDULES == ("text", "printed", "joint")


def test_no_decoder_variants_have_one_joint_stage():
    for name in S.SCHEDULES:
        st = S.two_stage_schedule(name, 12, has_decoder=False, lambda_d=10.0, lambda_t=1.0)
        assert len(st) == 1 and st[0].weights == {"cls": 1.0, "tri": 1.0} and (st[0].start, st[0].end) == (0, 12)
        assert st[0].groups == ("encoder", "classifier")


def test_stage_at_and_empty_stages():
    st = S.two_stage_schedule("text", 10, has_decoder=True, lambda_d=10.0, lambda_t=1.0, stage1_fraction=0.0)
    assert [s.name for s in st] == ["stage2"]
    st = S.two_stage_schedule("text", 10, has_decoder=True, lambda_d=10.0, lambda_t=1.0, stage1_fraction=0.5)
    assert S.stage_at(st, 4).name == "stage1" and S.stage_at(st, 5).name == "stage2"
    with pytest.raises(ValueError, match="outside"):
        S.stage_at(st, 10)


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="unknown schedule"):
        S.two_stage_schedule("paper", 10, has_decoder=True, lambda_d=1, lambda_t=1)
    with pytest.raises(ValueError, match="stage1_fraction"):
        S.two_stage_schedule("text", 10, has_decoder=True, lambda_d=1, lambda_t=1, stage1_fraction=1.5)
