"""Reader for QMUL Shoe-V1 / Chair-V1 (Yu et al., "Sketch Me That Shoe", CVPR 2016) and Handbag-V1 (Song et al.).

Layout (MATLAB files read with ``scipy.io.loadmat``; key ``data`` is uint8 ``[N, 256, 256]``)::

    <root>/<set>/<set>_sketch_db_train.mat   <set>_sketch_db_test.mat
    <root>/<set>/<set>_edge_db_train.mat     <set>_edge_db_test.mat

Sketch row i of a split depicts photo (edge map) row i of the same split, so instance ids are
``<set>_<split>_<i:04d>``. The photo side is the edge map, as in the original Triplet-SN setting. Records are
array-backed: ``Record.path`` is ``<mat file>#<row>`` and ``DatasetIndex.arrays`` maps each mat file to its array.
``root`` may also be the ``<set>`` folder itself. The class name is the set name.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sbir_tf.data.records import PHOTO, SKETCH, DataError, DatasetIndex, Record, SkipLog

CATEGORIES = ("shoes", "chairs", "handbags")
SPLITS = ("train", "test")


def normalise_category(category: str) -> str:
    """``"Shoe"``, ``"shoes"``, ``"ShoeV1"`` -> ``"shoes"``; an unknown name raises :class:`DataError`."""
    name = category.strip().lower().removesuffix("v1").rstrip("_-")
    name = name if name.endswith("s") else name + "s"
    if name not in CATEGORIES:
        raise DataError(f"unknown QMUL-V1 category {category!r}; expected one of {', '.join(CATEGORIES)}")
    return name


def _set_dir(root: Path, category: str) -> Path:
    if not root.is_dir():
        raise DataError(f"QMUL-V1 root {root} does not exist (expected <root>/{category}/"
                        f"{category}_sketch_db_train.mat etc.)")
    for cand in (root / category, root):
        if (cand / f"{category}_sketch_db_train.mat").is_file() or (cand / f"{category}_sketch_db_test.mat").is_file():
            return cand
    raise DataError(f"no QMUL-V1 {category} files under {root}: expected {root / category}/"
                    f"{category}_{{sketch,edge}}_db_{{train,test}}.mat (or those files directly in {root})")


def load_mat_images(path: Path, key: str = "data") -> np.ndarray:
    """The uint8 ``[N, H, W]`` image stack stored under ``key`` of a MATLAB file (``[H, W, N]`` is transposed)."""
    import scipy.io

    if not path.is_file():
        raise DataError(f"missing QMUL file {path}")
    try:
        content = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError/TypeError/OSError for damaged files
        raise DataError(f"cannot read MATLAB file {path}: {type(exc).__name__}: {exc}") from exc
    if key not in content:
        keys = sorted(k for k in content if not k.startswith("__"))
        raise DataError(f"{path} has no variable {key!r} (found {keys})")
    data = np.asarray(content[key])
    if data.ndim != 3:
        raise DataError(f"{path}:{key} has shape {data.shape}; expected [N, H, W] images")
    if data.shape[0] == data.shape[1] and data.shape[2] != data.shape[0]:
        data = np.transpose(data, (2, 0, 1))
    if data.dtype != np.uint8:
        if not np.issubdtype(data.dtype, np.number) or data.min() < 0 or data.max() > 255:
            raise DataError(f"{path}:{key} has dtype {data.dtype} with values outside 0..255")
        data = data.astype(np.uint8)
    return np.ascontiguousarray(data)


def read_qmul_v1(root: str | Path, category: str = "shoes", strict: bool = False) -> DatasetIndex:
    """Index one QMUL-V1 set (``shoes``, ``chairs`` or ``handbags``); ``test_instances`` are the test pair ids."""
    category = normalise_category(category)
    set_dir = _set_dir(Path(root).expanduser(), category)
    log = SkipLog(strict)
    arrays: dict[str, np.ndarray] = {}
    sketches: list[Record] = []
    photos: list[Record] = []
    test_ids = set()
    pairs = {}
    for split in SPLITS:
        sketch_file = set_dir / f"{category}_sketch_db_{split}.mat"
        edge_file = set_dir / f"{category}_edge_db_{split}.mat"
        sketch_arr, edge_arr = load_mat_images(sketch_file), load_mat_images(edge_file)
        n = len(sketch_arr)
        if len(edge_arr) != n:
            raise DataError(f"{sketch_file} has {n} sketches but {edge_file} has {len(edge_arr)} edge maps; "
                            f"sketch i must match edge map i")
        arrays[str(sketch_file)], arrays[str(edge_file)] = sketch_arr, edge_arr
        for i in range(n):
            if sketch_arr[i].min() == sketch_arr[i].max():
                log.skip(f"{sketch_file}#{i}", "blank image: sketch row has a single grey level; pair left out")
                continue
            pid = f"{category}_{split}_{i:04d}"
            sketches.append(Record(f"{sketch_file}#{i}", category, pid, SKETCH))
            photos.append(Record(f"{edge_file}#{i}", category, pid, PHOTO))
            if split == "test":
                test_ids.add(pid)
        pairs[split] = sum(1 for r in photos if f"_{split}_" in r.instance_id)
    return DatasetIndex(name="qmul_v1", root=str(Path(root)), sketches=sketches, photos=photos, skipped=log.items,
                        test_instances=frozenset(test_ids), arrays=arrays,
                        notes={"category": category, "pairs": pairs, "set_dir": str(set_dir)})
