"""TensorBoard scalars written through the default summary writer.

:func:`write_scalar` writes exactly the event ``tf.summary.scalar`` writes (a float32 scalar tensor tagged with the
``scalars`` plugin, so TensorBoard plots it) through the core ``tf.summary.write``, so training does not need the
``tensorboard`` package installed.
"""
from __future__ import annotations

import tensorflow as tf

SCALARS_PLUGIN = "scalars"


def write_scalar(name: str, value: float, step: int) -> None:
    """Write scalar ``value`` under ``name`` at ``step`` with the default writer (``writer.as_default()``)."""
    metadata = tf.compat.v1.SummaryMetadata(
        plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name=SCALARS_PLUGIN))
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=metadata)
