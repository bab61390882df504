"""Progress reporting for long loops: step, losses, images/s and ETA on one line (tqdm when it is a terminal,
plain periodic lines otherwise, e.g. in CI logs and notebooks)."""
from __future__ import annotations

import sys
import time
from typing import Mapping


class Progress:
    """``with Progress(total, start=step0, images_per_step=96) as bar: bar.update(step, {"loss": 1.2})``."""

    def __init__(self, total: int, start: int = 0, images_per_step: int = 0, desc: str = "train",
                 every: int | None = None, stream=None) -> None:
        self.total, self.start, self.images_per_step, self.desc = total, start, images_per_step, desc
        self.stream = stream or sys.stderr
        self.every = every or max(1, (total - start) // 20)
        self._t0 = time.perf_counter()
        self._last_printed = start
        self._tqdm = None
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=total, initial=start, desc=desc, file=self.stream, dynamic_ncols=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def rates(self, step: int) -> tuple[float, float]:
        done = max(step - self.start, 0)
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        steps_per_s = done / elapsed
        eta = (self.total - step) / steps_per_s if steps_per_s > 0 else float("inf")
        return steps_per_s * self.images_per_step, eta

    def update(self, step: int, values: Mapping[str, float] | None = None) -> None:
        values = {k: float(v) for k, v in (values or {}).items()}
        images_per_s, eta = self.rates(step)
        fields = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        if self._tqdm is not None:
            self._tqdm.n = step
            self._tqdm.set_postfix_str(f"{fields} img/s={images_per_s:.1f}", refresh=True)
        elif step >= self.total or step - self._last_printed >= self.every:
            self._last_printed = step
            print(f"[{self.desc}] step {step}/{self.total} {fields} img/s={images_per_s:.1f} "
                  f"eta={format_seconds(eta)}", file=self.stream, flush=True)

    def note(self, step: int, values: Mapping[str, float], what: str = "validation") -> None:
        """One line of results at ``step`` (e.g. the validation scores), above the bar on a terminal."""
        line = f"[{self.desc}] step {step}/{self.total} {what} " + " ".join(
            f"{k}={float(v):.4g}" for k, v in values.items())
        if self._tqdm is not None:
            self._tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None


def format_seconds(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
