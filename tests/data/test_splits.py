"""Fine-grained and zero-shot split rules."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import make_tiny_sketchy, make_tiny_tuberlin

from sbir_tf.data.records import DataError, canonical_class_name
from sbir_tf.data.sketchy import read_sketchy
from sbir_tf.data.splits import (
    fine_grained_split, held_out_instances, load_class_list, make_zero_shot_split, seeded_test_instances,
    sempcyc_seeded_split, zero_shot_split,
)
from sbir_tf.data.tuberlin import read_tuberlin_extended

SKETCHY = [canonical_class_name(c) for c in load_class_list("sketchy_classes")]
TUBERLIN = [canonical_class_name(c) for c in load_class_list("tuberlin_classes")]


def _read(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def test_sempcyc25_reproduces_the_published_unseen_classes(splits_dir):
    split = zero_shot_split(SKETCHY, "sempcyc25")
    expected = sorted(_read(splits_dir / "sketchy_unseen25_sempcyc.txt"))
    assert split.unseen == expected
    assert split.unseen == sorted(load_class_list("sempcyc25"))  # the package copy agrees
    assert (len(split.seen), len(split.val), len(split.test)) == (100, 12, 13)
    assert set(split.val) | set(split.test) == set(split.unseen) and not set(split.seen) & set(split.unseen)
    assert "jack_o_lantern" in split.val and "teapot" in split.test


def test_sempcyc_rule_call_for_call():
    names = [f"c{i:02d}" for i in range(20)]
    np.random.seed(0)
    train = np.random.choice(names, 16, replace=False)
    val = np.random.choice(np.setdiff1d(names, train), 2, replace=False)
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    got = sempcyc_seeded_split(names[::-1], 0, 0.8, 0.1)  # input order must not matter (sorted first)
    assert np.random.random() == before  # global numpy state restored
    assert got[0] == sorted(train) and got[1] == sorted(val)
    assert got[2] == sorted(set(names) - set(train) - set(val)) and len(got[2]) == 2


def test_package_lists_match_shared_copies(splits_dir):
    for name, shared in [("sempcyc25", "sketchy_unseen25_sempcyc.txt"), ("sake25", "sketchy_unseen25_sake.txt"),
                         ("eccv21", "sketchy_unseen21_eccv2018.txt"), ("sake30", "tuberlin_unseen30.txt"),
                         ("tuberlin_classes", "tuberlin_classes250.txt")]:
        assert load_class_list(name) == _read(splits_dir / shared), name


def test_list_splits_on_sketchy_and_tuberlin(sketchy_mini_root):
    index = read_sketchy(sketchy_mini_root)
    for name, n_unseen in (("sake25", 25), ("eccv21", 21), ("sempcyc25", 25)):
        split = zero_shot_split(index, name)
        assert len(split.unseen) == n_unseen and len(split.seen) == 125 - n_unseen
    tb = zero_shot_split(TUBERLIN, "sake30")
    assert len(tb.unseen) == 30 and len(tb.seen) == 220 and "t_shirt" in tb.unseen and tb.val == []
    sp = zero_shot_split(TUBERLIN, "sempcyc30")
    assert (len(sp.seen), len(sp.val), len(sp.test), len(sp.unseen)) == (220, 15, 15, 30)


def test_zero_shot_errors():
    with pytest.raises(DataError, match="both seen and unseen.*'cat'"):
        make_zero_shot_split("custom", ["cat", "dog", "cow"], unseen=["cat"], seen=["cat", "dog"])
    with pytest.raises(DataError, match="absent from the data"):
        zero_shot_split(["cat", "dog"], "sake25")
    with pytest.raises(DataError, match="unknown zero-shot split"):
        zero_shot_split(SKETCHY, "nope")


def test_fine_grained_split_from_testset(tmp_path):
    index = read_sketchy(make_tiny_sketchy(tmp_path, photos_per_class=4, sketched_per_class=3))
    fg = fine_grained_split(index)
    # 2 classes x (1 test + 2 train sketched + 1 never sketched photo), 2 sketches per sketched photo
    assert len(fg.train_photos) == 4 and len(fg.train_sketches) == 8
    assert len(fg.query_sketches) == 4 and len(fg.gallery_photos) == 4
    assert {s.instance_id for s in fg.query_sketches} == index.test_instances
    assert not {p.instance_id for p in fg.train_photos} & {p.instance_id for p in fg.gallery_photos}


def test_validation_held_out_of_training(tmp_path):
    """data.val_instances: training instances leave training whole (photo and sketches) and become the validation
    set, which shares nothing with the test queries or their photos; classes take turns; seeded."""
    index = read_sketchy(make_tiny_sketchy(tmp_path, photos_per_class=5, sketched_per_class=4))
    base = fine_grained_split(index)  # per class: 1 test + 3 training sketched photos + 1 never sketched
    assert len(base.train_photos) == 6 and not base.val_queries and not base.val_gallery
    fg = fine_grained_split(index, val_instances=3)
    val = {s.instance_id for s in fg.val_queries}
    assert len(val) == 3 and fg.notes["val_instances"] == 3
    train = {p.instance_id for p in fg.train_photos}
    assert train == {p.instance_id for p in base.train_photos} - val and len(train) == 3
    assert not val & {s.instance_id for s in fg.train_sketches}
    assert len(fg.val_queries) == 6  # 2 sketches per held-out photo
    assert not val & index.test_instances and not val & {p.instance_id for p in fg.gallery_photos}
    # the validation gallery: the held-out photos + the never-sketched photos (one per class)
    assert {p.instance_id for p in fg.val_gallery} == val | {p.instance_id for p in fg.gallery_photos
                                                             if p.instance_id not in index.test_instances}
    # the test side is untouched
    assert fg.query_sketches == base.query_sketches and fg.gallery_photos == base.gallery_photos
    # turns over the classes: 3 held out of 2 classes is 2 + 1
    classes = sorted(s.class_name for s in fg.val_queries[::2])
    assert sorted(classes.count(c) for c in set(classes)) == [1, 2]
    assert fine_grained_split(index, val_instances=3).val_queries == fg.val_queries  # seeded
    # every class keeps one training instance: 2 classes x (3 - 1) = 4 at most
    assert len(fine_grained_split(index, val_instances=4).train_photos) == 2
    with pytest.raises(DataError, match="only 4 training instances can be held out"):
        fine_grained_split(index, val_instances=5)


def test_held_out_instances_by_hand():
    from sbir_tf.data.records import Record

    photos = [Record(path=f"{c}/{i}.jpg", class_name=c, instance_id=f"{c}{i}", domain="photo")
              for c, n in (("a", 3), ("b", 1), ("c", 2)) for i in range(n)]
    chosen = held_out_instances(photos, 3, seed=0)
    # class b has one instance and gives none; a gives two (turns 0 and 1), c one
    assert sorted(x[0] for x in chosen) == ["a", "a", "c"]
    assert held_out_instances(photos, 0) == frozenset()
    assert held_out_instances(photos, 2, seed=0) < chosen  # turn 0 of a and c, in order


def test_seeded_fine_grained_split_without_testset(tmp_path):
    index = read_sketchy(make_tiny_sketchy(tmp_path, photos_per_class=5, testset=False))
    assert index.test_instances is None
    a, b = seeded_test_instances(index, 0.4, seed=1), seeded_test_instances(index, 0.4, seed=1)
    assert a == b and len(a) == 4  # 2 per class
    fg = fine_grained_split(index, seed=1, test_fraction=0.4)
    assert len(fg.query_sketches) == 8 and len(fg.train_photos) == 6


def test_unpaired_sketches_split_per_class(tmp_path):
    index = read_tuberlin_extended(make_tiny_tuberlin(tmp_path, sketches_per_class=5))
    fg = fine_grained_split(index, seed=0, test_fraction=0.2)
    assert len(fg.query_sketches) == 2 and len(fg.train_sketches) == 8
    assert sorted({s.class_name for s in fg.query_sketches}) == ["alarm_clock", "t_shirt"]
