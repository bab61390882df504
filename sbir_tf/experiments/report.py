"""Experiment records -> Markdown tables laid out like the papers' tables, published numbers beside ours.

    python -m sbir_tf.experiments.report [--root experiments]        # print the report
    python -m sbir_tf.experiments.report --out                       # write it to <root>/REPORT.md
    python -m sbir_tf.experiments.report --out somewhere/REPORT.md
    python -m sbir_tf.experiments.report --aggregate runs/s0 runs/s1 runs/s2 --aggregate_out experiments/zs_full

A *record* is a folder holding ``metrics.json`` (plus ``config.json``, ``environment.json`` and ``figures/``, as
``sbir_tf.train.run_dir.RunDir`` writes them). Three kinds are read:

* fine-grained (``sbir_tf.tasks.fg``): ``acc@K``, ``chance``, ``variant``, ``sharing``, ``schedule``,
  ``dataset``, ``image_size``, ``weights``, ``steps``, ``seed``, ...
* zero-shot (``sbir_tf.tasks.zs``): ``wadcmsn`` / ``baseline_raw_features`` score dicts (``mAP@all``, ``P@100``,
  ``mAP@200``, ``P@200``), ``split``, ``semantics`` (the requested spec), ``side_information`` (the text model
  requested and used: a run whose word2vec was substituted by GloVe is labelled, matched and flagged by the side
  information it used, :func:`semantics_used`), ``ablation``, ``features``, ``seed``, ...
* multi-seed zero-shot (:func:`aggregate_runs`), schema::

      {"task": "zero_shot", "aggregate": {"seeds": [0, 1, 2], "n": 3, "std_ddof": 1,
                                          "mean": {"mAP@all": ..}, "std": {"mAP@all": ..},
                                          "baseline_raw_features": {"mean": {..}, "std": {..}}},
       "runs": [{"seed": 0, "source": "runs/zs_s0", "wadcmsn": {..}, "baseline_raw_features": {..}}, ...],
       "dataset": .., "data": .., "split": .., "semantics": .., "side_information": .., "ablation": ..,
       "config": .., "features": .., "steps": ..}

  Seed runs nested inside an aggregate's folder or named in its ``runs`` are not read again on their own.

Every record is split into its seeds' *runs* (an aggregate into the runs it lists), and runs that differ only by
their seed are grouped: same kind, same setting (model, dataset, split, image size, weights, steps, preset) and the
same ``config.json`` apart from ``train.seed``. A group is one table row; each number of ours is printed as
``mean ± sample std (n=k)`` over its k seeds (``a (n=1)`` for one seed). The score of a zero-shot run is WAD-CMSN's,
or the raw-feature nearest-neighbour baseline's for the ``raw_features`` ablation.

A record that is not evidence about a paper's claim (a speed measurement, a smoke check, a demo model) says so in a
``record.json`` beside its ``metrics.json`` or in a parent folder under the root, e.g.
``{"purpose": "speed measurement: 12 steps per setting", "paper_tables": false}``: it is then left out of the
paper tables and listed, with its purpose, only among all settings.

Every measured row says what it was measured on (dataset, split, image size, weights, steps, seeds, preset,
device, commit) and whether that is the paper's setting, so a CPU run on synthetic or mini data is never mistaken
for a reproduction. Published numbers come only from :mod:`sbir_tf.experiments.paper_numbers`.
"""
from __future__ import annotations

import argparse
import copy
import functools
import json
import re
import shutil
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sbir_tf.experiments import paper_numbers as P
from sbir_tf.run.resume import ADDED_KEYS, added_at_old_value

FG_METRICS = ("acc@1", "acc@5", "acc@10", "chance acc@1")
ZS_METRICS = ("mAP@all", "P@100", "mAP@200", "P@200")
#: Prefix of the raw-feature nearest-neighbour scores that every zero-shot run measures beside its own.
BASELINE = "raw-feature NN "
ZS_TABLE_METRICS = ZS_METRICS + (BASELINE + "mAP@all", BASELINE + "P@100", "dimension")
NO_RECORD = "—"
KINDS = ("fine_grained", "zero_shot", "zero_shot_aggregate")
#: The kind of record each paper's tables are about (aggregates count as zero-shot).
PAPER_KIND = {"pang2017": "fine_grained", "wadcmsn2022": "zero_shot"}
#: The paper whose tables each kind of record is about (:data:`PAPER_KIND` reversed).
PAPER_OF_KIND = {kind: paper for paper, kind in PAPER_KIND.items()}


# ------------------------------------------------------------------------------------------------ records
@dataclass
class Record:
    """One experiment folder: its ``metrics.json`` and, when present, ``config.json`` / ``environment.json``."""

    path: Path
    kind: str
    metrics: dict
    config: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    name: str = ""
    #: the folder's ``record.json`` (see the module docstring): ``purpose`` and ``paper_tables``
    note: dict = field(default_factory=dict)

    @property
    def in_paper_tables(self) -> bool:
        """Whether the record is evidence to set beside the papers' numbers (``record.json``: ``paper_tables``)."""
        return bool(self.note.get("paper_tables", True))


def record_kind(metrics: dict) -> str | None:
    """``fine_grained``, ``zero_shot``, ``zero_shot_aggregate`` or None (not an experiment record)."""
    if metrics.get("task") == "zero_shot" and isinstance(metrics.get("aggregate"), dict):
        return "zero_shot_aggregate"
    if "acc@1" in metrics:
        return "fine_grained"
    if "baseline_raw_features" in metrics or "wadcmsn" in metrics:
        return "zero_shot"
    return None


def _read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return default
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


RECORD_NOTE = "record.json"
NOTE_KEYS = ("purpose", "paper_tables")


def record_note(folder: Path, root: Path | None = None) -> dict:
    """The ``record.json`` nearest to ``folder`` (itself, then its parents up to ``root``), or ``{}``; an unknown key
    or a ``paper_tables`` that is not a boolean is a ``ValueError``."""
    folder = Path(folder).resolve()
    stop = Path(root).resolve() if root is not None else folder
    for candidate in [folder, *folder.parents]:
        path = candidate / RECORD_NOTE
        if path.is_file():
            note = _read_json(path, {}) or {}
            unknown = sorted(set(note) - set(NOTE_KEYS))
            if unknown or not isinstance(note.get("paper_tables", True), bool):
                raise ValueError(f"{path}: keys are {NOTE_KEYS} (paper_tables true or false), got {note}")
            return note
        if candidate == stop or stop not in candidate.parents:
            break
    return {}


def load_record(folder: str | Path, root: str | Path | None = None) -> Record:
    """The record in ``folder``; ``ValueError`` when its ``metrics.json`` is missing or of no known kind."""
    folder = Path(folder)
    metrics = _read_json(folder / "metrics.json")
    if not isinstance(metrics, dict):
        raise ValueError(f"{folder}: no metrics.json (a record folder holds metrics.json, config.json, "
                         f"environment.json and figures/)")
    kind = record_kind(metrics)
    if kind is None:
        raise ValueError(f"{folder}/metrics.json is neither a fine-grained (acc@K) nor a zero-shot "
                         f"(wadcmsn/baseline_raw_features or an aggregate) record")
    try:
        name = str(folder.relative_to(root)) if root is not None else folder.name
    except ValueError:
        name = folder.name
    return Record(folder, kind, metrics, _read_json(folder / "config.json", {}) or {},
                  _read_json(folder / "environment.json", {}) or {}, name, record_note(folder, root))


def find_records(root: str | Path) -> tuple[list[Record], list[str]]:
    """All records under ``root`` (sorted by path) and a list of warnings for folders that were skipped."""
    root = Path(root)
    if not root.is_dir():
        return [], [f"no records folder {root}"]
    records, warnings = [], []
    for metrics_path in sorted(root.rglob("metrics.json")):
        try:
            records.append(load_record(metrics_path.parent, root))
        except ValueError as err:
            warnings.append(str(err))
    aggregates = [r for r in records if r.kind == "zero_shot_aggregate"]
    covered = set()
    for agg in aggregates:
        for run in agg.metrics.get("runs", []):
            if run.get("source"):
                covered.add(Path(run["source"]).resolve())
    kept = []
    for r in records:
        inside = any(a is not r and a.path.resolve() in r.path.resolve().parents for a in aggregates)
        if r.kind != "zero_shot_aggregate" and (inside or r.path.resolve() in covered):
            continue  # a seed of an aggregate: reported through the aggregate
        kept.append(r)
    return kept, warnings


# ------------------------------------------------------------------------------------------------ runs
@dataclass(frozen=True)
class Run:
    """One seed's numbers: the record they were read from, the seed and ``scores`` (metric name -> value)."""

    record: Record
    seed: object
    scores: dict


def family(record: Record) -> str:
    """``fine_grained`` or ``zero_shot`` (single runs and aggregates alike)."""
    return "fine_grained" if record.kind == "fine_grained" else "zero_shot"


def _fg_scores(metrics: dict) -> dict:
    scores = {k: v for k, v in metrics.items() if k.startswith("acc@")}
    scores.update({f"chance {k}": v for k, v in (metrics.get("chance") or {}).items()})
    return scores


def _zs_scores(record: Record, source: dict) -> dict:
    """A zero-shot run's scores from ``source`` (a metrics.json or one entry of an aggregate's ``runs``): the
    model's (the baseline's for ``raw_features``), the baseline's under :data:`BASELINE` and the retrieval feature's
    dimension read from ``config.json`` (``model.semantic_dim``; ``model.visual_dim`` for raw features)."""
    raw = _is_raw(record.metrics)
    baseline = source.get("baseline_raw_features") or {}
    scores = dict(baseline if raw else source.get("wadcmsn") or {})
    scores.update({BASELINE + k: v for k, v in baseline.items()})
    dimension = (record.config.get("model") or {}).get("visual_dim" if raw else "semantic_dim")
    if dimension is not None:
        scores["dimension"] = dimension
    return scores


def runs_of(record: Record) -> list[Run]:
    """The seed runs a record holds: itself, or for an aggregate every entry of its ``runs``."""
    m = record.metrics
    if record.kind == "fine_grained":
        return [Run(record, m.get("seed"), _fg_scores(m))]
    if record.kind == "zero_shot":
        return [Run(record, m.get("seed"), _zs_scores(record, m))]
    return [Run(record, run.get("seed"), _zs_scores(record, run)) for run in m.get("runs", [])]


# ------------------------------------------------------------------------------------------------ setting
def cpu_name(name: str) -> str:
    """A CPU's model name without trademarks and filler: "Intel(R) Xeon(R) Processor" -> "Intel Xeon"."""
    name = re.sub(r"\((R|TM|r|tm)\)", "", str(name or ""))
    name = re.sub(r"\s+(CPU|Processor)\b.*$", "", name.strip())
    return " ".join(name.split())


def _device(env: dict) -> str:
    """"GPU x<n>", or "CPU (<cores> cores, <model>)": speed, and the rounding of low-precision kernels, depend on
    the CPU model (environment.json's ``cpu``), so seeds run on different machines show both."""
    if not env:
        return "unknown"
    gpus = env.get("gpus") or []
    if gpus:
        return f"GPU x{len(gpus)}"
    parts = [f"{env['cores']} cores"] if env.get("cores") else []
    parts += [name for name in [cpu_name(env.get("cpu"))] if name]
    return "CPU" + (f" ({', '.join(parts)})" if parts else "")


def _commit(env: dict) -> str:
    """The run's commit, short; "+uncommitted" when its environment lists package files changed since. A run
    resumed on other code names that too: "ccc (resumed at step 600; earlier steps on aaa)" (``environment.json``'s
    ``earlier`` segments, :meth:`sbir_tf.train.run_dir.RunDir.write_environment`)."""
    def short(e: dict) -> str | None:
        commit = e.get("commit") if isinstance(e, dict) else None
        return commit[:8] + ("+uncommitted" if e.get("uncommitted_changes") else "") if commit else None

    now = short(env)
    if now is None:
        return "unknown"
    earlier = [c for c in dict.fromkeys(short(e) for e in env.get("earlier") or []) if c and c != now]
    if not earlier:
        return now
    return f"{now} (resumed at step {env.get('resumed_from_step')}; earlier steps on {', '.join(earlier)})"


def small_data(record: Record) -> str | None:
    """The small data a record was measured on ("synthetic data" or "mini subset"), or None for full data."""
    m = record.metrics
    if record.kind == "fine_grained":
        text = f"{m.get('data_root') or ''} {m.get('dataset') or ''}"
    else:
        data = m.get("data") or {}
        text = f"{data.get('root') or ''} {data.get('source') or ''}"
    text = text.lower()
    return "synthetic data" if "synthetic" in text else "mini subset" if "mini" in text else None


TEXT_TOKENS = ("w2v", "word2vec", "glove")


def _text_model(vectors_name: str) -> str:
    """The ``--semantics`` token of a word-vector set's name (``glove-6b-50d`` -> ``glove``,
    ``word2vec-google-news-300`` -> ``w2v``); the name itself when it is neither."""
    name = vectors_name.lower()
    return "glove" if "glove" in name else "w2v" if "word2vec" in name or "w2v" in name else vectors_name


def semantics_used(metrics: dict) -> tuple[str, str | None]:
    """``(spec, substitution)``: the side information a zero-shot run actually used and, when its text model was
    substituted (``side_information.text_substituted`` in ``metrics.json``, written by ``sbir_tf.tasks.zs``: word2vec
    asked for, GloVe used), a note saying so; ``(requested spec, None)`` otherwise.

    ``{"semantics": "w2v+jcn", "side_information": {"text_requested": "word2vec", "text_used": "glove-6b-50d",
    "text_substituted": true}}`` -> ``("glove+jcn", "substituted: w2v+jcn requested, glove-6b-50d used for
    word2vec")``.
    """
    requested = str(metrics.get("semantics", "?"))
    sources = metrics.get("side_information") or {}
    if not sources.get("text_substituted"):
        return requested, None
    vectors = str(sources.get("text_used") or "unknown vectors")
    tokens = [t.strip() for t in requested.split("+")]
    used = "+".join(_text_model(vectors) if t.lower() in TEXT_TOKENS else t for t in tokens)
    return used, (f"substituted: {requested} requested, {vectors} used for "
                  f"{sources.get('text_requested') or 'the text model'}")


def held_out_for_validation(config: dict | None) -> int:
    """Training instances a fine-grained run held out of training as its validation set (``data.val_instances``;
    0 for records made before the key existed)."""
    return int(((config or {}).get("data") or {}).get("val_instances") or 0)


def _rate(value: float) -> str:
    """A learning rate as the configs write it: 3e-4, 1e-5."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


@functools.lru_cache(maxsize=None)
def _preset_rates(preset: str) -> types.MappingProxyType | None:
    """A fine-grained preset's ``train.base_lr`` and ``train.final_lr``, read-only (built once per preset); None for
    an unknown preset."""
    from sbir_tf.configs.fg import PRESETS, get_config  # here, not at the top: the configs import TensorFlow
    if preset not in PRESETS:
        return None
    train = get_config(preset).train
    return types.MappingProxyType({key: float(train[key]) for key in ("base_lr", "final_lr")})


def _learning_rates_if_changed(preset: str, train: dict) -> str:
    """``", Adam lr <base_lr> -> <final_lr>"`` when a fine-grained run's ``train.base_lr`` / ``train.final_lr`` (those
    the record gives) differ from its preset's, or the preset is unknown; "" when they match or are not recorded."""
    given = {key: float(train[key]) for key in ("base_lr", "final_lr") if key in train}
    if not given:
        return ""
    preset_rates = _preset_rates(preset)
    if preset_rates and all(value == preset_rates[key] for key, value in given.items()):
        return ""
    return ", Adam lr " + " -> ".join(_rate(value) for value in given.values())


def _fg_setting(m: dict, config: dict | None = None) -> dict:
    dataset = str(m.get("dataset", "?"))
    if m.get("category") and dataset.startswith("qmul"):
        dataset += f"/{m['category']}"
    model = f"{m.get('variant', '?')}, {m.get('sharing', '?')}, schedule {m.get('schedule', '?')}"
    if m.get("decoder_distance") and not str(m.get("variant", "")).endswith("-D"):
        model += f", L_D {m['decoder_distance']}"
    if m.get("frozen_blocks"):
        model += f", conv blocks 1..{m['frozen_blocks']} frozen"
    if m.get("precision") not in (None, "float32"):  # train.precision: mixed precision is part of the setting
        model += f", {m['precision']}"
    model_config = (config or {}).get("model") or {}
    if model_config.get("pooling", "flatten") != "flatten":
        model += f", pool5 {model_config['pooling']}"
    if float(model_config.get("classifier_scale", 1.0)) != 1.0:  # model.classifier_scale: C's Adam lr multiplier
        model += f", classifier lr x{float(model_config['classifier_scale']):g}"
    data_config = (config or {}).get("data") or {}
    if data_config.get("flip") is False:
        model += ", no flips"
    elif data_config.get("flip_pairs"):
        model += ", flips paired"
    if data_config.get("crop_pairs"):
        model += ", crops paired"
    if data_config.get("trunk_cache_views"):  # data.trunk_cache_views: a finite pool of crops per training image
        model += f", trunk cache of {int(data_config['trunk_cache_views'])} views"
    hard = data_config.get("hard_negative_prob")
    if hard is not None and float(hard) != 0.5:  # data.hard_negative_prob: 0.5 in every preset
        model += f", same-class negatives p={float(hard):g}"
    lambda_t = ((config or {}).get("loss") or {}).get("lambda_t")
    if lambda_t is not None and float(lambda_t) != 1.0:  # loss.lambda_t: Eq. 1's lambda_T, 1 in the paper
        model += f", lambda_T {float(lambda_t):g}"
    model += _learning_rates_if_changed(str(m.get("preset")), (config or {}).get("train") or {})
    split = str(m.get("split", "?")).split(" ")[0]
    held_out = held_out_for_validation(config)
    if held_out:  # trained on fewer instances than the split's training set (data.val_instances)
        split += f", {held_out} training instances held out for validation"
    return {"model": model,
            "dataset": dataset, "split": split,
            "image_size": f"{m.get('image_size', '?')} px", "weights": str(m.get("weights")),
            "steps": str(m.get("steps", "?")), "preset": str(m.get("preset", "?"))}


def _zs_setting(m: dict) -> dict:
    data, split, features = m.get("data") or {}, m.get("split") or {}, m.get("features") or {}
    raw = _is_raw(m)
    source = data.get("source")
    used, substitution = semantics_used(m)
    semantics = used + (f" ({substitution})" if substitution else "")
    return {"model": str(m.get("ablation", "?")) + ("" if raw else f", {semantics}"),
            "dataset": str(m.get("dataset", "?")) + (f" [{source}]" if source else ""),
            "split": (f"{split.get('name', '?')} ({split.get('num_seen', '?')} seen / "
                      f"{split.get('num_test', split.get('num_unseen', '?'))} test classes)"),
            "image_size": f"{features.get('image_size', '?')} px", "weights": str(features.get("weights", "?")),
            "steps": "none (no training)" if raw or m.get("steps") is None else str(m["steps"]),
            "preset": str(m.get("config", "?"))}


def identity(record: Record) -> dict:
    """What a record was measured on, as short strings: model, dataset (synthetic data and mini subsets flagged),
    split, image size, weights, steps, preset, device and commit. Seeds are a group's (:meth:`Group.setting`)."""
    ident = (_fg_setting(record.metrics, record.config) if record.kind == "fine_grained"
             else _zs_setting(record.metrics))
    small = small_data(record)
    if small:
        ident["dataset"] += f" ({small})"
    ident["device"] = _device(record.environment)
    ident["commit"] = _commit(record.environment)
    return ident


#: Identity fields that may differ between the seed runs of one group (where and from which commit they ran).
RUN_ONLY_FIELDS = ("device", "commit")


#: Renamed keys: old ``(section, key)`` -> new ``(section, key)`` and the new value of each old value.
RENAMED_CONFIG_KEYS = {("train", "mixed_precision"): (("train", "precision"), {False: "float32", True: "float16"})}


def comparable_config(config: dict) -> dict:
    """``config`` without its seed and in the current schema (:data:`RENAMED_CONFIG_KEYS` renamed,
    keys of :data:`sbir_tf.run.resume.ADDED_KEYS` at their old value dropped: a record without the key and a record
    holding that value group together), so that seeds of one setting recorded by different
    versions of the package compare equal, and any real difference still separates them."""
    config = copy.deepcopy(config)
    (config.get("train") or {}).pop("seed", None)
    for (section, key), ((new_section, new_key), values) in RENAMED_CONFIG_KEYS.items():
        block = config.get(section)
        if isinstance(block, dict) and key in block and block[key] in values:
            config.setdefault(new_section, {})[new_key] = values[block.pop(key)]
    for dotted in ADDED_KEYS:
        section, key = dotted.split(".", 1)
        block = config.get(section)
        if isinstance(block, dict) and key in block and added_at_old_value(dotted, block[key]):
            del block[key]  # 0 is not False: a changed type is a change
    return config


def _config_without_seed(config: dict) -> str:
    return json.dumps(comparable_config(config), sort_keys=True, default=str)


def group_key(run: Run) -> tuple:
    """Runs with equal keys differ only by their seed (and where they ran)."""
    ident = identity(run.record)
    setting = tuple((k, v) for k, v in sorted(ident.items()) if k not in RUN_ONLY_FIELDS)
    return family(run.record), setting, _config_without_seed(run.record.config)


@dataclass
class Group:
    """Runs of one setting that differ only by their seed: one row of a table."""

    runs: list[Run] = field(default_factory=list)

    @property
    def record(self) -> Record:
        return self.runs[0].record

    def values(self, metric: str) -> list[float]:
        return [float(r.scores[metric]) for r in self.runs if r.scores.get(metric) is not None]

    def setting(self) -> dict:
        """:func:`identity` of its runs (values that differ joined by ", "), its seeds and its record folders."""
        records = {id(r.record): r.record for r in self.runs}.values()  # an aggregate's runs share one record
        per_record = [identity(record) for record in records]
        merged = {key: ", ".join(dict.fromkeys(i[key] for i in per_record)) for key in per_record[0]}
        merged["seeds"] = ",".join(str(r.seed) for r in self.runs)
        merged["records"] = ", ".join(dict.fromkeys(f"`{r.record.name}`" for r in self.runs))
        return merged


def group_runs(records: Iterable[Record]) -> tuple[list[Group], list[str]]:
    """The records' runs grouped over seeds (first-seen order) and warnings: an aggregate without per-seed scores,
    or a run repeating a seed already in its group (counted once)."""
    groups: dict[tuple, Group] = {}
    warnings = []
    for record in records:
        runs = runs_of(record)
        if not runs:
            warnings.append(f"`{record.name}`: aggregate without per-seed `runs`; rebuild it with --aggregate")
        for run in runs:
            group = groups.setdefault(group_key(run), Group())
            twin = next((r for r in group.runs if run.seed is not None and r.seed == run.seed), None)
            if twin is not None:
                warnings.append(f"`{run.record.name}` repeats seed {run.seed} of `{twin.record.name}` in the same "
                                f"setting: counted once")
                continue
            group.runs.append(run)
    for group in groups.values():
        group.runs.sort(key=lambda run: seed_sort_key(run.seed))
    return list(groups.values()), warnings


def seed_sort_key(seed) -> tuple:
    """Seeds in numeric order (an integer, or its digits such as the ``3`` of a ``seed3/`` folder), then any other
    seed by its text: ``2 < 10 < "1a" < "x"``."""
    if isinstance(seed, int):
        return 0, seed, ""
    text = str(seed)
    return (0, int(text), "") if text.isdecimal() else (1, 0, text)


# ------------------------------------------------------------------------------------------------ matching
def _canonical_semantics(spec) -> tuple | str:
    try:
        from sbir_tf.configs.zs import parse_semantics

        return parse_semantics(str(spec))
    except (ValueError, ImportError):
        return str(spec)


def _ablation(name) -> str:
    try:
        from sbir_tf.configs.zs import canonical_ablation

        return canonical_ablation(str(name))
    except (ValueError, ImportError):
        return str(name)


def _is_raw(metrics: dict) -> bool:
    """Whether a zero-shot record is the raw-feature nearest-neighbour baseline (``configs.zs.RAW_FEATURES`` or one of
    its aliases): no model, no training, no side information."""
    from sbir_tf.configs.zs import RAW_FEATURES

    return _ablation(metrics.get("ablation")) == RAW_FEATURES


def _measured(metrics: dict, key: str):
    """A record's value of a ``match``/``setting`` key; for ``semantics`` the side information actually used
    (:func:`semantics_used`), so a substituted run never sits beside a row of the text model it asked for."""
    return semantics_used(metrics)[0] if key == "semantics" else metrics.get(key)


def _canonical(key: str, value) -> object:
    if key == "ablation":
        return _ablation(value)
    if key == "semantics":
        return _canonical_semantics(value)
    return str(value)


def _dataset_family(text: str) -> str:
    t = text.lower().replace("-", "").replace("_", "")
    return "tuberlin" if "tuberlin" in t else "sketchy" if ("sketchy" in t or "synthetic" in t) else t


def matches(entry: P.PaperNumber, record: Record) -> bool:
    """Whether ``record`` sits beside the paper row ``entry``: the paper's kind of record, the entry's dataset and
    every key of ``entry.match`` (see ``paper_numbers``)."""
    m = record.metrics
    return (bool(entry.match) and family(record) == PAPER_KIND[entry.paper]
            and _dataset_family(str(m.get("dataset", ""))) == _dataset_family(entry.dataset)
            and all(_canonical(k, _measured(m, k)) == _canonical(k, v) for k, v in entry.match.items()))


def setting_gaps(group: Group, setting: dict, entry: P.PaperNumber | None = None) -> list[str]:
    """How a group's setting (``setting``: its :meth:`Group.setting`) differs from the paper's: not the ``paper``
    preset, synthetic or mini data, a substituted text model (:func:`semantics_used`) and any key of
    ``entry.setting`` (e.g. other side information than the paper's, compared with the side information actually
    used)."""
    m = group.record.metrics
    preset = setting["preset"]  # one preset per group: it is part of the group key
    gaps = [] if preset == "paper" else [f"preset {preset}"]
    gaps += [s for s in [small_data(group.record)] if s]
    uses_semantics = family(group.record) == "zero_shot" and not _is_raw(m)
    substitution = semantics_used(m)[1] if uses_semantics else None
    if substitution:
        gaps.append(f"text model {substitution}")
    for key, want in (entry.setting if entry else {}).items():
        if _canonical(key, _measured(m, key)) != _canonical(key, want):
            gaps.append(f"{key} {_measured(m, key)} (paper: {want})")
    return gaps


def paper_setting_cell(group: Group, setting: dict, entry: P.PaperNumber | None = None) -> str:
    gaps = setting_gaps(group, setting, entry)
    purpose = group.record.note.get("purpose")
    cell = "yes" if not gaps else "no: " + "; ".join(gaps)
    return cell + (f" (purpose: {purpose})" if purpose else "")


# ------------------------------------------------------------------------------------------------ tables
def value_cell(values: Sequence[float], metric: str, digits: int) -> str:
    """``mean ± sample std (n=k)`` over seeds; ``v (n=1)`` for one seed; the distinct values of a dimension."""
    if not values:
        return "n/a"
    if metric == "dimension":
        return ", ".join(dict.fromkeys(str(int(v)) for v in values))
    if len(values) == 1:
        return f"{values[0]:.{digits}f} (n=1)"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f} (n={len(values)})"


#: Setting columns of every measured row: (``Group.setting`` key, title).
SETTING_COLUMNS = (("records", "Our records"), ("model", "Model"), ("dataset", "Dataset"), ("split", "Split"),
                   ("image_size", "Image size"), ("weights", "Weights"), ("steps", "Steps"), ("seeds", "Seeds"),
                   ("preset", "Preset"), ("device", "Device"), ("commit", "Commit"))
PAPER_SETTING = "Paper setting?"


def _md_row(cells: Sequence) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _md_table(header: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    """The one table renderer: a Markdown table."""
    return [_md_row(header), _md_row(["---"] * len(header)), *(_md_row(r) for r in rows)]


def _value_cells(group: Group, metrics: Sequence[str], digits: int) -> list[str]:
    """Our numbers of one group, one cell per metric."""
    return [value_cell(group.values(k), k, digits) for k in metrics]


def _measured_cells(group: Group, metrics: Sequence[str], digits: int, entry: P.PaperNumber | None) -> list[str]:
    """Our numbers, the setting and the paper-setting flag of one group."""
    setting = group.setting()
    return [*_value_cells(group, metrics, digits), *(setting[key] for key, _ in SETTING_COLUMNS),
            paper_setting_cell(group, setting, entry)]


def _paper_rows(entries: Sequence[P.PaperNumber]) -> dict[str, dict[str, P.PaperNumber]]:
    """``{row label: {metric: entry}}`` in the paper's order."""
    rows: dict = {}
    for e in entries:
        rows.setdefault(e.row, {})[e.metric] = e
    return rows


def _caption(entries: Sequence[P.PaperNumber]) -> list[str]:
    e = entries[0]
    notes = list(dict.fromkeys(x.note for x in entries if x.note))
    return [f"### {P.PAPERS[e.paper].split(',')[0]} et al. — {e.table}, {e.dataset}", "",
            f"*{e.table}: {P.CAPTIONS[e.paper, e.table]}* Paper columns are quoted from {P.PAPERS[e.paper]}, "
            f"{e.table} (text: `{e.source}`)." + "".join(f" Note: {n}." for n in notes), ""]


def group_paper_table(entries: Sequence[P.PaperNumber], groups: Sequence[Group]) -> list[str]:
    """Markdown for one paper table (one paper, table and dataset): every paper row with its quoted numbers, once
    per group of ours that sits beside it (once with "no record" when none does)."""
    if len({(e.paper, e.table, e.dataset) for e in entries}) != 1:
        raise ValueError("group_paper_table takes the entries of one paper, table and dataset")
    paper = entries[0].paper
    metrics = list(dict.fromkeys(e.metric for e in entries))
    header = (["Paper row", *(f"Paper {k}" for k in metrics), *(f"Ours {k}" for k in metrics),
               *(title for _, title in SETTING_COLUMNS), PAPER_SETTING])
    rows = []
    for label, by_metric in _paper_rows(entries).items():
        quoted = [P.format_value(by_metric.get(k)) for k in metrics]
        entry = next(iter(by_metric.values()))
        mine = [g for g in groups if matches(entry, g.record)]
        rows += [[label, *quoted, *_measured_cells(g, metrics, P.DIGITS[paper], entry)] for g in mine]
        if not mine:
            rows.append([label, *quoted, *[NO_RECORD] * len(metrics), "no record", *[""] * len(SETTING_COLUMNS)])
    return _caption(entries) + _md_table(header, rows) + [""]


def group_settings_table(groups: Sequence[Group], kind: str) -> list[str]:
    """Every group of one kind (``fine_grained`` | ``zero_shot``) with all its numbers and its setting."""
    if kind not in PAPER_OF_KIND:
        raise ValueError(f"kind must be one of {tuple(PAPER_OF_KIND)}, got {kind!r}")
    metrics = FG_METRICS if kind == "fine_grained" else ZS_TABLE_METRICS
    digits = P.DIGITS[PAPER_OF_KIND[kind]]
    (records_key, records_title), *rest = SETTING_COLUMNS  # the records lead, our numbers follow, then the setting
    header = [records_title, *metrics, *(title for _, title in rest), PAPER_SETTING]
    rows = []
    for g in groups:
        setting = g.setting()
        rows.append([setting[records_key], *_value_cells(g, metrics, digits), *(setting[key] for key, _ in rest),
                     paper_setting_cell(g, setting)])
    return _md_table(header, rows) + [""]


def records_table(records: Sequence[Record], kind: str) -> list[str]:
    """:func:`group_settings_table` for the records of ``kind`` (grouped over seeds)."""
    return group_settings_table([g for g in group_runs(records)[0] if family(g.record) == kind], kind)


def _by_dataset(table: Sequence[P.PaperNumber]) -> list[list[P.PaperNumber]]:
    """A paper table's entries split per dataset (WAD-CMSN Tables 3-4 have a column per dataset)."""
    return [[e for e in table if e.dataset == d] for d in dict.fromkeys(e.dataset for e in table)]


SECTIONS = (("fine_grained", "Fine-grained SBIR (Pang et al., BMVC 2017)", P.FG_TABLES),
            ("zero_shot", "Zero-shot SBIR (WAD-CMSN, Xu, Hu, Cai 2022)", P.ZS_TABLES))


def render_section(kind: str, title: str, tables, groups: Sequence[Group]) -> list[str]:
    """One paper's tables with our groups of ``kind`` beside them, then all those groups."""
    mine = [g for g in groups if family(g.record) == kind]
    evidence = [g for g in mine if g.record.in_paper_tables]
    lines = [f"## {title}", ""]
    for table in tables:
        for entries in _by_dataset(table):
            lines += group_paper_table(entries, evidence)
    lines += [f"### All {kind.replace('_', '-')} settings", ""]
    return lines + (group_settings_table(mine, kind) if mine else [f"No {kind.replace('_', '-')} records.", ""])


READING_NOTE = (
    "**Reading this report.** *Paper* columns are the numbers published in the papers (table and row as printed, "
    "as fractions: 50.14% is 0.5014). *Ours* columns are measured by this package, as `mean ± sample std (n=k)` "
    "over k seeds of one setting (`v (n=1)`: a single seed, no spread); the columns to their right say on what: "
    "records, model, dataset (synthetic data and mini subsets flagged), split, image size, weights, training steps, "
    "seeds, preset, device and commit. *Paper setting?* is \"yes\" only for the paper preset on the full data with "
    "the paper's side information; every other row is a sanity check, not a reproduction.")


def render_report(records: Sequence[Record], warnings: Sequence[str] = (), root: str | Path = "experiments") -> str:
    groups, group_warnings = group_runs(records)
    head = ["# sbir_tf experiment report", "",
            f"Records read from `{root}`: {len(records)} "
            f"({sum(r.kind == 'fine_grained' for r in records)} fine-grained, "
            f"{sum(r.kind != 'fine_grained' for r in records)} zero-shot), {len(groups)} settings.", "",
            READING_NOTE, ""]
    if warnings or group_warnings:
        head += ["Skipped folders and runs:", "", *(f"- {w}" for w in [*warnings, *group_warnings]), ""]
    for kind, title, tables in SECTIONS:
        head += render_section(kind, title, tables, groups)
    return "\n".join(head).rstrip() + "\n"


def build_report(root: str | Path = "experiments") -> str:
    records, warnings = find_records(root)
    return render_report(records, warnings, root)


# ------------------------------------------------------------------------------------------------ aggregate
_SAME_ACROSS_SEEDS = ("dataset", "semantics", "ablation", "config", "steps", "features")


def _mean_std(values: Sequence[dict]) -> tuple[dict, dict]:
    keys = [k for k in values[0] if all(k in v and v[k] is not None for v in values)]
    arr = {k: np.array([float(v[k]) for v in values]) for k in keys}
    mean = {k: float(a.mean()) for k, a in arr.items()}
    std = {k: float(a.std(ddof=1)) if len(a) > 1 else 0.0 for k, a in arr.items()}
    return mean, std


def aggregate_runs(run_dirs: Sequence[str | Path], out_dir: str | Path) -> dict:
    """Build a multi-seed zero-shot record in ``out_dir`` from seed runs of one setting (schema: module docstring).

    The runs must be zero-shot records that differ only in their seed (same dataset, split, semantics, ablation,
    preset, steps and features); ``config.json``, ``environment.json`` and ``figures/`` are copied from the first
    run. Returns the written ``metrics.json`` dict.
    """
    from sbir_tf.train.run_dir import write_json

    if not run_dirs:
        raise ValueError("aggregate_runs needs at least one run folder")
    runs = [load_record(d) for d in run_dirs]
    for r in runs:
        if r.kind != "zero_shot":
            raise ValueError(f"{r.path} is a {r.kind} record; aggregate_runs combines single zero-shot runs")
    first = runs[0].metrics
    for r in runs[1:]:
        for key in _SAME_ACROSS_SEEDS:
            if r.metrics.get(key) != first.get(key):
                raise ValueError(f"{r.path} differs from {runs[0].path} in {key!r}: {r.metrics.get(key)!r} vs "
                                 f"{first.get(key)!r}; only the seed may differ between aggregated runs")
        if (r.metrics.get("split") or {}).get("name") != (first.get("split") or {}).get("name"):
            raise ValueError(f"{r.path} uses another split than {runs[0].path}")
        if semantics_used(r.metrics) != semantics_used(first):
            raise ValueError(f"{r.path} used other side information than {runs[0].path}: "
                             f"{semantics_used(r.metrics)} vs {semantics_used(first)}; only the seed may differ "
                             f"between aggregated runs")
    seeds = [r.metrics.get("seed") for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"duplicate seeds {seeds}: each aggregated run must use its own seed")

    main_key = "baseline_raw_features" if first.get("ablation") == "raw_features" else "wadcmsn"
    if any(main_key not in r.metrics for r in runs):
        raise ValueError(f"every run needs {main_key!r} scores in its metrics.json")
    mean, std = _mean_std([r.metrics[main_key] for r in runs])
    b_mean, b_std = _mean_std([r.metrics["baseline_raw_features"] for r in runs]) \
        if all("baseline_raw_features" in r.metrics for r in runs) else ({}, {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {key: first.get(key) for key in ("dataset", "data", "split", "semantics", "side_information",
                                              "ablation", "config", "features", "steps", "num_queries",
                                              "num_gallery")}
    record.update({
        "task": "zero_shot",
        "aggregate": {"seeds": seeds, "n": len(runs), "std_ddof": 1, "scores": main_key, "mean": mean, "std": std,
                      "baseline_raw_features": {"mean": b_mean, "std": b_std}},
        "runs": [{"seed": r.metrics.get("seed"), "source": str(r.path), "wadcmsn": r.metrics.get("wadcmsn"),
                  "baseline_raw_features": r.metrics.get("baseline_raw_features"), "val": r.metrics.get("val")}
                 for r in runs],
        "copied_from": str(runs[0].path),
    })
    for name in ("config.json", "environment.json"):
        if (runs[0].path / name).is_file():
            shutil.copy2(runs[0].path / name, out / name)
    if (runs[0].path / "figures").is_dir():
        shutil.copytree(runs[0].path / "figures", out / "figures", dirs_exist_ok=True)
    write_json(out / "metrics.json", record)
    return record


# ------------------------------------------------------------------------------------------------ CLI
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sbir_tf.experiments.report",
                                description="Collect experiment records into Markdown tables beside the papers' "
                                            "numbers, or aggregate zero-shot seed runs into one record.")
    p.add_argument("--root", default="experiments", help="folder searched (recursively) for metrics.json")
    p.add_argument("--out", nargs="?", const="", default=None,
                   help="write the report to this Markdown file (--out alone: <root>/REPORT.md); default: print")
    p.add_argument("--aggregate", nargs="+", default=None, metavar="RUN_DIR",
                   help="zero-shot seed runs to combine into one multi-seed record (needs --aggregate_out)")
    p.add_argument("--aggregate_out", default=None, help="folder of the multi-seed record")
    args = p.parse_args(argv)
    try:
        if args.aggregate:
            if not args.aggregate_out:
                p.error("--aggregate needs --aggregate_out")
            rec = aggregate_runs(args.aggregate, args.aggregate_out)
            print(f"wrote {args.aggregate_out}/metrics.json: seeds {rec['aggregate']['seeds']}, mean "
                  + ", ".join(f"{k}={v:.4f}" for k, v in rec["aggregate"]["mean"].items()))
            return 0
        text = build_report(args.root)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.out is None:
        print(text)
        return 0
    from sbir_tf.train.run_dir import atomic_write_text

    out = Path(args.out) if args.out else Path(args.root) / "REPORT.md"
    atomic_write_text(out, text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
