"""Checkpointing: ``tf.train.CheckpointManager`` (atomic: the state file is only updated after the data files are
complete), keeping the last few, with restore-or-initialise for ``--resume``."""
from __future__ import annotations

import os

import tensorflow as tf


class Checkpointer:
    """Wraps a ``tf.train.Checkpoint`` of the given trackables and its manager.

    ``step`` is a ``tf.Variable`` saved with everything else; a resumed run continues from ``int(step)`` and
    must regenerate its data order from (seed, step) so that interrupted and straight runs agree.
    """

    def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3, **trackables) -> None:
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, **trackables)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(directory), max_to_keep=max_to_keep)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def restore_latest(self) -> int:
        """Restore the newest checkpoint if there is one; returns the step restored (0 when none)."""
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self, step: int) -> str:
        self.step.assign(step)
        return self.manager.save(checkpoint_number=step)
