"""tf.data pipelines: crops, flips, triplet validity, determinism/resume, array-backed sources, bad files."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from sbir_tf.data.pipeline import TripletPlan, image_dataset, load_display_images, triplet_dataset
from sbir_tf.data.preprocessing import VGG_MEAN_BGR, resize_square, to_sketch_target
from sbir_tf.data.records import DataError, Record

SIDE = 24  # stored image side; pipelines below use image_size 16, load_size 20


def _ramp(value: int) -> np.ndarray:
    """Horizontal ramp (dark left -> bright right) tinted by ``value``: a flip reverses the ramp."""
    x = np.linspace(0, 200, SIDE, dtype=np.float32)[None, :].repeat(SIDE, 0)
    return np.dstack([x, np.full_like(x, value), 255 - x]).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """3 classes; class a/b have 3 photo instances, class c has 1; 2 sketches per photo (PNG) + JPEG photos."""
    root = tmp_path_factory.mktemp("tiny")
    sketches, photos = [], []
    value = 0
    for cls, n in (("a", 3), ("b", 3), ("c", 1)):
        for k in range(n):
            pid = f"{cls}_{k}"
            value += 30
            ppath = root / f"{pid}.jpg"
            Image.fromarray(_ramp(value)).save(ppath, quality=95)
            photos.append(Record(str(ppath), cls, pid, "photo"))
            for j in range(2):
                spath = root / f"{pid}-{j}.png"
                Image.fromarray(_ramp(value + j)).save(spath)
                sketches.append(Record(str(spath), cls, pid, "sketch"))
    return {"root": root, "sketches": sketches, "photos": photos, "c2l": {"a": 0, "b": 1, "c": 2}}


def _stream(tiny, **kw):
    args = dict(image_size=16, load_size=20, batch_size=4, seed=3)
    args.update(kw)
    return triplet_dataset(tiny["sketches"], tiny["photos"], tiny["c2l"], **args)


def _take(ds, n):
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(n)]


def _undo_vgg(x):
    return (x + np.asarray(VGG_MEAN_BGR, np.float32))[..., ::-1]


def test_batch_shapes_dtypes_and_ranges(tiny):
    (b,) = _take(_stream(tiny), 1)
    for key in ("sketch", "positive", "negative", "sketch_target"):
        assert b[key].shape == (4, 16, 16, 3) and b[key].dtype == np.float32
    for key in ("label_sketch", "label_positive", "label_negative"):
        assert b[key].shape == (4,) and b[key].dtype == np.int32
    assert b["sketch_target"].min() >= -1 and b["sketch_target"].max() <= 1
    rgb = _undo_vgg(b["sketch"])
    assert rgb.min() > -0.01 and rgb.max() < 255.01


def test_sketch_target_is_same_crop_and_flip_as_sketch(tiny):
    for b in _take(_stream(tiny), 3):
        np.testing.assert_allclose(b["sketch_target"], to_sketch_target(_undo_vgg(b["sketch"])).numpy(), atol=1e-4)


def test_labels_match_class_to_label_and_positive(tiny):
    plan = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], batch_size=4, hard_negative_prob=0.5,
                             seed=3, image_size=16, load_size=20, flip=True)
    for step, b in enumerate(_take(_stream(tiny), 3)):
        ix = plan.indices_numpy(step)
        want = [tiny["c2l"][plan.sketches[i].class_name] for i in ix["sketch"]]
        np.testing.assert_array_equal(b["label_sketch"], want)
        np.testing.assert_array_equal(b["label_positive"], b["label_sketch"])
        np.testing.assert_array_equal(b["label_negative"], [plan.photo_label[i] for i in ix["negative"]])


def test_triplet_validity_and_hard_negatives(tiny):
    plan = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], batch_size=8, hard_negative_prob=1.0,
                             seed=0, image_size=16, load_size=20, flip=True)
    n_hard = 0
    for step in range(25):
        ix = plan.indices_numpy(step)
        for s, p, n, hard in zip(ix["sketch"], ix["positive"], ix["negative"], ix["hard"]):
            sk, pos, neg = plan.sketches[s], plan.photos[p], plan.photos[n]
            assert sk.instance_id == pos.instance_id
            assert neg.instance_id != sk.instance_id
            if sk.class_name == "c":  # single-instance class: falls back to any other instance
                assert not hard and neg.class_name != "c"
            else:
                assert hard and neg.class_name == sk.class_name
                n_hard += 1
    assert n_hard > 100


def test_easy_negatives_cover_other_classes(tiny):
    plan = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], batch_size=8, hard_negative_prob=0.0,
                             seed=0, image_size=16, load_size=20, flip=True)
    cross = 0
    for step in range(20):
        ix = plan.indices_numpy(step)
        assert not ix["hard"].any()
        assert (ix["negative"] != ix["positive"]).all()
        cross += sum(plan.photos[n].class_name != plan.sketches[s].class_name
                     for s, n in zip(ix["sketch"], ix["negative"]))
    assert cross > 60  # 4 of the 6 other instances are in another class


def test_every_sketch_once_per_epoch(tiny):
    plan = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], batch_size=7, hard_negative_prob=0.5,
                             seed=1, image_size=16, load_size=20, flip=True)
    seq = np.concatenate([plan.indices_numpy(s)["sketch"] for s in range(4)])  # 28 = 2 epochs of 14
    assert sorted(seq[:14]) == list(range(14)) and sorted(seq[14:]) == list(range(14))
    assert list(seq[:14]) != list(seq[14:])  # a new permutation each epoch


def test_same_seed_same_batches_and_resume_is_exact(tiny):
    first = _take(_stream(tiny), 3)
    again = _take(_stream(tiny), 3)
    resumed = _take(_stream(tiny, start_step=2), 1)
    other = _take(_stream(tiny, seed=4), 1)
    for a, b in zip(first, again):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    for a, b in zip(first[2:], resumed):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(first[0]["sketch"], other[0]["sketch"])


def test_train_crops_vary_and_flips_are_half_and_shared_with_target(tiny):
    plan = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], batch_size=16, hard_negative_prob=0.5,
                             seed=5, image_size=16, load_size=20, flip=True)
    ix = [plan.indices_numpy(s) for s in range(30)]
    offsets = {(int(y), int(x)) for d in ix for y, x in zip(d["oy_sketch"], d["ox_sketch"])}
    assert len(offsets) > 10 and all(0 <= y <= 4 and 0 <= x <= 4 for y, x in offsets)
    flips = np.concatenate([d["flip_sketch"] for d in ix])
    assert 0.4 < flips.mean() < 0.6

    # In the pixels: the ramp's red channel rises left->right unless the crop was mirrored.
    for step, b in enumerate(_take(_stream(tiny, batch_size=16, seed=5), 3)):
        red = _undo_vgg(b["sketch"])[..., 0]
        rising = red[:, :, -1].mean(axis=1) > red[:, :, 0].mean(axis=1)
        np.testing.assert_array_equal(rising, ~ix[step]["flip_sketch"])
        target_red = b["sketch_target"][..., 0]
        np.testing.assert_array_equal(target_red[:, :, -1].mean(axis=1) > target_red[:, :, 0].mean(axis=1), rising)


def test_no_flip_option(tiny):
    (b,) = _take(_stream(tiny, flip=False, batch_size=12), 1)
    red = _undo_vgg(b["positive"])[..., 0]
    assert (red[:, :, -1].mean(axis=1) > red[:, :, 0].mean(axis=1)).all()


def _rising(images):
    """Per image: does the red ramp rise left -> right (not mirrored)?"""
    red = _undo_vgg(images)[..., 0]
    return red[:, :, -1].mean(axis=1) > red[:, :, 0].mean(axis=1)


def test_paired_flips_mirror_the_positive_with_its_sketch_and_the_negative_on_its_own(tiny):
    kw = dict(batch_size=16, hard_negative_prob=0.5, seed=5, image_size=16, load_size=20, flip=True)
    paired = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], flip_pairs=True, **kw)
    unpaired = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], **kw)
    steps = range(8)
    ix = [paired.indices_numpy(s) for s in steps]
    own = [unpaired.indices_numpy(s) for s in steps]
    for a, b in zip(ix, own):
        np.testing.assert_array_equal(a["flip_positive"], a["flip_sketch"])
        np.testing.assert_array_equal(a["flip_sketch"], b["flip_sketch"])  # only the positive's draw changes
        np.testing.assert_array_equal(a["flip_negative"], b["flip_negative"])
    flat = lambda rows, key: np.concatenate([r[key] for r in rows])
    assert (flat(own, "flip_positive") != flat(own, "flip_sketch")).mean() > 0.3  # unpaired: independent draws
    assert (flat(ix, "flip_negative") != flat(ix, "flip_sketch")).mean() > 0.3
    with pytest.raises(ValueError, match="needs flip=True"):
        TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], flip_pairs=True, **{**kw, "flip": False})
    # in the pixels: the positive's ramp runs the way its sketch's does
    for b in _take(_stream(tiny, batch_size=16, seed=5, flip_pairs=True), 4):
        np.testing.assert_array_equal(_rising(b["positive"]), _rising(b["sketch"]))


def test_paired_crops_put_the_positive_at_its_sketchs_window_and_leave_the_rest_alone(tiny):
    kw = dict(batch_size=16, hard_negative_prob=0.5, seed=5, image_size=16, load_size=20, flip=True)
    paired = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], crop_pairs=True, **kw)
    unpaired = TripletPlan.build(tiny["sketches"], tiny["photos"], tiny["c2l"], **kw)
    ix = [paired.indices_numpy(s) for s in range(8)]
    own = [unpaired.indices_numpy(s) for s in range(8)]
    for a, b in zip(ix, own):
        for axis in ("oy", "ox"):
            np.testing.assert_array_equal(a[f"{axis}_positive"], a[f"{axis}_sketch"])
        for key in a:  # only the positive's window changes: negatives, flips, sketches and the rest as unpaired
            if key not in ("oy_positive", "ox_positive"):
                np.testing.assert_array_equal(a[key], b[key])
    flat = lambda rows, key: np.concatenate([r[key] for r in rows])
    assert (flat(own, "ox_positive") != flat(own, "ox_sketch")).mean() > 0.5  # unpaired: independent windows
    assert (flat(ix, "ox_negative") != flat(ix, "ox_sketch")).mean() > 0.5
    # in the pixels (no flips): the red ramp (about 8.7 per stored column) starts where its sketch's does
    left_red = lambda images: _undo_vgg(images)[:, :, 0, 0].mean(axis=1)
    for pair, most in ((True, 3.0), (False, None)):
        gaps = np.concatenate([np.abs(left_red(b["positive"]) - left_red(b["sketch"]))
                               for b in _take(_stream(tiny, batch_size=16, seed=5, flip=False, crop_pairs=pair), 4)])
        if most is not None:
            assert gaps.max() < most
        else:
            assert (gaps > 5.0).mean() > 0.5


def test_eval_crop_is_the_centre_in_record_order(tiny):
    recs = tiny["photos"][:3]
    (batch,) = list(image_dataset(recs, image_size=16, load_size=20, batch_size=8))
    assert batch.shape == (3, 16, 16, 3)
    for k, r in enumerate(recs):
        img = tf.io.decode_jpeg(tf.io.read_file(r.path), channels=3)
        want = resize_square(img, 20).numpy()[2:18, 2:18]
        np.testing.assert_allclose(_undo_vgg(batch.numpy()[k]), want, atol=1e-3)
    again = np.concatenate([b.numpy() for b in image_dataset(recs, image_size=16, load_size=20)])
    np.testing.assert_array_equal(again, batch.numpy())


def test_default_load_size_follows_image_size(tiny):
    (batch,) = list(image_dataset(tiny["photos"][:2], image_size=21))  # load 24 -> crop 21
    assert batch.shape == (2, 21, 21, 3)


def test_array_backed_sources(tiny):
    pixels = np.stack([np.asarray(Image.open(r.path).convert("L")) for r in tiny["photos"]])  # uint8 [N,H,W]
    encoded = np.empty(len(tiny["sketches"]), dtype=object)
    for k, r in enumerate(tiny["sketches"]):
        encoded[k] = open(r.path, "rb").read()
    arrays = {"photos.mat": pixels, "sketch_bytes": encoded}
    photos = [Record(f"photos.mat#{k}", r.class_name, r.instance_id, "photo") for k, r in enumerate(tiny["photos"])]
    sketches = [Record(f"sketch_bytes#{k}", r.class_name, r.instance_id, "sketch")
                for k, r in enumerate(tiny["sketches"])]
    ds = triplet_dataset(sketches, photos, tiny["c2l"], arrays=arrays, image_size=16, load_size=20, batch_size=4)
    (a,) = _take(ds, 1)
    (f,) = _take(_stream(tiny, seed=0), 1)
    np.testing.assert_array_equal(a["label_sketch"], f["label_sketch"])
    np.testing.assert_allclose(a["sketch"], f["sketch"], atol=1e-3)  # same PNG bytes, same crop -> same pixels
    pos = _undo_vgg(a["positive"])
    np.testing.assert_allclose(pos[..., 0], pos[..., 2], atol=1e-3)  # grey arrays -> 3 equal channels
    (g,) = list(image_dataset(photos[:2], arrays=arrays, image_size=16, load_size=20))
    assert g.shape == (2, 16, 16, 3)
    shown = load_display_images(photos[:2], arrays=arrays, size=12)
    assert shown.shape == (2, 12, 12, 3) and shown.dtype == np.uint8


def test_big_tables_are_held_in_a_variable(tiny, monkeypatch):
    import sbir_tf.data.pipeline as pipeline
    monkeypatch.setattr(pipeline, "VARIABLE_TABLE_BYTES", 0)
    pixels = np.stack([np.asarray(Image.open(r.path).convert("RGB")) for r in tiny["photos"]])
    recs = [Record(f"m#{k}", r.class_name, r.instance_id, "photo") for k, r in enumerate(tiny["photos"])]
    assert isinstance(pipeline.ImageSource(recs, {"m": pixels}).table, tf.Variable)
    (g,) = list(image_dataset(recs, arrays={"m": pixels}, image_size=16, load_size=20))
    assert g.shape == (7, 16, 16, 3)
    encoded = np.empty(len(tiny["photos"]), dtype=object)
    encoded[:] = [open(r.path, "rb").read() for r in tiny["photos"]]
    (e,) = list(image_dataset(recs, arrays={"m": encoded}, image_size=16, load_size=20))
    (f,) = list(image_dataset(tiny["photos"], image_size=16, load_size=20))
    np.testing.assert_array_equal(e.numpy(), f.numpy())


def test_display_images_grey_and_rgba_files(tmp_path):
    grey, rgba = tmp_path / "g.png", tmp_path / "t.png"
    Image.fromarray(np.full((10, 10), 50, np.uint8), "L").save(grey)
    Image.fromarray(np.zeros((10, 10, 4), np.uint8), "RGBA").save(rgba)  # fully transparent
    recs = [Record(str(grey), "x", "1", "sketch"), Record(str(rgba), "x", "2", "sketch")]
    out = load_display_images(recs, size=8)
    assert out.shape == (2, 8, 8, 3)
    assert (out[0] == 50).all() and (out[1] == 255).all()


def test_bad_file_becomes_white_without_breaking_the_stream(tiny, tmp_path, capfd):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    recs = [tiny["photos"][0], Record(str(bad), "a", "zz", "photo"), tiny["photos"][1]]
    batch = np.concatenate([b.numpy() for b in image_dataset(recs, image_size=16, load_size=20)])
    assert batch.shape == (3, 16, 16, 3)
    np.testing.assert_allclose(_undo_vgg(batch[1]), 255.0, atol=1e-3)
    assert "broken.png" in capfd.readouterr().err
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(image_dataset(recs, image_size=16, load_size=20, on_error="raise"))


def test_clear_errors_for_bad_arguments(tiny):
    with pytest.raises(DataError, match="class_to_label"):
        triplet_dataset(tiny["sketches"], tiny["photos"], {"a": 0, "b": 1}, image_size=16, load_size=20)
    with pytest.raises(ValueError, match="load_size"):
        triplet_dataset(tiny["sketches"], tiny["photos"], tiny["c2l"], image_size=16, load_size=12)
    with pytest.raises(DataError, match="positive"):
        triplet_dataset([Record("x.png", "a", "nope", "sketch")], tiny["photos"], tiny["c2l"], image_size=16,
                        load_size=20)


def test_real_sketchy_mini_triplets(sketchy_mini_root):
    from sbir_tf.data.sketchy import read_sketchy
    index = read_sketchy(sketchy_mini_root)
    try:
        from sbir_tf.data.splits import fine_grained_split
        split = fine_grained_split(index, seed=0)
        sketches, photos, classes = split.train_sketches, split.train_photos, split.classes
    except ImportError:
        sketches, photos, classes = index.sketches, index.photos, index.classes
    c2l = {c: i for i, c in enumerate(sorted(classes))}
    plan = TripletPlan.build(sketches, photos, c2l, batch_size=32, hard_negative_prob=1.0, seed=0,
                             image_size=64, load_size=73, flip=True)
    for step in range(5):
        ix = plan.indices_numpy(step)
        for s, p, n, hard in zip(ix["sketch"], ix["positive"], ix["negative"], ix["hard"]):
            sk, pos, neg = plan.sketches[s], plan.photos[p], plan.photos[n]
            assert sk.instance_id == pos.instance_id and neg.instance_id != sk.instance_id
            assert hard == (plan.class_count[c2l[sk.class_name]] >= 2)
            if hard:
                assert neg.class_name == sk.class_name
    ds = triplet_dataset(sketches, photos, c2l, image_size=64, batch_size=8, hard_negative_prob=1.0)
    (b,) = _take(ds, 1)
    assert b["sketch"].shape == (8, 64, 64, 3)
    np.testing.assert_array_equal(b["label_sketch"], b["label_positive"])
    ix = plan.indices_numpy(0)
    np.testing.assert_array_equal(b["label_sketch"], [c2l[plan.sketches[i].class_name] for i in ix["sketch"][:8]])
