"""Shared driver of the zero-shot WAD-CMSN experiments (``sketchy_zs``, ``tuberlin_zs``).

One run: read the dataset (or the offline synthetic set), pick the zero-shot class split, build the class semantics
(word vectors + WordNet, SEM), extract/cache VGG16 features, train WAD-CMSN (Algorithm 1) with validation mAP, then
retrieve unseen-class photos with unseen-class sketches (sketches embedded by G_sk, photos by G_im, ranked by
distance) and report mAP@all, P@100, mAP@200, P@200 next to the raw-feature nearest-neighbour baseline.

Output folder (``RunDir``): ``config.json``, ``environment.json``, ``checkpoints/``, ``tensorboard/``,
``history.jsonl``, ``metrics.json``, ``figures/`` (retrieval grid as Figure 4, t-SNE as Figure 5, curves as Figure 3).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from sbir_tf.config import Config
from sbir_tf.data.records import DataError, DatasetIndex, Record
from sbir_tf.experiments import zs_presets
from sbir_tf.models import backbones

METRIC_KEYS = ("mAP@all", "P@100", "mAP@200", "P@200")
TEXT_SEMANTICS = ("glove", "word2vec")
HIERARCHY_SEMANTICS = ("path", "jcn")
#: ``--semantics`` values shown in the help: Table 3 of WAD-CMSN (one text model and/or one hierarchy measure)
SEMANTICS_EXAMPLES = ("w2v", "glove", "path", "jcn", "w2v+path", "w2v+jcn", "glove+path", "glove+jcn")


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


def _read_real(cfg: Config, root: str):
    from sbir_tf.data.registry import read_dataset

    reader = cfg.data.reader
    if cfg.dataset == "sketchy":
        if reader == "auto":
            from sbir_tf.data.sketchy_extended import find_extended_dir

            try:
                find_extended_dir(root)
                reader = "sketchy_extended"
            except DataError:
                reader = "sketchy"
                print(f"[zs] no Sketchy Extended photo folder under {root}: using the plain Sketchy photos as the "
                      f"gallery (reader 'sketchy')", file=sys.stderr)
        return read_dataset(reader, root), reader
    reader = "tuberlin_extended" if reader == "auto" else reader
    return read_dataset(reader, root), reader


#: readers with a TFDS builder of the same name (``sbir_tf.data.tfds_builders``), per dataset
PREPARED_READERS = {"sketchy": ("sketchy_extended", "sketchy"), "tuberlin": ("tuberlin_extended",)}


def uses_real_data(cfg: Config) -> bool:
    """True when the run reads a real dataset (raw folder ``data.dir`` or prepared records ``data.prepared_dir``)."""
    return cfg.data.dir is not None or bool(cfg.data.get("prepared_dir"))


def _read_prepared(cfg: Config, data_dir: str):
    """The index from prepared TFDS records; reader ``auto``: ``sketchy_extended`` when prepared, else ``sketchy``
    (TU-Berlin: ``tuberlin_extended``)."""
    from sbir_tf.data.tfds_builders import load_prepared

    names = PREPARED_READERS[cfg.dataset]
    reader = cfg.data.reader
    if reader != "auto":
        if reader not in names:
            raise ValueError(f"data.reader={reader!r} has no prepared records for {cfg.dataset}; choose one of "
                             f"{names} or auto")
        return load_prepared(reader, data_dir), reader
    for name in names[:-1]:
        try:
            return load_prepared(name, data_dir), name
        except DataError:
            print(f"[zs] no prepared {name!r} records in {data_dir}: using {names[-1]!r}", file=sys.stderr)
    return load_prepared(names[-1], data_dir), names[-1]


def load_protocol(cfg: Config) -> Protocol:
    """Dataset + zero-shot split for ``cfg`` (prepared records in ``cfg.data.prepared_dir``, real data under
    ``cfg.data.dir``, or the synthetic set with the seeded ``"synthetic"`` split of its classes from
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
        if cfg.data.split not in zs_presets.SPLITS[cfg.dataset]:
            raise ValueError(f"split {cfg.data.split!r} is not a {cfg.dataset} split; choose one of "
                             f"{zs_presets.SPLITS[cfg.dataset]}")
        if cfg.data.get("prepared_dir"):
            index, reader = _read_prepared(cfg, cfg.data.prepared_dir)
            notes = {"source": f"prepared:{reader}", "root": str(index.root)}
        else:
            index, reader = _read_real(cfg, cfg.data.dir)
            notes = {"source": reader, "root": str(cfg.data.dir)}
        split = zero_shot_split(index, cfg.data.split)
    notes["rule"] = getattr(split, "rule", "")
    test = list(getattr(split, "test", None) or split.unseen)
    if cfg.eval.test_classes == "unseen":
        test = list(split.unseen)
    elif cfg.eval.test_classes != "test":
        raise ValueError(f"eval.test_classes must be 'test' or 'unseen', got {cfg.eval.test_classes!r}")
    validate_split(split.seen, split.val, split.unseen, test, index.classes, split.name)
    return Protocol(index=index, split_name=split.name, seen=sorted(split.seen), val=sorted(split.val),
                    unseen=sorted(split.unseen), test=sorted(test),
                    semantics_dataset="tuberlin" if cfg.dataset == "tuberlin" else "sketchy", notes=notes)


# ----------------------------------------------------------------------------------------------------- semantics
def parse_semantics(spec: str) -> tuple[str | None, str | None]:
    """Table 3 side-information choice -> SEM's ``(text, hierarchy)``: ``"glove+path"`` -> ``("glove", "path")``,
    ``"w2v+jcn"`` -> ``("word2vec", "jcn")``, ``"path"`` -> ``(None, "path")``.

    SEM's ``class_semantics`` combines at most one text model with at most one hierarchy measure; a spec naming
    two of either (e.g. ``w2v+path+jcn``) is rejected here with that reason.
    """
    tokens = [t.strip().lower() for t in str(spec).split("+") if t.strip()]
    tokens = ["word2vec" if t == "w2v" else t for t in tokens]
    text = [t for t in tokens if t in TEXT_SEMANTICS]
    hier = [t for t in tokens if t in HIERARCHY_SEMANTICS]
    unknown = [t for t in tokens if t not in TEXT_SEMANTICS + HIERARCHY_SEMANTICS]
    if unknown or not tokens:
        raise ValueError(f"unknown semantics {spec!r}: combine one text model {TEXT_SEMANTICS} (w2v = word2vec) "
                         f"and/or one hierarchy measure {HIERARCHY_SEMANTICS} with '+', e.g. glove+path")
    if len(text) > 1 or len(hier) > 1:
        raise ValueError(f"semantics {spec!r} names {len(text)} text models and {len(hier)} hierarchy measures; "
                         f"the side-information module (sbir_tf.semantics.side_info) combines at most one of each")
    return (text[0] if text else None), (hier[0] if hier else None)


def class_semantic_matrix(cfg: Config, protocol: Protocol, classes: Sequence[str]) -> tuple[np.ndarray, dict]:
    """[len(classes), dim] side information from SEM's ``class_semantics`` (errors name the missing class)."""
    from sbir_tf.semantics.hierarchy import DEFAULT_JCN_FORM, DEFAULT_SYNSET_MAPPING
    from sbir_tf.semantics.side_info import (DEFAULT_TEXT_FALLBACK, class_semantics, describe_sources,
                                             normalize_semantics)
    from sbir_tf.semantics.wordnet import DEFAULT_IC_SOURCE

    text, hierarchy = parse_semantics(cfg.semantics.spec)
    wnids = protocol.index.notes.get("wnids")
    sem = cfg.semantics
    matrix, info = class_semantics(list(classes), wnids=wnids, dataset=protocol.semantics_dataset, text=text,
                                   hierarchy=hierarchy, seen=protocol.seen, dim=int(sem.dim), seed=int(sem.seed),
                                   synset_mapping=sem.get("synsets", DEFAULT_SYNSET_MAPPING),
                                   text_path=sem.get("text_vectors"),
                                   text_fallback=sem.get("text_fallback", DEFAULT_TEXT_FALLBACK),
                                   ic_source=sem.get("ic_source", DEFAULT_IC_SOURCE),
                                   jcn_form=sem.get("jcn_form", DEFAULT_JCN_FORM))
    print(f"[zs] side information {sem.spec}: {describe_sources(info)}", file=sys.stderr)
    seen = set(protocol.seen)
    matrix = normalize_semantics(matrix, [i for i, c in enumerate(classes) if c in seen],
                                 cfg.semantics.get("normalize", "none"))
    info = {**info, "normalize": cfg.semantics.get("normalize", "none")}
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


FEATURE_NORMALIZATIONS = ("none", "l2")


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
    mode = cfg.features.get("normalize", "none")
    return normalize_features(out[0], mode), normalize_features(out[1], mode)


def _select(records: Sequence[Record], feats: np.ndarray, classes: Sequence[str]):
    lookup = {c: i for i, c in enumerate(classes)}
    rows = [i for i, r in enumerate(records) if r.class_name in lookup]
    labels = np.array([lookup[records[i].class_name] for i in rows], np.int64)
    return np.asarray(rows, np.int64), feats[rows] if rows else feats[:0], labels


def retrieval_scores(cfg: Config, q, q_labels, g, g_labels) -> dict:
    from sbir_tf.eval.metrics import map_precision

    return map_precision(q, q_labels, g, g_labels, precision_ks=tuple(cfg.eval.precision_ks),
                         map_ks=tuple(cfg.eval.map_ks), metric=cfg.eval.metric, map_average=cfg.eval.map_average)


# ----------------------------------------------------------------------------------------------------- run
def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


RESUME_MAY_DIFFER = ("train.steps", "features.refresh", "features.cache_dir", "train.log_every", "train.eval_every",
                     "train.checkpoint_every", "figures.")


def check_resume_config(saved: dict | None, cfg: Config) -> None:
    if not saved:
        return
    a, b = _flat(saved), _flat(cfg.to_dict())
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not k.startswith(RESUME_MAY_DIFFER))
    if diff:
        raise ValueError("--resume with settings different from the run's config.json: "
                         + ", ".join(f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in diff))


def run(cfg: Config, output_dir: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train and evaluate one WAD-CMSN setting (or only the raw-feature baseline); returns ``metrics.json``'s dict."""
    import keras

    from sbir_tf.models.wadcmsn import build_wadcmsn
    from sbir_tf.train.run_dir import RunDir
    from sbir_tf.train.zs_trainer import PairSampler, ZSTrainer

    zs_presets.canonical_ablation(cfg.ablation)
    rd = RunDir(output_dir)
    if resume:
        check_resume_config(rd.read_config(), cfg)
    elif cfg.ablation != "raw_features" and any(rd.checkpoints.glob("ckpt-*")):
        raise ValueError(f"{rd.checkpoints} already holds checkpoints; pass --resume or use a new --output_dir")
    protocol = load_protocol(cfg)
    rd.write_config(cfg.to_dict())
    rd.write_environment()

    all_classes = sorted(set(protocol.seen) | set(protocol.val) | set(protocol.unseen))
    semantics, sem_info = class_semantic_matrix(cfg, protocol, all_classes)
    sem_of = {c: semantics[i] for i, c in enumerate(all_classes)}
    sk_feats, ph_feats = dataset_features(cfg, protocol)
    index = protocol.index

    te_q_rows, te_q, te_ql = _select(index.sketches, sk_feats, protocol.test)
    te_g_rows, te_g, te_gl = _select(index.photos, ph_feats, protocol.test)
    if len(te_q) == 0 or len(te_g) == 0:
        raise DataError(f"test classes have {len(te_q)} sketches and {len(te_g)} photos; need both")
    baseline = retrieval_scores(cfg, te_q, te_ql, te_g, te_gl)
    size, weights = feature_settings(cfg)
    metrics = {"dataset": cfg.dataset, "data": protocol.notes, "split": protocol.as_dict(),
               "semantics": cfg.semantics.spec, "ablation": cfg.ablation, "config": cfg.name,
               "features": {"weights": str(weights), "image_size": size}, "seed": int(cfg.train.seed),
               "num_queries": int(len(te_q)), "num_gallery": int(len(te_g)),
               "baseline_raw_features": baseline, "semantics_info": _jsonable(sem_info),
               # which text model was asked for and used (word2vec may be substituted), which WordNet, which IC
               "side_information": _jsonable(sem_info.get("sources", {}))}
    rows = [("raw VGG16 features (NN)", baseline)]

    if cfg.ablation != "raw_features":
        keras.utils.set_random_seed(int(cfg.train.seed))
        _, tr_sk, tr_skl = _select(index.sketches, sk_feats, protocol.seen)
        _, tr_ph, tr_phl = _select(index.photos, ph_feats, protocol.seen)
        seen_sem = np.stack([sem_of[c] for c in protocol.seen])
        sampler = PairSampler(tr_sk, tr_skl, tr_ph, tr_phl, seen_sem, batch_size=int(cfg.train.batch_size),
                              seed=int(cfg.train.seed))
        model = build_wadcmsn(cfg.model, num_seen_classes=len(protocol.seen))
        evaluate = None
        if protocol.val:
            _, va_q, va_ql = _select(index.sketches, sk_feats, protocol.val)
            _, va_g, va_gl = _select(index.photos, ph_feats, protocol.val)
            if len(va_q) and len(va_g):
                def evaluate(m):
                    return retrieval_scores(cfg, m.embed_sketches(va_q), va_ql, m.embed_photos(va_g), va_gl)
        trainer = ZSTrainer(model, sampler, cfg.loss, cfg.train, checkpoint_dir=rd.checkpoints,
                            tensorboard_dir=rd.tensorboard, history_path=rd.root / "history.jsonl",
                            evaluate=evaluate)
        history = trainer.fit(resume=resume, progress=progress)
        q_emb, g_emb = model.embed_sketches(te_q), model.embed_photos(te_g)
        scores = retrieval_scores(cfg, q_emb, te_ql, g_emb, te_gl)
        metrics["wadcmsn"] = scores
        metrics["steps"] = int(cfg.train.steps)
        metrics["val"] = {k[4:]: v for k, v in history[-1].items() if k.startswith("val/")} if history else {}
        metrics["final_losses"] = {k: v for k, v in (history[-1] if history else {}).items()
                                   if k != "step" and not k.startswith("val/")}
        rows.append((f"WAD-CMSN ({cfg.ablation})", scores))
        if cfg.figures.enabled:
            metrics["figures"] = make_figures(cfg, rd, protocol, te_q_rows, te_ql, q_emb, te_g_rows, te_gl, g_emb,
                                              history)
    rd.write_metrics(metrics)
    print(results_table(rows, protocol, cfg))
    return metrics


def _jsonable(obj):
    try:
        return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
    except (TypeError, ValueError):
        return str(obj)


def results_table(rows, protocol: Protocol, cfg: Config) -> str:
    head = (f"Zero-shot SBIR, {cfg.dataset} split {protocol.split_name} ({len(protocol.seen)} seen / "
            f"{len(protocol.unseen)} unseen, {len(protocol.test)} test classes), semantics {cfg.semantics.spec}, ablation {cfg.ablation}")
    lines = [head, f"{'method':34s}" + "".join(f"{k:>10s}" for k in METRIC_KEYS)]
    for name, scores in rows:
        lines.append(f"{name:34s}" + "".join(f"{scores.get(k, float('nan')):10.4f}" for k in METRIC_KEYS))
    return "\n".join(lines)


def make_figures(cfg, rd, protocol, q_rows, q_labels, q_emb, g_rows, g_labels, g_emb, history) -> dict:
    """Figure 4 (retrieval grid, correct/incorrect marked), Figure 5 (t-SNE of generated features), Figure 3
    (loss terms and validation mAP over training)."""
    from sbir_tf.data.pipeline import load_display_images
    from sbir_tf.eval import figures
    from sbir_tf.eval.retrieval import top_k

    index, fc = protocol.index, cfg.figures
    out = {}
    # Figure 4: one query per test class (first few), its top-k photos.
    picks, seen_cls = [], set()
    for i, lab in enumerate(q_labels):
        if lab not in seen_cls:
            seen_cls.add(lab)
            picks.append(i)
        if len(picks) >= int(fc.num_queries):
            break
    extra = [i for i in np.linspace(0, len(q_labels) - 1, int(fc.num_queries) * 2).astype(int) if i not in picks]
    picks = np.array((picks + extra)[:int(fc.num_queries)])
    k = min(int(fc.top_k), len(g_emb))
    _, idx = top_k(q_emb[picks], g_emb, k, metric=cfg.eval.metric)
    size = int(fc.display_size)
    q_imgs = load_display_images([index.sketches[q_rows[i]] for i in picks], arrays=index.arrays, size=size)
    g_recs = [index.photos[g_rows[j]] for j in np.asarray(idx).reshape(-1)]
    g_imgs = load_display_images(g_recs, arrays=index.arrays, size=size).reshape(len(picks), k, size, size, 3)
    correct = np.asarray(g_labels)[np.asarray(idx)] == np.asarray(q_labels)[picks][:, None]
    out["retrieval_grid"] = str(figures.retrieval_grid(
        q_imgs, g_imgs, correct, rd.figures / "retrieval_grid.png",
        title=f"WAD-CMSN {cfg.dataset} {protocol.split_name}: test-class retrieval (green correct, red wrong)",
        query_labels=[protocol.test[int(q_labels[i])] for i in picks]))
    # Figure 5: t-SNE of generated semantic features (sketches o, photos ^), coloured by class.
    rng = np.random.default_rng(0)
    n_max = max(1, int(fc.tsne_max_points) // 2)
    qs = np.sort(rng.permutation(len(q_emb))[:n_max])
    gs = np.sort(rng.permutation(len(g_emb))[:n_max])
    emb = np.concatenate([q_emb[qs], g_emb[gs]])
    labels = np.concatenate([np.asarray(q_labels)[qs], np.asarray(g_labels)[gs]]).astype(int)
    markers = ["o"] * len(qs) + ["^"] * len(gs)
    out["tsne"] = str(figures.tsne_plot(emb, labels, list(protocol.test), rd.figures / "tsne_generated.png",
                                        title="t-SNE of G_sk(x) (o) and G_im(y) (^), test classes", seed=0,
                                        markers=markers))
    # Figure 3: loss terms and validation mAP over training.
    losses, vals = {}, {}
    for rec in history:
        for key, v in rec.items():
            if key != "step":
                (vals if key.startswith("val/") else losses).setdefault(key, []).append((rec["step"], v))
    if losses:
        out["curves_losses"] = str(figures.curves(losses, rd.figures / "curves_losses.png",
                                                  title="WAD-CMSN loss terms", ylabel="loss"))
    if vals:
        out["curves_val"] = str(figures.curves(vals, rd.figures / "curves_val_map.png",
                                               title="Validation retrieval (val classes)", ylabel="score"))
    return out


# ----------------------------------------------------------------------------------------------------- CLI
def build_parser(dataset: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m sbir_tf.experiments.{dataset}_zs",
        description=f"Zero-shot SBIR with WAD-CMSN on {dataset} (no --data_dir: offline synthetic set).")
    p.add_argument("--data_dir", default=None, help="dataset root; omitted: the synthetic set (offline)")
    p.add_argument("--prepared_dir", default=None,
                   help="TFDS data_dir holding prepared records (python -m sbir_tf.data.prepare); read instead of "
                        "--data_dir")
    p.add_argument("--dataset_reader", default=None,
                   help="reader name (default auto: sketchy_extended when its photo folder exists, else sketchy)")
    p.add_argument("--split", default=None, choices=zs_presets.SPLITS[dataset])
    p.add_argument("--semantics", default=None,
                   help=f"side information (Table 3): one text model and/or one hierarchy measure, e.g. "
                        f"{', '.join(SEMANTICS_EXAMPLES)} (default per --config: "
                        + ", ".join(f"{k} {v[dataset]}" for k, v in zs_presets.DEFAULT_SEMANTICS.items()) + ")")
    p.add_argument("--text_vectors", default=None, metavar="PATH",
                   help="word-vector file for the text model of --semantics (word2vec binary/text, GloVe text or "
                        "gensim .kv); default: offline GloVe 6B 50-d, and for w2v a local copy of "
                        "word2vec-google-news-300 or else GloVe in its place (semantics.text_fallback)")
    p.add_argument("--ablation", default=None,
                   help=f"Table 4 rows {list(zs_presets.TABLE4_ROWS)}, the Table 1 baseline "
                        f"{zs_presets.RAW_FEATURES}, or extras {list(zs_presets.EXTRA_ABLATIONS)} "
                        f"(aliases {sorted(zs_presets.ABLATION_ALIASES)})")
    p.add_argument("--config", default="cpu", choices=zs_presets.PRESETS)
    p.add_argument("--weights", default=None,
                   help=f"VGG16 weights: {' | '.join(backbones.KNOWN_WEIGHTS)} | path to .h5")
    p.add_argument("--image_size", type=int, default=None, help="feature-extraction input size (default: preset)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=None, help="training seed (batches, dropout, init)")
    p.add_argument("--output_dir", default=None)
    p.add_argument("--cache_dir", default=None, help="feature cache folder (default: sbir_tf.paths.default_cache_dir())")
    p.add_argument("--refresh_features", action="store_true", help="recompute (and overwrite) cached features")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output_dir")
    p.add_argument("--no_figures", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, repeatable")
    return p


def config_from_args(args: argparse.Namespace, dataset: str) -> Config:
    cfg = zs_presets.get_config(args.config, dataset=dataset)
    if args.data_dir is not None:
        cfg.data.dir = str(args.data_dir)
    if getattr(args, "prepared_dir", None):
        cfg.data.prepared_dir = str(args.prepared_dir)
    if args.dataset_reader:
        cfg.data.reader = args.dataset_reader
    if args.split:
        cfg.data.split = args.split
    if args.semantics:
        cfg.semantics.spec = args.semantics
    if getattr(args, "text_vectors", None):
        cfg.semantics.text_vectors = str(args.text_vectors)
    zs_presets.apply_ablation(cfg, args.ablation or cfg.ablation)
    if args.weights:
        cfg.features.weights = args.weights
    if args.image_size:
        cfg.features.image_size = cfg.features.synthetic_image_size = int(args.image_size)
    if args.steps is not None:
        cfg.train.steps = int(args.steps)
    if args.seed is not None:
        cfg.train.seed = int(args.seed)
    if args.cache_dir:
        cfg.features.cache_dir = str(args.cache_dir)
    if args.refresh_features:
        cfg.features.refresh = True
    if args.no_figures:
        cfg.figures.enabled = False
    cfg.override(args.set)
    parse_semantics(cfg.semantics.spec)
    return cfg


def default_output_dir(cfg: Config) -> Path:
    split = cfg.data.split if uses_real_data(cfg) else "synthetic"
    sem = cfg.semantics.spec.replace("+", "-")
    return Path("runs") / f"{cfg.dataset}_zs_{cfg.name}_{split}_{cfg.ablation.replace('+', '-')}_{sem}_s{cfg.train.seed}"


def main(argv: Sequence[str] | None, dataset: str) -> int:
    from sbir_tf.semantics.wordnet import WordNetUnavailable

    args = build_parser(dataset).parse_args(argv)
    try:
        cfg = config_from_args(args, dataset)
        out = Path(args.output_dir) if args.output_dir else default_output_dir(cfg)
        print(f"[zs] output: {out}", file=sys.stderr)
        run(cfg, out, resume=args.resume)
    except (DataError, ValueError, KeyError, FloatingPointError, FileNotFoundError, WordNetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
