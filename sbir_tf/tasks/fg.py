"""Fine-grained SBIR, Pang et al. (BMVC 2017): what this paper supplies to the run layer.

1. data: the dataset and its fine-grained split (``sbir_tf.data.splits.fine_grained_split``: train on the sketched
   photos outside the test set and their sketches; queries = sketches of the test photos; gallery = the test photos
   plus never-sketched photos as distractors);
2. :meth:`FGTask.validate` — every check on names and numbers before any data is read or model built, and
   :meth:`FGTask.validate_data` on the split;
3. the model (``sbir_tf.models.fg``) and the two-stage training step (``sbir_tf.train.fg_step``); validation acc@K on
   a slice of the test queries every ``train.eval_every`` steps (monitoring only; nothing is selected with it);
4. evaluation with the deployment model (Eq. 6, Pang et al. 2017: decoder, classifier and triplet heads stripped,
   gallery photos embedded once, ranking by Euclidean distance): acc@K for all queries, per-category acc@1;
5. figures: the retrieval grid (Fig. 4), decoder reconstructions (Fig. 3, with a decoder) and the loss curves.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from sbir_tf.config import Config
from sbir_tf.configs import fg as presets
from sbir_tf.models import backbones
from sbir_tf.run.results import format_table
from sbir_tf.run.task import Flag

DATASETS = ("sketchy", "synthetic", "qmul_v1", "qmul_v2")
QMUL_CATEGORIES = ("shoes", "chairs", "handbags")
#: ``--weights`` names: the built-in VGG16 sources (``sbir_tf.models.backbones.KNOWN_WEIGHTS``) and "none" (random).
WEIGHT_NAMES = (*backbones.KNOWN_WEIGHTS, "none")
#: TFDS builder (``sbir_tf.data.tfds_builders``) of each dataset with prepared records (``data.prepared_dir``).
PREPARED_NAMES = {"sketchy": "sketchy", "qmul_v1": "qmul_v1"}
#: What ``data.dataset="sketchy"`` reads (the error for a Sketchy run without data names it).
SKETCHY_LAYOUT = ("a Sketchy root: 256x256/sketch/tx_*/<class>/*.png, 256x256/photo/tx_*/<class>/*.jpg and "
                  "info/testset.txt")
#: Training step time of the ``paper`` preset on a CPU (224 px, batch 32 triplets), measured by
#: ``python -m benchmarks`` on a 2-core Intel Xeon (benchmarks/results/intel-xeon-processor-2c.json, medians):
#: 36.6 s with the decoder, 31.3 s without ("-D").
PAPER_CPU_SECONDS_PER_STEP = {True: 36.6, False: 31.3}
_BENCHMARK = "measured by python -m benchmarks on a 2-core Intel Xeon; this machine will differ"


def _weights_value(raw: str):
    return None if raw.lower() == "none" else raw


class FGData(NamedTuple):
    """A dataset index and its fine-grained split (unpacks as ``index, split``)."""

    index: Any
    split: Any

    @property
    def classes(self) -> list[str]:
        return list(self.split.classes)


class FGTask:
    """``source``: ``"sketchy"`` (``sketchy_fg``: Sketchy, or the synthetic set without data) or ``"qmul"``
    (``qmul_fg``: QMUL-V1/V2 with ``--dataset`` and ``--category``)."""

    kind = "fine_grained"
    #: switches named in the default run folder when they differ from the preset (``sbir_tf.run.cli.output_dir``)
    name_keys = (("model.sharing", "sharing"), ("train.schedule", "schedule"), ("model.frozen_blocks", "frozen"),
                 ("loss.decoder_distance", "LD"), ("data.image_size", "px"), ("model.weights", "weights"),
                 ("data.val_instances", "val"), ("data.trunk_cache_views", "views"))
    presets = presets.PRESETS

    def __init__(self, source: str = "sketchy") -> None:
        if source not in ("sketchy", "qmul"):
            raise ValueError(f"unknown fine-grained source {source!r}")
        self.source = source
        flags = [
            Flag("--weights", ("model.weights",), f"{' | '.join(WEIGHT_NAMES)} | PATH to .h5/.weights.h5",
                 value=_weights_value),
            Flag("--variant", (), f"one of {sorted(presets.VARIANTS)} (Table 3)", apply=presets.apply_variant),
            Flag("--sharing", ("model.sharing",),
                 "siamese | heterogeneous | hybrid (tied at the embedding layer only) | hybrid_fc (Table 4)"),
            Flag("--schedule", ("train.schedule",),
                 "text | printed (two readings of the paper's two stages) | joint (all parameters together)"),
            Flag("--frozen_blocks", ("model.frozen_blocks",),
                 "0 trains every layer (the paper); k in 1..5 keeps VGG16 conv blocks 1..k at their initial weights",
                 type=int),
            Flag("--image_size", ("data.image_size",), type=int),
            Flag("--strategy", ("train.strategy",), "default | mirrored"),
        ]
        if source == "qmul":
            flags = [Flag("--dataset", ("data.dataset",), "QMUL version", choices=("qmul_v1", "qmul_v2")),
                     Flag("--category", ("data.category",), choices=QMUL_CATEGORIES), *flags]
        self.flags = tuple(flags)

    # ------------------------------------------------------------------------------------------ config
    def get_config(self, preset: str) -> Config:
        return presets.get_config(preset)

    def configure(self, cfg: Config, args: argparse.Namespace) -> None:
        """The dataset before the flags: ``sketchy_fg`` reads Sketchy with data and the synthetic set without;
        ``qmul_fg`` reads QMUL-V1 shoes unless ``--dataset`` / ``--category`` say otherwise."""
        if self.source == "qmul":
            cfg.data.dataset, cfg.data.category = "qmul_v1", "shoes"
        else:
            real = getattr(args, "data_dir", None) or getattr(args, "prepared_dir", None)
            cfg.data.dataset = "sketchy" if real else "synthetic"

    def identity(self, cfg: Config) -> dict:
        dataset = cfg.data.dataset
        if dataset in ("qmul_v1", "qmul_v2") and cfg.data.category:
            dataset = f"{dataset}-{cfg.data.category}"
        return {"task": self.kind, "dataset": dataset, "preset": cfg.preset, "variant": cfg.variant,
                "seed": int(cfg.train.seed), "steps": int(cfg.train.steps)}

    def seconds_per_step_cpu(self, cfg: Config) -> tuple[float, str] | None:
        return PAPER_CPU_SECONDS_PER_STEP[bool(cfg.model.use_decoder)], _BENCHMARK

    # ------------------------------------------------------------------------------------------ validation
    def validate(self, cfg: Config) -> None:
        """Every check on a run's settings before anything is read or built; ``ValueError`` naming the key.

        Names (variant, backbone, sharing, pooling, weights, schedule, strategy, precision, dataset, category,
        decoder distance, prepared records' renderings), numbers (steps, batch size, cadence, learning rates,
        fractions, loss weights, ks), the image size (the decoder's ``S/32`` seed must give an ``S x S`` output) and
        the weight sources (``sbir_tf.models.backbones.check_weights_arg``: a known name or an existing file).
        """
        from sbir_tf.losses.fg import DECODER_DISTANCES
        from sbir_tf.models.fg import BACKBONES, POOLING, SHARING, check_frozen_blocks
        from sbir_tf.train import schedules
        from sbir_tf.train.precision import check_precision
        from sbir_tf.train.strategy import STRATEGIES
        from sbir_tf.train.trunk_cache import check_trunk_cache

        m, t, d, e, loss = cfg.model, cfg.train, cfg.data, cfg.eval, cfg.loss
        if cfg.variant not in presets.VARIANTS:
            raise ValueError(f"unknown variant {cfg.variant!r}; choose one of {sorted(presets.VARIANTS)}")
        _choice(m.backbone, BACKBONES, "model.backbone")
        if (m.backbone, bool(m.use_decoder)) != presets.VARIANTS[cfg.variant]:
            raise ValueError(f"variant {cfg.variant!r} disagrees with model.backbone={m.backbone!r}, "
                             f"model.use_decoder={m.use_decoder!r}; set --variant instead")
        _choice(m.sharing, SHARING, "model.sharing", "unknown sharing", "(Table 4, Pang et al. 2017)")
        _choice(m.pooling, POOLING, "model.pooling")
        _choice(t.schedule, schedules.SCHEDULES, "train.schedule", "unknown schedule")
        _choice(t.strategy, STRATEGIES, "train.strategy", "unknown strategy")
        check_precision(t.precision)
        _choice(d.dataset, DATASETS, "data.dataset", "unknown dataset")
        if d.dataset in ("qmul_v1", "qmul_v2"):
            _choice(d.category, QMUL_CATEGORIES, "data.category", "unknown QMUL category")
        if d.prepared_dir:
            prepared_name(cfg)  # raises for datasets without a builder or a sketch rendering without a config
            from sbir_tf.data.sketchy import DEFAULT_RENDERING

            if d.dataset == "sketchy" and d.photo_rendering != DEFAULT_RENDERING:
                raise ValueError(f"data.photo_rendering={d.photo_rendering!r}: prepared Sketchy records hold the "
                                 f"photos {DEFAULT_RENDERING} only; read other photo renderings from the raw folder "
                                 f"(--data_dir) or set --set data.photo_rendering={DEFAULT_RENDERING}")
        _check_int(d.val_instances, "data.val_instances", 0)
        _check_int(t.steps, "train.steps", 1)
        _check_int(t.batch_size, "train.batch_size", 1)
        for key in ("checkpoint_every", "keep_checkpoints", "log_every"):
            _check_int(t[key], f"train.{key}", 1)
        _check_int(t.eval_every, "train.eval_every", 0)
        for key in ("base_lr", "final_lr", "epsilon"):
            if not float(t[key]) > 0:
                raise ValueError(f"train.{key} must be > 0, got {t[key]}")
        for key in ("stage1_fraction", "lr_drop_fraction", "beta_1", "beta_2"):
            if not 0.0 <= float(t[key]) <= 1.0:
                raise ValueError(f"train.{key} must be in [0, 1], got {t[key]}")
        if loss.decoder_distance not in DECODER_DISTANCES:
            raise ValueError(f"unknown loss.decoder_distance {loss.decoder_distance!r}; choose one of "
                             f"{DECODER_DISTANCES} (Eq. 4, Pang et al. 2017)")
        for key in ("lambda_d", "lambda_t", "margin"):
            if not float(loss[key]) >= 0:
                raise ValueError(f"loss.{key} must be >= 0, got {loss[key]}")
        if not e.ks or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in e.ks):
            raise ValueError(f"eval.ks must be a list of positive integers, got {e.ks!r}")
        size = d.image_size
        if not isinstance(size, int) or size < backbones.VGG16_STRIDE or size % backbones.IMAGE_SIZE_MULTIPLE:
            raise ValueError(f"image size {size!r} cannot give the decoder's output: the decoder doubles an integer "
                             f"seed grid four or five times up to S x S, so S must be a multiple of 16 and >= 32 "
                             f"(e.g. 64, 112, 224)" if m.use_decoder else
                             f"image size {size!r} must be a multiple of 16 and >= 32 (VGG16 pool5 is "
                             f"floor(S/32)^2)")
        if d.load_size is not None and int(d.load_size) < size:
            raise ValueError(f"data.load_size ({d.load_size}) must be >= data.image_size ({size})")
        check_frozen_blocks(m.frozen_blocks, m.backbone)
        check_trunk_cache(d.trunk_cache_views, m.frozen_blocks, m.backbone, d.crop_pairs, d.flip_pairs, d.flip)
        _check_int(d.trunk_cache_seed, "data.trunk_cache_seed", 0)
        check_weights(m.weights, m.backbone, "model.weights")
        check_weights(m.sketch_weights, m.backbone, "model.sketch_weights")
        if d.dataset == "sketchy" and not d.root and not d.prepared_dir:
            raise ValueError(f"data.dataset='sketchy' needs --data_dir ({SKETCHY_LAYOUT}) or --prepared_dir; the "
                             f"embedded synthetic set is data.dataset='synthetic' (sketchy_fg without --data_dir)")

    def validate_data(self, cfg: Config, data: FGData, num_replicas: int = 1) -> None:
        """Training data, queries and gallery are non-empty and every query's photo is in the gallery; the batch
        splits over the replicas."""
        from sbir_tf.data.records import DataError

        if int(cfg.train.batch_size) % num_replicas:
            raise ValueError(f"train.batch_size={cfg.train.batch_size} must be divisible by the {num_replicas} "
                             f"replicas")
        split = data.split
        if not split.gallery_photos:
            raise DataError("the gallery is empty: no test photos (check info/testset.txt or the test pairs)")
        if not split.query_sketches:
            raise DataError("no query sketches: none of the test photos has a sketch")
        if not split.train_sketches or not split.train_photos:
            raise DataError(f"no training data ({len(split.train_sketches)} sketches, {len(split.train_photos)} "
                            f"photos)")
        gallery_ids = {p.instance_id for p in split.gallery_photos}
        missing = [q.path for q in split.query_sketches if q.instance_id not in gallery_ids]
        if missing:
            raise DataError(f"{len(missing)} query sketches have no matching photo in the gallery, e.g. "
                            f"{missing[:3]}")

    # ------------------------------------------------------------------------------------------ data
    def load_data(self, cfg: Config) -> FGData:
        """Prepared TFDS records when ``data.prepared_dir`` is set, else the raw folder ``data.root`` (the
        synthetic set: ``data.dataset='synthetic'``; QMUL-V1 without a root: the shared folder beside the
        checkout)."""
        from sbir_tf.data.registry import read_dataset
        from sbir_tf.data.splits import fine_grained_split

        d = cfg.data
        if d.prepared_dir:
            index = load_prepared_data(cfg)
            return FGData(index, fine_grained_split(index, seed=d.split_seed, val_instances=d.val_instances))
        name, root = d.dataset, d.root
        kwargs: dict[str, Any] = {}
        if name in ("synthetic", "sketchy"):  # both read by the Sketchy reader
            kwargs.update(rendering=d.sketch_rendering, photo_rendering=d.photo_rendering)
        elif name in ("qmul_v1", "qmul_v2"):
            kwargs["category"] = d.category
            if root is None:
                from sbir_tf.paths import shared_data_dir

                shared = shared_data_dir()
                if name != "qmul_v1" or shared is None or not (shared / "qmul_v1").is_dir():
                    raise ValueError(f"--data_dir is required for {name}")
                root = str(shared / "qmul_v1")
        index = read_dataset(name, root, **kwargs)
        return FGData(index, fine_grained_split(index, seed=d.split_seed, val_instances=d.val_instances))

    def describe(self, cfg: Config, data: FGData) -> list[str]:
        s = data.split
        return [f"{data.index.name}: {len(data.classes)} classes, {len(s.train_sketches)} training sketches, "
                f"{len(s.query_sketches)} queries, gallery {len(s.gallery_photos)} photos",
                f"validation during training: {monitor_description(s)}"]

    # ------------------------------------------------------------------------------------------ model, training
    def trains(self, cfg: Config) -> bool:
        return True

    def build_model(self, cfg: Config, data: FGData):
        from sbir_tf.models.fg import build_fg_model

        return build_fg_model(dict(cfg.model), num_classes=len(data.classes), image_size=cfg.data.image_size)

    def train_step(self, model, cfg: Config, data: FGData, strategy):
        from sbir_tf.data.pipeline import triplet_dataset
        from sbir_tf.train.fg_step import fg_step

        if int(cfg.data.trunk_cache_views):
            return self._cached_train_step(model, cfg, data, strategy)
        class_to_label = {c: i for i, c in enumerate(data.classes)}
        split, d, t = data.split, cfg.data, cfg.train

        def dataset_fn(start_step: int):
            return triplet_dataset(split.train_sketches, split.train_photos, class_to_label,
                                   arrays=data.index.arrays, image_size=d.image_size, load_size=d.load_size,
                                   batch_size=t.batch_size, hard_negative_prob=d.hard_negative_prob,
                                   seed=int(t.seed), start_step=start_step, flip=bool(d.flip),
                                   flip_pairs=bool(d.flip_pairs), crop_pairs=bool(d.crop_pairs))

        return fg_step(model, cfg, dataset_fn, strategy=strategy)

    def _cached_train_step(self, model, cfg: Config, data: FGData, strategy):
        """:meth:`train_step` on cached trunk outputs (``data.trunk_cache_views``, :mod:`sbir_tf.train.trunk_cache`):
        the views are extracted (or read from the cache) here, and the step trains what learns on top of the frozen
        blocks (the trainable conv blocks and heads, the classifier and the decoder) of ``model`` (the same
        variables; checkpoints hold the whole model)."""
        from sbir_tf.data.pipeline import TripletPlan, _resolve_load_size
        from sbir_tf.train.fg_step import fg_step, random_state_variables
        from sbir_tf.train.trunk_cache import (HeadView, cached_triplet_dataset, feature_bank, paired_photos,
                                               trunk_features, trunk_split, view_table)

        split, d, t = data.split, cfg.data, cfg.train
        frozen = int(cfg.model.frozen_blocks)
        load = _resolve_load_size(d.image_size, d.load_size)
        plan = TripletPlan.build(split.train_sketches, split.train_photos,
                                 {c: i for i, c in enumerate(data.classes)}, batch_size=t.batch_size,
                                 hard_negative_prob=d.hard_negative_prob, seed=int(t.seed), image_size=d.image_size,
                                 load_size=load, flip=bool(d.flip), flip_pairs=bool(d.flip_pairs),
                                 crop_pairs=bool(d.crop_pairs), views=int(d.trunk_cache_views))
        tables = {name: view_table(len(records), plan.views, d.image_size, load, bool(d.flip),
                                   int(d.trunk_cache_seed) * 2 + k)
                  for k, (name, records) in enumerate((("sketches", plan.sketches), ("photos", plan.photos)))}
        reads = [("sketches", plan.sketches, model.sketch_encoder, tables["sketches"]),
                 ("photos", plan.photos, model.photo_encoder, tables["photos"])]
        if plan.crop_pairs:  # each sketch's photo at the sketch's views: the positives
            reads.append(("paired photos", paired_photos(plan), model.photo_encoder, tables["sketches"]))
        banks = {name: feature_bank(trunk_features(trunk_split(encoder, frozen)[0], records,
                                                   arrays=data.index.arrays, image_size=d.image_size,
                                                   load_size=load, table=table, batch_size=cfg.eval.batch_size,
                                                   desc=f"training {name}"), f"trunk_cache_{name.replace(' ', '_')}")
                 for name, records, encoder, table in reads}  # variables only: the arrays are held once

        def dataset_fn(start_step: int):
            return cached_triplet_dataset(plan, banks["sketches"], banks["photos"], tables["sketches"],
                                          arrays=data.index.arrays, start_step=start_step,
                                          paired_features=banks.get("paired photos"))

        step_fn, trackables = fg_step(HeadView(model, frozen), cfg, dataset_fn, strategy=strategy)
        return step_fn, {**trackables, "model": model, "rng": random_state_variables(model)}

    def schedule_points(self, config: Mapping[str, Any]) -> dict[str, int]:
        from sbir_tf.train.fg_step import schedule_points

        return schedule_points(config)

    def images_per_step(self, cfg: Config) -> int:
        return 3 * int(cfg.train.batch_size)

    def evaluator(self, model, cfg: Config, data: FGData):
        queries, gallery = monitor_slice(data.split, cfg)

        def evaluate(step: int) -> dict:
            return evaluate_retrieval(model, queries, gallery, data.index, cfg)["acc"]

        return evaluate

    # ------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, model, cfg: Config, data: FGData) -> dict:
        return evaluate_retrieval(model, data.split.query_sketches, data.split.gallery_photos, data.index, cfg)

    def metrics(self, cfg: Config, data: FGData, result: dict, history: list[dict]) -> dict:
        from sbir_tf.eval.metrics import per_class_acc

        split, index = data.split, data.index
        gallery_size = len(split.gallery_photos)
        distractors = gallery_size - len({q.instance_id for q in split.query_sketches})
        ranks = result["ranks"]
        val_queries, val_gallery = monitor_slice(split, cfg)
        return {
            **{k: float(v) for k, v in result["acc"].items()},
            "chance": {f"acc@{k}": chance_level(k, gallery_size) for k in cfg.eval.ks},
            "per_category_acc@1": per_class_acc(ranks, [q.class_name for q in split.query_sketches], k=1),
            "mean_rank": float(np.mean(ranks)) if len(ranks) else None,
            "gallery_size": gallery_size,
            # never-sketched gallery photos (Sketchy: photos without sketches; QMUL: none, the gallery is the test
            # pairs)
            "distractors": distractors,
            "queries": len(split.query_sketches),
            "train_sketches": len(split.train_sketches),
            "train_photos": len(split.train_photos),
            "classes": len(data.classes),
            "dataset": index.name,
            "data_root": str(index.root),
            "category": cfg.data.category,
            "split": split_description(distractors, held_out=int(split.notes.get("val_instances", 0) or 0)),
            "validation": monitor_description(split),
            # the sizes of what the validation during training read (``validation.json``): its acc@K are over these
            "validation_queries": len(val_queries),
            "validation_gallery": len(val_gallery),
            "image_size": cfg.data.image_size,
            "weights": cfg.model.weights,
            "batch_size": cfg.train.batch_size,
            "sharing": cfg.model.sharing,
            "frozen_blocks": cfg.model.frozen_blocks,
            "schedule": cfg.train.schedule,
            "decoder_distance": cfg.loss.decoder_distance,
            "sketch_rendering": cfg.data.sketch_rendering,
            "photo_rendering": cfg.data.photo_rendering,
            "precision": cfg.train.precision,
            "trunk_cache_views": int(cfg.data.trunk_cache_views),
            "val": {k[len("val/"):]: v for k, v in _last_val(history).items()},
        }

    def save_model(self, model, run_dir: Path) -> None:
        from sbir_tf.export import save_run_model

        save_run_model(model, run_dir)

    def table(self, metrics: Mapping[str, Any]) -> str:
        """acc@K beside the chance level, and the run's identity."""
        ks = sorted(int(k.split("@")[1]) for k in metrics if k.startswith("acc@"))
        frozen = metrics.get("frozen_blocks")
        title = [f"Fine-grained SBIR — {metrics['dataset']} ({metrics['variant']}, {metrics['sharing']}, "
                 f"schedule {metrics['schedule']}, {metrics['image_size']} px, weights {metrics['weights']}, "
                 + (f"VGG16 conv blocks 1..{frozen} frozen, " if frozen else "") + f"{metrics['steps']} steps)",
                 f"queries {metrics['queries']}, gallery {metrics['gallery_size']} photos"]
        rows = [(f"acc@{k}", {"value": metrics[f"acc@{k}"], "chance": metrics["chance"][f"acc@{k}"]}) for k in ks]
        return format_table(title, ("value", "chance"), rows, first="metric", width=8, digits=3)

    # ------------------------------------------------------------------------------------------ figures
    def figures(self, run_dir: Path, model, cfg: Config, data: FGData, result: dict, history: list[dict]) -> dict:
        """Retrieval grid (Fig. 4), reconstructions (Fig. 3, with a decoder) and loss curves; returns their paths."""
        from sbir_tf.data.pipeline import load_display_images
        from sbir_tf.eval import figures

        figure_dir = Path(run_dir) / "figures"
        split, index = data.split, data.index
        out: dict[str, str] = {}
        size = int(cfg.eval.display_size)
        n_show = min(int(cfg.eval.grid_queries), len(split.query_sketches))
        top = min(int(cfg.eval.grid_top), len(split.gallery_photos))
        if n_show:
            picks = np.linspace(0, len(split.query_sketches) - 1, n_show).round().astype(int)
            q_emb, g_emb = result["query_emb"][picks], result["gallery_emb"]
            dist = ((q_emb[:, None, :] - g_emb[None, :, :]) ** 2).sum(-1)
            order = np.argsort(dist, axis=1, kind="stable")[:, :top]  # Euclidean ranking, Eq. 6
            true = result["true"][picks]
            shown = sorted(set(order.ravel().tolist()) | set(true.tolist()))
            where = {g: i for i, g in enumerate(shown)}
            g_imgs = load_display_images([split.gallery_photos[i] for i in shown], arrays=index.arrays, size=size)
            out["retrieval_grid"] = str(figures.retrieval_grid(
                load_display_images([split.query_sketches[i] for i in picks], arrays=index.arrays, size=size),
                np.stack([[g_imgs[where[g]] for g in row] for row in order]),
                order == true[:, None], figure_dir / "retrieval_grid.png",
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
                    figure_dir / "reconstructions.png",
                    title="Decoder reconstructions of test sketches (from the sketch and from its photo)"))
        series = {}
        for term, label in (("total", "L (stage total)"), ("cls", "L_cls"), ("rec", "L_rec"), ("tri", "L_tri")):
            points = [(h["step"], h[f"loss/{term}"]) for h in history if f"loss/{term}" in h]
            if any(v for _, v in points):
                series[label] = points
        if series:
            out["loss_curves"] = str(figures.curves(series, figure_dir / "loss_curves.png",
                                                    title="Training losses", ylabel="loss", logy=True))
        return out


# ---------------------------------------------------------------------------------------------------- helpers


def _choice(value, choices: Sequence, key: str, what: str | None = None, note: str = "") -> None:
    if value not in choices:
        raise ValueError(f"{what or 'unknown ' + key} {value!r}; choose one of {tuple(choices)}"
                         + (f" {note}" if note else "") + f" ({key})")


def _check_int(value, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _last_val(history: list[dict]) -> dict:
    for row in reversed(history):
        vals = {k: v for k, v in row.items() if k.startswith("val/")}
        if vals:
            return vals
    return {}


def check_weights(weights, backbone: str, name: str) -> None:
    """A weight source the backbone takes: ``None``, a ``sbir_tf.models.backbones.KNOWN_WEIGHTS`` name (VGG16 only)
    or an existing ``.h5`` file (``backbones.check_weights_arg``); the error names the key. Shapes are checked when
    the weights are read into the model, before training."""
    if weights is None:
        return
    if backbone == "googlenet" and weights in backbones.KNOWN_WEIGHTS:
        raise ValueError(f"{name}={weights!r} is a VGG16 weight source; the googlenet backbone takes none or a file")
    try:
        backbones.check_weights_arg(weights)
    except ValueError as err:
        raise ValueError(f"{name}: {err} (--weights {' | '.join(WEIGHT_NAMES)} | PATH)") from err


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
        command = prepare_command(PREPARED_NAMES[d.dataset], d.prepared_dir, category=d.category,
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


def true_gallery_index(queries, gallery) -> np.ndarray:
    """For each query sketch, the position of the photo it depicts in ``gallery`` (by ``instance_id``)."""
    where = {p.instance_id: i for i, p in enumerate(gallery)}
    return np.array([where[q.instance_id] for q in queries], np.int64)


def monitor_sets(split) -> tuple[list, list]:
    """``(queries, gallery)`` the validation during training reads: the held-out training instances
    (``data.val_instances`` > 0, :func:`sbir_tf.data.splits.fine_grained_split`) or else the test split."""
    if split.val_queries:
        return list(split.val_queries), list(split.val_gallery)
    return list(split.query_sketches), list(split.gallery_photos)


def monitor_slice(split, cfg: Config) -> tuple[list, list]:
    """``(queries, gallery)`` the validation during training reads: :func:`validation_slice` of
    :func:`monitor_sets` with ``eval.val_queries`` and ``eval.val_distractors``."""
    return validation_slice(*monitor_sets(split), cfg.eval.val_queries, cfg.eval.val_distractors)


def monitor_description(split) -> str:
    """What the validation during training reads, for the log and ``metrics.json``."""
    if split.val_queries:
        return (f"{len(split.val_queries)} sketches of {split.notes.get('val_instances', '?')} training instances "
                f"held out of training (data.val_instances)")
    return ("a fixed slice of the test queries and gallery (data.val_instances=0): a monitor only, it selects "
            "nothing (the last step is evaluated)")


def validation_slice(queries, gallery, num_queries: int, num_distractors: int):
    """A fixed validation subset: ``num_queries`` of ``queries`` spread evenly over the list, their true photos, and
    the first ``num_distractors`` other ``gallery`` photos. Returns ``(queries, gallery)``."""
    queries = list(queries)
    if len(queries) > num_queries:
        picks = np.linspace(0, len(queries) - 1, num_queries).round().astype(int)
        queries = [queries[i] for i in sorted(set(picks.tolist()))]
    wanted = {q.instance_id for q in queries}
    true = [p for p in gallery if p.instance_id in wanted]
    others = [p for p in gallery if p.instance_id not in wanted][:num_distractors]
    return queries, true + others


def embed_records(encoder, records, index, cfg: Config) -> np.ndarray:
    """Deployment embeddings of centre crops of ``records``; with ``data.trunk_cache_views`` the frozen blocks'
    outputs come from the trunk cache (one centre view per image, :mod:`sbir_tf.train.trunk_cache`)."""
    from sbir_tf.data.pipeline import _resolve_load_size, image_dataset
    from sbir_tf.train.inference import embed

    if int(cfg.data.get("trunk_cache_views", 0) or 0):
        from sbir_tf.train.trunk_cache import trunk_features, trunk_split

        fixed, learning = trunk_split(encoder, int(cfg.model.frozen_blocks))
        features = trunk_features(fixed, records, arrays=index.arrays, image_size=cfg.data.image_size,
                                  load_size=_resolve_load_size(cfg.data.image_size, cfg.data.load_size),
                                  batch_size=cfg.eval.batch_size, desc=f"centre crops ({len(records)})")
        return embed(learning, features, batch_size=cfg.eval.batch_size)

    ds = image_dataset(records, arrays=index.arrays, image_size=cfg.data.image_size, load_size=cfg.data.load_size,
                       batch_size=cfg.eval.batch_size, on_error="raise")  # no white stand-ins in the scores
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


def split_description(distractors: int, held_out: int = 0) -> str:
    """The ``split`` of ``metrics.json``: what trains, what queries and what the gallery holds (Sketchy: the test
    photos and ``distractors`` never-sketched photos; QMUL: the test pairs' photos alone). ``held_out`` training
    instances (``data.val_instances``) left out of training for validation are named in the training part."""
    gallery = f"test photos + {distractors} never-sketched distractors" if distractors else "test photos only"
    train = "sketched non-test photos"
    if held_out:
        train += f" except {held_out} instances held out for validation"
    return f"fine_grained (train: {train}; queries: sketches of test photos; gallery: {gallery})"


def chance_level(k: int, gallery_size: int) -> float:
    """acc@K of a random ranking: ``K / gallery size`` (capped at 1)."""
    return min(1.0, k / gallery_size)


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
