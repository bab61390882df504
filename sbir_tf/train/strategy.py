"""Distribution helpers for the compiled training steps (precision lives in :mod:`sbir_tf.train.precision`).

* :func:`make_strategy` — ``"default"`` (one device) or ``"mirrored"`` (``tf.distribute.MirroredStrategy`` over all
  visible GPUs, or all logical CPUs when there is no GPU).
* :func:`scale_to_global_batch` — a per-replica mean loss rescaled so that summing the replicas' gradients gives the
  gradient of the global-batch mean.
* :func:`split_cpu` — expose one physical CPU as several logical devices (must run before TensorFlow initialises
  its devices; used to test MirroredStrategy on a CPU-only machine).
"""
from __future__ import annotations

import tensorflow as tf

STRATEGIES = ("default", "mirrored")


def make_strategy(name: str = "default") -> tf.distribute.Strategy:
    """``"default"``: the no-op default strategy; ``"mirrored"``: synchronous data parallelism over GPUs (or CPUs)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    raise ValueError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def split_cpu(num_devices: int = 2) -> list:
    """Split the first physical CPU into ``num_devices`` logical CPUs; returns the logical CPU devices.

    Raises ``RuntimeError`` (from TensorFlow) when devices are already initialised: call it at program start.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
    return tf.config.list_logical_devices("CPU")


def scale_to_global_batch(mean_loss, local_batch, global_batch):
    """Rescale a replica's mean loss over ``local_batch`` examples by ``local_batch / global_batch``.

    The sum over replicas of the rescaled losses (and of their gradients) is then the mean over the global
    batch, which is what ``MirroredStrategy``'s all-reduce (a sum) needs. With one replica it is the identity.
    """
    ratio = tf.cast(local_batch, tf.float32) / tf.cast(global_batch, tf.float32)
    return tf.cast(mean_loss, tf.float32) * ratio
