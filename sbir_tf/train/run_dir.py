"""An experiment's output folder: resolved config, environment, metrics, all written atomically."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace`` (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def onednn_enabled() -> bool | None:
    """Whether TF runs its oneDNN kernels in this process (``TF_ENABLE_ONEDNN_OPTS``, else TF's default for the CPU:
    on with AVX-512 neural-network instructions, off on an AVX2-only CPU), or None when TF does not say. They change
    float rounding and speed."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def onednn_hint(*, onednn: bool | None, requested: str | None, gpus: int,
                cpu_features: list[str] | None) -> str | None:
    """A note for a CPU run that could be faster, else None: TF's oneDNN kernels off (``onednn``,
    :func:`onednn_enabled`) on an AVX2 CPU without AVX-512 (``cpu_features``), where that is TF's default, not the
    user's choice (``requested``: ``TF_ENABLE_ONEDNN_OPTS`` as set, None when unset). No note with a GPU, with the
    kernels on or unknown, or when the CPU's features are unknown. On a 2-core AVX2 CPU the benchmarks measured
    training 1.3-2.0x faster with them (README, "oneDNN on a CPU without AVX-512")."""
    if gpus or onednn is not False or requested is not None or cpu_features is None:
        return None
    if "avx2" not in cpu_features or "avx512f" in cpu_features:
        return None
    return ("TF's oneDNN kernels are off, TF's default on a CPU without AVX-512; with TF_ENABLE_ONEDNN_OPTS=1 set "
            "before the run starts, training ran 1.3-2.0x faster on a 2-core AVX2 CPU (README, \"oneDNN on a CPU "
            "without AVX-512\"); results then round differently, and environment.json records which kernels ran")


def environment() -> dict:
    """TF/Keras versions, devices, CPU, whether oneDNN kernels run, the git commit and the package files changed
    since it (when run from a checkout: a run made with uncommitted code says so)."""
    import keras
    import tensorflow as tf

    env = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "cores": os.cpu_count(),
        "onednn": onednn_enabled(),
        "platform": platform.platform(),
        "commit": _git_commit(),
        "uncommitted_changes": uncommitted_changes(Path(__file__).resolve().parents[1]),
    }
    return env


#: The CPU features that decide which kernels a training step gets: AVX2, AVX-512 and its neural-network
#: extensions (oneDNN's default, native bfloat16) and AMX.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_features(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> list[str] | None:
    """Which of :data:`CPU_FEATURES` the CPU has (the ``flags`` line of ``cpuinfo``), or None where the file does
    not say (not Linux). Two CPUs of one model name can differ here, and so can the speed of a bfloat16 run on them."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [f for f in CPU_FEATURES if f in flags]
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (else ``platform.processor()``/``machine()``, else ``"unknown-cpu"``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def uncommitted_changes(folder: Path) -> list[str] | None:
    """Tracked files under ``folder`` that differ from the checkout's HEAD (paths relative to the repository),
    ``[]`` when none do, ``None`` outside a git checkout (porcelain paths are relative to the repository root)."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=folder,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return sorted(line[3:].strip() for line in out.stdout.splitlines() if line.strip())


class RunDir:
    """Layout of one run's output folder.

    ``config.json`` (resolved config), ``environment.json``, ``metrics.json``, ``checkpoints/``, ``tensorboard/``,
    ``figures/``.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.checkpoints = self.root / "checkpoints"
        self.tensorboard = self.root / "tensorboard"
        self.figures = self.root / "figures"
        for folder in (self.checkpoints, self.tensorboard, self.figures):
            folder.mkdir(exist_ok=True)

    def write_config(self, config: dict) -> None:
        write_json(self.root / "config.json", config)

    def read_config(self) -> dict | None:
        path = self.root / "config.json"
        return json.loads(path.read_text()) if path.exists() else None

    def write_environment(self, resumed_from_step: int | None = None) -> None:
        """This process's :func:`environment`. A run resumed from its checkpoint of step ``resumed_from_step`` keeps
        the environments of its earlier segments under ``"earlier"`` (oldest first) and names that step under
        ``"resumed_from_step"``, so a run trained across commits, machines or kernels records each of them."""
        env = environment()
        path = self.root / "environment.json"
        if resumed_from_step is not None:
            try:
                previous = json.loads(path.read_text())
            except (OSError, ValueError):
                previous = None
            if isinstance(previous, dict):
                earlier = previous.pop("earlier", None)
                env["earlier"] = (earlier if isinstance(earlier, list) else []) + [previous]
            env["resumed_from_step"] = int(resumed_from_step)
        write_json(path, env)

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.root / "metrics.json", metrics)
