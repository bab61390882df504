"""The one resume policy of every run (command lines, notebooks, scripts).

What a run does with its output folder, in this order:

1. ``--resume`` and the folder holds a *finished* run (``metrics.json``) of the same config, ``train.steps``
   included: read it back (nothing is trained or evaluated again).
2. ``--resume`` and the folder holds a checkpoint: restore it and continue to ``train.steps``. The stored
   ``config.json`` must equal the new config apart from the keys in :data:`FREE_KEYS`; any other difference is an
   error listing each changed key. A new ``train.steps`` must not move a step the run has already passed at which
   the task changes what it trains with (``schedule_points``: e.g. the fine-grained learning-rate drop and stage
   split, both fractions of ``train.steps``): the continued run would otherwise not be a run of either length.
3. ``--resume`` and no checkpoint (and no finished run): an error (nothing to resume).
4. No ``--resume`` but the folder holds a checkpoint or a finished run: an error naming both remedies (``--resume``
   to continue, or another ``--output_dir``). A run is never silently overwritten.
5. Otherwise: a fresh run.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

#: Keys that may differ between a stored run and its continuation (declared once, for both papers). A key ending in
#: "." covers the whole section.
FREE_KEYS = (
    # length: continuing a run to more steps is what --resume is for
    "train.steps",
    # cadence: how often the loop logs, validates and saves
    "train.log_every", "train.eval_every", "train.checkpoint_every", "train.keep_checkpoints",
    # caches and memory: where features are cached, whether they are recomputed, evaluation batch size
    "features.cache_dir", "features.refresh", "features.batch_size", "eval.batch_size",
    # figures: what is drawn after the run
    "figures.", "eval.grid_queries", "eval.grid_top", "eval.display_size", "eval.recon_pairs",
)


#: Keys added to the configs after runs were made, with the value every run before them had (declared once; the
#: report groups records with it too). A stored config without such a key and a new config holding that value are
#: the same run; any other value is a difference.
ADDED_KEYS = {
    "data.val_instances": 0, "train.deterministic": False, "train.jit_compile": False,
    "model.classifier_scale": 1.0, "data.flip_pairs": False, "data.crop_pairs": False,
    "data.trunk_cache_views": 0, "data.trunk_cache_seed": 0,
}


def added_at_old_value(key: str, value: Any) -> bool:
    """Is ``key`` in :data:`ADDED_KEYS` and ``value`` its old value (of the same type: 0 is not False)?"""
    if key not in ADDED_KEYS:
        return False
    old = ADDED_KEYS[key]
    return type(value) is type(old) and value == old


class ResumeError(ValueError):
    """The output folder and ``--resume`` disagree (rules 2-4 of :mod:`sbir_tf.run.resume`)."""


class Action(enum.Enum):
    FRESH = "fresh"
    RESUME = "resume"
    READ_BACK = "read_back"


@dataclass
class Decision:
    action: Action
    metrics: dict | None = None  # the stored metrics (READ_BACK)
    checkpoint: str | None = None  # the newest checkpoint (RESUME)


def latest_checkpoint(run_dir: str | Path) -> str | None:
    """The newest ``ckpt-<step>`` prefix under ``run_dir/checkpoints`` (by step), or None."""
    folder = Path(run_dir) / "checkpoints"
    steps = []
    for index in folder.glob("ckpt-*.index"):
        try:
            steps.append((checkpoint_step(str(index.with_suffix(""))), index))
        except ValueError:
            continue
    if not steps:
        return None
    return str(max(steps)[1].with_suffix(""))


def holds_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a checkpoint or a finished run (rule 4 refuses to start over it)."""
    return latest_checkpoint(run_dir) is not None or (Path(run_dir) / "metrics.json").is_file()


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def is_free(key: str) -> bool:
    return any(key == free or (free.endswith(".") and key.startswith(free)) for free in FREE_KEYS)


def config_differences(stored: Mapping[str, Any], new: Mapping[str, Any], *, free: bool = True) -> list[str]:
    """``"key: old -> new"`` for every differing leaf (keys in :data:`FREE_KEYS` left out when ``free``; a key of
    :data:`ADDED_KEYS` absent from ``stored`` and at its old value in ``new`` is no difference)."""
    a, b = flatten(stored), flatten(new)
    missing = object()
    out = []
    for key in sorted(set(a) | set(b)):
        old, value = a.get(key, missing), b.get(key, missing)
        if old is missing and added_at_old_value(key, value):
            continue
        if old != value and not (free and is_free(key)):
            show = lambda v: "(absent)" if v is missing else repr(v)  # noqa: E731
            out.append(f"{key}: {show(old)} -> {show(value)}")
    return out


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise ResumeError(f"{path} is not valid JSON ({err}); move the folder away or choose another --output_dir") \
            from err


def decide(run_dir: str | Path, config: Mapping[str, Any], resume: bool,
           schedule_points: Callable[[Mapping[str, Any]], Mapping[str, int]] | None = None) -> Decision:
    """Apply the numbered policy of this module to ``run_dir`` for the resolved ``config`` (a plain dict).

    ``schedule_points(config) -> {name: step}``: the task's steps derived from ``train.steps`` (rule 2)."""
    run_dir = Path(run_dir)
    checkpoint = latest_checkpoint(run_dir)
    metrics = _read_json(run_dir / "metrics.json")
    stored = _read_json(run_dir / "config.json")
    if not resume:
        if checkpoint is not None or metrics is not None:  # rule 4
            what = "a finished run (metrics.json)" if metrics is not None else f"checkpoints ({Path(checkpoint).name})"
            raise ResumeError(f"{run_dir} already holds {what}: pass --resume to continue or read back that run, "
                              f"or choose a new --output_dir")
        return Decision(Action.FRESH)  # rule 5
    if stored is not None and (metrics is not None or checkpoint is not None):
        diffs = config_differences(stored, config)
        if diffs:
            raise ResumeError(f"--resume with a config that differs from {run_dir / 'config.json'}: "
                              + "; ".join(diffs))
    if metrics is not None and (stored is None or _same_length(stored, config)):
        return Decision(Action.READ_BACK, metrics=metrics)  # rule 1
    if checkpoint is not None:
        if stored is not None and schedule_points is not None:
            check_schedule_points(stored, config, checkpoint_step(checkpoint), schedule_points)
        return Decision(Action.RESUME, checkpoint=checkpoint)  # rule 2
    raise ResumeError(f"--resume: {run_dir} holds no checkpoint to continue from (and no finished run); "  # rule 3
                      f"drop --resume to start a fresh run there")


def checkpoint_step(checkpoint: str) -> int:
    """The step of a ``.../ckpt-<step>`` prefix."""
    return int(Path(checkpoint).name[len("ckpt-"):])


def check_schedule_points(stored: Mapping[str, Any], config: Mapping[str, Any], step: int,
                          schedule_points: Callable[[Mapping[str, Any]], Mapping[str, int]]) -> None:
    """Rule 2's length check: a ``ResumeError`` naming every schedule point that the new ``train.steps`` moves from
    or to a step before ``step`` (the restored checkpoint's), i.e. a change the trained steps did or did not see."""
    old, new = schedule_points(stored), schedule_points(config)
    moved = [f"{name} {old[name]} -> {new.get(name, '(none)')}" for name in old
             if old[name] != new.get(name) and min(old[name], new.get(name, old[name])) < step]
    moved += [f"{name} (none) -> {new[name]}" for name in new if name not in old and new[name] < step]
    if moved:
        steps = (flatten(stored).get("train.steps"), flatten(config).get("train.steps"))
        raise ResumeError(f"--resume at step {step} with train.steps {steps[0]} -> {steps[1]} moves what the first "
                          f"{step} steps were trained with: {'; '.join(moved)}. Resume with train.steps {steps[0]}, "
                          f"or start a new run (another --output_dir) for {steps[1]} steps")


def _same_length(stored: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """A finished run is read back when it was trained for the steps asked now (cadence changes do not matter)."""
    return flatten(stored).get("train.steps") == flatten(config).get("train.steps")
