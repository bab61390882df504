"""What a paper supplies to the run layer (:class:`Task`), and the flag table entries (:class:`Flag`)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from sbir_tf.config import Config


@dataclass(frozen=True)
class Flag:
    """One command-line flag as sugar for config keys.

    ``keys``: the dotted keys the value is written to (all of them), or none when ``apply(cfg, value)`` does the
    writing (e.g. ``--variant``, which sets two keys by name). ``value`` maps the parsed flag to the stored value
    (e.g. ``--weights none`` -> ``None``). A flag left at its default (``None`` / ``False``) changes nothing.
    """

    name: str
    keys: tuple[str, ...] = ()
    help: str = ""
    type: Callable[[str], Any] | None = str
    choices: Sequence[str] | None = None
    store_true: bool = False
    metavar: str | None = None
    value: Callable[[Any], Any] | None = None
    apply: Callable[[Config, Any], None] | None = None

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        kwargs: dict[str, Any] = {"help": self.help or (f"sets {', '.join(self.keys)}" if self.keys else None)}
        if self.store_true:
            kwargs.update(action="store_true", default=False)
        else:
            kwargs.update(type=self.type, default=None)
            if self.choices is not None:
                kwargs["choices"] = list(self.choices)
            if self.metavar:
                kwargs["metavar"] = self.metavar
        parser.add_argument(self.name, **kwargs)

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")

    def set(self, cfg: Config, raw: Any) -> None:
        if raw is None or raw is False:
            return
        value = self.value(raw) if self.value is not None else raw
        if self.apply is not None:
            self.apply(cfg, value)
        for key in self.keys:
            cfg.set_path(key, value)


class Task(Protocol):
    """The paper-specific parts of a run. The run layer (:mod:`sbir_tf.run.runner`) calls, in order:
    ``validate`` -> ``load_data`` -> ``validate_data`` -> ``build_model`` -> ``train_step`` (and ``evaluator`` for
    the validation rows) -> :class:`sbir_tf.train.loop.Trainer` -> ``evaluate`` -> ``metrics`` -> ``figures`` ->
    ``save_model`` (``run_dir/model.keras`` through :func:`sbir_tf.export.save_run_model`)."""

    #: "fine_grained" | "zero_shot" (``metrics.json`` ``task``)
    kind: str
    #: flags beyond the shared ones (:data:`sbir_tf.run.cli.SHARED_FLAGS`)
    flags: Sequence[Flag]
    #: ``--config`` choices
    presets: Sequence[str]
    #: optional: ``(dotted key, label)`` pairs named in the default run folder when they differ from the preset
    #: (:func:`sbir_tf.run.cli.output_dir`)

    def get_config(self, preset: str) -> Config: ...
    def configure(self, cfg: Config, args: argparse.Namespace) -> None: ...
    def identity(self, cfg: Config) -> Mapping[str, Any]: ...
    def seconds_per_step_cpu(self, cfg: Config) -> tuple[float, str] | None: ...
    def validate(self, cfg: Config) -> None: ...
    def load_data(self, cfg: Config) -> Any: ...
    def validate_data(self, cfg: Config, data: Any, num_replicas: int) -> None: ...
    def describe(self, cfg: Config, data: Any) -> list[str]: ...
    def trains(self, cfg: Config) -> bool: ...
    def build_model(self, cfg: Config, data: Any) -> Any: ...
    def train_step(self, model: Any, cfg: Config, data: Any, strategy: Any) -> tuple[Callable, dict]: ...
    # optional: ``schedule_points(plain_config) -> {name: step}``, the steps derived from ``train.steps`` at which
    # training changes (checked on resume with another ``train.steps``, :mod:`sbir_tf.run.resume` rule 2)
    def images_per_step(self, cfg: Config) -> int | None: ...
    def evaluator(self, model: Any, cfg: Config, data: Any) -> Callable[[int], Mapping[str, float]] | None: ...
    def evaluate(self, model: Any, cfg: Config, data: Any) -> dict: ...
    def metrics(self, cfg: Config, data: Any, result: dict, history: list[dict]) -> dict: ...
    def save_model(self, model: Any, run_dir: Path) -> None: ...
    def table(self, metrics: Mapping[str, Any]) -> str: ...
    def figures(self, run_dir: Path, model: Any, cfg: Config, data: Any, result: dict,
                history: list[dict]) -> dict: ...
