"""Shared machinery of the fine-grained SBIR experiments (``sketchy_fg``, ``qmul_fg``), Pang et al. (BMVC 2017).

One run = :func:`run_experiment`:

1. read the dataset and make the fine-grained split (``sbir_tf.data.splits.fine_grained_split``: train on the
   sketched photos outside the test set and their sketches; queries = sketches of the test photos; gallery = the
   test photos plus never-sketched photos as distractors);
2. :func:`validate_config` — every check that can fail, before any model is built or step is run;
3. build the model (inside the distribution strategy's scope), the optimizer and the two-stage trainer; restore the
   last checkpoint with ``resume``;
4. train (:class:`sbir_tf.train.fg_trainer.FGTrainer`): checkpoints, TensorBoard, progress, validation acc@K on a
   slice of the test queries every ``train.eval_every`` steps (monitoring only; nothing is selected with it);
5. evaluate with the deployment model (Eq. 6, Pang et al. 2017: decoder, classifier and triplet heads stripped,
   gallery photos embedded once, ranking by Euclidean distance): acc@K for all queries, per-category acc@1;
6. write ``metrics.json``, ``history.json``, the retrieval grid (Fig. 4), decoder reconstructions (Fig. 3, when there
   is a decoder) and the loss curves, and print a results table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sbir_tf.config import Config
from sbir_tf.experiments import fg_presets
from sbir_tf.models import backbones
from sbir_tf.train import schedules
from sbir_tf.train.strategy import STRATEGIES

DATASETS = ("sketchy", "synthetic", "qmul_v1", "qmul_v2")
QMUL_CATEGORIES = ("shoes", "chairs", "handbags")
#: ``--weights`` names: the built-in VGG16 sources (``sbir_tf.models.backbones.KNOWN_WEIGHTS``) and "none" (random).
WEIGHT_NAMES = (*backbones.KNOWN_WEIGHTS, "none")
#: TFDS builder (``sbir_tf.data.tfds_builders``) of each dataset with prepared records (``data.prepared_dir``).
PREPARED_NAMES = {"sketchy": "sketchy", "qmul_v1": "qmul_v1"}


# ---------------------------------------------------------------------------------------------------- CLI


def build_parser(prog: str, description: str, *, qmul: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data_dir", default=None,
                   help="dataset root; omitted: " + ("shared/data/qmul_v1 beside the checkout" if qmul else
                                                     "the embedded synthetic dataset with the cpu config"))
    p.add_argument("--prepared_dir", default=None,
                   help="TFDS data_dir holding the prepared records (python -m sbir_tf.data.prepare); read instead "
                        "of the raw folder")
    if qmul:
        p.add_argument("--dataset", default="qmul_v1", choices=("qmul_v1", "qmul_v2"))
        p.add_argument("--category", default="shoes", choices=QMUL_CATEGORIES)
    p.add_argument("--config", default=None, choices=fg_presets.PRESETS,
                   help="preset (default: paper with --data_dir, cpu without)")
    p.add_argument("--weights", default=None, help=f"{' | '.join(WEIGHT_NAMES)} | PATH to .h5/.weights.h5")
    p.add_argument("--variant", default=None, help=f"one of {sorted(fg_presets.VARIANTS)}")
    p.add_argument("--sharing", default=None,
                   help="siamese | heterogeneous | hybrid (tied at the embedding layer only) | hybrid_fc (Table 4)")
    p.add_argument("--schedule", default=None,
                   help="text | printed (two readings of the paper's two stages) | joint (all parameters together)")
    p.add_argument("--frozen_blocks", type=int, default=None,
                   help="model.frozen_blocks: 0 trains every layer (the paper); k in 1..5 keeps VGG16 conv blocks "
                        "1..k at their initial weights (cheaper CPU runs)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--image_size", type=int, default=None)
    p.add_argument("--batch_size", type=int, default=None)
    p.add_argument("--output_dir", default=None, help="default: runs/<name>-<preset>-<variant>-<timestamp>")
    p.add_argument("--resume", action="store_true", help="continue the run in --output_dir from its last checkpoint")
    p.add_argument("--strategy", default=None, help="default | mirrored")
    p.add_argument("--mixed_precision", action="store_true", help="mixed_float16 + loss scaling (GPUs)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                   help="dotted config overrides, e.g. train.eval_every=500 loss.margin=0.2")
    return p


def config_from_args(args: argparse.Namespace, *, dataset: str) -> Config:
    """Preset + command-line flags + ``--set`` overrides (applied last) -> resolved config (not yet validated)."""
    real = args.data_dir or getattr(args, "prepared_dir", None)
    preset = args.config or ("paper" if real else "cpu")
    cfg = fg_presets.get_config(preset)
    cfg.data.dataset = dataset
    cfg.data.root = str(args.data_dir) if args.data_dir else None
    if getattr(args, "prepared_dir", None):
        cfg.data.prepared_dir = str(args.prepared_dir)
    if getattr(args, "category", None):
        cfg.data.category = args.category
    if args.variant is not None:
        fg_presets.apply_variant(cfg, args.variant)
    if args.weights is not None:
        cfg.model.weights = None if args.weights.lower() == "none" else args.weights
    if args.sharing is not None:
        cfg.model.sharing = args.sharing
    if args.frozen_blocks is not None:
        cfg.model.frozen_blocks = args.frozen_blocks
    if args.schedule is not None:
        cfg.train.schedule = args.schedule
    for flag, key in (("steps", "train.steps"), ("image_size", "data.image_size"),
                      ("batch_size", "train.batch_size"), ("seed", "train.seed"), ("strategy", "train.strategy")):
        value = getattr(args, flag)
        if value is not None:
            cfg.set_path(key, value)
    if args.mixed_precision:
        cfg.train.mixed_precision = True
    cfg.override(args.overrides or [])
    return cfg


# ---------------------------------------------------------------------------------------------------- validation


def validate_config(cfg: Config, split=None, *, num_replicas: int = 1) -> Config:
    """Every check on a run's settings, in one place, before anything is trained. Raises ``ValueError`` (or
    ``DataError`` for the data) naming the bad setting; returns ``cfg``.

    Checks names (variant, backbone, sharing, weights, schedule, strategy, dataset, category, decoder distance,
    prepared records' renderings), numbers (steps, batch size vs replicas, learning rates, fractions, loss weights,
    ks), the image size (the decoder's ``S/32`` seed must give an ``S x S`` output), weight files (read and
    shape-checked against VGG16), and, with a ``split``, that training data, queries and gallery are non-empty and
    every query's photo is in the gallery.
    """
    from sbir_tf.models import backbones
    from sbir_tf.models.fg import BACKBONES, POOLING, SHARING, check_frozen_blocks

    m, t, d, e, loss = cfg.model, cfg.train, cfg.data, cfg.eval, cfg.loss
    if cfg.variant not in fg_presets.VARIANTS:
        raise ValueError(f"unknown variant {cfg.variant!r}; choose one of {sorted(fg_presets.VARIANTS)}")
    if m.backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {m.backbone!r}; choose one of {BACKBONES}")
    if (m.backbone, bool(m.use_decoder)) != fg_presets.VARIANTS[cfg.variant]:
        raise ValueError(f"variant {cfg.variant!r} disagrees with model.backbone={m.backbone!r}, "
                         f"model.use_decoder={m.use_decoder!r}; set --variant instead")
    if m.sharing not in SHARING:
        raise ValueError(f"unknown sharing {m.sharing!r}; choose one of {SHARING} (Table 4, Pang et al. 2017)")
    if m.pooling not in POOLING:
        raise ValueError(f"unknown pooling {m.pooling!r}; choose one of {POOLING}")
    if t.schedule not in schedules.SCHEDULES:
        raise ValueError(f"unknown schedule {t.schedule!r}; choose one of {schedules.SCHEDULES}")
    if t.strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {t.strategy!r}; choose one of {STRATEGIES}")
    if d.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {d.dataset!r}; choose one of {DATASETS}")
    if d.dataset in ("qmul_v1", "qmul_v2") and d.category not in QMUL_CATEGORIES:
        raise ValueError(f"unknown QMUL category {d.category!r}; choose one of {QMUL_CATEGORIES}")
    if d.get("prepared_dir"):
        prepared_name(cfg)  # raises for datasets without a builder or a sketch rendering without a config
        from sbir_tf.data.sketchy import DEFAULT_RENDERING

        if d.dataset == "sketchy" and d.photo_rendering != DEFAULT_RENDERING:
            raise ValueError(f"data.photo_rendering={d.photo_rendering!r}: prepared Sketchy records hold the photos "
                             f"{DEFAULT_RENDERING} only; read other photo renderings from the raw folder (--data_dir) "
                             f"or set --set data.photo_rendering={DEFAULT_RENDERING}")
    _check_int(t.steps, "train.steps", 1)
    _check_int(t.batch_size, "train.batch_size", 1)
    if t.batch_size % num_replicas:
        raise ValueError(f"train.batch_size={t.batch_size} must be divisible by the {num_replicas} replicas")
    for key in ("checkpoint_every", "keep_checkpoints", "log_every"):
        _check_int(t[key], f"train.{key}", 1)
    _check_int(t.eval_every, "train.eval_every", 0)
    for key in ("base_lr", "final_lr", "epsilon"):
        if not float(t[key]) > 0:
            raise ValueError(f"train.{key} must be > 0, got {t[key]}")
    for key in ("stage1_fraction", "lr_drop_fraction", "beta_1", "beta_2"):
        if not 0.0 <= float(t[key]) <= 1.0:
            raise ValueError(f"train.{key} must be in [0, 1], got {t[key]}")
    from sbir_tf.losses.fg import DECODER_DISTANCES

    if loss.decoder_distance not in DECODER_DISTANCES:
        raise ValueError(f"unknown loss.decoder_distance {loss.decoder_distance!r}; choose one of {DECODER_DISTANCES} "
                         f"(Eq. 4, Pang et al. 2017)")
    for key in ("lambda_d", "lambda_t", "margin"):
        if not float(loss[key]) >= 0:
            raise ValueError(f"loss.{key} must be >= 0, got {loss[key]}")
    if not e.ks or any(not isinstance(k, int) or k < 1 for k in e.ks):
        raise ValueError(f"eval.ks must be a list of positive integers, got {e.ks!r}")
    size = d.image_size
    if (not isinstance(size, int) or size < backbones.VGG16_STRIDE or size % backbones.IMAGE_SIZE_MULTIPLE):
        raise ValueError(f"image size {size!r} cannot give the decoder's output: the decoder doubles an integer seed "
                         f"grid four or five times up to S x S, so S must be a multiple of 16 and >= 32 "
                         f"(e.g. 64, 112, 224)" if m.use_decoder else
                         f"image size {size!r} must be a multiple of 16 and >= 32 (VGG16 pool5 is floor(S/32)^2)")
    if d.load_size is not None and int(d.load_size) < size:
        raise ValueError(f"data.load_size ({d.load_size}) must be >= data.image_size ({size})")
    check_frozen_blocks(m.get("frozen_blocks", 0), m.backbone)
    _check_weights(m.weights, m.backbone, size, "model.weights")
    if m.get("sketch_weights") is not None:
        _check_weights(m.sketch_weights, m.backbone, size, "model.sketch_weights")
    if split is not None:
        _check_split(split)
    return cfg


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_weights(weights, backbone: str, image_size: int, name: str) -> None:
    from sbir_tf.models import backbones

    if weights is None:
        return
    if isinstance(weights, str) and weights in backbones.KNOWN_WEIGHTS:
        if backbone == "googlenet":
            raise ValueError(f"{name}={weights!r} is a VGG16 weight source; the googlenet backbone takes none or a file")
        return
    if not isinstance(weights, str) or not (weights.endswith(".h5") or weights.endswith(".hdf5")):
        raise ValueError(f"unknown {name} {weights!r}: use {', '.join(WEIGHT_NAMES)} or a path to a .h5/.weights.h5 "
                         f"file")
    if not Path(weights).is_file():
        raise ValueError(f"{name}: weights file not found: {weights}")
    if backbone == "vgg16":
        try:  # reads the file and checks every conv layer's shapes against VGG16
            backbones.vgg16_trunk((image_size, image_size, 3), weights=weights)
        except ValueError as err:
            raise ValueError(f"{name}: {weights} does not fit the VGG16 encoder: {err}") from err


def _check_split(split) -> None:
    from sbir_tf.data.records import DataError

    if not split.gallery_photos:
        raise DataError("the gallery is empty: no test photos (check info/testset.txt or the test pairs)")
    if not split.query_sketches:
        raise DataError("no query sketches: none of the test photos has a sketch")
    if not split.train_sketches or not split.train_photos:
        raise DataError(f"no training data ({len(split.train_sketches)} sketches, {len(split.train_photos)} photos)")
    gallery_ids = {p.instance_id for p in split.gallery_photos}
    missing = [q.path for q in split.query_sketches if q.instance_id not in gallery_ids]
    if missing:
        raise DataError(f"{len(missing)} query sketches have no matching photo in the gallery, e.g. {missing[:3]}")


# ---------------------------------------------------------------------------------------------------- data


def prepared_name(cfg: Config) -> str:
    """TFDS name of the configured dataset's prepared records: ``"sketchy/<data.sketch_rendering>"`` (one config
    per sketch rendering, ``sbir_tf.data.tfds_builders.Sketchy``) or ``"qmul_v1/<category>"``."""
    from sbir_tf.data.prepare import tfds_name

    name = cfg.data.dataset
    if name not in PREPARED_NAMES:
        raise ValueError(f"data.prepared_dir: dataset {name!r} has no TFDS builder; prepared records exist for "
                         f"{sorted(PREPARED_NAMES)}")
    if name == "qmul_v1":
        return tfds_name(PREPARED_NAMES[name], cfg.data.category)
    try:
        return tfds_name(PREPARED_NAMES[name], sketch_rendering=cfg.data.sketch_rendering)
    except ValueError as err:
        raise ValueError(f"data.sketch_rendering: {err}") from err


def load_prepared_data(cfg: Config):
    """The index of the prepared records ``prepared_name(cfg)`` in ``data.prepared_dir``. Records that are not there
    raise ``DataError`` naming the ``python -m sbir_tf.data.prepare`` flags that make them; Sketchy records must hold
    the configured sketch and photo renderings (their metadata names the ``tx_*`` folders they were read from)."""
    from sbir_tf.data.prepare import prepare_command
    from sbir_tf.data.records import DataError
    from sbir_tf.data.tfds_builders import load_prepared

    d = cfg.data
    sketchy = d.dataset == "sketchy"
    try:
        index = load_prepared(prepared_name(cfg), d.prepared_dir)
    except DataError as err:
        command = prepare_command(PREPARED_NAMES[d.dataset], d.prepared_dir, category=d.get("category"),
                                  sketch_rendering=d.sketch_rendering if sketchy else None)
        wanted = (f"preset {cfg.preset!r} reads the sketches data.sketch_rendering={d.sketch_rendering!r}: "
                  if sketchy else "")
        raise DataError(f"{err}\n{wanted}prepare them with: {command} (or train from the raw folder with "
                        f"--data_dir)") from err
    if sketchy:
        for key in ("sketch_rendering", "photo_rendering"):
            held = index.notes.get(key)
            if held != d[key]:
                raise DataError(f"the prepared records {prepared_name(cfg)!r} in {d.prepared_dir} hold {key} "
                                f"{held!r}, not data.{key}={d[key]!r}; prepare them again with "
                                f"{prepare_command('sketchy', d.prepared_dir, sketch_rendering=d.sketch_rendering)}")
    return index


def load_data(cfg: Config):
    """``(index, split)`` for the configured dataset: prepared TFDS records when ``data.prepared_dir`` is set,
    else the raw folder ``data.root`` (``None``: synthetic or the shared QMUL folder)."""
    from sbir_tf.data.registry import read_dataset
    from sbir_tf.data.splits import fine_grained_split

    if cfg.data.get("prepared_dir"):
        index = load_prepared_data(cfg)
        return index, fine_grained_split(index, seed=cfg.data.split_seed)
    name, root = cfg.data.dataset, cfg.data.root
    kwargs: dict[str, Any] = {}
    if name == "synthetic" or (name == "sketchy" and root is None):
        name = "synthetic"  # generated once into the cache folder when root is None
    if name in ("synthetic", "sketchy"):  # both read by the Sketchy reader
        kwargs.update(rendering=cfg.data.sketch_rendering, photo_rendering=cfg.data.photo_rendering)
    elif name in ("qmul_v1", "qmul_v2"):
        kwargs["category"] = cfg.data.category
        if root is None:
            from sbir_tf.paths import shared_data_dir

            shared = shared_data_dir()
            if name != "qmul_v1" or shared is None or not (shared / "qmul_v1").is_dir():
                raise ValueError(f"--data_dir is required for {name}")
            root = str(shared / "qmul_v1")
    index = read_dataset(name, root, **kwargs)
    return index, fine_grained_split(index, seed=cfg.data.split_seed)


def true_gallery_index(queries, gallery) -> np.ndarray:
    """For each query sketch, the position of the photo it depicts in ``gallery`` (by ``instance_id``)."""
    where = {p.instance_id: i for i, p in enumerate(gallery)}
    return np.array([where[q.instance_id] for q in queries], np.int64)


def validation_slice(split, num_queries: int, num_distractors: int):
    """A fixed monitoring subset: ``num_queries`` queries spread evenly over the list, their true photos, and the
    first ``num_distractors`` other gallery photos. Returns ``(queries, gallery)``."""
    queries = list(split.query_sketches)
    if len(queries) > num_queries:
        picks = np.linspace(0, len(queries) - 1, num_queries).round().astype(int)
        queries = [queries[i] for i in sorted(set(picks.tolist()))]
    wanted = {q.instance_id for q in queries}
    true = [p for p in split.gallery_photos if p.instance_id in wanted]
    others = [p for p in split.gallery_photos if p.instance_id not in wanted][:num_distractors]
    return queries, true + others


# ---------------------------------------------------------------------------------------------------- evaluation


def embed_records(encoder, records, index, cfg: Config) -> np.ndarray:
    from sbir_tf.data.pipeline import image_dataset
    from sbir_tf.train.fg_trainer import embed

    ds = image_dataset(records, arrays=index.arrays, image_size=cfg.data.image_size, load_size=cfg.data.load_size,
                       batch_size=cfg.eval.batch_size)
    return embed(encoder, ds)


def evaluate_retrieval(model, queries, gallery, index, cfg: Config, ks: Sequence[int] | None = None) -> dict:
    """Deployment evaluation (Eq. 6, Pang et al. 2017): embed the gallery photos once with the photo encoder and
    the query sketches with the sketch encoder, rank by Euclidean distance. Returns acc@K, ranks, embeddings."""
    from sbir_tf.eval.metrics import acc_from_ranks, ranks_of_true

    ks = tuple(ks or cfg.eval.ks)
    q_emb = embed_records(model.sketch_encoder, queries, index, cfg)
    g_emb = embed_records(model.photo_encoder, gallery, index, cfg)
    true = true_gallery_index(queries, gallery)
    ranks = ranks_of_true(q_emb, g_emb, true)
    return {"acc": acc_from_ranks(ranks, ks), "ranks": ranks, "true": true, "query_emb": q_emb, "gallery_emb": g_emb}


def chance_level(k: int, gallery_size: int) -> float:
    """acc@K of a random ranking: ``K / gallery size`` (capped at 1)."""
    return min(1.0, k / gallery_size)


# ---------------------------------------------------------------------------------------------------- the run


def default_output_dir(cfg: Config, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{cfg.preset}-{cfg.variant}-{stamp}"


_RESUME_FREE_KEYS = {"train.checkpoint_every", "train.log_every", "train.eval_every", "train.strategy",
                     "eval.batch_size"}


def _config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_differences(a, b, path + ".")
        elif a != b and path not in _RESUME_FREE_KEYS:
            out.append(f"{path}: {a!r} -> {b!r}")
    return out


def run_experiment(cfg: Config, output_dir: str | Path, *, resume: bool = False, stop_at_step: int | None = None,
                   data=None, name: str = "fg", verbose: bool = True) -> dict:
    """Train and evaluate one configuration; returns the metrics dict also written to ``metrics.json``.

    ``resume``: continue from the last checkpoint in ``output_dir`` (the stored config must match, apart from
    logging/checkpoint frequencies and the strategy). ``stop_at_step`` ends training after that step *without* a
    final checkpoint or evaluation, as if the process had been killed (tests of ``resume``); returns ``{}``.
    ``data``: an already loaded ``(index, split)``.
    """
    import keras
    import tensorflow as tf

    from sbir_tf.data.pipeline import triplet_dataset
    from sbir_tf.models.fg import build_fg_model
    from sbir_tf.train.checkpoints import Checkpointer
    from sbir_tf.train.fg_trainer import FGTrainer, make_adam, random_state_variables
    from sbir_tf.train.run_dir import RunDir, write_json
    from sbir_tf.train.strategy import make_strategy, set_mixed_precision, wrap_optimizer
    from sbir_tf.train.summaries import write_scalar

    t_start = time.perf_counter()
    validate_config(cfg)  # names and numbers first: no data is read for a bad flag
    index, split = data if data is not None else load_data(cfg)
    strategy = make_strategy(cfg.train.strategy)
    validate_config(cfg, split, num_replicas=strategy.num_replicas_in_sync)

    run_dir = RunDir(output_dir)
    stored = run_dir.read_config()
    has_checkpoint = tf.train.latest_checkpoint(str(run_dir.checkpoints)) is not None
    if resume and stored is not None:
        diffs = _config_differences(stored, cfg.to_dict())
        if diffs:
            raise ValueError(f"--resume with a different config than the stored run in {run_dir.root}: "
                             + "; ".join(diffs))
    if not resume and has_checkpoint:
        raise ValueError(f"{run_dir.root} already holds checkpoints: pass --resume to continue that run, "
                         "or choose a new --output_dir")
    run_dir.write_config(cfg.to_dict())
    run_dir.write_environment()

    classes = list(split.classes)
    class_to_label = {c: i for i, c in enumerate(classes)}
    total = int(cfg.train.steps)
    t = cfg.train
    keras.utils.set_random_seed(int(t.seed))
    policy = set_mixed_precision(bool(t.mixed_precision))
    try:
        with strategy.scope():
            model = build_fg_model(dict(cfg.model), num_classes=len(classes), image_size=cfg.data.image_size)
            stages = schedules.two_stage_schedule(t.schedule, total, has_decoder=model.decoder is not None,
                                                  lambda_d=cfg.loss.lambda_d, lambda_t=cfg.loss.lambda_t,
                                                  stage1_fraction=t.stage1_fraction)
            lr = schedules.PangLearningRate(total, t.base_lr, t.final_lr, t.lr_drop_fraction)
            optimizer = wrap_optimizer(make_adam(lr, t.beta_1, t.beta_2, t.epsilon), bool(t.mixed_precision))
            trainer = FGTrainer(model, stages, optimizer, global_batch=t.batch_size, margin=cfg.loss.margin,
                                decoder_distance=cfg.loss.decoder_distance,
                                strategy=strategy)
            checkpointer = Checkpointer(run_dir.checkpoints, max_to_keep=t.keep_checkpoints, model=model,
                                        optimizer=optimizer, rng=random_state_variables(model))
        start = checkpointer.restore_latest() if resume else 0
        history_path = run_dir.root / "history.json"
        history = [h for h in _read_json(history_path, []) if h["step"] <= start] if start else []
        if verbose:
            _say(f"[{name}] {index.name}: {len(classes)} classes, {len(split.train_sketches)} training sketches, "
                 f"{len(split.query_sketches)} queries, gallery {len(split.gallery_photos)} photos")
            for stage in stages:
                _say(f"[{name}] {stage.describe()}")
            if model.config["frozen_blocks"]:
                _say(f"[{name}] VGG16 conv blocks 1..{model.config['frozen_blocks']} frozen (not trained; the paper "
                     f"trains every layer)")
            if start:
                _say(f"[{name}] resuming from step {start} ({checkpointer.latest})")

        if start < total and (stop_at_step is None or start < stop_at_step):
            ds = triplet_dataset(split.train_sketches, split.train_photos, class_to_label, arrays=index.arrays,
                                 image_size=cfg.data.image_size, load_size=cfg.data.load_size,
                                 batch_size=t.batch_size, hard_negative_prob=cfg.data.hard_negative_prob,
                                 seed=int(t.seed), start_step=start, flip=bool(cfg.data.flip))
            batches = iter(trainer.distribute(ds))
            val_queries, val_gallery = validation_slice(split, cfg.eval.val_queries, cfg.eval.val_distractors)

            def on_eval(step: int) -> dict:
                res = evaluate_retrieval(model, val_queries, val_gallery, index, cfg)["acc"]
                if verbose:
                    _say(f"[{name}] step {step} validation slice ({len(val_queries)} queries, gallery "
                         f"{len(val_gallery)}): " + " ".join(f"{k}={v:.3f}" for k, v in res.items()))
                return res

            def on_save(step: int) -> None:
                write_json(history_path, [h for h in history if h["step"] <= step])

            writer = tf.summary.create_file_writer(str(run_dir.tensorboard))
            trainer.fit(batches, start_step=start, total_steps=total, stop_at_step=stop_at_step,
                        checkpointer=checkpointer, checkpoint_every=t.checkpoint_every, summary_writer=writer,
                        log_every=t.log_every, on_eval=on_eval, eval_every=t.eval_every,
                        images_per_step=3 * t.batch_size, history=history, on_save=on_save, progress=verbose)
            if stop_at_step is not None and stop_at_step < total:
                return {}
        train_seconds = time.perf_counter() - t_start

        result = evaluate_retrieval(model, split.query_sketches, split.gallery_photos, index, cfg)
        metrics = _metrics(cfg, index, split, result, classes, total, train_seconds, t_start, policy,
                           strategy.num_replicas_in_sync)
        if "writer" in locals():
            with writer.as_default(step=total):
                for k, v in result["acc"].items():
                    write_scalar(f"test/{k}", v, total)
            writer.flush()
        metrics["figures"] = write_figures(run_dir, model, split, index, cfg, result, history)
        run_dir.write_metrics(metrics)
        if verbose:
            print(results_table(metrics), flush=True)
        return metrics
    finally:
        set_mixed_precision(False)


def _metrics(cfg, index, split, result, classes, total, train_seconds, t_start, policy, replicas) -> dict:
    from sbir_tf.eval.metrics import per_class_acc

    gallery_size = len(split.gallery_photos)
    ranks = result["ranks"]
    per_cat = per_class_acc(ranks, [q.class_name for q in split.query_sketches], k=1)
    return {
        **{k: float(v) for k, v in result["acc"].items()},
        "chance": {f"acc@{k}": chance_level(k, gallery_size) for k in cfg.eval.ks},
        "per_category_acc@1": per_cat,
        "mean_rank": float(np.mean(ranks)) if len(ranks) else None,
        "gallery_size": gallery_size,
        # never-sketched gallery photos (Sketchy: photos without sketches; QMUL: none, the gallery is the test pairs)
        "distractors": gallery_size - len({q.instance_id for q in split.query_sketches}),
        "queries": len(split.query_sketches),
        "train_sketches": len(split.train_sketches),
        "train_photos": len(split.train_photos),
        "classes": len(classes),
        "dataset": index.name,
        "data_root": str(index.root),
        "category": cfg.data.category,
        "split": "fine_grained (train: sketched non-test photos; queries: sketches of test photos; "
                 "gallery: test photos + never-sketched distractors)",
        "image_size": cfg.data.image_size,
        "weights": cfg.model.weights,
        "steps": total,
        "batch_size": cfg.train.batch_size,
        "variant": cfg.variant,
        "sharing": cfg.model.sharing,
        "frozen_blocks": cfg.model.get("frozen_blocks", 0),
        "schedule": cfg.train.schedule,
        "decoder_distance": cfg.loss.decoder_distance,
        "sketch_rendering": cfg.data.sketch_rendering,
        "photo_rendering": cfg.data.photo_rendering,
        "preset": cfg.preset,
        "seed": cfg.train.seed,
        "dtype_policy": policy,
        "replicas": replicas,
        "train_seconds": round(train_seconds, 2),
        "wall_time_seconds": round(time.perf_counter() - t_start, 2),
    }


def results_table(metrics: dict) -> str:
    """A short plain-text table: acc@K beside the chance level, and the run's identity."""
    ks = sorted(int(k.split("@")[1]) for k in metrics if k.startswith("acc@"))
    lines = [f"Fine-grained SBIR — {metrics['dataset']} ({metrics['variant']}, {metrics['sharing']}, "
             f"schedule {metrics['schedule']}, {metrics['image_size']} px, weights {metrics['weights']}, "
             + (f"VGG16 conv blocks 1..{metrics['frozen_blocks']} frozen, " if metrics.get("frozen_blocks") else "")
             + f"{metrics['steps']} steps)",
             f"queries {metrics['queries']}, gallery {metrics['gallery_size']} photos",
             f"{'metric':<8} {'value':>8} {'chance':>8}"]
    for k in ks:
        lines.append(f"{'acc@' + str(k):<8} {metrics[f'acc@{k}']:>8.3f} {metrics['chance'][f'acc@{k}']:>8.3f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- figures


def write_figures(run_dir, model, split, index, cfg: Config, result: dict, history: list) -> dict:
    """Retrieval grid (Fig. 4), reconstructions (Fig. 3, with a decoder) and loss curves; returns their paths."""
    from sbir_tf.data.pipeline import load_display_images
    from sbir_tf.eval import figures

    out: dict[str, str] = {}
    size = int(cfg.eval.display_size)
    n_show = min(int(cfg.eval.grid_queries), len(split.query_sketches))
    top = min(int(cfg.eval.grid_top), len(split.gallery_photos))
    if n_show:
        picks = np.linspace(0, len(split.query_sketches) - 1, n_show).round().astype(int)
        q_emb, g_emb = result["query_emb"][picks], result["gallery_emb"]
        d = ((q_emb[:, None, :] - g_emb[None, :, :]) ** 2).sum(-1)
        order = np.argsort(d, axis=1, kind="stable")[:, :top]  # Euclidean ranking, Eq. 6
        true = result["true"][picks]
        shown = sorted(set(order.ravel().tolist()) | set(true.tolist()))
        where = {g: i for i, g in enumerate(shown)}
        g_imgs = load_display_images([split.gallery_photos[i] for i in shown], arrays=index.arrays, size=size)
        out["retrieval_grid"] = str(figures.retrieval_grid(
            load_display_images([split.query_sketches[i] for i in picks], arrays=index.arrays, size=size),
            np.stack([[g_imgs[where[g]] for g in row] for row in order]),
            order == true[:, None], run_dir.figures / "retrieval_grid.png",
            true_rank=result["ranks"][picks], true_image=np.stack([g_imgs[where[t]] for t in true]),
            title=f"{index.name}: query sketch and top-{top} photos (true match boxed)"))
        if model.decoder is not None:
            n_rec = min(int(cfg.eval.recon_pairs), len(split.query_sketches))
            picks = np.linspace(0, len(split.query_sketches) - 1, n_rec).round().astype(int)
            sketches = [split.query_sketches[i] for i in picks]
            photos = [split.gallery_photos[result["true"][i]] for i in picks]
            recon = _reconstruct(model, photos, sketches, index, cfg, size)
            out["reconstructions"] = str(figures.reconstruction_grid(
                load_display_images(sketches, arrays=index.arrays, size=size), recon["from_sketch"],
                load_display_images(photos, arrays=index.arrays, size=size), recon["from_photo"],
                run_dir.figures / "reconstructions.png",
                title="Decoder reconstructions of test sketches (from the sketch and from its photo)"))
    if history:
        series = {f"L_{k}" if k != "total" else "L (stage total)": [(h["step"], h[k]) for h in history]
                  for k in ("total", "cls", "rec", "tri") if any(h[k] for h in history)}
        out["loss_curves"] = str(figures.curves(series, run_dir.figures / "loss_curves.png",
                                                title="Training losses", ylabel="loss", logy=True))
    return out


def _reconstruct(model, photos, sketches, index, cfg: Config, size: int) -> dict:
    """Decoder outputs D(E(photo)) and D(E(sketch)) as uint8 RGB images (Fig. 3, Pang et al. 2017)."""
    import tensorflow as tf

    from sbir_tf.data.pipeline import image_dataset
    from sbir_tf.data.preprocessing import from_sketch_target

    out = {}
    for key, encoder, records in (("from_photo", model.photo_encoder, photos),
                                  ("from_sketch", model.sketch_encoder, sketches)):
        ds = image_dataset(records, arrays=index.arrays, image_size=cfg.data.image_size,
                           load_size=cfg.data.load_size, batch_size=len(records))
        x = next(iter(ds))
        recon = model.decoder(encoder(x, training=False), training=False)
        recon = tf.image.resize(tf.cast(recon, tf.float32), (size, size), method="nearest")
        out[key] = np.asarray(from_sketch_target(recon))
    return out


# ---------------------------------------------------------------------------------------------------- helpers


def _read_json(path: Path, default):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None, *, name: str, dataset: str, qmul: bool = False, description: str = "") -> dict:
    parser = build_parser(f"python -m sbir_tf.experiments.{name}", description, qmul=qmul)
    args = parser.parse_args(argv)
    try:
        if qmul:
            dataset = args.dataset
        cfg = config_from_args(args, dataset=dataset)
        validate_config(cfg)
        if args.resume and not args.output_dir:
            raise ValueError("--resume needs the --output_dir of the run to continue")
    except (ValueError, KeyError) as err:
        parser.error(str(err))
    out = Path(args.output_dir) if args.output_dir else default_output_dir(cfg, name)
    _say(f"[{name}] output directory: {out}")
    return run_experiment(cfg, out, resume=args.resume, name=name)
