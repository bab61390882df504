"""The frozen-trunk cache (sbir_tf.train.trunk_cache): its views are the live pipeline's crops, a batch holds the
trunk's outputs of exactly the views the plan picks, and a run with one view per image trains exactly as a live run."""
import json

import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.configs import fg as fg_presets
from sbir_tf.data.pipeline import TripletPlan, _random_crop_flip, ImageSource
from sbir_tf.data.preprocessing import vgg_preprocess
from sbir_tf.experiments import sketchy_fg
from sbir_tf.models import backbones
from sbir_tf.models.fg import build_encoder
from sbir_tf.tasks.fg import FGTask
from sbir_tf.train.trunk_cache import (cached_triplet_dataset, check_trunk_cache, paired_photos, trunk_features,
                                      trunk_split, view_table)


@pytest.fixture(scope="module")
def synthetic():
    cfg = fg_presets.get_config("smoke")
    cfg.data.dataset = "synthetic"
    return FGTask().load_data(cfg)


def test_view_table_draws_the_live_windows_and_flips():
    table = view_table(400, 3, image_size=32, load_size=36, flip=True, seed=5)
    assert table.shape == (400, 3, 3) and table.dtype == np.int32
    offsets = table[..., :2]
    assert offsets.min() == 0 and offsets.max() == 4  # every one of the 5 positions on each axis
    assert set(np.unique(offsets)) == {0, 1, 2, 3, 4}
    assert 0.4 < table[..., 2].mean() < 0.6
    np.testing.assert_array_equal(table, view_table(400, 3, 32, 36, True, 5))
    assert not np.array_equal(table, view_table(400, 3, 32, 36, True, 6))
    assert view_table(10, 2, 32, 36, flip=False, seed=5)[..., 2].sum() == 0
    assert view_table(10, 2, 32, 32, flip=False, seed=5).sum() == 0  # no room to crop: the whole image


@pytest.mark.parametrize("views, frozen, backbone, crop_pairs, flip_pairs, flip, fragment", [
    (-1, 5, "vgg16", False, False, False, "integer >= 0"),
    (True, 5, "vgg16", False, False, False, "integer >= 0"),
    (2, 0, "vgg16", False, False, False, "frozen_blocks in 1..5"),
    (2, True, "vgg16", False, False, False, "frozen_blocks in 1..5"),
    (2, 5, "googlenet", False, False, False, "backbone='vgg16'"),
    (2, 5, "vgg16", False, True, True, "mirror alone"),
    (2, 5, "vgg16", True, False, True, "flip_pairs=true or data.flip=false"),
])
def test_settings_the_cache_cannot_honour_are_errors(views, frozen, backbone, crop_pairs, flip_pairs, flip,
                                                      fragment):
    with pytest.raises(ValueError, match=fragment):
        check_trunk_cache(views, frozen, backbone, crop_pairs=crop_pairs, flip_pairs=flip_pairs, flip=flip)
    assert check_trunk_cache(0, 0, "googlenet", True, True) == 0  # off: nothing to check
    assert [check_trunk_cache(3, k, "vgg16", False, False) for k in (1, 4, 5)] == [3, 3, 3]
    # a positive at its sketch's view: window alone (no flips) or window and mirror
    assert check_trunk_cache(3, 4, "vgg16", True, False, flip=False) == 3
    assert check_trunk_cache(3, 4, "vgg16", True, True, flip=True) == 3


@pytest.mark.parametrize("frozen", [2, 4, 5])
def test_the_split_is_the_encoder_cut_after_the_frozen_blocks(frozen):
    """fixed: image -> block<k>_pool; learning: the rest of the trunk and the head, on the encoder's own variables,
    and learning(fixed(x)) == encoder(x). Only the learning part holds trainable variables."""
    encoder = build_encoder({"weights": None, "frozen_blocks": frozen}, image_size=64)
    fixed, learning = trunk_split(encoder, frozen)
    assert trunk_split(encoder, frozen) == (fixed, learning)  # one split per encoder and depth
    assert fixed.output.shape[1:] == (64 >> frozen, 64 >> frozen, {2: 128, 4: 512, 5: 512}[frozen])
    x = np.random.default_rng(0).normal(size=(3, 64, 64, 3)).astype("float32") * 50
    np.testing.assert_allclose(learning(fixed(x)), encoder(x, training=False), rtol=1e-5, atol=1e-6)
    assert not fixed.trainable_weights
    ids = {id(v) for v in encoder.trainable_variables}
    assert {id(v) for v in learning.trainable_variables} == ids
    conv_kernels = {v.path.split("/")[-2] for v in learning.trainable_variables if "conv" in v.path}
    assert conv_kernels == {f"block{b}_conv{c}" for b in range(frozen + 1, 6) for c in range(1, 4 if b > 2 else 3)}


def test_cli_rejects_the_cache_with_a_trainable_trunk(tmp_path):
    assert sketchy_fg.main(["--config", "smoke", "--set", "data.trunk_cache_views=2",
                            "--output_dir", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("pairs", [False, True])
def test_a_cached_batch_holds_the_trunk_outputs_of_the_views_the_plan_picks(synthetic, tmp_path, pairs):
    """Recompute every element of a batch from the image: crop and mirror it as its view says, run the trunk. With
    crop_pairs (and flip_pairs) the positive is its photo at the sketch's view, window and mirror."""
    index, split = synthetic
    size, load, views = 32, 40, 3
    plan = TripletPlan.build(split.train_sketches, split.train_photos, {c: i for i, c in enumerate(split.classes)},
                             batch_size=6, hard_negative_prob=0.5, seed=1, image_size=size, load_size=load,
                             flip=True, flip_pairs=pairs, crop_pairs=pairs, views=views)
    trunk = backbones.vgg16_trunk((size, size, 3), weights=None, name="trunk")
    tables = [view_table(len(r), views, size, load, True, k) for k, r in enumerate((plan.sketches, plan.photos))]
    assert tables[0][..., 2].any() and tables[0][..., :2].any()  # the check below sees crops and mirrors
    reads = [(plan.sketches, tables[0]), (plan.photos, tables[1])] + [(paired_photos(plan), tables[0])] * pairs
    banks = [trunk_features(trunk, r, arrays=index.arrays, image_size=size, load_size=load, table=t,
                            cache_dir=tmp_path) for r, t in reads]
    assert banks[0].shape == (len(plan.sketches), views, 1, 1, 512)
    batch = next(iter(cached_triplet_dataset(plan, *banks[:2], tables[0], arrays=index.arrays, start_step=4,
                                             paired_features=banks[2] if pairs else None)))
    ix = plan.indices_numpy(4)
    assert set(ix["view_sketch"].tolist()) <= set(range(views))
    if pairs:  # the positive's view is its sketch's: read the sketch's view of the sketch's photo
        ix["positive"] = plan.sketch_positive[ix["sketch"]]
        ix["view_positive"] = ix["view_sketch"]
        positive_table = tables[0][ix["sketch"]]
        assert not np.array_equal(tables[0][ix["sketch"], ix["view_sketch"]],
                                  tables[1][ix["positive"], ix["view_positive"]])  # the pairing changes something
    for role, records, table in (("sketch", plan.sketches, tables[0]), ("positive", plan.photos, tables[1]),
                                 ("negative", plan.photos, tables[1])):
        src = ImageSource(records, index.arrays)
        for b in range(6):
            if role == "positive" and pairs:
                oy, ox, mirrored = positive_table[b, ix["view_sketch"][b]]
            else:
                oy, ox, mirrored = table[ix[role][b], ix[f"view_{role}"][b]]
            image = _random_crop_flip(src.load(tf.constant(ix[role][b]), load, "raise"), oy, ox, bool(mirrored),
                                      size)
            want = trunk(vgg_preprocess(image)[None], training=False)[0]
            np.testing.assert_allclose(batch[role][b], want, rtol=1e-5, atol=1e-4)
    # the decoder target is the anchor sketch at its view, in [-1, 1]
    assert batch["sketch_target"].shape == (6, size, size, 3)
    assert float(tf.reduce_min(batch["sketch_target"])) >= -1.0


def test_the_cache_is_reused_and_keyed_by_the_trunk_weights(synthetic, tmp_path):
    index, split = synthetic
    records = split.query_sketches[:5]
    trunk = backbones.vgg16_trunk((32, 32, 3), weights=None, name="trunk")
    first = trunk_features(trunk, records, arrays=index.arrays, image_size=32, load_size=36, cache_dir=tmp_path)
    assert first.shape == (5, 1, 1, 512) and len(list(tmp_path.glob("*.npy"))) == 1
    key = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert key["views"] == "centre" and key["num_records"] == 5
    again = trunk_features(trunk, records, arrays=index.arrays, image_size=32, load_size=36, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, again)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    same = backbones.vgg16_trunk((32, 32, 3), weights=None, name="renamed")
    same.set_weights(trunk.get_weights())  # the same weights under other names: the same file
    trunk_features(same, records, arrays=index.arrays, image_size=32, load_size=36, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    other = backbones.vgg16_trunk((32, 32, 3), weights=None, name="other")  # other random weights: another file
    trunk_features(other, records, arrays=index.arrays, image_size=32, load_size=36, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2


def _history(out):
    return [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]


# About a minute each on 2 CPU cores: two cases in the default suite cover both sharings, the whole trunk frozen and
# only its first blocks, and the paired bank; the other two are slow.
@pytest.mark.parametrize("sharing, frozen, crop_pairs", [
    ("siamese", 4, True), ("hybrid", 5, False),
    pytest.param("siamese", 5, False, marks=pytest.mark.slow), pytest.param("hybrid", 3, False, marks=pytest.mark.slow)])
def test_one_view_per_image_trains_exactly_as_the_live_run(tmp_path, monkeypatch, sharing, frozen, crop_pairs):
    """No crop room and no flip: the cache holds the very inputs a live run reads, so the losses of every step (both
    stages) and the final acc@K agree with the live run's, with the whole trunk frozen or only its first blocks, and
    with the positives read from the paired bank (crop_pairs)."""
    monkeypatch.setenv("SBIR_TF_CACHE", str(tmp_path / "cache"))
    base = ["--config", "smoke", "--frozen_blocks", str(frozen), "--sharing", sharing, "--steps", "6",
            "--set", "data.load_size=32", "data.flip=false", "train.eval_every=0",
            f"data.crop_pairs={str(crop_pairs).lower()}"]
    live, cached = tmp_path / "live", tmp_path / "cached"
    assert sketchy_fg.main([*base, "--output_dir", str(live)]) == 0
    assert sketchy_fg.main([*base, "data.trunk_cache_views=1", "--output_dir", str(cached)]) == 0
    a, b = _history(live), _history(cached)
    assert [r["stage"] for r in a] == [r["stage"] for r in b] and {r["stage"] for r in a} == {"stage1", "stage2"}
    for key in ("loss/cls", "loss/rec", "loss/tri"):
        np.testing.assert_allclose([r[key] for r in b], [r[key] for r in a], rtol=2e-4, atol=1e-5, err_msg=key)
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (live, cached))
    assert mb["trunk_cache_views"] == 1 and ma["trunk_cache_views"] == 0
    assert [mb[f"acc@{k}"] for k in (1, 5, 10)] == [ma[f"acc@{k}"] for k in (1, 5, 10)]
    assert mb["mean_rank"] == pytest.approx(ma["mean_rank"])
