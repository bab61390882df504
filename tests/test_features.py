"""Feature cache: extraction once, reuse, stale/mismatched caches detected, refresh recomputes."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from sbir_tf import features as F
from sbir_tf.data.records import Record


class CountingExtractor:
    """Stand-in for VGG16: per-image channel means tiled to 512-d, counting calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        m = np.asarray(batch).mean(axis=(1, 2))  # [b, 3]
        return np.tile(m, (1, 171))[:, :512]


@pytest.fixture
def records(tmp_path):
    recs = []
    for i, cls in enumerate(["cat", "cat", "dog"]):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((40, 40, 3), 40 * i, np.uint8)).save(path)
        recs.append(Record(str(path), cls, f"id{i}", "photo"))
    return recs


def test_extract_once_then_reuse(records, tmp_path):
    ex = CountingExtractor()
    cache = tmp_path / "c.npz"
    a = F.cached_features(records, cache, weights="hed", image_size=32, batch_size=2, extractor=ex)
    assert a.shape == (3, 512) and a.dtype == np.float32 and ex.calls == 2
    assert not np.allclose(a[0], a[2])
    b = F.cached_features(records, cache, weights="hed", image_size=32, batch_size=2, extractor=ex)
    assert ex.calls == 2, "a matching cache must not be recomputed"
    np.testing.assert_array_equal(a, b)


def test_stale_or_mismatched_cache_is_an_error(records, tmp_path):
    ex = CountingExtractor()
    cache = tmp_path / "c.npz"
    F.cached_features(records, cache, weights="hed", image_size=32, extractor=ex)
    with pytest.raises(F.FeatureCacheError, match="image_size: cached 32 vs now 64"):
        F.cached_features(records, cache, weights="hed", image_size=64, extractor=ex)
    with pytest.raises(F.FeatureCacheError, match="weights"):
        F.cached_features(records, cache, weights="imagenet", image_size=32, extractor=ex)
    with pytest.raises(F.FeatureCacheError, match="records_sha256"):
        F.cached_features(records[:2], cache, weights="hed", image_size=32, extractor=ex)
    # an image edited after caching (new size/mtime) makes the cache stale
    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(records[1].path)
    os.utime(records[1].path, ns=(1, 1))
    with pytest.raises(F.FeatureCacheError, match="stale.*--refresh_features"):
        F.cached_features(records, cache, weights="hed", image_size=32, extractor=ex)
    calls = ex.calls
    fresh = F.cached_features(records, cache, weights="hed", image_size=32, extractor=ex, refresh=True)
    assert ex.calls > calls
    # the refreshed row is the edited image's (every pixel 200), the others are unchanged (0 and 80): the stand-in
    # returns channel means of the Caffe-preprocessed batch, whose first channel is blue minus its ImageNet mean 103.939
    np.testing.assert_allclose(fresh[:, 0], np.array([0.0, 200.0, 80.0]) - 103.939, atol=1e-3)
    again = F.cached_features(records, cache, weights="hed", image_size=32, extractor=ex)
    np.testing.assert_array_equal(fresh, again)


def test_unreadable_cache_and_key_fields(records, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(F.FeatureCacheError, match="unreadable"):
        F.cached_features(records, bad, weights="hed", image_size=32, extractor=CountingExtractor())
    key = F.cache_key(records, "hed", 32)
    assert key["num_records"] == 3 and key["version"] == F.FEATURE_EXTRACTOR_VERSION
    assert F.cache_path("sketchy", "photo", "hed", 224, tmp_path).name == "sketchy_photo_hed_224px.npz"


def test_vgg16_features_are_512d(records):
    feats = F.extract_features(records[:2], weights=None, image_size=32, batch_size=2)
    assert feats.shape == (2, 512) and np.all(feats >= 0)  # GAP of ReLU activations


def test_fingerprint_is_the_same_for_relative_and_absolute_paths(records, tmp_path, monkeypatch):
    # the same files named relative to the working directory or absolutely share one cache; another file does not
    monkeypatch.chdir(tmp_path)
    relative = [Record(os.path.relpath(r.path, tmp_path), r.class_name, r.instance_id, r.domain) for r in records]
    assert relative[0].path != records[0].path
    assert F.records_fingerprint(relative) == F.records_fingerprint(records)
    swapped = [records[1], records[0], *records[2:]]
    assert F.records_fingerprint(swapped) != F.records_fingerprint(records)


def test_fingerprint_follows_file_contents_not_mtimes(records, tmp_path, monkeypatch):
    # data copied or mounted anew (same bytes, new mtimes) keeps its caches; other bytes at the same size do not
    monkeypatch.setenv("SBIR_TF_CACHE", str(tmp_path / "cache"))
    before = F.records_fingerprint(records)
    for r in records:
        os.utime(r.path, ns=(10**18, 10**18))
    assert F.records_fingerprint(records) == before
    data = bytearray(open(records[2].path, "rb").read())
    data[-20] ^= 1  # one bit of the PNG, size unchanged
    open(records[2].path, "wb").write(bytes(data))
    assert F.records_fingerprint(records) != before


def test_file_digests_are_sha256_and_remembered(records, tmp_path, monkeypatch):
    import hashlib

    reads = []
    real = F.file_sha256
    monkeypatch.setattr(F, "file_sha256", lambda p: reads.append(p) or real(p))
    cache = tmp_path / "cache"
    paths = [r.path for r in records] + [str(tmp_path / "absent.png")]
    first = F.file_digests(paths, cache)
    assert first[paths[0]] == hashlib.sha256(open(paths[0], "rb").read()).hexdigest()
    assert first[paths[-1]] == "missing" and len(set(first.values())) == 4 and len(reads) == 3
    assert F.file_digests(paths, cache) == first and len(reads) == 3, "an unchanged file is not read again"
    os.utime(paths[1], ns=(5, 5))
    assert F.file_digests(paths, cache) == first and reads[3:] == [os.path.realpath(paths[1])]
    os.remove(paths[0])  # a file gone is forgotten by the memo at its next write
    os.utime(paths[2], ns=(6, 6))
    assert F.file_digests(paths[1:], cache)[paths[2]] == first[paths[2]]
    memo = json.loads((cache / F.FILE_DIGESTS).read_text())
    assert sorted(memo) == sorted(os.path.realpath(p) for p in paths[1:3])


def test_file_digests_without_a_writable_cache_folder(records, tmp_path):
    # a cache folder that cannot be made (its parent is a file) costs the memo, not the digests
    blocker = tmp_path / "file"
    blocker.write_text("x")
    paths = [r.path for r in records]
    assert F.file_digests(paths, blocker / "cache") == F.file_digests(paths, tmp_path / "cache")


def test_a_cache_keyed_by_file_stats_is_kept_while_its_files_are_unchanged(records, tmp_path, monkeypatch):
    # a cache written before keys held file contents: accepted (and re-keyed) while size and mtime still match
    monkeypatch.setenv("SBIR_TF_CACHE", str(tmp_path / "cache"))
    ex = CountingExtractor()
    cache = tmp_path / "c.npz"
    feats = F.cached_features(records, cache, weights="hed", image_size=32, extractor=ex)
    old_key = {k: v for k, v in F.cache_key(records, "hed", 32).items() if k != "records_hash"}
    old_key["records_sha256"] = F.legacy_records_fingerprint(records)
    F.save_cache(cache, feats, old_key, records)
    calls = ex.calls
    np.testing.assert_array_equal(F.cached_features(records, cache, weights="hed", image_size=32, extractor=ex),
                                  feats)
    assert ex.calls == calls, "an unchanged legacy cache is not recomputed"
    with np.load(cache) as z:
        assert json.loads(str(z["key"])) == F.cache_key(records, "hed", 32)  # re-keyed
    F.save_cache(cache, feats, old_key, records)
    os.utime(records[0].path, ns=(7, 7))  # its files changed since (as far as the old key can tell): stale
    with pytest.raises(F.FeatureCacheError, match="records_sha256"):
        F.cached_features(records, cache, weights="hed", image_size=32, extractor=ex)
