"""Shared fixtures: the real-data folder (skipped cleanly where absent) and quiet, deterministic TF."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from sbir_tf.paths import shared_data_dir  # noqa: E402


def _shared(sub: str):
    root = shared_data_dir()
    path = root / sub if root else None
    if path is None or not path.exists():
        pytest.skip(f"real data folder shared/data/{sub} not found beside the checkout "
                    f"(set SBIR_TF_SHARED_DATA to point at it)")
    return path


@pytest.fixture(scope="session")
def sketchy_mini_root():
    return _shared("sketchy_mini")


@pytest.fixture(scope="session")
def qmul_v1_root():
    return _shared("qmul_v1")


@pytest.fixture(scope="session")
def splits_dir():
    return _shared("splits")
