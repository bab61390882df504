"""The embedded default of ``serve``: the synthetic set's fine-grained gallery, indexed with the main job's model.

With no ``--index``, ``python -m sbir_tf.search serve`` uses

* the model of the README's first command, ``python -m sbir_tf.experiments.sketchy_fg`` (CPU preset, synthetic
  data): the run folder ``sbir_tf.tasks.registry.default_output_dir("sketchy_fg")``; when it holds no ``model.keras``
  yet, that command is run first, as a subprocess, and says so;
* the gallery of the synthetic set's fine-grained split (``sbir_tf.data.synthetic``; the test photos plus the
  never-sketched distractors, as the evaluation ranks them), indexed into ``<run folder>/search_index/``.

The index is brought up to date on every start (nothing is embedded again while the photos and the model are
unchanged; a retrained model rebuilds it).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sbir_tf.search import model as model_lib
from sbir_tf.search.index import INDEX_JSON, PhotoIndex, build_index

DEFAULT_PROG = "sketchy_fg"
INDEX_DIRNAME = "search_index"


def _say(message: str) -> None:
    print(message, flush=True)


def default_run_dir() -> Path:
    from sbir_tf.tasks.registry import default_output_dir

    return Path(default_output_dir(DEFAULT_PROG))


def synthetic_gallery() -> tuple[Path, list[str]]:
    """``(photo folder, gallery photo paths relative to it)`` of the synthetic set's fine-grained split."""
    from sbir_tf.data.registry import read_dataset
    from sbir_tf.data.splits import fine_grained_split

    split = fine_grained_split(read_dataset("synthetic"))
    paths = [Path(p.path).resolve() for p in split.gallery_photos]
    root = Path(*_common_parts(paths))
    return root, [p.relative_to(root).as_posix() for p in paths]


def _common_parts(paths: list[Path]) -> tuple[str, ...]:
    parts = paths[0].parent.parts
    for p in paths[1:]:
        q = p.parent.parts
        n = 0
        while n < min(len(parts), len(q)) and parts[n] == q[n]:
            n += 1
        parts = parts[:n]
    return parts


def ensure_trained(run_dir: Path, say=None) -> Path:
    """``run_dir`` holding ``model.keras``; trains the CPU preset (the README's first command) when it does not."""
    say = say or _say
    if (run_dir / "model.keras").is_file():
        return run_dir
    command = [sys.executable, "-m", f"sbir_tf.experiments.{DEFAULT_PROG}"]
    say(f"no trained model in {run_dir}: training the CPU preset first with `python -m "
        f"sbir_tf.experiments.{DEFAULT_PROG}`, the README's first command")
    subprocess.run(command, check=True)
    if not (run_dir / "model.keras").is_file():
        raise FileNotFoundError(f"`python -m sbir_tf.experiments.{DEFAULT_PROG}` finished but {run_dir} holds no "
                                f"model.keras; check its output above")
    return run_dir


def default_index(*, progress: bool = True, say=None) -> tuple[Path, object]:
    """``(index folder, encoders)`` of the embedded demo, trained and indexed as needed (module docstring)."""
    say = say or _say
    run_dir = ensure_trained(default_run_dir(), say)
    encoders = model_lib.load_encoders(run_dir)
    index_dir = run_dir / INDEX_DIRNAME
    root, files = synthetic_gallery()
    rebuild = False
    if (index_dir / INDEX_JSON).is_file():
        old = PhotoIndex.load(index_dir)
        rebuild = (old.model.get("model_id") != encoders.info.get("model_id")) or old.photos_root != root
        if rebuild:
            say(f"the model in {run_dir} changed since {index_dir} was built: indexing again")
    index, report = build_index(run_dir, root, index_dir, files=files, rebuild=rebuild, progress=progress,
                            encoders=encoders)
    say(f"demo index {index_dir}: {report.summary(len(index))}")
    return index_dir, encoders
