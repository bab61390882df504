"""The one error of the training loop: a loss term (or, without loss scaling, a gradient) became NaN or Inf."""
from __future__ import annotations

import math
from typing import Mapping


class NonFiniteLossError(FloatingPointError):
    """Training stopped at a non-finite value; nothing was saved after the last good checkpoint.

    ``step``: the 1-based number of the step that failed (its checkpoint would have been ``ckpt-<step>``);
    ``terms``: every loss term of the failed update (name -> float); ``last_checkpoint``: the newest checkpoint on disk
    (``None`` when there is none); ``update``: which update of the step failed (a fine-grained stage name, or
    ``critic[k]`` / ``generator`` for Algorithm 1 of WAD-CMSN).
    """

    def __init__(self, step: int, terms: Mapping[str, float], last_checkpoint: str | None,
                 update: str | None = None) -> None:
        self.step, self.terms, self.last_checkpoint, self.update = int(step), dict(terms), last_checkpoint, update
        bad = [k for k, v in self.terms.items() if not math.isfinite(v)]
        shown = ", ".join(f"{k}={v:.6g}" for k, v in self.terms.items())
        what = f"{', '.join(bad)} not finite" if bad else "loss terms finite but a gradient is NaN/Inf"
        where = f" in the {update} update" if update else ""
        super().__init__(f"non-finite loss at step {self.step}{where}: {what} ({shown}); the update was not applied "
                         f"and nothing was saved; last good checkpoint: {last_checkpoint or 'none'}")
