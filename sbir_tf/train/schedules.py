"""Learning-rate and training schedules for fine-grained SBIR (Pang et al., BMVC 2017).

Learning rate (Sec. 4 "Implementation Details", Pang et al. 2017): Adam, 1e-5 for 20,000 iterations, then 1e-6 for
10,000 more. A shorter run keeps the same shape: the drop happens after the same *fraction* (2/3) of its steps
(:func:`pang_learning_rate`).

Training strategy (Sec. 3.2 "Model training strategy"). The paper rejects "the most straightforward way for training
a deep model with multiple losses", which "is to update all the parameters together", because "it could lead to
detrimental competition between the downstream and up-stream tasks", and adopts "an alternate training strategy that
learns the encoder first, then fine-tune it with the decoder": "we first minimise L_C + lambda_D L_D with respect to
theta_E and theta_C, then minimise L with respect to theta_E, theta_C and theta_D". The printed stage-1 objective uses
the decoder in the stage that the sentence before says trains the encoder first. Three schedules, by name
(:data:`SCHEDULES`):

``text`` (default)
    stage 1: ``L_C + lambda_T L_T`` over theta_E, theta_C (decoder neither used nor updated);
    stage 2: ``L_C + lambda_D L_D + lambda_T L_T`` over theta_E, theta_C, theta_D.
``printed``
    stage 1: ``L_C + lambda_D L_D`` over theta_E, theta_C (the decoder is in the loss but frozen at its
    initialisation: its gradient only shapes the encoder);
    stage 2: as in ``text``.
``joint``
    the strategy the paper rejects: one stage, ``L_C + lambda_D L_D + lambda_T L_T`` over theta_E, theta_C,
    theta_D from the first step.

The paper gives no stage lengths. Default split: stage 1 = the first 2/3 of the steps, i.e. stage 2 starts exactly
where the learning rate drops to 1e-6 (the paper's 20,000 of 30,000). Settable via ``train.stage1_fraction``
(ignored by ``joint``).

Variants without a decoder (``-D``): one stage, ``L_C + lambda_T L_T`` over theta_E, theta_C throughout, whatever
the schedule.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import keras
import tensorflow as tf

from sbir_tf.losses.fg import PANG_2017, paper_weights  # the paper's hyper-parameters live there, once

#: Adam learning rate of the first 20,000 iterations (Sec. 4, Pang et al. 2017).
PAPER_BASE_LR = PANG_2017.learning_rate
#: Adam learning rate of the last 10,000 iterations (Sec. 4, Pang et al. 2017).
PAPER_FINAL_LR = PANG_2017.finetune_learning_rate
#: Iterations at the base rate and in total (Sec. 4, Pang et al. 2017).
PAPER_DROP_STEP = PANG_2017.iterations
PAPER_TOTAL_STEPS = PANG_2017.total_iterations
#: Fraction of a run spent at the base rate: 20,000 / 30,000.
PAPER_DROP_FRACTION = PAPER_DROP_STEP / PAPER_TOTAL_STEPS
#: Default fraction of the steps in stage 1 (the paper gives none; aligned with the learning-rate drop).
DEFAULT_STAGE1_FRACTION = PAPER_DROP_FRACTION

#: Schedule names (module docstring): two readings of the paper's two stages and the joint strategy it rejects.
SCHEDULES = ("text", "printed", "joint")
#: Variable groups of the model: theta_E, theta_C, theta_D.
GROUPS = ("encoder", "classifier", "decoder")


def drop_step(total_steps: int, drop_fraction: float = PAPER_DROP_FRACTION) -> int:
    """Step at which the learning rate drops: ``round(total_steps * drop_fraction)`` (20,000 for 30,000 steps)."""
    return int(round(total_steps * drop_fraction))


def pang_learning_rate(step: int, total_steps: int = PAPER_TOTAL_STEPS, base_lr: float = PAPER_BASE_LR,
                       final_lr: float = PAPER_FINAL_LR, drop_fraction: float = PAPER_DROP_FRACTION) -> float:
    """Learning rate at 0-based ``step`` (Sec. 4, Pang et al. 2017): ``base_lr`` before the drop, ``final_lr`` after.

    With the defaults, steps 0..19,999 use 1e-5 and steps 20,000..29,999 use 1e-6; a run of ``total_steps``
    drops at ``round(total_steps * 2/3)``.
    """
    return base_lr if step < drop_step(total_steps, drop_fraction) else final_lr


class PangLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """:func:`pang_learning_rate` as a Keras schedule, evaluated on the optimizer's iteration counter."""

    def __init__(self, total_steps: int = PAPER_TOTAL_STEPS, base_lr: float = PAPER_BASE_LR,
                 final_lr: float = PAPER_FINAL_LR, drop_fraction: float = PAPER_DROP_FRACTION) -> None:
        self.total_steps, self.base_lr, self.final_lr, self.drop_fraction = (
            int(total_steps), float(base_lr), float(final_lr), float(drop_fraction))
        self.drop_at = drop_step(self.total_steps, self.drop_fraction)

    def __call__(self, step):
        step = tf.cast(step, tf.int64)
        return tf.where(step < self.drop_at, tf.constant(self.base_lr, tf.float32),
                        tf.constant(self.final_lr, tf.float32))

    def get_config(self) -> dict:
        return {"total_steps": self.total_steps, "base_lr": self.base_lr, "final_lr": self.final_lr,
                "drop_fraction": self.drop_fraction}


@dataclass(frozen=True)
class Stage:
    """One training stage: steps ``[start, end)``, the loss weights and the variable groups it updates.

    ``weights`` maps the loss terms ``"cls"`` (L_C), ``"rec"`` (L_D) and ``"tri"`` (L_T) to their multipliers;
    a term with weight 0 is not computed at all.
    """

    name: str
    start: int
    end: int
    weights: dict = field(default_factory=dict)
    groups: tuple = ()

    @property
    def uses_decoder(self) -> bool:
        return self.weights.get("rec", 0.0) != 0.0

    def describe(self) -> str:
        names = {"cls": "L_C", "rec": "L_D", "tri": "L_T"}
        loss = " + ".join(f"{w:g}*{names[k]}" if w != 1 else names[k] for k, w in self.weights.items() if w)
        return f"{self.name} steps [{self.start}, {self.end}): {loss} over {', '.join(self.groups)}"


def two_stage_schedule(name: str, total_steps: int, *, has_decoder: bool, lambda_d: float, lambda_t: float,
                       stage1_fraction: float = DEFAULT_STAGE1_FRACTION) -> list[Stage]:
    """The stages of a run of ``total_steps`` under schedule ``name`` (``"text"``, ``"printed"`` or ``"joint"``).

    See the module docstring for the schedules (Sec. 3.2 "Model training strategy", Pang et al. 2017). ``joint`` and
    every variant without a decoder are one stage named ``joint`` over all steps. Empty stages are dropped (e.g.
    ``stage1_fraction=0`` trains stage 2 from the start).
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {SCHEDULES}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0.0 <= stage1_fraction <= 1.0:
        raise ValueError(f"stage1_fraction must be in [0, 1], got {stage1_fraction}")
    if not has_decoder:
        return [Stage("joint", 0, total_steps, {"cls": 1.0, "tri": float(lambda_t)}, ("encoder", "classifier"))]
    full = paper_weights(lambda_d, lambda_t)  # Eq. 1
    if name == "joint":
        return [Stage("joint", 0, total_steps, full, GROUPS)]
    split = int(round(total_steps * stage1_fraction))
    if name == "text":
        stage1 = Stage("stage1", 0, split, {"cls": 1.0, "tri": float(lambda_t)}, ("encoder", "classifier"))
    else:
        stage1 = Stage("stage1", 0, split, {"cls": 1.0, "rec": float(lambda_d)}, ("encoder", "classifier"))
    stage2 = Stage("stage2", split, total_steps, dict(full), GROUPS)
    return [s for s in (stage1, stage2) if s.end > s.start]


def stage_at(stages: list[Stage], step: int) -> Stage:
    """The stage that trains 0-based ``step``."""
    for stage in stages:
        if stage.start <= step < stage.end:
            return stage
    raise ValueError(f"step {step} is outside the schedule {[(s.start, s.end) for s in stages]}")
