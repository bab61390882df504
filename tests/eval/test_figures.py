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
