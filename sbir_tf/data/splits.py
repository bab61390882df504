"""Fine-grained (instance) and zero-shot (class) splits.

Fine-grained: the dataset's own test list (Sketchy ``info/testset.txt``, QMUL test pairs). Where a dataset has no
list, a seeded per-class choice of sketched photos is used (:func:`seeded_test_instances`); where sketches are not
paired with photos at all (TU-Berlin), sketches are split per class instead (see :func:`fine_grained_split`).

Zero-shot: class lists shipped in ``sbir_tf/data/split_lists/`` or seeded rules reproduced in code:

============  ===========  =====================================================================================
name          dataset      rule
============  ===========  =====================================================================================
sempcyc25     Sketchy      SEM-PCYC (Dutta & Akata, CVPR 2019) / WAD-CMSN: ``np.random.seed(0)``; over the 125
                           sorted class names (``hot-air_balloon`` -> ``hot_air_balloon``, ``jack-o-lantern`` ->
                           ``jack_o_lantern``) train = ``choice(classes, 100, replace=False)``, val =
                           ``choice(rest, 12, replace=False)``, test = the remaining 13. ``seen`` = train,
                           ``val`` = val, ``unseen`` = val + test (the 25 classes held out of training).
sake25        Sketchy      SAKE (Liu et al., ICCV 2019) ``zeroshot1`` list of 25 unseen classes.
eccv21        Sketchy      Yelamarthi et al. (ECCV 2018) 21 unseen classes (disjoint from ImageNet-1k).
sake30        TU-Berlin    SAKE 30 unseen classes.
sempcyc30     TU-Berlin    SEM-PCYC: ``np.random.seed(0)``; over the sorted unique underscore-form class names
                           (spaces -> ``_``) train = 88 % (220), val = 6 % (15), test = the rest (15).
synthetic     any          the SEM-PCYC call sequence over the data's own classes with 70 % / 10 % / 20 %, seed 0
                           (for the embedded synthetic set: 7 seen, 1 val, 3 unseen of 10 classes).
============  ===========  =====================================================================================

For list-based splits, ``seen`` = every class of the data not listed as unseen and ``val`` is empty.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Iterable

import numpy as np

from sbir_tf.data.records import DataError, DatasetIndex, Record, canonical_class_name

SPLIT_LISTS = {
    "sempcyc25": "sketchy_sempcyc25_unseen.txt",
    "sake25": "sketchy_sake25_unseen.txt",
    "eccv21": "sketchy_eccv21_unseen.txt",
    "sake30": "tuberlin_sake30_unseen.txt",
    "sketchy_classes": "sketchy_classes125.txt",
    "tuberlin_classes": "tuberlin_classes250.txt",
}
ZERO_SHOT_SPLITS = ("sempcyc25", "sake25", "eccv21", "sake30", "sempcyc30", "synthetic")
SPLIT_DATASET = {"sempcyc25": "sketchy", "sake25": "sketchy", "eccv21": "sketchy",
                 "sake30": "tuberlin", "sempcyc30": "tuberlin"}

# SEM-PCYC seeded rule: (seed, train fraction, val fraction), Dutta & Akata 2019, reused by WAD-CMSN.
SEMPCYC_SKETCHY_RULE = (0, 0.8, 0.1)
SEMPCYC_TUBERLIN_RULE = (0, 0.88, 0.06)
SYNTHETIC_RULE = (0, 0.7, 0.1)
# the two Sketchy names SEM-PCYC rewrites before sorting
SEMPCYC_SKETCHY_RENAMES = {"hot-air_balloon": "hot_air_balloon", "jack-o-lantern": "jack_o_lantern"}


@dataclass
class FineGrainedSplit:
    train_sketches: list[Record]
    train_photos: list[Record]
    query_sketches: list[Record]
    gallery_photos: list[Record]
    classes: list[str]
    notes: dict = field(default_factory=dict)
    #: validation held out of training (``val_instances`` of :func:`fine_grained_split`): sketches of the held-out
    #: training instances, and a gallery of their photos + the never-sketched photos; empty when none is held out
    val_queries: list[Record] = field(default_factory=list)
    val_gallery: list[Record] = field(default_factory=list)


@dataclass
class ZeroShotSplit:
    """Sorted canonical class names. ``test`` = unseen classes used for the final test (``unseen`` minus those that
    only serve validation, when the rule has such classes; otherwise equal to ``unseen``)."""

    name: str
    seen: list[str]
    val: list[str]
    unseen: list[str]
    test: list[str] = field(default_factory=list)
    rule: str = ""


# ------------------------------------------------------------------------------------------------ fine-grained
def seeded_test_instances(index: DatasetIndex, fraction: float = 0.2, seed: int = 0) -> frozenset[str]:
    """Per class, ``max(1, round(fraction * n))`` of its ``n`` sketched photos, chosen with ``seed`` (sorted ids)."""
    rng = np.random.default_rng(seed)
    sketched = index.sketched_instances
    chosen = set()
    for cls in index.classes:
        ids = sorted({p.instance_id for p in index.photos if p.class_name == cls and p.instance_id in sketched})
        if ids:
            k = min(len(ids), max(1, round(fraction * len(ids))))
            chosen.update(rng.choice(ids, k, replace=False).tolist())
    return frozenset(chosen)


def held_out_instances(photos: Iterable[Record], count: int, seed: int = 0) -> frozenset[str]:
    """``count`` instance ids of ``photos`` held out of training for validation, spread over the classes: each class's
    ids (sorted) are shuffled with ``seed`` and the classes (sorted) give one id each in turn, never a class's last
    one, so every class keeps a training instance. ``DataError`` when ``count`` exceeds what can be held out."""
    by_class: dict[str, list[str]] = {}
    for p in photos:
        by_class.setdefault(p.class_name, [])
        if p.instance_id not in by_class[p.class_name]:
            by_class[p.class_name].append(p.instance_id)
    rng = np.random.default_rng([int(seed), 1])  # a stream of its own: the test choice uses default_rng(seed)
    order = {cls: [ids[i] for i in rng.permutation(len(ids))] for cls, ids in
             ((cls, sorted(by_class[cls])) for cls in sorted(by_class))}
    available = sum(len(ids) - 1 for ids in order.values())
    if count > available:
        raise DataError(f"data.val_instances={count}: only {available} training instances can be held out for "
                        f"validation (every class keeps one for training)")
    chosen: list[str] = []
    turn = 0
    while len(chosen) < count:
        for ids in order.values():
            if turn < len(ids) - 1 and len(chosen) < count:
                chosen.append(ids[turn])
        turn += 1
    return frozenset(chosen)


def fine_grained_split(index: DatasetIndex, seed: int = 0, test_fraction: float = 0.2,
                       val_instances: int = 0) -> FineGrainedSplit:
    """Instance-level split.

    train = sketched photos not in the test instances, with their sketches; queries = sketches of test photos;
    gallery = test photos + photos never sketched (distractors). Test instances are ``index.test_instances`` or,
    when ``None``, :func:`seeded_test_instances`. Unpaired sketches (``instance_id == ""``, e.g. TU-Berlin) are split
    per class with ``seed``: ``test_fraction`` of them become queries, the rest train sketches.

    ``val_instances`` > 0 holds that many training instances out of training (:func:`held_out_instances`): their
    sketches are ``val_queries`` and ``val_gallery`` is their photos + the never-sketched photos, a validation set
    that shares nothing with the test queries and their photos (the papers define no validation set for
    fine-grained retrieval).
    """
    test = index.test_instances
    source = "dataset test list"
    if test is None:
        test = seeded_test_instances(index, test_fraction, seed)
        source = f"seeded ({test_fraction:.0%} of sketched photos per class, seed {seed})"
    sketched = index.sketched_instances
    train_photos = [p for p in index.photos if p.instance_id in sketched and p.instance_id not in test]
    val: frozenset[str] = frozenset()
    if val_instances:
        if any(not s.instance_id for s in index.sketches):
            raise DataError("data.val_instances needs sketches paired with photos; this dataset has unpaired "
                            "sketches")
        val = held_out_instances(train_photos, int(val_instances), seed)
        train_photos = [p for p in train_photos if p.instance_id not in val]
    gallery = [p for p in index.photos if p.instance_id in test or p.instance_id not in sketched]
    paired = [s for s in index.sketches if s.instance_id]
    train_sketches = [s for s in paired if s.instance_id not in test and s.instance_id not in val]
    queries = [s for s in paired if s.instance_id in test]
    val_queries = [s for s in paired if s.instance_id in val]
    val_gallery = [p for p in index.photos if p.instance_id in val or p.instance_id not in sketched] if val else []
    unpaired = [s for s in index.sketches if not s.instance_id]
    if unpaired:
        rng = np.random.default_rng(seed)
        by_class: dict[str, list[Record]] = {}
        for s in unpaired:
            by_class.setdefault(s.class_name, []).append(s)
        for cls in sorted(by_class):
            items = by_class[cls]
            order = rng.permutation(len(items))
            k = max(1, round(test_fraction * len(items))) if len(items) > 1 else 0
            queries += [items[i] for i in sorted(order[:k])]
            train_sketches += [items[i] for i in sorted(order[k:])]
        train_photos = [p for p in index.photos if p.instance_id not in test] if not train_photos else train_photos
        source += "; unpaired sketches split per class"
    classes = sorted({r.class_name for r in train_sketches + train_photos + queries + gallery})
    notes = {"test_instances": source, "num_test_instances": len(test)}
    if val:
        notes["val_instances"] = len(val)
    return FineGrainedSplit(train_sketches, train_photos, queries, gallery, classes, notes=notes,
                            val_queries=val_queries, val_gallery=val_gallery)


# ------------------------------------------------------------------------------------------------ zero-shot
def load_class_list(name: str) -> list[str]:
    """Class names (as spelled in the file) of a shipped list: a key of :data:`SPLIT_LISTS` or a file name."""
    filename = SPLIT_LISTS.get(name, name)
    try:
        text = resources.files("sbir_tf.data").joinpath("split_lists", filename).read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise DataError(f"no shipped class list {name!r} (known: {', '.join(SPLIT_LISTS)})") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def sempcyc_seeded_split(class_names: Iterable[str], seed: int, train_fraction: float, val_fraction: float,
                         ) -> tuple[list[str], list[str], list[str]]:
    """SEM-PCYC's seeded class split (Dutta & Akata 2019), reproduced call for call.

    ``np.random.seed(seed)``; ``train = np.random.choice(sorted, int(train_fraction * n), replace=False)``;
    ``val = np.random.choice(np.setdiff1d(sorted, train), int(val_fraction * n), replace=False)``;
    ``test = np.setdiff1d(sorted, union(train, val))``. Uses (and restores) numpy's global random state, since that
    is what the rule is defined on.
    """
    names = np.array(sorted(set(class_names)))
    n = len(names)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        train = np.random.choice(names, int(train_fraction * n), replace=False)
        val = np.random.choice(np.setdiff1d(names, train), int(val_fraction * n), replace=False)
    finally:
        np.random.set_state(state)
    test = np.setdiff1d(names, np.union1d(train, val))
    return sorted(train.tolist()), sorted(val.tolist()), sorted(test.tolist())


def _classes_of(index_or_classes) -> list[str]:
    if isinstance(index_or_classes, DatasetIndex):
        return index_or_classes.classes
    return sorted({canonical_class_name(c) for c in index_or_classes})


def make_zero_shot_split(name: str, classes: Iterable[str], unseen: Iterable[str], val: Iterable[str] = (),
                         test: Iterable[str] | None = None, seen: Iterable[str] | None = None,
                         rule: str = "") -> ZeroShotSplit:
    """Validate and build a split over the data's ``classes`` (all names canonicalised).

    Raises :class:`DataError` when seen and unseen overlap, or when the split names classes absent from the data.
    ``seen`` defaults to the data's classes minus ``unseen``.
    """
    data = set(_classes_of(classes))
    unseen_c = {canonical_class_name(c) for c in unseen}
    val_c = {canonical_class_name(c) for c in val}
    seen_c = ({canonical_class_name(c) for c in seen} if seen is not None else data - unseen_c)
    test_c = {canonical_class_name(c) for c in test} if test is not None else unseen_c - val_c
    overlap = seen_c & unseen_c
    if overlap:
        raise DataError(f"zero-shot split {name!r}: classes both seen and unseen: {sorted(overlap)}")
    missing = (seen_c | unseen_c | val_c | test_c) - data
    if missing:
        raise DataError(f"zero-shot split {name!r} names {len(missing)} classes absent from the data: "
                        f"{sorted(missing)[:12]}{' ...' if len(missing) > 12 else ''}")
    if not seen_c or not unseen_c:
        raise DataError(f"zero-shot split {name!r} has {len(seen_c)} seen and {len(unseen_c)} unseen classes; "
                        f"both must be non-empty")
    return ZeroShotSplit(name, sorted(seen_c), sorted(val_c), sorted(unseen_c), sorted(test_c), rule)


def zero_shot_split(index_or_classes, name: str) -> ZeroShotSplit:
    """The named zero-shot split (see the module table) checked against a dataset index or list of class names."""
    if name == "sempcyc25":
        official = [SEMPCYC_SKETCHY_RENAMES.get(c, c) for c in load_class_list("sketchy_classes")]
        train, val, test = sempcyc_seeded_split(official, *SEMPCYC_SKETCHY_RULE)
        return make_zero_shot_split(name, index_or_classes, unseen=val + test, val=val, test=test, seen=train,
                                    rule="SEM-PCYC seeded 80/10/10 over the 125 Sketchy classes, seed 0")
    if name == "sempcyc30":
        official = [c.replace(" ", "_") for c in load_class_list("tuberlin_classes")]
        train, val, test = sempcyc_seeded_split(official, *SEMPCYC_TUBERLIN_RULE)
        return make_zero_shot_split(name, index_or_classes, unseen=val + test, val=val, test=test, seen=train,
                                    rule="SEM-PCYC seeded 88/6/6 over the 250 TU-Berlin classes, seed 0")
    if name == "synthetic":
        train, val, test = sempcyc_seeded_split(_classes_of(index_or_classes), *SYNTHETIC_RULE)
        return make_zero_shot_split(name, index_or_classes, unseen=val + test, val=val, test=test, seen=train,
                                    rule="seeded 70/10/20 over the data's own classes, seed 0")
    if name in ("sake25", "eccv21", "sake30"):
        return make_zero_shot_split(name, index_or_classes, unseen=load_class_list(name),
                                    rule=f"shipped list {SPLIT_LISTS[name]}; seen = all other classes")
    raise DataError(f"unknown zero-shot split {name!r}; known: {', '.join(ZERO_SHOT_SPLITS)}")
