"""Fixtures of the search tests: tiny fine-grained runs (see ``search_helpers``)."""
from __future__ import annotations

import pytest
from search_helpers import TinyRun, make_tiny_run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> TinyRun:
    return make_tiny_run(tmp_path_factory.mktemp("tiny_run"), seed=0)


@pytest.fixture(scope="session")
def other_run(tmp_path_factory) -> TinyRun:
    return make_tiny_run(tmp_path_factory.mktemp("other_run"), seed=1)
