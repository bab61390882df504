"""The public command lines (``python -m sbir_tf.experiments.<prog>``), their tasks and deterministic default output
folders.

``default_output_dir(prog, argv)`` is the folder ``python -m sbir_tf.experiments.<prog> <argv>`` writes to:
``runs/<prog>/<dataset>_<preset>_<variant>_seed<k>`` (zero-shot: ``<variant>`` is the ablation, ``full`` by default;
``+`` and ``/`` become ``-``), or ``--output_dir`` when given.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from sbir_tf.run.task import Task


def _fg(source: str) -> Callable[[], Task]:
    def make() -> Task:
        from sbir_tf.tasks.fg import FGTask

        return FGTask(source)
    return make


def _zs(dataset: str) -> Callable[[], Task]:
    def make() -> Task:
        from sbir_tf.tasks.zs import ZSTask

        return ZSTask(dataset)
    return make


#: ``prog`` -> task factory, for every public command line.
PROGRAMS: dict[str, Callable[[], Task]] = {
    "sketchy_fg": _fg("sketchy"),
    "qmul_fg": _fg("qmul"),
    "sketchy_zs": _zs("sketchy"),
    "tuberlin_zs": _zs("tuberlin"),
}


def task_for(prog: str) -> Task:
    if prog not in PROGRAMS:
        raise ValueError(f"unknown program {prog!r}; choose one of {sorted(PROGRAMS)}")
    return PROGRAMS[prog]()


def default_output_dir(prog: str, argv: Sequence[str] = ()) -> Path:
    """The run folder of ``python -m sbir_tf.experiments.<prog> <argv>`` (no GPU probe message is printed)."""
    from sbir_tf.run import cli

    task = task_for(prog)
    args = cli.build_parser(task, prog).parse_args(list(argv))
    if args.output_dir:
        return Path(args.output_dir)
    return cli.output_dir(prog, task, cli.resolve_config(task, args, log=lambda _: None))
