"""Figures: retrieval grids, sketch reconstructions, training curves and t-SNE embeddings (PNG, Agg backend).

* :func:`retrieval_grid` - one row per query: the query sketch, then its top-ranked photos; correct results boxed
  green, wrong ones red (Pang et al. 2017 Fig. 4; WAD-CMSN Fig. 4). For fine-grained retrieval, when the true photo
  is not among the shown results its rank is written (and its image shown) at the end of the row.
* :func:`reconstruction_grid` - input sketch, its reconstruction, the matched photo, the sketch reconstructed from
  the photo (Pang et al. 2017 Fig. 3).
* :func:`curves` - losses / validation metrics against step or epoch.
* :func:`seed_dots` - settings side by side, one dot per seed and a bar at the mean, one panel per metric.
* :func:`tsne_plot` - 2-D t-SNE of embeddings coloured by class.

Images are uint8 numpy arrays ([H, W], [H, W, 1] or [H, W, 3]). Every function returns the path it wrote.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CORRECT_COLOUR = "#1a9641"
WRONG_COLOUR = "#d7191c"
TRUE_COLOUR = "#2b83ba"
CELL_INCHES = 1.25


def _image(x, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ValueError(f"{name} must be [H, W], [H, W, 1] or [H, W, 3], got shape {arr.shape}")
    return arr


def _images(xs, name: str, ndim_batch: int = 1) -> list:
    if xs is None:
        raise ValueError(f"{name} is required")
    arr = np.asarray(xs) if not isinstance(xs, (list, tuple)) else xs
    if isinstance(arr, np.ndarray) and ndim_batch == 1 and arr.ndim < 3:
        raise ValueError(f"{name} must be a batch of images [N, H, W(, C)], got shape {arr.shape}")
    return [_image(x, f"{name}[{i}]") for i, x in enumerate(arr)]


def _show(ax, image: np.ndarray, frame_colour: str | None = None, label: str | None = None,
          label_colour: str = "black"):
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame_colour is not None)
        if frame_colour is not None:
            spine.set_edgecolor(frame_colour)
            spine.set_linewidth(4)
    if label:
        ax.set_title(label, fontsize=8, color=label_colour, pad=2)


def _blank(ax):
    ax.axis("off")


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def retrieval_grid(query_images, result_images, correct, path, *, true_rank=None, true_image=None,
                   title: str = "Retrieval results", query_labels=None) -> Path:
    """One row per query: query sketch, then its ranked results with correct ones boxed green, wrong ones red.

    Args:
      query_images: uint8 [Q, H, W(, C)] query sketches.
      result_images: uint8 [Q, K, H, W(, C)] (or a list of Q lists of K images), nearest first.
      correct: bool [Q, K], True where the result is a correct match (the true photo for fine-grained retrieval,
        a photo of the query's class for zero-shot retrieval).
      path: PNG file to write.
      true_rank: optional int [Q], 0-based rank of the true photo (fine-grained). Where it is >= K the row ends
        with "true match: rank r+1" and, if ``true_image`` is given, that photo boxed blue.
      true_image: optional uint8 [Q, H, W(, C)] true photos (fine-grained).
      query_labels: optional list of Q strings written above each query.
    """
    queries = _images(query_images, "query_images")
    n_q = len(queries)
    if n_q == 0:
        raise ValueError("query_images is empty")
    results = [_images(row, f"result_images[{i}]") for i, row in enumerate(result_images)]
    if len(results) != n_q:
        raise ValueError(f"result_images has {len(results)} rows but there are {n_q} queries")
    k = len(results[0])
    if k == 0 or any(len(r) != k for r in results):
        raise ValueError("result_images must hold the same, non-zero number of results for every query")
    correct = np.asarray(correct, dtype=bool)
    if correct.shape != (n_q, k):
        raise ValueError(f"correct must have shape {(n_q, k)} (queries x results), got {correct.shape}")
    ranks = None if true_rank is None else np.asarray(true_rank).reshape(-1)
    if ranks is not None and ranks.shape[0] != n_q:
        raise ValueError(f"true_rank has {ranks.shape[0]} entries but there are {n_q} queries")
    trues = None if true_image is None else _images(true_image, "true_image")
    if trues is not None and len(trues) != n_q:
        raise ValueError(f"true_image has {len(trues)} images but there are {n_q} queries")
    if query_labels is not None and len(query_labels) != n_q:
        raise ValueError(f"query_labels has {len(query_labels)} entries but there are {n_q} queries")

    extra = 1 if ranks is not None else 0
    cols = 1 + k + extra
    fig, axes = plt.subplots(n_q, cols, figsize=(cols * CELL_INCHES, n_q * CELL_INCHES * 1.1 + 0.6),
                             squeeze=False, gridspec_kw={"wspace": 0.08, "hspace": 0.35})
    for i in range(n_q):
        qlabel = "query" if query_labels is None else f"query: {query_labels[i]}"
        _show(axes[i, 0], queries[i], label=qlabel)
        for j in range(k):
            ok = bool(correct[i, j])
            _show(axes[i, 1 + j], results[i][j], CORRECT_COLOUR if ok else WRONG_COLOUR,
                  label=f"{j + 1}" + (" \u2713" if ok else ""), label_colour=CORRECT_COLOUR if ok else "black")
        if extra:
            ax = axes[i, -1]
            r = int(ranks[i])
            if r < k:
                _blank(ax)
                ax.text(0.5, 0.5, f"true match\nat rank {r + 1}", ha="center", va="center", fontsize=8,
                        color=CORRECT_COLOUR, transform=ax.transAxes)
            elif trues is not None:
                _show(ax, trues[i], TRUE_COLOUR, label=f"true: rank {r + 1}", label_colour=TRUE_COLOUR)
            else:
                _blank(ax)
                ax.text(0.5, 0.5, f"true match\nat rank {r + 1}", ha="center", va="center", fontsize=8,
                        color=TRUE_COLOUR, transform=ax.transAxes)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def reconstruction_grid(sketches, from_sketch, photos, from_photo, path, *,
                        title: str = "Sketch reconstructions") -> Path:
    """Rows of (input sketch, reconstruction from the sketch, matched photo, sketch reconstructed from the photo).

    Pang et al. 2017, Fig. 3. All four inputs are uint8 batches of equal length.
    """
    columns = [_images(sketches, "sketches"), _images(from_sketch, "from_sketch"), _images(photos, "photos"),
               _images(from_photo, "from_photo")]
    n = len(columns[0])
    if n == 0:
        raise ValueError("sketches is empty")
    names = ("sketches", "from_sketch", "photos", "from_photo")
    for name, col in zip(names, columns):
        if len(col) != n:
            raise ValueError(f"{name} has {len(col)} images but sketches has {n}")
    headers = ("input sketch", "reconstructed\nfrom sketch", "photo", "reconstructed\nfrom photo")
    fig, axes = plt.subplots(n, 4, figsize=(4 * CELL_INCHES * 1.2, n * CELL_INCHES * 1.2 + 0.8), squeeze=False,
                             gridspec_kw={"wspace": 0.08, "hspace": 0.1})
    for i in range(n):
        for j in range(4):
            _show(axes[i, j], columns[j][i], label=headers[j] if i == 0 else None)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def curves(history: dict, path, title: str = "Training curves", ylabel: str = "value", *,
           xlabel: str = "step", logy: bool = False, styles: dict | None = None) -> Path:
    """Line plot of named series ``{name: [(step, value), ...]}`` (losses per step, validation metrics per epoch);
    ``styles``: matplotlib line options per series name (e.g. one colour per seed, one line style per variant).
    A title longer than the axes is wrapped onto several lines."""
    if not isinstance(history, dict) or not history:
        raise ValueError("history must be a non-empty dict {name: [(step, value), ...]}")
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, points in history.items():
        pts = np.asarray(list(points), dtype=np.float64)
        if pts.size == 0:
            continue
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"history[{name!r}] must be a list of (step, value) pairs, got shape {pts.shape}")
        style = {"marker": "o" if len(pts) < 30 else None, "markersize": 3, **(styles or {}).get(name, {})}
        ax.plot(pts[:, 0], pts[:, 1], label=str(name), **style)
    if not ax.lines:
        plt.close(fig)
        raise ValueError("history holds no points")
    if logy:
        ax.set_yscale("log")
    ax.set_title(textwrap.fill(title, 72), fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def seed_dots(panels: dict, path, title: str = "Per-seed results", *, chance: dict | None = None) -> Path:
    """One panel per metric, one row per setting, one dot per seed and a bar at the seeds' mean:
    ``panels = {metric: {setting: [value per seed, ..]}}``, settings top to bottom in the order given (the same in
    every panel); ``chance``: a dashed line per metric (``{metric: value}``). For comparing settings whose
    differences must be read against the spread of their seeds."""
    if not isinstance(panels, dict) or not panels or not all(isinstance(v, dict) and v for v in panels.values()):
        raise ValueError("panels must be a non-empty dict {metric: {setting: [values]}} with a setting in each")
    names = list(next(iter(panels.values())))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.5 + 3.0 * len(panels), 1.0 + 0.42 * len(names)),
                             sharey=True, squeeze=False)
    for ax, (metric, settings) in zip(axes[0], panels.items()):
        for row, name in enumerate(names):
            values = np.asarray(settings.get(name, []), dtype=np.float64).ravel()
            if values.size == 0:
                continue
            offsets = np.linspace(-0.12, 0.12, values.size) if values.size > 1 else np.zeros(1)
            ax.plot(values, row + offsets, "o", color="#1f77b4", markersize=5, zorder=3)
            ax.plot([values.mean()] * 2, [row - 0.3, row + 0.3], "-", color="#d62728", linewidth=2, zorder=2)
        if chance and metric in chance:
            ax.axvline(chance[metric], color="0.5", linestyle="--", linewidth=1, zorder=1)
            ax.set_xlabel("dashed: chance", fontsize=7)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels([str(n) for n in names], fontsize=8)
        ax.set_ylim(len(names) - 0.5, -0.5)  # the first setting on top
        ax.set_title(str(metric), fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(textwrap.fill(title, 100), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def tsne_perplexity(n: int, preferred: float = 30.0) -> float:
    """t-SNE perplexity adapted to small samples: ``min(preferred, (n - 1) / 3)``, at least 1 (must be < n)."""
    return float(max(1.0, min(preferred, (n - 1) / 3.0)))


def tsne_plot(features, labels, class_names, path, title: str = "t-SNE of embeddings", *, seed: int = 0,
              markers=None, max_iter: int = 1000) -> Path:
    """2-D t-SNE (scikit-learn) of ``features`` [N, D], points coloured by ``labels`` with a legend of class names.

    ``labels`` are integer indices into ``class_names``. ``markers`` (optional, N strings such as "o"/"^") lets
    sketches and photos be told apart. ``max_iter`` (>= 250) bounds the t-SNE optimisation.
    """
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels)
    if x.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"labels must be 1-D with one label per feature row ({x.shape[0]}), got shape {y.shape}")
    if x.shape[0] < 3:
        raise ValueError(f"t-SNE needs at least 3 points, got {x.shape[0]}")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(class_names):
        raise ValueError(f"labels must be integer indices into class_names (0..{len(class_names) - 1})")
    if markers is not None and len(markers) != x.shape[0]:
        raise ValueError(f"markers has {len(markers)} entries but features has {x.shape[0]} rows")
    xy = TSNE(n_components=2, perplexity=tsne_perplexity(x.shape[0]), init="pca", random_state=seed,
                max_iter=int(max_iter)).fit_transform(x)
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab20" if len(class_names) > 10 else "tab10")
    marks = np.asarray(markers) if markers is not None else np.full(x.shape[0], "o")
    for c in np.unique(y):
        for m in np.unique(marks):
            sel = (y == c) & (marks == m)
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=14, marker=m, color=cmap(int(c) % cmap.N),
                           label=str(class_names[int(c)]) if m == marks[y == c][0] else None)
    ax.set_title(title)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.legend(fontsize=7, markerscale=1.5, loc="center left", bbox_to_anchor=(1.0, 0.5), title="class")
    return _save(fig, path)
