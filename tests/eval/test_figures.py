import numpy as np
import pytest
from PIL import Image

from sbir_tf.eval import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _imgs(n, size=24, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, size, size, channels) if channels else (n, size, size)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def _check_png(path, min_w, min_h):
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as im:
        w, h = im.size
    assert w >= min_w and h >= min_h
    return w, h


def test_retrieval_grid_zero_shot(tmp_path):
    q, k = 3, 10
    correct = np.zeros((q, k), bool)
    correct[0, :4] = True
    out = figures.retrieval_grid(_imgs(q, channels=0), _imgs(q * k).reshape(q, k, 24, 24, 3), correct,
                                 tmp_path / "sub" / "grid.png", title="zero-shot", query_labels=["cat", "dog", "cow"])
    assert out == tmp_path / "sub" / "grid.png"
    w, h = _check_png(out, 600, 200)
    assert w > h  # 11 columns, 3 rows


def test_retrieval_grid_fine_grained_shows_true_rank(tmp_path):
    q, k = 2, 10
    correct = np.zeros((q, k), bool)
    correct[0, 2] = True
    w_plain, _ = _check_png(figures.retrieval_grid(_imgs(q), _imgs(q * k).reshape(q, k, 24, 24, 3), correct,
                                                   tmp_path / "a.png"), 500, 100)
    w_rank, _ = _check_png(figures.retrieval_grid(_imgs(q), _imgs(q * k).reshape(q, k, 24, 24, 3), correct,
                                                  tmp_path / "b.png", true_rank=[2, 37], true_image=_imgs(q)),
                           500, 100)
    assert w_rank > w_plain  # an extra column for the true match


def test_retrieval_grid_validation(tmp_path):
    results = _imgs(20).reshape(2, 10, 24, 24, 3)
    with pytest.raises(ValueError, match="rows"):
        figures.retrieval_grid(_imgs(3), results, np.zeros((3, 10), bool), tmp_path / "x.png")
    with pytest.raises(ValueError, match="correct must have shape"):
        figures.retrieval_grid(_imgs(2), results, np.zeros((2, 9), bool), tmp_path / "x.png")
    with pytest.raises(ValueError, match="true_rank"):
        figures.retrieval_grid(_imgs(2), results, np.zeros((2, 10), bool), tmp_path / "x.png", true_rank=[1])
    with pytest.raises(ValueError, match="uint8"):
        figures.retrieval_grid(_imgs(2).astype(np.float32), results, np.zeros((2, 10), bool), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_reconstruction_grid(tmp_path):
    out = figures.reconstruction_grid(_imgs(3), _imgs(3, seed=1), _imgs(3, seed=2), _imgs(3, channels=1, seed=3),
                                      tmp_path / "rec.png")
    w, h = _check_png(out, 250, 250)
    assert h > w * 0.6  # 3 rows x 4 columns
    with pytest.raises(ValueError, match="from_photo has 2"):
        figures.reconstruction_grid(_imgs(3), _imgs(3), _imgs(3), _imgs(2), tmp_path / "bad.png")


def test_curves(tmp_path):
    history = {"loss/train": [(s, 1.0 / (s + 1)) for s in range(50)], "acc@1/val": [(10, 0.2), (20, 0.4)]}
    _check_png(figures.curves(history, tmp_path / "c.png", "losses", "loss"), 400, 250)
    with pytest.raises(ValueError, match="non-empty"):
        figures.curves({}, tmp_path / "c2.png", "t", "y")
    with pytest.raises(ValueError, match="pairs"):
        figures.curves({"x": [1, 2, 3]}, tmp_path / "c3.png", "t", "y")


def test_tsne_perplexity_adapts_to_small_samples():
    assert figures.tsne_perplexity(1000) == 30.0
    assert figures.tsne_perplexity(10) == 3.0
    assert figures.tsne_perplexity(3) == 1.0


def test_tsne_plot(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 8)
    feats = rng.normal(size=(24, 16)) + labels[:, None] * 5.0
    markers = np.where(np.arange(24) % 2 == 0, "o", "^")
    out = figures.tsne_plot(feats, labels, ["cat", "dog", "cow"], tmp_path / "t.png", "tsne", markers=markers,
                             max_iter=250)
    _check_png(out, 400, 300)
    with pytest.raises(ValueError, match="one label per feature row"):
        figures.tsne_plot(feats, labels[:5], ["cat", "dog", "cow"], tmp_path / "t2.png")
    with pytest.raises(ValueError, match="class_names"):
        figures.tsne_plot(feats, labels, ["cat", "dog"], tmp_path / "t3.png")


def _solid(colour, size=24):
    return np.broadcast_to(np.asarray(colour, np.uint8), (size, size, 3)).copy()


def _pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _centre_x(rgb, colour):
    """Mean column of the pixels of exactly ``colour`` (None when absent)."""
    ys, xs = np.nonzero(np.all(rgb == np.asarray(colour, np.uint8), axis=-1))
    return xs.mean() if xs.size else None


def _hex(colour):
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)


def _count(rgb, colour):
    return int(np.all(rgb == colour, axis=-1).sum())


def test_retrieval_grid_draws_results_in_rank_order_with_their_frames(tmp_path):
    """Results are solid, distinct colours: each appears in the grid, left to right in rank order, after the query;
    the green (correct) frame pixels grow with the number of correct results and the red ones with the wrong."""
    k = 6
    colours = [(0, 30 + 30 * j, 250 - 30 * j) for j in range(k)]
    results = np.stack([_solid(c) for c in colours])[None]
    query = _solid((250, 250, 0))[None]
    few = np.array([[True, False, False, False, False, False]])
    many = np.array([[True, True, True, True, False, False]])
    rgb_few = _pixels(figures.retrieval_grid(query, results, few, tmp_path / "few.png"))
    rgb_many = _pixels(figures.retrieval_grid(query, results, many, tmp_path / "many.png"))
    xs = [_centre_x(rgb_few, c) for c in [(250, 250, 0)] + colours]
    assert None not in xs, "every image must be drawn with its own colours"
    assert xs == sorted(xs), f"query then results by rank, left to right: {xs}"
    green, red = _hex(figures.CORRECT_COLOUR), _hex(figures.WRONG_COLOUR)
    g_few, g_many, r_few, r_many = (_count(rgb_few, green), _count(rgb_many, green), _count(rgb_few, red),
                                    _count(rgb_many, red))
    assert g_few > 0 and r_many > 0
    assert 3.0 < g_many / g_few < 5.0          # 4 green frames (plus check marks) against 1
    assert 2.0 < r_few / r_many < 3.0          # 5 red frames against 2


def test_reconstruction_grid_columns_in_order(tmp_path):
    """Columns: input sketch, reconstruction from the sketch, photo, reconstruction from the photo (Fig. 3)."""
    cols = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0)]
    batches = [np.stack([_solid(c)] * 2) for c in cols]
    rgb = _pixels(figures.reconstruction_grid(*batches, tmp_path / "rec.png"))
    xs = [_centre_x(rgb, c) for c in cols]
    assert None not in xs and xs == sorted(xs)


def test_curves_plot_each_series(tmp_path):
    """Two series give two lines of matplotlib's first two default colours; an empty history is an error."""
    rgb = _pixels(figures.curves({"a": [(0, 1.0), (10, 0.5)], "b": [(0, 0.2), (10, 0.9)]}, tmp_path / "c.png"))
    assert _count(rgb, _hex("#1f77b4")) > 50 and _count(rgb, _hex("#ff7f0e")) > 50
    with pytest.raises(ValueError, match="non-empty"):
        figures.curves({}, tmp_path / "d.png")
    styled = _pixels(figures.curves({"a": [(0, 1.0), (10, 0.5)], "b": [(0, 0.2), (10, 0.9)]}, tmp_path / "e.png",
                                    styles={"b": {"color": "#2ca02c"}}))
    assert _count(styled, _hex("#1f77b4")) > 50 and _count(styled, _hex("#2ca02c")) > 50
    assert _count(styled, _hex("#ff7f0e")) == 0  # "b" drawn in the colour it was given, not the second default


def test_seed_dots_place_each_setting_and_its_mean(tmp_path):
    """Settings run top to bottom in the given order; dots (blue) of the low setting sit left of those of the high
    one; the mean bar (red) of a setting whose seeds are 0 and 1 sits halfway between its two dots."""
    rgb = _pixels(figures.seed_dots({"acc@1": {"low": [0.1, 0.2], "high": [0.8, 0.9], "split": [0.0, 1.0]}},
                                    tmp_path / "s.png", chance={"acc@1": 0.3}))
    ys, xs = np.nonzero(np.all(rgb == _hex("#1f77b4"), axis=-1))
    red_ys, red_xs = np.nonzero(np.all(rgb == _hex("#d62728"), axis=-1))
    thirds = np.quantile(ys, [1 / 3, 2 / 3])
    low, high, split = ys < thirds[0], (ys >= thirds[0]) & (ys < thirds[1]), ys >= thirds[1]
    assert ys[low].mean() < ys[high].mean() < ys[split].mean()  # image rows grow downwards: first on top
    assert xs[low].mean() + 50 < xs[high].mean()
    split_red = red_xs[red_ys > (ys[high].max() + ys[split].min()) / 2]
    assert abs(split_red.mean() - (xs[split].min() + xs[split].max()) / 2) < 3
    with pytest.raises(ValueError, match="non-empty"):
        figures.seed_dots({"acc@1": {}}, tmp_path / "t.png")
