"""One entry point for every dataset reader: ``read_dataset(name, root, **kw)``."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sbir_tf.data.records import DataError, DatasetIndex

DATASETS = ("sketchy", "sketchy_extended", "tuberlin_extended", "qmul_v1", "qmul_v2", "synthetic")
# default zero-shot split per dataset (None: a single-category set, zero-shot does not apply)
DEFAULT_ZERO_SHOT_SPLIT = {"sketchy": "sempcyc25", "sketchy_extended": "sempcyc25", "synthetic": "synthetic",
                           "tuberlin_extended": "sempcyc30", "qmul_v1": None, "qmul_v2": None}


def _reader(name: str) -> Callable[..., DatasetIndex]:
    if name == "sketchy":
        from sbir_tf.data.sketchy import read_sketchy
        return read_sketchy
    if name == "sketchy_extended":
        from sbir_tf.data.sketchy_extended import read_sketchy_extended
        return read_sketchy_extended
    if name == "tuberlin_extended":
        from sbir_tf.data.tuberlin import read_tuberlin_extended
        return read_tuberlin_extended
    if name == "qmul_v1":
        from sbir_tf.data.qmul_v1 import read_qmul_v1
        return read_qmul_v1
    if name == "qmul_v2":
        from sbir_tf.data.qmul_v2 import read_qmul_v2
        return read_qmul_v2
    if name == "synthetic":
        return read_synthetic
    raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def read_synthetic(root: str | Path | None = None, strict: bool = False, **kw) -> DatasetIndex:
    """The synthetic set (generated on first use when ``root`` is None) read with the Sketchy reader."""
    from sbir_tf.data.sketchy import read_sketchy
    from sbir_tf.data.synthetic import default_root

    index = read_sketchy(root if root is not None else default_root(), strict=strict, **kw)
    index.name = "synthetic"
    return index


def read_dataset(name: str, root: str | Path | None = None, **kw) -> DatasetIndex:
    """Index dataset ``name`` under ``root`` (optional only for ``synthetic``); ``kw`` go to the reader."""
    reader = _reader(name)
    if root is None and name != "synthetic":
        raise DataError(f"dataset {name!r} needs a root folder (--data_dir / root=...)")
    return reader(root, **kw)
