"""Frozen-trunk feature cache for fine-grained training (``data.trunk_cache_views``; a CPU setting, not the paper's).

With VGG16 conv blocks 1..k frozen (``model.frozen_blocks=k``, k >= 1) those blocks are a fixed function of their
input, so their output (``block<k>_pool``) can be computed once per input and reused: training then runs only what
learns (the trainable conv blocks k+1..5, fc6, fc7, the embedding, the classifier and the decoder), see
:func:`trunk_split`. On a CPU the frozen blocks' forward pass is a large part of a step (at 224 px, the whole
trunk's pass over 36 images takes about 9 s on 2 cores), so a cached run is several times faster; with every block
frozen (k = 5) it is what makes the paper's image size affordable here.

**Views.** A live training batch draws, for each image it reads, a fresh crop window and mirror
(:class:`sbir_tf.data.pipeline.TripletPlan`). A cached run cannot hold every window, so it holds ``V`` *views* per
training image (``data.trunk_cache_views``): each view is one draw from the live distribution (window offsets
uniform over ``load_size - image_size + 1`` positions on each axis, mirrored with probability 1/2 when
``data.flip``), drawn from ``data.trunk_cache_seed`` and not from ``train.seed``, so runs of every seed share one
extraction. Each time a batch reads an image it reads one of its ``V`` views, picked uniformly by the plan's draws
(:meth:`TripletPlan.step_indices`, ``view_*``). This is the one difference from a live run: a finite pool of crops
per image instead of a fresh one each time. With ``load_size == image_size`` and no flip, there is one view and a
cached run equals a live one (``tests/train/test_trunk_cache.py``). The decoder's target (the anchor sketch at its
view) is still cropped from the image at run time. Evaluation reads centre crops: one view per image, exactly what
the live evaluation computes.

**Files.** ``<cache dir>/trunk/<sha256>.npy`` (``$SBIR_TF_CACHE``, default ``~/.cache/sbir_tf``): float32
``[N, V, h, w, c]`` (training views) or ``[N, h, w, c]`` (centre crops). The name is a SHA-256 over what determines
the contents (:func:`cache_key`): the frozen part's weights (so each k has its own files), the records (paths and
file states), the image and load sizes and the view table; another setting is another file, never a stale one.
Files are written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import weakref
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from sbir_tf.data.records import Record
from sbir_tf.models.fg import VariableGroups
from sbir_tf.paths import default_cache_dir
from sbir_tf.train.progress import Progress

#: Bump when what a cache file holds changes meaning.
TRUNK_CACHE_VERSION = "trunk-cache-v1"


def check_trunk_cache(views, frozen_blocks, backbone: str, crop_pairs: bool, flip_pairs: bool,
                      flip: bool = False) -> int:
    """``data.trunk_cache_views`` as an int, or ``ValueError`` naming what forbids it: the cache needs a fixed part
    of the trunk (VGG16, ``model.frozen_blocks`` >= 1), and a positive photo is read either at a view of its own or,
    with ``crop_pairs``, at its sketch's view (window and mirror): so ``flip_pairs`` needs ``crop_pairs``, and
    ``crop_pairs`` with ``flip`` needs ``flip_pairs``."""
    if isinstance(views, bool) or not isinstance(views, (int, np.integer)) or views < 0:
        raise ValueError(f"data.trunk_cache_views must be an integer >= 0 (0: read images live), got {views!r}")
    if views and (backbone != "vgg16" or isinstance(frozen_blocks, bool)
                  or not isinstance(frozen_blocks, (int, np.integer)) or not 1 <= frozen_blocks <= 5):
        raise ValueError(f"data.trunk_cache_views={views} caches the output of fixed VGG16 conv blocks: it needs "
                         f"model.backbone='vgg16' and model.frozen_blocks in 1..5 (got {backbone!r}, "
                         f"{frozen_blocks!r})")
    if views and flip_pairs and not crop_pairs:
        raise ValueError("data.trunk_cache_views reads a positive photo either at a view of its own or at its "
                         "sketch's view (data.crop_pairs); it cannot tie the mirror alone (data.flip_pairs without "
                         "data.crop_pairs)")
    if views and crop_pairs and flip and not flip_pairs:
        raise ValueError("data.trunk_cache_views with data.crop_pairs reads the positive photo at its sketch's view, "
                         "window and mirror; with data.flip it cannot keep the mirror on its own draw: set "
                         "data.flip_pairs=true or data.flip=false")
    return int(views)


#: encoder -> {frozen_blocks: (fixed, learning)}: one split per encoder and depth, so repeated evaluations reuse
#: one model (and its traced inference function) instead of building another.
_SPLITS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def trunk_split(encoder, frozen_blocks: int) -> tuple[keras.Model, keras.Model]:
    """``(fixed, learning)`` of an :class:`sbir_tf.models.fg.FGEncoder` whose VGG16 blocks 1..k are frozen.

    ``fixed``: image -> ``block<k>_pool`` (the encoder's trunk itself when k = 5), what the cache holds.
    ``learning``: ``block<k>_pool`` output -> embedding, the trunk's layers after the cut followed by the encoder's
    head (the head itself when k = 5). Both call the encoder's own layers, so they hold its variables and
    ``learning(fixed(x))`` is ``encoder(x)``; training ``learning`` trains the encoder."""
    k = int(frozen_blocks)
    if not 1 <= k <= 5:
        raise ValueError(f"trunk_split needs frozen_blocks in 1..5, got {frozen_blocks!r}")
    splits = _SPLITS.setdefault(encoder, {})
    if k not in splits:
        trunk = encoder.trunk
        if k == 5:
            splits[k] = (trunk, encoder.head)
        else:
            cut = [layer.name for layer in trunk.layers].index(f"block{k}_pool")
            fixed = keras.Model(trunk.input, trunk.layers[cut].output, name=f"{trunk.name}_blocks1to{k}")
            inputs = keras.Input(shape=tuple(fixed.output.shape[1:]), name=f"{trunk.name}_block{k}_pool")
            x = inputs
            for layer in trunk.layers[cut + 1:]:
                x = layer(x)
            splits[k] = (fixed, keras.Model(inputs, encoder.head(x), name=f"{encoder.name}_from_block{k}"))
    return splits[k]


def view_table(num_images: int, views: int, image_size: int, load_size: int, flip: bool, seed: int) -> np.ndarray:
    """int32 ``[num_images, views, 3]``: each view's ``(oy, ox, mirrored)``, drawn as a live batch draws them
    (offsets uniform in ``[0, load_size - image_size]``, mirrored with probability 1/2 when ``flip``)."""
    rng = np.random.default_rng([int(seed), 0x7C4E])
    span = int(load_size) - int(image_size) + 1
    table = np.zeros((int(num_images), int(views), 3), np.int32)
    table[..., :2] = rng.integers(0, span, size=(int(num_images), int(views), 2))
    if flip:
        table[..., 2] = rng.random((int(num_images), int(views))) < 0.5
    return table


def trunk_fingerprint(trunk: tf.keras.Model | object) -> str:
    """SHA-256 over the trunk's variables in order (shapes and values, not names), so that trunks holding the same
    weights share one cache whatever the encoder that owns them is called (``siamese``, ``heterogeneous``)."""
    h = hashlib.sha256()
    for v in trunk.weights:
        value = np.asarray(v.numpy())
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def cache_key(trunk, records: Sequence[Record], arrays: dict | None, image_size: int, load_size: int,
              table: np.ndarray | None) -> dict:
    """What determines a cache file's contents (its name is the SHA-256 of this dict's JSON)."""
    from sbir_tf.features import records_fingerprint

    return {"version": TRUNK_CACHE_VERSION, "trunk": trunk_fingerprint(trunk),
            "records": records_fingerprint(records, arrays), "num_records": len(records),
            "image_size": int(image_size), "load_size": int(load_size),
            "views": "centre" if table is None else hashlib.sha256(np.ascontiguousarray(table).tobytes()).hexdigest()}


def _view_images(records, arrays, image_size: int, load_size: int, table: np.ndarray | None, batch_size: int):
    """VGG-preprocessed crops of every (record, view), record-major; centre crops when ``table`` is None."""
    from sbir_tf.data.pipeline import ImageSource, _random_crop_flip
    from sbir_tf.data.preprocessing import centre_offset, vgg_preprocess

    src = ImageSource(list(records), arrays)
    if table is None:
        off = centre_offset(load_size, image_size)
        table = np.tile(np.array([[[off, off, 0]]], np.int32), (len(records), 1, 1))
    views = table.shape[1]
    flat = tf.constant(table.reshape(-1, 3))

    def load(k):
        i = k // views
        oy, ox, mirrored = flat[k, 0], flat[k, 1], flat[k, 2] > 0
        image = src.load(i, load_size, "raise")  # a broken image is an error, never a cached blank
        return vgg_preprocess(_random_crop_flip(image, oy, ox, mirrored, image_size))

    ds = tf.data.Dataset.range(len(records) * views).map(load, num_parallel_calls=tf.data.AUTOTUNE,
                                                          deterministic=True)
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)


def trunk_features(trunk, records: Sequence[Record], *, arrays: dict | None = None, image_size: int,
                   load_size: int, table: np.ndarray | None = None, batch_size: int = 32,
                   cache_dir: str | os.PathLike | None = None, desc: str = "trunk") -> np.ndarray:
    """The trunk's float32 outputs for ``records``: ``[N, V, h, w, c]`` at the views of ``table`` (``[N, V, 3]``,
    :func:`view_table`) or ``[N, h, w, c]`` at the centre crop (``table=None``), read from the cache when it holds
    them, else computed (with progress) and written there."""
    key = cache_key(trunk, records, arrays, image_size, load_size, table)
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "trunk"
    path = folder / f"{name}.npy"
    views = 1 if table is None else int(table.shape[1])
    shape = (len(records), views, *trunk.output.shape[1:])
    if path.exists():
        features = np.load(path, mmap_mode=None)
        if features.shape == shape:
            return features if table is not None else features[:, 0]
        raise ValueError(f"trunk cache {path} holds shape {features.shape}, expected {shape}: delete the file")

    @tf.function(reduce_retracing=True)
    def forward(x):
        return tf.cast(trunk(x, training=False), tf.float32)

    total = shape[0] * views
    out = np.empty((total, *shape[2:]), np.float32)
    done = 0
    with Progress(total, images_per_step=1, desc=f"{desc}: {len(records)} images x {views} view(s)",
                  every=max(1, total // 10)) as bar:
        for batch in _view_images(records, arrays, image_size, load_size, table, batch_size):
            y = forward(batch).numpy()
            out[done:done + len(y)] = y
            done += len(y)
            bar.update(done)
    features = out.reshape(shape)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".npy")
    os.close(fd)
    try:
        np.save(tmp, features)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    (folder / f"{name}.json").write_text(json.dumps({**key, "shape": list(shape), "desc": desc}, indent=1))
    return features if table is not None else features[:, 0]


def paired_photos(plan) -> list[Record]:
    """Each anchor sketch's positive photo, in ``plan.sketches`` order: read at the sketches' view table, their
    trunk outputs are the positives of a ``crop_pairs`` plan (:func:`cached_triplet_dataset`)."""
    return [plan.photos[int(j)] for j in plan.sketch_positive]


class HeadView(VariableGroups):
    """The parts of a :class:`sbir_tf.models.fg.PangModel` that learn when its VGG16 blocks 1..k are fixed: each
    encoder's ``learning`` part (:func:`trunk_split`: conv blocks k+1..5 and the embedding head, the same variables
    and layers), the classifier and the decoder. It has what the training step reads (``sketch_encoder``,
    ``photo_encoder``, ``classifier``, ``decoder`` and the variable groups), so
    :class:`sbir_tf.train.fg_step.FGStep` trains it on batches of cached outputs exactly as it trains the model on
    images."""

    def __init__(self, model, frozen_blocks: int = 5) -> None:
        self.sketch_encoder = trunk_split(model.sketch_encoder, frozen_blocks)[1]
        self.photo_encoder = (self.sketch_encoder if model.siamese
                              else trunk_split(model.photo_encoder, frozen_blocks)[1])
        self.classifier, self.decoder = model.classifier, model.decoder


def feature_bank(features, name: str) -> tf.Variable:
    """``features`` as a non-trainable CPU variable, read by index by :func:`cached_triplet_dataset` (a variable
    keeps the array out of the dataset's graph); a variable is returned as it is, so a caller that keeps the
    variable and drops its array holds the features once."""
    if isinstance(features, tf.Variable):
        return features
    with tf.device("/CPU:0"):
        return tf.Variable(features, trainable=False, name=name)


def cached_triplet_dataset(plan, sketch_features, photo_features, sketch_table: np.ndarray, *,
                           arrays: dict | None = None, start_step: int = 0,
                           paired_features=None) -> tf.data.Dataset:
    """Training batches of trunk outputs: :func:`sbir_tf.data.pipeline.triplet_dataset` with ``sketch``,
    ``positive`` and ``negative`` replaced by the cached outputs of the views the plan picks (``view_*``).

    ``plan``: a :class:`~sbir_tf.data.pipeline.TripletPlan` with ``views`` set; ``sketch_features`` ``[Ns, V, ...]``
    in ``plan.sketches`` order, ``photo_features`` ``[Np, V, ...]`` in ``plan.photos`` order (arrays, or
    :func:`feature_bank` variables); ``sketch_table`` the
    sketches' :func:`view_table` (the decoder target is the anchor sketch cropped and mirrored as its view).
    With ``plan.crop_pairs`` the positive is read from ``paired_features`` ``[Ns, V, ...]``: each sketch's photo
    at each of the sketch's views (:func:`paired_photos`), so it shares its sketch's window (and mirror), as a
    live run's positive shares its sketch's window."""
    from sbir_tf.data.pipeline import ImageSource, _random_crop_flip, triplet_stream
    from sbir_tf.data.preprocessing import to_sketch_target

    if not plan.views:
        raise ValueError("cached_triplet_dataset needs a TripletPlan built with views > 0")
    if plan.crop_pairs and paired_features is None:
        raise ValueError("a TripletPlan with crop_pairs reads its positives from paired_features (paired_photos)")
    banks = [("sketch", sketch_features, len(plan.sketches)), ("photo", photo_features, len(plan.photos))]
    if plan.crop_pairs:
        banks.append(("paired photo", paired_features, len(plan.sketches)))
    for name, feats, n in banks:
        if tuple(feats.shape[:2]) != (n, plan.views):
            raise ValueError(f"{name} features have shape {tuple(feats.shape)}, expected ({n}, {plan.views}, ...)")
    sketch_bank = feature_bank(sketch_features, "trunk_cache_sketches")
    photo_bank = feature_bank(photo_features, "trunk_cache_photos")
    paired_bank = feature_bank(paired_features, "trunk_cache_paired_photos") if plan.crop_pairs else None
    table = tf.constant(sketch_table)
    sketch_src = ImageSource(plan.sketches, arrays)
    size, load = int(plan.image_size), int(plan.load_size)

    def load_triplet(ix):
        view = table[ix["sketch"], tf.cast(ix["view_sketch"], tf.int64)]
        sk = _random_crop_flip(sketch_src.load(ix["sketch"], load, "raise"), view[0], view[1], view[2] > 0, size)
        positive = (paired_bank[ix["sketch"], ix["view_sketch"]] if paired_bank is not None
                    else photo_bank[ix["positive"], ix["view_positive"]])
        return {"sketch": sketch_bank[ix["sketch"], ix["view_sketch"]],
                "positive": positive,
                "negative": photo_bank[ix["negative"], ix["view_negative"]],
                "sketch_target": to_sketch_target(sk)}

    ds = triplet_stream(plan, load_triplet, start_step)
    ds._trunk_cache_banks = (sketch_bank, photo_bank, paired_bank)  # the variables live as long as the dataset
    return ds
