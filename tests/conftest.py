"""Shared fixtures: the real-data folder (skipped cleanly where absent), quiet TF, and a suite that frees its disk.

Many tests save full VGG16 models (hundreds of MB each) under ``tmp_path``; a passing test's ``tmp_path`` is removed
as soon as it finishes, so one suite run never holds more than one test's files at a time (a failing test's folder
is kept for inspection).
"""
from __future__ import annotations

import gc
import os
import shutil

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _free_tmp_path(request):
    """Remove a passing test's ``tmp_path`` when it finishes (set up first, so torn down after everything else)."""
    yield
    path = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if path is not None and not request.node.stash.get(_FAILED, False):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def _collect_garbage_after_each_module():
    """Free the dropped models of a module before the next starts. Keras models, traced functions and reloaded
    SavedModels sit in reference cycles that only the garbage collector frees. Left to pile up over many modules,
    their collection stalls whichever later test triggers it: tests of a few seconds alone took 35-135 s in a full
    run, and one such collection measured 17 s, against under a second for one module's garbage."""
    yield
    gc.collect()
