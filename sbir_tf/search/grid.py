"""A query strip in the style of Figure 4 (Pang et al. 2017; WAD-CMSN Fig. 4): the sketch, then its ranked photos.

There is no ground truth for a free query, so results are not boxed green/red as in
:func:`sbir_tf.eval.figures.retrieval_grid`; each photo is titled with its rank and distance. Drawing and saving
reuse that module's helpers, so the strips look like the evaluation figures.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sbir_tf.eval import figures

DISPLAY_SIZE = 128


def _display(image: np.ndarray, size: int = DISPLAY_SIZE) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), np.uint8)


def query_strip(sketch: np.ndarray, photos: list[np.ndarray], hits, path, *, title: str = "Sketch search") -> Path:
    """Write a PNG strip: ``sketch`` (uint8 ``[H, W, 3]``), then ``photos[i]`` titled with ``hits[i]``'s rank."""
    if len(photos) != len(hits) or not hits:
        raise ValueError(f"need one photo per hit and at least one hit, got {len(photos)} photos, {len(hits)} hits")
    import matplotlib.pyplot as plt

    cols = 1 + len(hits)
    fig, axes = plt.subplots(1, cols, figsize=(cols * figures.CELL_INCHES, figures.CELL_INCHES * 1.1 + 0.6),
                             squeeze=False, gridspec_kw={"wspace": 0.08})
    figures._show(axes[0, 0], _display(sketch), label="query")
    for j, (photo, hit) in enumerate(zip(photos, hits)):
        figures._show(axes[0, 1 + j], _display(photo), label=f"{hit.rank}  (d={hit.distance:.3g})")
    fig.suptitle(title, fontsize=11)
    return figures._save(fig, path)
