"""Tiny generated dataset folders for tests (a few 32-px images each)."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

RENDER = "tx_000000000000"


def _image(rng, size, mode):
    if mode == "sketch":  # white page, a few dark random strokes
        arr = np.full((size, size, 3), 255, np.uint8)
        for _ in range(3):
            r, c = rng.integers(0, size, 2)
            arr[r, :] = 0 if rng.random() < 0.5 else arr[r, :]
            arr[:, c] = 0
        return Image.fromarray(arr)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def make_tiny_sketchy(root, classes=("cat", "dog"), photos_per_class=3, sketches_per_photo=2,
                      sketched_per_class=None, size=32, testset=True, seed=0, extra_sketch_renderings=()) -> Path:
    """A Sketchy-layout folder: ``root/256x256/{photo,sketch}/tx_000000000000/<class>/`` plus ``root/info/testset.txt``.

    Photo ids are ``n0000000<c>_<k>`` (class index c, photo k from 1); the first ``sketched_per_class`` photos
    (default: all) get ``sketches_per_photo`` sketches each; the testset lists the first sketched photo per class.
    ``extra_sketch_renderings``: more sketch ``tx_*`` folders holding every sketch mirrored left-right (same file
    names, other pixels).
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    sketched_per_class = photos_per_class if sketched_per_class is None else sketched_per_class
    lines = []
    for ci, cls in enumerate(classes):
        pdir = root / "256x256" / "photo" / RENDER / cls
        sdir = root / "256x256" / "sketch" / RENDER / cls
        pdir.mkdir(parents=True, exist_ok=True)
        sdir.mkdir(parents=True, exist_ok=True)
        for k in range(1, photos_per_class + 1):
            pid = f"n{ci:08d}_{k}"
            _image(rng, size, "photo").save(pdir / f"{pid}.jpg", quality=90)
            if k <= sketched_per_class:
                for j in range(1, sketches_per_photo + 1):
                    sketch = _image(rng, size, "sketch")
                    sketch.save(sdir / f"{pid}-{j}.png")
                    for rendering in extra_sketch_renderings:
                        other = root / "256x256" / "sketch" / rendering / cls
                        other.mkdir(parents=True, exist_ok=True)
                        sketch.transpose(Image.FLIP_LEFT_RIGHT).save(other / f"{pid}-{j}.png")
                if k == 1:
                    lines.append(f"{cls}/{pid}.jpg")
    if testset:
        (root / "info").mkdir(parents=True, exist_ok=True)
        (root / "info" / "testset.txt").write_text("\n".join(lines) + "\n")
    return root


def make_tiny_tuberlin(root, classes=("alarm clock", "t-shirt"), photo_classes=("alarm_clock", "t-shirt"),
                       sketches_per_class=3, photos_per_class=2, size=32) -> Path:
    root = Path(root)
    rng = np.random.default_rng(1)
    for cls in classes:
        d = root / "png" / cls
        d.mkdir(parents=True, exist_ok=True)
        for n in range(sketches_per_class):
            _image(rng, size, "sketch").save(d / f"{n + 1}.png")
    for cls in photo_classes:
        d = root / "ImageResized" / cls
        d.mkdir(parents=True, exist_ok=True)
        for n in range(photos_per_class):
            _image(rng, size, "photo").save(d / f"img_{n}.{'JPEG' if n % 2 else 'jpg'}", format="JPEG")
    return root


def make_tiny_qmul_v1(root, category="shoes", n_train=4, n_test=2) -> Path:
    import scipy.io

    d = Path(root) / category
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    for split, n in (("train", n_train), ("test", n_test)):
        for kind in ("sketch", "edge"):
            data = rng.integers(0, 256, (n, 256, 256), dtype=np.uint8)
            scipy.io.savemat(d / f"{category}_{kind}_db_{split}.mat", {"data": data})
    return Path(root)


def make_tiny_qmul_v2(root, photos=("2429245009", "a_b"), sketches_per_photo=2, test_photos=("a_b",)) -> Path:
    """``root/ShoeV2/photo/<id>.png`` and ``root/ShoeV2/ShoeV2_Coordinate`` with keys ``/<split>/<id>_<k>``."""
    base = Path(root) / "ShoeV2"
    (base / "photo").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    coords = {}
    for pid in photos:
        _image(rng, 32, "photo").save(base / "photo" / f"{pid}.png")
        split = "test" if pid in test_photos else "train"
        for k in range(1, sketches_per_photo + 1):
            pts = np.array([[10, 10, 0], [100, 10, 0], [100, 100, 1], [150, 150, 0], [200, 220, 1]], float)
            coords[f"/{split}/{pid}_{k}"] = pts + [k, 0, 0]
    with open(base / "ShoeV2_Coordinate", "wb") as f:
        pickle.dump(coords, f, protocol=2)
    return Path(root)
