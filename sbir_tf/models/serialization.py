"""Helpers shared by the models' ``get_config`` / ``from_config``."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Mapping

import keras
import numpy as np


def current_policy() -> str:
    """Name of Keras' global dtype policy (``"float32"``, ``"mixed_bfloat16"``, ...), under which layers are built."""
    return keras.mixed_precision.global_policy().name


@contextlib.contextmanager
def policy_scope(name: str | None) -> Iterator[None]:
    """Build layers under the dtype policy ``name`` (``None``: the current one), restoring the global policy after.

    A model records the policy it was built under and its ``from_config`` rebuilds under it, so a model trained with
    mixed precision reloads with the same compute dtypes (and so identical outputs) whatever the global policy is.
    """
    previous = keras.mixed_precision.global_policy()
    if name is not None:
        keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def jsonable(value):
    """A JSON-friendly copy of a config value: tuples -> lists, paths -> str, numpy scalars -> Python, in-memory
    weight mappings (``{layer: [arrays]}``) -> a short description."""
    if isinstance(value, Mapping) and value and all(isinstance(v, (list, tuple)) and v and isinstance(v[0], np.ndarray)
                                                    for v in value.values()):
        return "<in-memory weights>"
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value
