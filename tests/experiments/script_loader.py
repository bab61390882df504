"""Import a script of the repository (``experiments/scripts/*.py``, ``tools/*.py``) as a module, for its tests."""
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str, folder: str = "experiments/scripts"):
    """The module ``<folder>/<name>.py``, executed afresh and registered in ``sys.modules`` under ``name``
    (dataclasses look their module up there while the class is made)."""
    spec = importlib.util.spec_from_file_location(name, REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
