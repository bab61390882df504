"""tf.data input pipelines: seeded triplet batches for training, centre-cropped batches for evaluation.

Training batches (:func:`triplet_dataset`) follow Pang et al. (BMVC 2017), Sec. 3.1 and Sec. 4 "Implementation
Details": an anchor sketch, its positive photo (the photo of the same instance) and a negative photo, each resized
to ``load_size`` then randomly cropped to ``image_size`` ("We randomly cropped an original 256x256 sketch/photo of
size 224x224") and, with ``flip``, randomly mirrored (not in the paper; off in every preset): each image on its
own draw, or with ``flip_pairs`` the positive photo on its sketch's draw (a Sketchy sketch is drawn over its photo
and faces the same way). The crop windows are drawn the same way: each image its own, or with ``crop_pairs`` the
positive photo at its sketch's window (the paper does not say which; evaluation crops both at the centre). The
decoder target is the *same* crop/flip of the anchor sketch in [-1, 1]. Which Sketchy
rendering the sketches and photos come from is the reader's choice (:func:`sbir_tf.data.sketchy.read_sketchy`).

Reproducibility. Batch ``step`` is a pure function of ``(seed, step)``:

* which sketches: the flat position ``step * batch_size + i`` is split into an epoch number and a position inside the
  epoch; ``RandomIndexShuffle`` (the op behind :func:`tf.random.experimental.index_shuffle`) maps it through a
  per-epoch permutation of all sketches, so every sketch is used once per epoch and no state is carried between
  steps;
* everything else (hard/easy negative choice, negative index, crop offsets, flips) comes from
  ``tf.random.stateless_uniform`` seeded with ``(seed, step)``.

Hence ``triplet_dataset(..., start_step=n)`` yields exactly the batches the uninterrupted stream yields from step
``n`` on, without replaying steps ``0..n-1``: resuming a run is exact.

No Python runs per element: record paths (or in-memory image tables) and all index tables are tensors; loading is
``tf.io.read_file`` + ``tf.io.decode_image`` in a parallel ``map`` with deterministic order.

Aspect ratio: images are resized to a ``load_size`` square (Sketchy, QMUL and TU-Berlin sketches are square
already; non-square photos are stretched, as in the original Caffe data layers' fixed-size resize).

Memory: array-backed tables are gathered to one tensor per record list; above :data:`VARIABLE_TABLE_BYTES` the
table is held in a ``tf.Variable`` so it is never serialised into a dataset graph.

Bad files. Readers already skip invalid files. If a file still fails to decode at run time (deleted, truncated
after indexing), ``on_error`` decides: ``"raise"`` (the default of :func:`triplet_dataset`, training) stops with an
``InvalidArgumentError`` whose message reads ``could not decode image <path>``, which the run layer reports as a
data error naming the file; ``"blank"`` (the default of the display and embedding pipelines) replaces that single
image by a white image and prints a warning naming the file. Both happen per image inside the element's map (a
one-element dataset with ``ignore_errors()`` followed by the fallback branch), so no element is dropped and the
stream stays a pure function of ``(seed, step)``.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import tensorflow as tf

from sbir_tf.data.preprocessing import (
    centre_offset, crop, decode_to_rgb, default_load_size, resize_square, to_rgb, to_sketch_target, vgg_preprocess,
)
from sbir_tf.data.records import DataError, Record, array_ref

AUTOTUNE = tf.data.AUTOTUNE

#: In-memory image tables larger than this are held in a ``tf.Variable`` (captured by handle) instead of a
#: constant, so that tf.data never has to serialise them into a graph (GraphDefs are limited to 2 GB).
VARIABLE_TABLE_BYTES = 1 << 28

_ON_ERROR = ("blank", "raise")


# ---------------------------------------------------------------------------------------------------------------
# Image sources: a list of records -> a tensor table + a graph function loading row i
# ---------------------------------------------------------------------------------------------------------------

def _is_array_backed(record: Record, arrays: dict | None) -> bool:
    if not arrays or "#" not in record.path:
        return False
    key, _, _ = record.path.rpartition("#")
    return key in arrays


def _encoded_rows_to_bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray, np.bytes_)):
        return bytes(value)
    raise DataError(f"expected encoded image bytes in an object array, got {type(value).__name__}")


def _png_bytes(pixels: np.ndarray) -> bytes:
    return tf.io.encode_png(tf.convert_to_tensor(pixels if pixels.ndim == 3 else pixels[..., None])).numpy()


class ImageSource:
    """Images of a record list as one tensor table; :meth:`load` (graph code) returns row ``i`` as uint8 RGB.

    Three kinds of table, chosen at construction:

    * ``"files"``: a string tensor of file paths (read with ``tf.io.read_file``);
    * ``"encoded"``: a string tensor of encoded PNG/JPEG bytes (array-backed records whose array is a 1-D object
      array of bytes, e.g. :func:`sbir_tf.data.tfds_builders.load_prepared`);
    * ``"pixels"``: a uint8 tensor ``[N, H, W, C]`` gathered from ``DatasetIndex.arrays`` (``[N, H, W]`` or
      ``[N, H, W, 3]``); arrays of different image sizes are PNG-encoded and handled as ``"encoded"``.
    """

    def __init__(self, records: Sequence[Record], arrays: dict | None = None) -> None:
        records = list(records)
        if not records:
            raise DataError("no records to load images from")
        backed = [_is_array_backed(r, arrays) for r in records]
        if any(backed) and not all(backed):
            bad = next(r.path for r, b in zip(records, backed) if not b)
            raise DataError(f"records mix files and in-memory arrays (e.g. {bad!r} is not in `arrays`); "
                            "give one kind per list")
        self.names = [r.path for r in records]
        if not backed[0]:
            self.kind = "files"
            table = np.array(self.names, dtype=object)
        else:
            refs = [array_ref(r.path) for r in records]
            for key, row in refs:
                if not 0 <= row < len(arrays[key]):
                    raise DataError(f"record {key}#{row}: row out of range for array of length {len(arrays[key])}")
            first = np.asarray(arrays[refs[0][0]])
            if first.dtype == object:
                self.kind = "encoded"
                table = np.array([_encoded_rows_to_bytes(arrays[k][r]) for k, r in refs], dtype=object)
            else:
                rows = [np.asarray(arrays[k][r]) for k, r in refs]
                for (k, r), px in zip(refs, rows):
                    if px.dtype != np.uint8 or px.ndim not in (2, 3):
                        raise DataError(f"array {k!r} row {r}: expected uint8 [H,W] or [H,W,C], "
                                        f"got {px.dtype} {px.shape}")
                if len({px.shape for px in rows}) == 1:
                    self.kind = "pixels"
                    table = np.stack(rows)
                    if table.ndim == 3:
                        table = table[..., None]
                else:
                    self.kind = "encoded"
                    table = np.array([_png_bytes(px) for px in rows], dtype=object)
        nbytes = table.nbytes if table.dtype != object else sum(len(x) for x in table)
        tensor = tf.constant(table.tolist() if table.dtype == object else table)
        if nbytes > VARIABLE_TABLE_BYTES:
            tensor = tf.Variable(tensor, trainable=False)
        self.table = tensor
        self._names = tf.constant(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def decode(self, i: tf.Tensor) -> tf.Tensor:
        """Row ``i`` as uint8 ``[H, W, 3]`` (graph code; raises a TF error for undecodable bytes)."""
        if self.kind == "pixels":
            return to_rgb(tf.gather(self.table, i))
        encoded = tf.gather(self.table, i)
        if self.kind == "files":
            encoded = tf.io.read_file(encoded)
        return decode_to_rgb(encoded)

    def load(self, i: tf.Tensor, size: int, on_error: str = "blank") -> tf.Tensor:
        """Row ``i`` resized to float32 ``[size, size, 3]`` in [0, 255]. An image that cannot be decoded raises
        ``InvalidArgumentError`` "could not decode image <path>" (``on_error="raise"``) or becomes a white image with
        a warning naming the file (``"blank"``)."""
        if on_error not in _ON_ERROR:
            raise ValueError(f"on_error must be one of {_ON_ERROR}, got {on_error!r}")

        def good(j):
            return resize_square(self.decode(j), size)

        if self.kind == "pixels":
            return good(i)

        def fail(j):
            name = tf.gather(self._names, j)
            check = tf.debugging.Assert(False, ["could not decode image", name], name="undecodable_image")
            with tf.control_dependencies([check]):
                return tf.fill([size, size, 3], 255.0)

        def blank(j):
            warn = tf.print("sbir_tf: could not decode image", tf.gather(self._names, j),
                            "- using a white image instead", output_stream=sys.stderr)
            with tf.control_dependencies([warn]):
                return tf.fill([size, size, 3], 255.0)

        one = tf.data.Dataset.from_tensors(i)
        fallback = fail if on_error == "raise" else blank
        ds = one.map(good).ignore_errors().concatenate(one.map(fallback)).take(1)
        out = ds.get_single_element()
        out.set_shape([size, size, 3])
        return out


# ---------------------------------------------------------------------------------------------------------------
# Triplet sampling plan (index arithmetic only; no pixels)
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class TripletPlan:
    """Index tables for triplet sampling and the pure function ``step -> indices`` that uses them.

    ``sketches`` are the anchor sketches that have a positive photo; ``photos`` are the distinct photo instances
    (first photo of each instance id), sorted by label so that each class is a contiguous block
    ``[class_start[c], class_start[c] + class_count[c])``.
    """

    sketches: list[Record]
    photos: list[Record]
    sketch_label: np.ndarray      # [Ns] int32
    sketch_positive: np.ndarray   # [Ns] int64 index into photos
    photo_label: np.ndarray       # [Np] int32
    class_start: np.ndarray       # [num_labels] int64
    class_count: np.ndarray       # [num_labels] int64
    batch_size: int
    hard_negative_prob: float
    seed: int
    image_size: int
    load_size: int
    flip: bool
    flip_pairs: bool = False  # with flip: the positive is mirrored exactly when its sketch is
    crop_pairs: bool = False  # the positive is cropped at its sketch's window
    views: int = 0  # > 0: each image read is one of its `views` cached views (sbir_tf.train.trunk_cache)

    @classmethod
    def build(cls, sketches: Sequence[Record], photos: Sequence[Record], class_to_label: dict[str, int], *,
              batch_size: int, hard_negative_prob: float, seed: int, image_size: int, load_size: int,
              flip: bool, flip_pairs: bool = False, crop_pairs: bool = False, views: int = 0) -> "TripletPlan":
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0.0 <= hard_negative_prob <= 1.0:
            raise ValueError(f"hard_negative_prob must be in [0, 1], got {hard_negative_prob}")
        if load_size < image_size:
            raise ValueError(f"load_size ({load_size}) must be >= image_size ({image_size})")
        if flip_pairs and not flip:
            raise ValueError("flip_pairs pairs the flips of a sketch and its photo; it needs flip=True")

        def label_of(r: Record) -> int:
            try:
                return int(class_to_label[r.class_name])
            except KeyError:
                raise DataError(f"class {r.class_name!r} of {r.path} is not in class_to_label "
                                f"({len(class_to_label)} classes)") from None

        # Distinct photo instances, grouped by label (stable, so record order breaks ties).
        seen: dict[str, int] = {}
        unique: list[Record] = []
        for p in photos:
            if p.instance_id and p.instance_id in seen:
                continue
            if p.instance_id:
                seen[p.instance_id] = len(unique)
            unique.append(p)
        if len(unique) < 2:
            raise DataError(f"triplets need at least 2 distinct photo instances, got {len(unique)}")
        labels = np.array([label_of(p) for p in unique], np.int32)
        order = np.argsort(labels, kind="stable")
        photos_sorted = [unique[k] for k in order]
        photo_label = labels[order]
        index_of = {p.instance_id: k for k, p in enumerate(photos_sorted) if p.instance_id}
        num_labels = max(max(class_to_label.values()) + 1, int(photo_label.max()) + 1)
        class_count = np.bincount(photo_label, minlength=num_labels).astype(np.int64)
        class_start = (np.cumsum(class_count) - class_count).astype(np.int64)

        kept = [s for s in sketches if s.instance_id in index_of]
        dropped = len(sketches) - len(kept)
        if not kept:
            raise DataError(f"none of the {len(sketches)} sketches has a positive photo (a photo with its "
                            "instance_id) among the given photos")
        if dropped:
            warnings.warn(f"sbir_tf: {dropped} of {len(sketches)} sketches have no photo with their instance_id "
                          "and are not used as anchors", stacklevel=3)
        return cls(
            sketches=kept, photos=photos_sorted,
            sketch_label=np.array([label_of(s) for s in kept], np.int32),
            sketch_positive=np.array([index_of[s.instance_id] for s in kept], np.int64),
            photo_label=photo_label, class_start=class_start, class_count=class_count,
            batch_size=int(batch_size), hard_negative_prob=float(hard_negative_prob), seed=int(seed),
            image_size=int(image_size), load_size=int(load_size), flip=bool(flip), flip_pairs=bool(flip_pairs),
            crop_pairs=bool(crop_pairs), views=int(views),
        )

    def step_indices(self, step) -> dict[str, tf.Tensor]:
        """Everything random about batch ``step`` as ``[B]`` tensors (graph-safe; a pure function of seed, step)."""
        b, ns, npho = self.batch_size, len(self.sketches), len(self.photos)
        step = tf.cast(step, tf.int64)
        seed = tf.constant(self.seed, tf.int64)

        # Anchors: epoch-wise permutation of all sketches, evaluated position by position.
        flat = step * b + tf.range(b, dtype=tf.int64)
        epoch, within = flat // ns, flat % ns
        perm_seed = tf.stack([tf.fill([b], seed), epoch, tf.fill([b], tf.constant(0x5B1, tf.int64))], axis=1)
        # The raw op takes one [3] seed per index (the public wrapper mis-pads batched [n, 2] seeds).
        sketch = tf.raw_ops.RandomIndexShuffle(index=within, seed=perm_seed,
                                               max_index=tf.fill([b], tf.constant(ns - 1, tf.int64)), rounds=4)

        u = tf.random.stateless_uniform([b, 12], seed=tf.stack([seed, step]), dtype=tf.float32)

        def pick(col, n):  # uniform integer in [0, n)
            n = tf.cast(n, tf.int64)
            k = tf.cast(tf.floor(u[:, col] * tf.cast(n, tf.float32)), tf.int64)
            return tf.minimum(k, tf.maximum(n - 1, 0))

        positive = tf.gather(tf.constant(self.sketch_positive), sketch)
        label = tf.gather(tf.constant(self.photo_label), positive)
        start = tf.gather(tf.constant(self.class_start), label)
        count = tf.gather(tf.constant(self.class_count), label)
        # Hard negative: another instance of the same class (skip over the positive's slot).
        r = pick(1, count - 1)
        r = r + tf.cast(r >= positive - start, tf.int64)
        hard = start + r
        # Easy negative: any other instance of any class.
        e = pick(2, npho - 1)
        easy = e + tf.cast(e >= positive, tf.int64)
        use_hard = (u[:, 0] < self.hard_negative_prob) & (count >= 2)
        negative = tf.where(use_hard, hard, easy)

        span = self.load_size - self.image_size + 1
        out = {"sketch": sketch, "positive": positive, "negative": negative, "hard": use_hard}
        for k, name in enumerate(("sketch", "positive", "negative")):
            out[f"flip_{name}"] = (u[:, 3 + k] < 0.5) if self.flip else tf.zeros([b], tf.bool)
            out[f"oy_{name}"] = tf.cast(pick(6 + 2 * k, span), tf.int32)
            out[f"ox_{name}"] = tf.cast(pick(7 + 2 * k, span), tf.int32)
            if self.views:  # which cached view is read (the draw of the window's row offset)
                out[f"view_{name}"] = pick(6 + 2 * k, self.views)
        if self.flip_pairs:  # the positive on its sketch's draw; the negative keeps its own
            out["flip_positive"] = out["flip_sketch"]
        if self.crop_pairs:  # the positive at its sketch's window; the negative keeps its own
            out["oy_positive"], out["ox_positive"] = out["oy_sketch"], out["ox_sketch"]
        return out

    def indices_numpy(self, step: int) -> dict[str, np.ndarray]:
        """:meth:`step_indices` evaluated eagerly (for inspection and tests)."""
        return {k: v.numpy() for k, v in self.step_indices(step).items()}


# ---------------------------------------------------------------------------------------------------------------
# Public pipelines
# ---------------------------------------------------------------------------------------------------------------

def _resolve_load_size(image_size: int, load_size: int | None) -> int:
    load = default_load_size(image_size) if load_size is None else int(load_size)
    if load < image_size:
        raise ValueError(f"load_size ({load}) must be >= image_size ({image_size})")
    return load


def _random_crop_flip(image, oy, ox, flip, size):
    out = crop(image, oy, ox, size)
    return tf.cond(flip, lambda: tf.image.flip_left_right(out), lambda: out)


def triplet_dataset(sketches: Sequence[Record], photos: Sequence[Record], class_to_label: dict[str, int], *,
                    arrays: dict | None = None, image_size: int = 224, load_size: int | None = None,
                    batch_size: int = 32, hard_negative_prob: float = 0.5, seed: int = 0, start_step: int = 0,
                    flip: bool = True, flip_pairs: bool = False, crop_pairs: bool = False,
                    on_error: str = "raise") -> tf.data.Dataset:
    """Infinite stream of training triplet batches; batch ``k`` depends only on ``(seed, start_step + k)``.

    Each element is a dict: ``sketch``, ``positive``, ``negative`` float32 ``[B, S, S, 3]`` VGG-preprocessed
    (:func:`~sbir_tf.data.preprocessing.vgg_preprocess`); ``sketch_target`` float32 ``[B, S, S, 3]`` in [-1, 1],
    the same crop and flip as ``sketch``; ``label_sketch``, ``label_positive``, ``label_negative`` int32 ``[B]``.

    The positive is the photo whose ``instance_id`` equals the sketch's. With probability ``hard_negative_prob``
    the negative is another instance of the anchor's class (a "hard" negative), otherwise any other instance of any
    class; a class with one instance always falls back to the latter. Sketches without a matching photo are
    dropped with a warning. ``load_size=None`` picks ``round(image_size * 256 / 224)``; images are resized to
    ``load_size`` squared, cropped at a random ``image_size`` window and mirrored with probability 1/2 (``flip``),
    each on its own draw, or with ``flip_pairs`` the positive exactly when its sketch is; with ``crop_pairs`` the
    positive is cropped at its sketch's window.
    """
    load = _resolve_load_size(image_size, load_size)
    plan = TripletPlan.build(sketches, photos, class_to_label, batch_size=batch_size,
                             hard_negative_prob=hard_negative_prob, seed=seed, image_size=image_size,
                             load_size=load, flip=flip, flip_pairs=flip_pairs,
                             crop_pairs=crop_pairs)
    sketch_src = ImageSource(plan.sketches, arrays)
    photo_src = ImageSource(plan.photos, arrays)
    size = int(image_size)

    def load_triplet(ix):
        sk = _random_crop_flip(sketch_src.load(ix["sketch"], load, on_error),
                               ix["oy_sketch"], ix["ox_sketch"], ix["flip_sketch"], size)
        pos = _random_crop_flip(photo_src.load(ix["positive"], load, on_error),
                                ix["oy_positive"], ix["ox_positive"], ix["flip_positive"], size)
        neg = _random_crop_flip(photo_src.load(ix["negative"], load, on_error),
                                ix["oy_negative"], ix["ox_negative"], ix["flip_negative"], size)
        return {"sketch": vgg_preprocess(sk), "positive": vgg_preprocess(pos), "negative": vgg_preprocess(neg),
                "sketch_target": to_sketch_target(sk)}

    return triplet_stream(plan, load_triplet, start_step)


def triplet_stream(plan: TripletPlan, load_triplet, start_step: int = 0) -> tf.data.Dataset:
    """The batches of ``plan`` from step ``start_step`` on: ``load_triplet(indices) -> dict`` makes each triplet's
    inputs from the plan's draws (:meth:`TripletPlan.step_indices`), and the three class labels are added here."""
    sketch_label, photo_label = tf.constant(plan.sketch_label), tf.constant(plan.photo_label)

    def with_labels(ix):
        return {**load_triplet(ix), "label_sketch": tf.gather(sketch_label, ix["sketch"]),
                "label_positive": tf.gather(photo_label, ix["positive"]),
                "label_negative": tf.gather(photo_label, ix["negative"])}

    steps = tf.data.Dataset.range(int(start_step), np.iinfo(np.int64).max)
    ds = steps.map(plan.step_indices).unbatch()
    ds = ds.map(with_labels, num_parallel_calls=AUTOTUNE, deterministic=True)
    ds = ds.batch(plan.batch_size, drop_remainder=True)
    return ds.prefetch(AUTOTUNE)


def image_dataset(records: Sequence[Record], *, arrays: dict | None = None, image_size: int = 224,
                  load_size: int | None = None, batch_size: int = 64, on_error: str = "blank") -> tf.data.Dataset:
    """Finite dataset of float32 ``[b, S, S, 3]`` VGG-preprocessed centre crops, in record order.

    Images are resized to ``load_size`` squared (``None``: ``round(image_size * 256 / 224)``) and the central
    ``image_size`` window is kept (evaluation protocol). The last batch may be smaller.
    """
    load = _resolve_load_size(image_size, load_size)
    src = ImageSource(records, arrays)
    off = centre_offset(load, image_size)
    size = int(image_size)

    def load_one(i):
        return vgg_preprocess(crop(src.load(i, load, on_error), off, off, size))

    ds = tf.data.Dataset.range(len(src)).map(load_one, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(int(batch_size)).prefetch(AUTOTUNE)


def load_display_images(records: Sequence[Record], *, arrays: dict | None = None, size: int = 128) -> np.ndarray:
    """Whole images (no crop) resized to ``[size, size]``: uint8 ``[N, size, size, 3]`` RGB, for figures."""
    records = list(records)
    if not records:
        return np.zeros((0, size, size, 3), np.uint8)
    src = ImageSource(records, arrays)

    def load_one(i):
        return tf.cast(tf.round(src.load(i, int(size))), tf.uint8)

    ds = tf.data.Dataset.range(len(src)).map(load_one, num_parallel_calls=AUTOTUNE, deterministic=True).batch(64)
    return np.concatenate([b.numpy() for b in ds], axis=0)
