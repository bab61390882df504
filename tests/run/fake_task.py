"""A pure-Python task for the run layer's tests: one scalar "weight" w, no images, no network.

Step ``s`` (0-based) adds ``loss.scale * (s + 1)`` to w, so after n steps w = scale * n (n + 1) / 2 exactly; a run
resumed from any checkpoint ends with the same w as a straight one only if the restore and the step count are right.
``loss.nan_at = k`` makes step k (1-based) non-finite: the step reports ``finite=False`` and leaves w unchanged.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import tensorflow as tf

from sbir_tf.config import Config
from sbir_tf.data.records import DataError
from sbir_tf.run.results import format_table
from sbir_tf.run.task import Flag


def expected_weight(scale: float, steps: int) -> float:
    return scale * steps * (steps + 1) / 2


class FakeTask:
    kind = "fake"
    presets = ("cpu", "smoke")
    flags = (Flag("--scale", ("loss.scale",), type=float),)

    def __init__(self) -> None:
        self.loads = 0

    def get_config(self, preset: str) -> Config:
        return Config(preset=preset, variant="plain",
                      data=dict(dataset="numbers", root=None, prepared_dir=None, broken=False),
                      loss=dict(scale=1.0, nan_at=0),
                      train=dict(steps=6, seed=0, batch_size=1, log_every=1, eval_every=3, checkpoint_every=2,
                                 keep_checkpoints=5, precision="float32", jit_compile=False, deterministic=False),
                      figures=dict(enabled=True))

    def configure(self, cfg: Config, args: argparse.Namespace) -> None:
        pass

    def identity(self, cfg: Config) -> dict:
        return {"task": self.kind, "dataset": cfg.data.dataset, "preset": cfg.preset, "variant": cfg.variant,
                "seed": cfg.train.seed, "steps": cfg.train.steps}

    def seconds_per_step_cpu(self, cfg: Config):
        return None

    def validate(self, cfg: Config) -> None:
        if not isinstance(cfg.train.steps, int) or cfg.train.steps < 1:
            raise ValueError(f"train.steps must be an integer >= 1, got {cfg.train.steps!r}")

    def load_data(self, cfg: Config):
        self.loads += 1
        if cfg.data.broken:
            raise DataError("the numbers folder is broken (data.broken)\nsecond line of the message")
        return {"n": 3}

    def validate_data(self, cfg: Config, data, num_replicas: int = 1) -> None:
        pass

    def describe(self, cfg: Config, data) -> list[str]:
        return []

    def trains(self, cfg: Config) -> bool:
        return True

    def build_model(self, cfg: Config, data):
        return tf.Variable(0.0, dtype=tf.float64, name="w")

    def train_step(self, model, cfg: Config, data, strategy):
        scale, nan_at = float(cfg.loss.scale), int(cfg.loss.nan_at)

        def step_fn(step: int) -> dict:
            if step + 1 == nan_at:
                return {"finite": False, "lr": 0.1, "loss/total": math.nan}
            model.assign_add(scale * (step + 1))
            return {"finite": True, "lr": 0.1, "loss/total": float(model.numpy())}

        return step_fn, {"model": model}

    def images_per_step(self, cfg: Config):
        return None

    def evaluator(self, model, cfg: Config, data):
        return lambda step: {"w": float(model.numpy())}

    def evaluate(self, model, cfg: Config, data) -> dict:
        return {"w": float(model.numpy())}

    def metrics(self, cfg: Config, data, result: dict, history: list[dict]) -> dict:
        return {"w": result["w"], "history_steps": [h["step"] for h in history]}

    def save_model(self, model, run_dir: Path) -> None:
        (Path(run_dir) / "model.json").write_text(json.dumps({"w": float(model.numpy())}))

    def table(self, metrics) -> str:
        return format_table(["fake"], ("w",), [("run", {"w": metrics["w"]})])

    def figures(self, run_dir, model, cfg, data, result, history) -> dict:
        return {}
