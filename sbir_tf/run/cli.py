"""One command-line builder for every experiment (``sketchy_fg``, ``qmul_fg``, ``sketchy_zs``, ``tuberlin_zs``).

Config resolution, in order: the preset (``--config``; without it ``paper`` when real data is given and a GPU is
present, else ``cpu``, said on stderr when real data runs on the ``cpu`` preset) -> the task's dataset choice ->
the flags, each sugar for dotted keys (:data:`SHARED_FLAGS` + the task's ``flags``) -> ``--set key=value``
(repeatable, applied last). The config is locked: an unknown key or a value of the wrong type is an error.

Exit codes: 0 finished; 2 bad config, data or output folder (one ``error:`` line on stderr, no traceback);
3 non-finite loss (the line names the step, the loss terms and the last good checkpoint).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

from sbir_tf.config import Config, ConfigError
from sbir_tf.run.task import Flag, Task

#: Exit codes of every command line.
EXIT_OK, EXIT_BAD_INPUT, EXIT_NON_FINITE = 0, 2, 3


#: Flags every experiment takes (besides ``--config``, ``--output_dir``, ``--resume`` and ``--set``).
SHARED_FLAGS: tuple[Flag, ...] = (
    Flag("--data_dir", ("data.root",), "dataset root folder (raw files); omitted: the task's default data",
         metavar="DIR"),
    Flag("--prepared_dir", ("data.prepared_dir",),
         "TFDS data_dir holding prepared records (python -m sbir_tf.data.prepare); read instead of --data_dir",
         metavar="DIR"),
    Flag("--steps", ("train.steps",), type=int),
    Flag("--seed", ("train.seed",), "training seed (batches, dropout, initialisation)", type=int),
    Flag("--batch_size", ("train.batch_size",), type=int),
    Flag("--precision", ("train.precision",), "float32 | bfloat16 | float16 (mixed precision; float16 with loss "
                                              "scaling)"),
    Flag("--jit_compile", ("train.jit_compile",), "XLA-compile the training steps", store_true=True,
         value=lambda _: True),
    Flag("--deterministic", ("train.deterministic",), "op determinism and fixed thread counts (slower)",
         store_true=True, value=lambda _: True),
)


#: Keys of earlier versions and the one name each setting has now (an override of an old name says so).
RENAMED_KEYS = {"data.dir": "data.root", "train.lr": "train.base_lr", "train.mixed_precision": "train.precision",
                "name": "preset", "dataset": "data.dataset"}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser(task: Task, prog: str, description: str = "") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m sbir_tf.experiments.{prog}", description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=None, choices=list(task.presets),
                   help="preset (default: paper with --data_dir/--prepared_dir on a GPU, else cpu)")
    for flag in (*SHARED_FLAGS, *task.flags):
        flag.add_to(p)
    p.add_argument("--output_dir", default=None,
                   help=f"run folder (default: runs/{prog}/<dataset>_<preset>_<variant>_seed<k>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the output folder from its last checkpoint (or read a finished run "
                        "back)")
    p.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="dotted config overrides, applied last, e.g. --set train.eval_every=500 loss.margin=0.2 "
                        "(repeatable)")
    return p


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def default_preset(args: argparse.Namespace, *, gpu: bool | None = None, log: Callable[[str], None] = say) -> str:
    """``paper`` for real data on a GPU; ``cpu`` otherwise (said when real data runs on the cpu preset)."""
    real = bool(getattr(args, "data_dir", None) or getattr(args, "prepared_dir", None))
    if not real:
        return "cpu"
    if gpu if gpu is not None else has_gpu():
        return "paper"
    log("no GPU found: using the cpu preset (a CPU-sized run of the same recipe); pass --config paper for the "
        "paper's setting")
    return "cpu"


def resolve_config(task: Task, args: argparse.Namespace, *, log: Callable[[str], None] = say) -> Config:
    """Preset -> the task's dataset choice -> flags -> ``--set`` (not yet validated)."""
    cfg = task.get_config(args.config or default_preset(args, log=log))
    task.configure(cfg, args)
    for flag in (*SHARED_FLAGS, *task.flags):
        flag.set(cfg, getattr(args, flag.dest))
    for item in args.overrides or []:
        key = item.split("=", 1)[0].strip()
        if key in RENAMED_KEYS and not _has_path(cfg, key):
            raise ConfigError(f"config key {key!r} is now {RENAMED_KEYS[key]!r} (--set {RENAMED_KEYS[key]}=...)")
    cfg.override(args.overrides or [])
    return cfg


def _has_path(cfg: Config, dotted: str) -> bool:
    try:
        cfg.get_path(dotted)
        return True
    except ConfigError:
        return False


def output_dir(prog: str, task: Task, cfg: Config) -> Path:
    """``runs/<prog>/<dataset>_<preset>_<variant>_seed<k>[_<label>-<value>...]`` (relative to the working
    directory): one ``_<label>-<value>`` for every key of the task's ``name_keys`` (``(dotted key, label)`` pairs)
    whose value differs from its preset's, so runs that differ in such a switch get folders of their own."""
    ident = task.identity(cfg)
    name = f"{ident['dataset']}_{ident['preset']}_{ident['variant']}_seed{ident['seed']}"
    preset = task.get_config(cfg.preset)
    for key, label in getattr(task, "name_keys", ()):
        value = cfg.get_path(key)
        if value != preset.get_path(key):
            name += f"_{label}-{value}"
    return Path("runs") / prog / name.replace("/", "-").replace("+", "-")


def estimate_message(task: Task, cfg: Config) -> str | None:
    """The paper preset on a CPU: the estimated training time (steps x a measured seconds per step)."""
    measured = task.seconds_per_step_cpu(cfg)
    if measured is None:
        return None
    seconds_per_step, source = measured
    total = int(cfg.train.steps) * seconds_per_step
    return (f"no GPU: the paper preset will take about {_duration(total)} on this CPU -- an estimate, "
            f"{int(cfg.train.steps):,} steps x {seconds_per_step:g} s/step ({source})")


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"


def one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(err).__name__


def bad_input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean bad config, data or output folder (exit code 2)."""
    from sbir_tf.semantics.wordnet import WordNetUnavailable

    return (ValueError, KeyError, FileNotFoundError, ImportError, WordNetUnavailable)


def main(task: Task, prog: str, argv: Sequence[str] | None = None, description: str = "") -> int:
    """Parse ``argv``, resolve and run; returns the exit code (0 / 2 / 3)."""
    from sbir_tf.run import runner
    from sbir_tf.train.errors import NonFiniteLossError

    args = build_parser(task, prog, description).parse_args(argv)
    try:
        cfg = resolve_config(task, args)
        if cfg.preset == "paper" and not has_gpu():
            message = estimate_message(task, cfg)
            if message:
                say(f"[{prog}] {message}")
        out = Path(args.output_dir) if args.output_dir else output_dir(prog, task, cfg)
        say(f"[{prog}] output directory: {out}")
        runner.run(task, cfg, out, resume=args.resume, name=prog)
    except NonFiniteLossError as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return EXIT_NON_FINITE
    except bad_input_errors() as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def entry(task_factory: Callable[[], Task], prog: str, description: str = "") -> Callable[..., int]:
    """The ``main(argv=None) -> int`` of one experiment module (``sys.exit(main())`` in its ``__main__``)."""

    def run_main(argv: Sequence[str] | None = None) -> int:
        return main(task_factory(), prog, argv, description)

    run_main.__doc__ = f"``python -m sbir_tf.experiments.{prog}``: returns the exit code (0 ok, 2 bad input, 3 NaN)."
    return run_main
