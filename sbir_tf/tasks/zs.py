"""Zero-shot SBIR with WAD-CMSN (Xu, Hu, Cai 2022): what this paper supplies to the run layer.

One run: read the dataset (or the offline synthetic set), pick the zero-shot class split, build the class semantics
(word vectors + WordNet, SEM), extract/cache VGG16 features, train WAD-CMSN (Algorithm 1, ``sbir_tf.train.zs_step``)
with validation mAP, then retrieve unseen-class photos with unseen-class sketches (sketches embedded by G_sk, photos
by G_im, ranked by distance) and report mAP@all, P@100, mAP@200, P@200 next to the raw-feature nearest-neighbour
baseline. Figures: the retrieval grid (Figure 4), t-SNE of the generated features (Figure 5), curves (Figure 3).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from sbir_tf.config import Config
from sbir_tf.configs import zs as presets
from sbir_tf.data.records import DataError, DatasetIndex, Record
from sbir_tf.models import backbones
from sbir_tf.run.results import format_table
from sbir_tf.run.task import Flag

METRIC_KEYS = ("mAP@all", "P@100", "mAP@200", "P@200")
FEATURE_NORMALIZATIONS = ("none", "l2")
#: readers with a TFDS builder of the same name (``sbir_tf.data.tfds_builders``), per dataset; the first is what
#: ``data.reader="auto"`` reads
PREPARED_READERS = {"sketchy": ("sketchy_extended", "sketchy"), "tuberlin": ("tuberlin_extended",)}
#: what ``data.reader="auto"`` reads from a raw folder, per dataset
AUTO_READERS = {"sketchy": "sketchy_extended", "tuberlin": "tuberlin_extended"}
#: One WAD-CMSN iteration (n_critic = 1, batch 128) on a CPU: 34.1 ms, measured by ``python -m benchmarks`` on a
#: 2-core Intel Xeon (benchmarks/results/intel-xeon-processor-2c.json); feature extraction comes on top.
PAPER_CPU_SECONDS_PER_ITERATION = 0.0341


def _image_size(cfg: Config, size: int) -> None:
    cfg.features.image_size = size
    cfg.features.synthetic_image_size = size


def _no_figures(cfg: Config, _value) -> None:
    cfg.figures.enabled = False


# ----------------------------------------------------------------------------------------------------- protocol
@dataclass
class Protocol:
    """The data and class split of one run: ``seen`` (training), ``val`` (validation mAP during training),
    ``unseen`` (all zero-shot classes), ``test`` (the classes of the reported retrieval scores)."""

    index: DatasetIndex
    split_name: str
    seen: list[str]
    val: list[str]
    unseen: list[str]
    test: list[str]
    semantics_dataset: str
    notes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.split_name, "seen": self.seen, "val": self.val, "unseen": self.unseen,
                "test": self.test, "num_seen": len(self.seen), "num_val": len(self.val),
                "num_unseen": len(self.unseen), "num_test": len(self.test), **self.notes}


@dataclass
class ZSData:
    """Protocol, class semantics and cached features of one run."""

    protocol: Protocol
    classes: list[str]
    semantics: np.ndarray
    semantics_info: dict
    sketch_features: np.ndarray
    photo_features: np.ndarray


def validate_split(seen: Sequence[str], val: Sequence[str], unseen: Sequence[str], test: Sequence[str],
                   available: Sequence[str], split_name: str) -> None:
    """Clear errors for overlapping seen/unseen(/val/test) classes and for split classes absent from the data."""
    seen_s, val_s, unseen_s, test_s = set(seen), set(val), set(unseen), set(test)
    if seen_s & unseen_s:
        raise DataError(f"split {split_name!r}: classes both seen and unseen: {sorted(seen_s & unseen_s)}")
    if seen_s & (val_s | test_s):
        raise DataError(f"split {split_name!r}: validation/test classes also seen in training: "
                        f"{sorted(seen_s & (val_s | test_s))}")
    missing = sorted((seen_s | val_s | unseen_s | test_s) - set(available))
    if missing:
        raise DataError(f"split {split_name!r} names {len(missing)} classes absent from the data "
                        f"(first: {missing[:10]}); the data has {len(available)} classes")
    if len(seen_s) < 2 or not test_s:
        raise DataError(f"split {split_name!r} has {len(seen_s)} seen and {len(test_s)} test classes; "
                        f"need >= 2 seen and >= 1 test class")


def uses_real_data(cfg: Config) -> bool:
    """True when the run reads a real dataset (raw folder ``data.root`` or prepared records ``data.prepared_dir``)."""
    return cfg.data.root is not None or bool(cfg.data.prepared_dir)


def _read_real(cfg: Config, root: str):
    """The index of the raw folder; reader ``auto``: ``sketchy_extended`` (its extended photo folder must exist:
    the error names where it was looked for) or ``tuberlin_extended``."""
    from sbir_tf.data.registry import read_dataset

    reader = AUTO_READERS[cfg.data.dataset] if cfg.data.reader == "auto" else cfg.data.reader
    if reader == "sketchy_extended":
        from sbir_tf.data.sketchy_extended import find_extended_dir

        try:
            find_extended_dir(root)
        except DataError as err:
            raise DataError(f"{err}; the zero-shot Sketchy gallery is Sketchy Extended: add that folder, or read "
                            f"the plain Sketchy photos on purpose with --dataset_reader sketchy") from err
    return read_dataset(reader, root), reader


def _read_prepared(cfg: Config, data_dir: str):
    """The index from prepared TFDS records; reader ``auto``: the first of :data:`PREPARED_READERS` (missing
    records are an error naming the remedy)."""
    from sbir_tf.data.tfds_builders import load_prepared

    names = PREPARED_READERS[cfg.data.dataset]
    reader = names[0] if cfg.data.reader == "auto" else cfg.data.reader
    if reader not in names:
        raise ValueError(f"data.reader={reader!r} has no prepared records for {cfg.data.dataset}; choose one of "
                         f"{names} or auto")
    try:
        return load_prepared(reader, data_dir), reader
    except DataError as err:
        other = [n for n in names if n != reader]
        hint = f"; or read the prepared {other[0]!r} records on purpose with --dataset_reader {other[0]}" \
            if other else ""
        raise DataError(f"{err}{hint}") from err


def load_protocol(cfg: Config) -> Protocol:
    """Dataset + zero-shot split for ``cfg`` (prepared records in ``cfg.data.prepared_dir``, real data under
    ``cfg.data.root``, or the synthetic set with the seeded ``"synthetic"`` split of its classes from
    ``sbir_tf.data.splits``)."""
    from sbir_tf.data.registry import read_dataset
    from sbir_tf.data.splits import zero_shot_split

    if not uses_real_data(cfg):
        from sbir_tf.data.synthetic import default_root

        root = default_root()
        index = read_dataset("synthetic", root)
        split = zero_shot_split(index, "synthetic")
        notes = {"source": "synthetic", "root": str(root)}
    else:
        if cfg.data.prepared_dir:
            index, reader = _read_prepared(cfg, cfg.data.prepared_dir)
            notes = {"source": f"prepared:{reader}", "root": str(index.root)}
        else:
            index, reader = _read_real(cfg, cfg.data.root)
            notes = {"source": reader, "root": str(cfg.data.root)}
        split = zero_shot_split(index, cfg.data.split)
    notes["rule"] = getattr(split, "rule", "")
    test = list(getattr(split, "test", None) or split.unseen)
    if cfg.eval.test_classes == "unseen":
        test = list(split.unseen)
    validate_split(split.seen, split.val, split.unseen, test, index.classes, split.name)
    return Protocol(index=index, split_name=split.name, seen=sorted(split.seen), val=sorted(split.val),
                    unseen=sorted(split.unseen), test=sorted(test),
                    semantics_dataset="tuberlin" if cfg.data.dataset == "tuberlin" else "sketchy", notes=notes)


# ----------------------------------------------------------------------------------------------------- semantics
def class_semantic_matrix(cfg: Config, protocol: Protocol, classes: Sequence[str]) -> tuple[np.ndarray, dict]:
    """[len(classes), dim] side information from SEM's ``class_semantics`` (errors name the missing class)."""
    from sbir_tf.semantics.side_info import class_semantics, describe_sources, normalize_semantics

    text, hierarchy = presets.parse_semantics(cfg.semantics.spec)
    wnids = protocol.index.notes.get("wnids")
    sem = cfg.semantics
    matrix, info = class_semantics(list(classes), wnids=wnids, dataset=protocol.semantics_dataset, text=text,
                                   hierarchy=hierarchy, seen=protocol.seen, dim=int(sem.dim), seed=int(sem.seed),
                                   synset_mapping=sem.synsets, text_path=sem.text_vectors,
                                   text_fallback=sem.text_fallback, ic_source=sem.ic_source, jcn_form=sem.jcn_form)
    print(f"[zs] side information {sem.spec}: {describe_sources(info)}", file=sys.stderr)
    seen = set(protocol.seen)
    matrix = normalize_semantics(matrix, [i for i, c in enumerate(classes) if c in seen], sem.normalize)
    info = {**info, "normalize": sem.normalize}
    if matrix.shape != (len(classes), int(cfg.model.semantic_dim)):
        raise ValueError(f"class semantics have shape {matrix.shape}, expected ({len(classes)}, "
                         f"{cfg.model.semantic_dim}) (semantics.dim must equal model.semantic_dim)")
    if not np.all(np.isfinite(matrix)):
        bad = [c for c, row in zip(classes, matrix) if not np.all(np.isfinite(row))]
        raise DataError(f"class semantics are not finite for {bad[:10]}")
    return matrix, info


# ----------------------------------------------------------------------------------------------------- features
def feature_settings(cfg: Config) -> tuple[int, object]:
    size = cfg.features.image_size if uses_real_data(cfg) else cfg.features.synthetic_image_size
    return int(size), cfg.features.weights


def normalize_features(features: np.ndarray, mode: str) -> np.ndarray:
    """Scale visual features before they reach the generators and the raw-feature baseline.

    ``"none"``: as extracted (GAP of conv5_3; WAD-CMSN gives no normalisation). ``"l2"``: each 512-d feature divided
    by its l2 norm. With ``hed`` weights the sketch features are ~3.5x the photo features in norm (about 530 vs
    150), which the raw features carry into the adversarial and identity terms.
    """
    if mode not in FEATURE_NORMALIZATIONS:
        raise ValueError(f"features.normalize must be one of {FEATURE_NORMALIZATIONS}, got {mode!r}")
    from sbir_tf.semantics.side_info import l2_normalize_rows

    return l2_normalize_rows(features) if mode == "l2" else np.asarray(features, np.float32)


def dataset_features(cfg: Config, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """Cached VGG16 features of every sketch and photo of the dataset (all classes, reused by every split/run)."""
    from sbir_tf import features as F

    size, weights = feature_settings(cfg)
    index = protocol.index
    tag = f"{index.name}-{hashlib.sha1(str(Path(index.root).resolve()).encode()).hexdigest()[:8]}"
    out = []
    for domain, records in (("sketch", index.sketches), ("photo", index.photos)):
        path = F.cache_path(tag, domain, weights, size, cfg.features.cache_dir)
        out.append(F.cached_features(records, path, arrays=index.arrays, weights=weights, image_size=size,
                                     load_size=cfg.features.load_size, batch_size=int(cfg.features.batch_size),
                                     refresh=bool(cfg.features.refresh), desc=f"{domain} features"))
        print(f"[zs] {domain} features: {out[-1].shape} from {path}", file=sys.stderr)
    mode = cfg.features.normalize
    return normalize_features(out[0], mode), normalize_features(out[1], mode)


def select(records: Sequence[Record], feats: np.ndarray, classes: Sequence[str]):
    """``(rows, features, labels)`` of the records of ``classes`` (labels index ``classes``)."""
    lookup = {c: i for i, c in enumerate(classes)}
    rows = [i for i, r in enumerate(records) if r.class_name in lookup]
    labels = np.array([lookup[records[i].class_name] for i in rows], np.int64)
    return np.asarray(rows, np.int64), feats[rows] if rows else feats[:0], labels


def retrieval_scores(cfg: Config, q, q_labels, g, g_labels) -> dict:
    from sbir_tf.eval.metrics import map_precision

    return map_precision(q, q_labels, g, g_labels, precision_ks=tuple(cfg.eval.precision_ks),
                         map_ks=tuple(cfg.eval.map_ks), metric=cfg.eval.metric, map_average=cfg.eval.map_average)


def _jsonable(obj):
    try:
        return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    except (TypeError, ValueError):
        return str(obj)


# ----------------------------------------------------------------------------------------------------- the task
class ZSTask:
    """``dataset``: ``"sketchy"`` (``sketchy_zs``) or ``"tuberlin"`` (``tuberlin_zs``); without data, both run on
    the offline synthetic set."""

    kind = "zero_shot"
    #: switches named in the default run folder when they differ from the preset (``sbir_tf.run.cli.output_dir``)
    name_keys = (("data.split", "split"), ("semantics.spec", "sem"), ("features.weights", "weights"),
                 ("features.image_size", "px"))
    presets = presets.PRESETS

    def __init__(self, dataset: str = "sketchy") -> None:
        if dataset not in presets.DATASETS:
            raise ValueError(f"dataset must be one of {presets.DATASETS}, got {dataset!r}")
        self.dataset = dataset
        self.flags = (
            Flag("--dataset_reader", ("data.reader",),
                 "reader name (default auto: sketchy_extended for Sketchy, whose extended photo folder must exist; "
                 "tuberlin_extended for TU-Berlin)"),
            Flag("--split", ("data.split",), choices=presets.SPLITS[dataset]),
            Flag("--semantics", ("semantics.spec",),
                 f"side information (Table 3): one text model and/or one hierarchy measure, e.g. "
                 f"{', '.join(presets.SEMANTICS_EXAMPLES)} (default per --config: "
                 + ", ".join(f"{k} {v[dataset]}" for k, v in presets.DEFAULT_SEMANTICS.items()) + ")"),
            Flag("--text_vectors", ("semantics.text_vectors",),
                 "word-vector file for the text model of --semantics (word2vec binary/text, GloVe text or gensim "
                 ".kv); default: offline GloVe 6B 50-d, and for w2v a local copy of word2vec-google-news-300 or else "
                 "GloVe in its place (semantics.text_fallback)", metavar="PATH"),
            Flag("--ablation", (), f"Table 4 rows {list(presets.TABLE4_ROWS)}, the Table 1 baseline "
                                   f"{presets.RAW_FEATURES}, or extras {list(presets.EXTRA_ABLATIONS)} "
                                   f"(aliases {sorted(presets.ABLATION_ALIASES)})", apply=presets.apply_ablation),
            Flag("--weights", ("features.weights",), f"VGG16 weights: {' | '.join(backbones.KNOWN_WEIGHTS)} | path "
                                                     f"to .h5"),
            Flag("--image_size", (), "feature-extraction input size (features.image_size and "
                                     "features.synthetic_image_size)", type=int, apply=_image_size),
            Flag("--cache_dir", ("features.cache_dir",), "feature cache folder (default: "
                                                         "sbir_tf.paths.default_cache_dir())"),
            Flag("--refresh_features", ("features.refresh",), "recompute (and overwrite) cached features",
                 store_true=True, value=lambda _: True),
            Flag("--no_figures", (), "no figures", store_true=True, apply=_no_figures),
        )

    # ------------------------------------------------------------------------------------------ config
    def get_config(self, preset: str) -> Config:
        return presets.get_config(preset, self.dataset)

    def configure(self, cfg: Config, args: argparse.Namespace) -> None:
        """Nothing to choose: without ``--data_dir`` / ``--prepared_dir`` the synthetic set is read."""

    def identity(self, cfg: Config) -> dict:
        return {"task": self.kind, "dataset": cfg.data.dataset if uses_real_data(cfg) else "synthetic",
                "preset": cfg.preset, "variant": cfg.ablation, "seed": int(cfg.train.seed),
                "steps": int(cfg.train.steps) if self.trains(cfg) else None}

    def seconds_per_step_cpu(self, cfg: Config) -> tuple[float, str] | None:
        return (PAPER_CPU_SECONDS_PER_ITERATION * int(cfg.train.n_critic),
                "WAD-CMSN iterations measured by python -m benchmarks on a 2-core Intel Xeon, feature extraction "
                "not included; this machine will differ")

    # ------------------------------------------------------------------------------------------ validation
    def validate(self, cfg: Config) -> None:
        """Names and numbers before any data is read: dataset, split, reader, semantics spec, ablation, test
        classes, normalisations, weights, precision, steps and cadence."""
        from sbir_tf.semantics.side_info import SEMANTIC_NORMALIZATIONS
        from sbir_tf.train.precision import check_precision

        d, t = cfg.data, cfg.train
        if d.dataset not in presets.DATASETS:
            raise ValueError(f"unknown data.dataset {d.dataset!r}; choose one of {presets.DATASETS}")
        if uses_real_data(cfg) and d.split not in presets.SPLITS[d.dataset]:
            raise ValueError(f"split {d.split!r} is not a {d.dataset} split; choose one of "
                             f"{presets.SPLITS[d.dataset]} (data.split)")
        canonical = presets.canonical_ablation(cfg.ablation)
        if canonical != cfg.ablation:
            raise ValueError(f"ablation {cfg.ablation!r} is an alias: set it with --ablation {canonical}, which also "
                             f"sets its loss terms")
        spec = presets.ABLATIONS[canonical]
        on = sorted(term for term, weight in cfg.loss.weights.items() if weight != 0)
        if spec is not None and (cfg.loss.adversarial != spec["adversarial"] or on != sorted(spec["terms"])):
            raise ValueError(f"ablation {canonical!r} (adversarial {spec['adversarial']}, terms "
                             f"{sorted(spec['terms'])}) disagrees with loss.adversarial={cfg.loss.adversarial!r} and "
                             f"the non-zero loss.weights {on}; set --ablation instead")
        presets.parse_semantics(cfg.semantics.spec)
        if cfg.eval.test_classes not in ("test", "unseen"):
            raise ValueError(f"eval.test_classes must be 'test' or 'unseen', got {cfg.eval.test_classes!r}")
        if cfg.features.normalize not in FEATURE_NORMALIZATIONS:
            raise ValueError(f"features.normalize must be one of {FEATURE_NORMALIZATIONS}, got "
                             f"{cfg.features.normalize!r}")
        if cfg.semantics.normalize not in SEMANTIC_NORMALIZATIONS:
            raise ValueError(f"semantics.normalize must be one of {SEMANTIC_NORMALIZATIONS}, got "
                             f"{cfg.semantics.normalize!r}")
        try:
            backbones.check_weights_arg(cfg.features.weights)
        except ValueError as err:
            raise ValueError(f"features.weights: {err}") from err
        check_precision(t.precision)
        for key, minimum in (("steps", 1), ("batch_size", 1), ("n_critic", 1), ("log_every", 1),
                             ("checkpoint_every", 1), ("keep_checkpoints", 1), ("eval_every", 0)):
            value = t[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"train.{key} must be an integer >= {minimum}, got {value!r}")
        if not float(t.base_lr) > 0:
            raise ValueError(f"train.base_lr must be > 0, got {t.base_lr}")

    def validate_data(self, cfg: Config, data: ZSData, num_replicas: int = 1) -> None:
        p = data.protocol
        _, te_q, _ = select(p.index.sketches, data.sketch_features, p.test)
        _, te_g, _ = select(p.index.photos, data.photo_features, p.test)
        if len(te_q) == 0 or len(te_g) == 0:
            raise DataError(f"test classes have {len(te_q)} sketches and {len(te_g)} photos; need both")

    # ------------------------------------------------------------------------------------------ data
    def load_data(self, cfg: Config) -> ZSData:
        protocol = load_protocol(cfg)
        classes = sorted(set(protocol.seen) | set(protocol.val) | set(protocol.unseen))
        semantics, info = class_semantic_matrix(cfg, protocol, classes)
        sk, ph = dataset_features(cfg, protocol)
        return ZSData(protocol, classes, semantics, info, sk, ph)

    def describe(self, cfg: Config, data: ZSData) -> list[str]:
        p = data.protocol
        return [f"{cfg.data.dataset} split {p.split_name}: {len(p.seen)} seen / {len(p.unseen)} unseen classes, "
                f"{len(p.test)} test classes"]

    # ------------------------------------------------------------------------------------------ model, training
    def trains(self, cfg: Config) -> bool:
        return cfg.ablation != presets.RAW_FEATURES

    def build_model(self, cfg: Config, data: ZSData):
        if not self.trains(cfg):
            return None
        from sbir_tf.models.wadcmsn import build_wadcmsn

        return build_wadcmsn(cfg.model, num_seen_classes=len(data.protocol.seen))

    def train_step(self, model, cfg: Config, data: ZSData, strategy):
        from sbir_tf.train.zs_step import PairSampler, zs_step

        p = data.protocol
        sem_of = {c: data.semantics[i] for i, c in enumerate(data.classes)}
        _, tr_sk, tr_skl = select(p.index.sketches, data.sketch_features, p.seen)
        _, tr_ph, tr_phl = select(p.index.photos, data.photo_features, p.seen)
        sampler = PairSampler(tr_sk, tr_skl, tr_ph, tr_phl, np.stack([sem_of[c] for c in p.seen]),
                              batch_size=int(cfg.train.batch_size), seed=int(cfg.train.seed))
        return zs_step(model, cfg, sampler)

    def images_per_step(self, cfg: Config) -> int | None:
        return None

    def evaluator(self, model, cfg: Config, data: ZSData):
        p = data.protocol
        if not p.val:
            return None
        _, va_q, va_ql = select(p.index.sketches, data.sketch_features, p.val)
        _, va_g, va_gl = select(p.index.photos, data.photo_features, p.val)
        if not (len(va_q) and len(va_g)):
            return None

        def evaluate(step: int) -> dict:
            return retrieval_scores(cfg, model.embed_sketches(va_q), va_ql, model.embed_photos(va_g), va_gl)

        return evaluate

    # ------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, model, cfg: Config, data: ZSData) -> dict:
        p = data.protocol
        q_rows, te_q, te_ql = select(p.index.sketches, data.sketch_features, p.test)
        g_rows, te_g, te_gl = select(p.index.photos, data.photo_features, p.test)
        result = {"q_rows": q_rows, "q_labels": te_ql, "g_rows": g_rows, "g_labels": te_gl,
                  "baseline": retrieval_scores(cfg, te_q, te_ql, te_g, te_gl)}
        if model is not None:
            result["q_emb"], result["g_emb"] = model.embed_sketches(te_q), model.embed_photos(te_g)
            result["scores"] = retrieval_scores(cfg, result["q_emb"], te_ql, result["g_emb"], te_gl)
        return result

    def metrics(self, cfg: Config, data: ZSData, result: dict, history: list[dict]) -> dict:
        p = data.protocol
        size, weights = feature_settings(cfg)
        out = {"dataset": cfg.data.dataset, "data": p.notes, "split": p.as_dict(), "semantics": cfg.semantics.spec,
               "ablation": cfg.ablation, "config": cfg.preset,
               "features": {"weights": str(weights), "image_size": size},
               "num_queries": int(len(result["q_labels"])), "num_gallery": int(len(result["g_labels"])),
               "baseline_raw_features": result["baseline"], "semantics_info": _jsonable(data.semantics_info),
               # which text model was asked for and used (word2vec may be substituted), which WordNet, which IC
               "side_information": _jsonable(data.semantics_info.get("sources", {})),
               "precision": cfg.train.precision}
        if "scores" in result:
            last = history[-1] if history else {}
            out["wadcmsn"] = result["scores"]
            out["val"] = next(({k[len("val/"):]: v for k, v in row.items() if k.startswith("val/")}
                               for row in reversed(history) if any(k.startswith("val/") for k in row)), {})
            out["final_losses"] = {k[len("loss/"):]: v for k, v in last.items() if k.startswith("loss/")}
        return out

    def save_model(self, model, run_dir: Path) -> None:
        from sbir_tf.export import save_run_model

        save_run_model(model, run_dir)

    def table(self, metrics: Mapping[str, Any]) -> str:
        split = metrics["split"]
        title = [f"Zero-shot SBIR, {metrics['dataset']} split {split['name']} ({split['num_seen']} seen / "
                 f"{split['num_unseen']} unseen, {split['num_test']} test classes), semantics "
                 f"{metrics['semantics']}, ablation {metrics['ablation']}"]
        rows = [("raw VGG16 features (NN)", metrics["baseline_raw_features"])]
        if "wadcmsn" in metrics:
            rows.append((f"WAD-CMSN ({metrics['ablation']})", metrics["wadcmsn"]))
        return format_table(title, METRIC_KEYS, rows)

    # ------------------------------------------------------------------------------------------ figures
    def figures(self, run_dir: Path, model, cfg: Config, data: ZSData, result: dict, history: list[dict]) -> dict:
        """Figure 4 (retrieval grid, correct/incorrect marked), Figure 5 (t-SNE of generated features), Figure 3
        (loss terms and validation mAP over training)."""
        if model is None or not cfg.figures.enabled:
            return {}
        from sbir_tf.data.pipeline import load_display_images
        from sbir_tf.eval import figures
        from sbir_tf.eval.retrieval import top_k

        p, fc = data.protocol, cfg.figures
        index, figure_dir = p.index, Path(run_dir) / "figures"
        q_rows, q_labels, q_emb = result["q_rows"], result["q_labels"], result["q_emb"]
        g_rows, g_labels, g_emb = result["g_rows"], result["g_labels"], result["g_emb"]
        out = {}
        # Figure 4: one query per test class (first few), its top-k photos.
        picks, seen_cls = [], set()
        for i, lab in enumerate(q_labels):
            if lab not in seen_cls:
                seen_cls.add(lab)
                picks.append(i)
            if len(picks) >= int(fc.num_queries):
                break
        extra = [i for i in np.linspace(0, len(q_labels) - 1, int(fc.num_queries) * 2).astype(int)
                 if i not in picks]
        picks = np.array((picks + extra)[:int(fc.num_queries)])
        k = min(int(fc.top_k), len(g_emb))
        _, idx = top_k(q_emb[picks], g_emb, k, metric=cfg.eval.metric)
        size = int(fc.display_size)
        q_imgs = load_display_images([index.sketches[q_rows[i]] for i in picks], arrays=index.arrays, size=size)
        g_recs = [index.photos[g_rows[j]] for j in np.asarray(idx).reshape(-1)]
        g_imgs = load_display_images(g_recs, arrays=index.arrays, size=size).reshape(len(picks), k, size, size, 3)
        correct = np.asarray(g_labels)[np.asarray(idx)] == np.asarray(q_labels)[picks][:, None]
        out["retrieval_grid"] = str(figures.retrieval_grid(
            q_imgs, g_imgs, correct, figure_dir / "retrieval_grid.png",
            title=f"WAD-CMSN {cfg.data.dataset} {p.split_name}: test-class retrieval (green correct, red wrong)",
            query_labels=[p.test[int(q_labels[i])] for i in picks]))
        # Figure 5: t-SNE of generated semantic features (sketches o, photos ^), coloured by class.
        rng = np.random.default_rng(0)
        n_max = max(1, int(fc.tsne_max_points) // 2)
        qs = np.sort(rng.permutation(len(q_emb))[:n_max])
        gs = np.sort(rng.permutation(len(g_emb))[:n_max])
        emb = np.concatenate([q_emb[qs], g_emb[gs]])
        labels = np.concatenate([np.asarray(q_labels)[qs], np.asarray(g_labels)[gs]]).astype(int)
        markers = ["o"] * len(qs) + ["^"] * len(gs)
        out["tsne"] = str(figures.tsne_plot(emb, labels, list(p.test), figure_dir / "tsne_generated.png",
                                            title="t-SNE of G_sk(x) (o) and G_im(y) (^), test classes", seed=0,
                                            markers=markers))
        # Figure 3: loss terms and validation mAP over training.
        losses: dict[str, list] = {}
        vals: dict[str, list] = {}
        for row in history:
            for key, v in row.items():
                if key.startswith("loss/"):
                    losses.setdefault(key[len("loss/"):], []).append((row["step"], v))
                elif key.startswith("val/"):
                    vals.setdefault(key, []).append((row["step"], v))
        if losses:
            out["curves_losses"] = str(figures.curves(losses, figure_dir / "curves_losses.png",
                                                      title="WAD-CMSN loss terms", ylabel="loss"))
        if vals:
            out["curves_val"] = str(figures.curves(vals, figure_dir / "curves_val_map.png",
                                                   title="Validation retrieval (val classes)", ylabel="score"))
        return out
