"""Benchmark harness: ``python -m benchmarks`` (or ``python benchmarks/run.py``) from the repository root.

Sections (``--only``, comma-separated; default all, in this order):

``peak``       dense float32 matmul GFLOP/s (``benchmarks.peak``): the reference for utilisation;
``train``      fine-grained training step (full model and ``-D``) at each ``--sizes`` image size: images/s, memory,
               model FLOP utilisation (MFU); one WAD-CMSN iteration (``benchmarks.train_step``);
``precision``  the same fine-grained steps under mixed bfloat16 (``--precision bfloat16``): images/s and the
               speed-up over the float32 step of ``train`` (CPUs with AMX-BF16 run bfloat16 convolutions natively);
``frozen``     the ``-D`` step with VGG16 conv blocks 1..k frozen (k = 3, 4, 5), read live and from the trunk cache
               (``data.trunk_cache_views``: the step trains on the frozen blocks' outputs): images/s and the cache's
               speed-up, at 112 px (the CPU campaign's size) when it is among ``--sizes``, else the smallest;
``pipeline``   the input pipeline's images/s (``benchmarks.input_pipeline.measure``) against what the training step
               consumes at the same image size;
``inference``  gallery embedding images/s and single-query latency (``benchmarks.inference``), brute-force search
               latency over 1k/100k/1M galleries (``benchmarks.metrics_bench``'s ``search``), FAISS when installed;
``metrics``    acc@K and mAP@all + P@100 timings (``benchmarks.metrics_bench``).

A full run takes about 13-15 minutes on 2 cores (training at 224 px dominates: ~30-50 s per step of 32 triplets;
the bfloat16 steps of ``precision`` add about 2 minutes on a CPU with AMX-BF16, and ``frozen`` about 5).

Writes ``benchmarks/results/<machine>.json`` (``--out`` to override; machine = slug of CPU model + cores) and prints
the machine (CPU, cores, TF version, oneDNN on/off) and every figure against its target (PASS/MISS). ``--quick``
uses tiny sizes (a smoke run of every code path, ~1 min; its numbers mean nothing). :func:`to_markdown` renders a
results dict as the README's Performance table.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sbir_tf.train.run_dir import cpu_features, cpu_model  # noqa: E402 - after the path set-up above

SECTIONS = ("peak", "train", "precision", "frozen", "pipeline", "inference", "metrics")
DEFAULT_SIZES = (224, 112, 64)
QUICK_SIZES = (32,)
RESULTS_DIR = Path(__file__).resolve().parent / "results"
SKETCHY_MINI = "sketchy_mini"

#: Warm-up and timed steps per image size in a full run (224 px: ~45-50 s per step on 2 cores).
FULL_STEPS = {224: (1, 2), 112: (1, 3), 64: (2, 5)}
DEFAULT_STEPS = (1, 3)


# ------------------------------------------------------------------------------------------------ settings


def settings_for(quick: bool) -> dict:
    """Sizes of every measurement: the full benchmark, or tiny ones for a smoke run (``--quick``)."""
    if quick:
        return {"peak": {"n": 256, "repeats": 2, "warmup": 1},
                "train": {"batch_size": 2, "steps": {}, "default_steps": (1, 1), "variants": ("full", "-D"),
                          "wadcmsn": {"batch_size": 128, "warmup": 1, "iterations": 2, "pool": 256}},
                "precision": {"precisions": ("bfloat16",)},
                "frozen": {"depths": (4,), "variants": ("-D",)},
                "pipeline": {"batch_size": 4, "seconds": 1.0, "real_data": False},
                "inference": {"embed_batch": 4, "embed_repeats": 1, "query_gallery": 100, "query_repeats": 2,
                              "faiss_sizes": (1_000,)},
                "metrics": {"quick": True}}
    return {"peak": {"n": 4096, "repeats": 5, "warmup": 2},
            "train": {"batch_size": 32, "steps": FULL_STEPS, "default_steps": DEFAULT_STEPS,
                      "variants": ("full", "-D"),
                      "wadcmsn": {"batch_size": 128, "warmup": 2, "iterations": 10, "pool": 2048}},
            "precision": {"precisions": ("bfloat16",)},
            "frozen": {"depths": (3, 4, 5), "variants": ("-D",), "sizes": (112,)},
            "pipeline": {"batch_size": 32, "seconds": 20.0, "real_data": True},
            "inference": {"embed_batch": 64, "embed_repeats": 2, "query_gallery": 1250, "query_repeats": 10,
                          "faiss_sizes": (1_000, 100_000, 1_000_000)},
            "metrics": {"quick": False}}


# ------------------------------------------------------------------------------------------------ machine


def machine_slug(cpu: str, cores: int) -> str:
    """File-name slug of a CPU model and core count: ``"Intel(R) Xeon(R) Processor", 2 -> "intel-xeon-processor-2c"``."""
    text = re.sub(r"\((r|tm|c)\)", " ", cpu.lower())
    text = re.sub(r"[^a-z0-9.]+", "-", text).strip("-.")
    return f"{text or 'unknown-cpu'}-{int(cores)}c"


def onednn_enabled() -> tuple[bool, str]:
    """Whether TF runs its oneDNN kernels in this process, as TF itself says (``sbir_tf.train.run_dir
    .onednn_enabled``), and why: ``TF_ENABLE_ONEDNN_OPTS`` as TF read it at import, or, unset, TF's default for the
    CPU (on with AVX-512 neural-network instructions, off on an AVX2-only CPU)."""
    from sbir_tf.train.run_dir import onednn_enabled as tf_says

    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    source = f"TF_ENABLE_ONEDNN_OPTS={value}" if value is not None else "TF's default for this CPU (unset)"
    on = tf_says()
    if on is None:  # a TF that does not say: what the setting asks for (unset: x86 builds carry the kernels)
        on = (value.strip().lower() not in ("0", "false", "off", "") if value is not None
              else platform.machine().lower() in ("x86_64", "amd64"))
    return on, source


def machine_info() -> dict:
    import keras
    import tensorflow as tf

    cpu, cores = cpu_model(), os.cpu_count() or 1
    onednn, source = onednn_enabled()
    return {"cpu": cpu, "cpu_features": cpu_features(), "cores": cores, "slug": machine_slug(cpu, cores),
            "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version(), "onednn": onednn,
            "onednn_source": source, "platform": platform.platform(),
            "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}


# ------------------------------------------------------------------------------------------------ sections


def _call_with_supported(fn, **kwargs):
    """Call ``fn`` with those of ``kwargs`` its signature accepts (other modules' ``measure`` functions)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in params})


def run_peak(cfg: dict) -> dict:
    from benchmarks.peak import measure_matmul_peak

    return measure_matmul_peak(**cfg)


def _measure_fg_steps(train_cfg: dict, sizes, log, errors: dict, suffix: str = "", **measure_kw) -> dict:
    """``{variant: {size: result}}``: every (variant, size) fine-grained step of ``train_cfg``, each in its own
    process (``measure_fg_step_isolated`` with ``measure_kw``). One failing (e.g. out of memory at 224 px) is
    recorded in ``errors`` under "train fg <variant> <size>px<suffix>" and in its slot as ``{"error": ...}``
    without losing the others."""
    from benchmarks.train_step import measure_fg_step_isolated

    out: dict = {}
    for variant in train_cfg["variants"]:
        out[variant] = {}
        for size in sizes:
            warmup, steps = train_cfg["steps"].get(size, train_cfg["default_steps"])
            tag = f"train fg {variant} {size}px{suffix}"
            log(f"  {tag} batch {train_cfg['batch_size']}: {warmup} warm-up + {steps} timed steps")
            try:
                out[variant][str(size)] = measure_fg_step_isolated(variant, size, train_cfg["batch_size"],
                                                                   warmup=warmup, steps=steps, **measure_kw)
            except Exception as err:  # noqa: BLE001 - reported, the other configurations still run
                errors[tag] = traceback.format_exc()
                out[variant][str(size)] = {"error": str(err).strip().splitlines()[0]}
                log(f"  failed: {str(err).strip().splitlines()[-1]}")
    return out


def run_train(cfg: dict, sizes, peak_gflops: float | None, log=print, errors: dict | None = None) -> dict:
    """Every (variant, size) configuration in its own process (:func:`_measure_fg_steps`), then one WAD-CMSN
    iteration."""
    from benchmarks.train_step import measure_wadcmsn_iteration

    errors = {} if errors is None else errors
    out: dict = {"fg": _measure_fg_steps(cfg, sizes, log, errors, peak_gflops=peak_gflops), "wadcmsn": None}
    log("  train wad-cmsn iteration")
    out["wadcmsn"] = measure_wadcmsn_iteration(**cfg["wadcmsn"])
    return out


def run_precision(cfg: dict, train_cfg: dict, sizes, train_results: dict | None, log=print,
                  errors: dict | None = None) -> dict:
    """The fine-grained steps of :func:`run_train` again under each of ``cfg["precisions"]`` (same variants, sizes,
    batch and step counts), each with ``speedup_over_float32``: its images/s over the float32 figure of ``train``
    at the same variant and size (None when ``train`` did not run). No MFU: it is defined against the float32
    matmul peak. ``{precision: {variant: {size: result}}}``."""
    errors = {} if errors is None else errors
    out: dict = {}
    for precision in cfg["precisions"]:
        out[precision] = _measure_fg_steps(train_cfg, sizes, log, errors, suffix=f" {precision}",
                                           precision=precision)
        for variant, by_size in out[precision].items():
            for size, r in by_size.items():
                if "error" not in r:
                    base = _get(train_results or {}, "fg", variant, size, "images_per_s")
                    r["speedup_over_float32"] = r["images_per_s"] / base if base else None
    return out


def run_frozen(cfg: dict, train_cfg: dict, sizes, log=print, errors: dict | None = None) -> dict:
    """The fine-grained step with VGG16 blocks 1..k frozen, for each k of ``cfg["depths"]``, read live and from the
    trunk cache (same batch and step counts as ``train``); each cached result carries ``speedup_over_live``.
    ``{"k<k>": {"live"|"cached": {variant: {size: result}}}}``."""
    errors = {} if errors is None else errors
    out: dict = {}
    for k in cfg["depths"]:
        depth = out[f"k{k}"] = {}
        step_cfg = {**train_cfg, "variants": cfg["variants"]}
        for mode in ("live", "cached"):
            depth[mode] = _measure_fg_steps(step_cfg, sizes, log, errors, suffix=f" k{k} {mode}",
                                            frozen_blocks=k, cached=mode == "cached")
        for variant, by_size in depth["cached"].items():
            for size, r in by_size.items():
                live = _get(depth, "live", variant, size, "images_per_s")
                if "error" not in r:
                    r["speedup_over_live"] = r["images_per_s"] / live if live else None
    return out


def run_pipeline(cfg: dict, image_size: int, train_results: dict | None) -> dict:
    from benchmarks.input_pipeline import measure

    from sbir_tf.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is not None and (shared / SKETCHY_MINI).is_dir():
        root = shared / SKETCHY_MINI
    elif not cfg["real_data"]:  # smoke run without the real data: the generated synthetic Sketchy layout
        from sbir_tf.data.synthetic import default_root

        root = default_root()
    else:
        raise FileNotFoundError(f"real data shared/data/{SKETCHY_MINI} not found (set SBIR_TF_SHARED_DATA)")
    result = dict(_call_with_supported(measure, root=root, image_size=image_size, batch_size=cfg["batch_size"],
                                       seconds=cfg["seconds"]))
    result.setdefault("image_size", image_size)
    consumed = _train_images_per_s(train_results, image_size)
    result["train_images_per_s"] = consumed
    result["ratio_to_training"] = (result["images_per_s"] / consumed) if consumed else None
    return result


def _train_images_per_s(train_results: dict | None, image_size: int) -> float | None:
    """The fastest training consumption measured at ``image_size`` (the ``-D`` step consumes faster)."""
    if not train_results:
        return None
    rates = [by_size[str(image_size)]["images_per_s"] for by_size in train_results.get("fg", {}).values()
             if "images_per_s" in by_size.get(str(image_size), {})]
    return max(rates) if rates else None


def run_inference(cfg: dict, metrics_cfg: dict, sizes, log=print) -> dict:
    import keras

    from benchmarks import inference
    from sbir_tf.models.fg import build_fg_model

    out: dict = {"embedding": {}, "query": None, "search": None, "faiss": None}
    for size in sizes:
        keras.backend.clear_session()
        model = build_fg_model({"weights": None, "use_decoder": False}, image_size=size)
        log(f"  inference embedding {size}px batch {cfg['embed_batch']}")
        out["embedding"][str(size)] = inference.gallery_embedding(model.photo_encoder, size, cfg["embed_batch"],
                                                                  repeats=cfg["embed_repeats"])
        if size == max(sizes):
            log(f"  inference single query {size}px, gallery {cfg['query_gallery']}")
            out["query"] = inference.query_latency(model.sketch_encoder, size, gallery_size=cfg["query_gallery"],
                                                   repeats=cfg["query_repeats"])
        del model
    log("  inference brute-force search latency (benchmarks.metrics_bench)")
    out["search"] = run_search(metrics_cfg)
    out["faiss"] = inference.faiss_latency(cfg["faiss_sizes"])
    return out


def run_search(cfg: dict) -> dict:
    """Brute-force single-query top-10 latency per gallery size, from the metrics benchmark's ``search``."""
    from benchmarks.metrics_bench import measure

    return dict(_call_with_supported(measure, **cfg, sections=("search",)))["search"]


def run_metrics(cfg: dict) -> dict:
    from benchmarks.metrics_bench import measure

    return dict(_call_with_supported(measure, **cfg, sections=("acc_at_k", "map_precision")))


# ------------------------------------------------------------------------------------------------ targets


def _get(results: dict, *path):
    node = results
    for key in path:
        if not isinstance(node, dict) or key not in node or node[key] is None:
            return None
        node = node[key]
    return node


def _search_ms(results: dict, size: str):
    """Brute-force single-query top-10 latency (ms) for a gallery size (inference section)."""
    return _get(results, "inference", "search", size, "ms")


def _count(n) -> str:
    """Gallery-size label: 1000 -> "1k", 100000 -> "100k", 1000000 -> "1M", 1250 -> "1,250"."""
    n = int(n)
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return f"{n:,}"


def _metric_seconds(results: dict, key: str, queries: int, gallery: int):
    """Seconds of a metrics benchmark, only when it ran at the target's sizes (not in a quick run)."""
    r = _get(results, "metrics", key)
    if r is None or (r.get("queries"), r.get("gallery")) != (queries, gallery):
        return None
    return r.get("seconds")


def _pipeline_ratio(results: dict):
    """Input pipeline / training consumption, judged at 224 px (the paper's size) only."""
    if _get(results, "pipeline", "image_size") != 224:
        return None
    return _get(results, "pipeline", "ratio_to_training")


#: (figure, unit, comparison, threshold, how to read the value from the results: None = not measured here).
TARGETS = [
    ("train full 224px MFU", "%", ">=", 75.0, lambda r: _pct(_get(r, "train", "fg", "full", "224", "mfu"))),
    ("train -D 224px MFU", "%", ">=", 75.0, lambda r: _pct(_get(r, "train", "fg", "-D", "224", "mfu"))),
    ("train full 112px MFU", "%", ">=", 60.0, lambda r: _pct(_get(r, "train", "fg", "full", "112", "mfu"))),
    ("train -D 112px MFU", "%", ">=", 60.0, lambda r: _pct(_get(r, "train", "fg", "-D", "112", "mfu"))),
    ("input pipeline 224px / training consumption", "x", ">=", 5.0, _pipeline_ratio),
    ("top-10 query, 1M gallery", "ms", "<", 50.0, lambda r: _search_ms(r, "1000000")),
    ("top-10 query, 100k gallery", "ms", "<", 10.0, lambda r: _search_ms(r, "100000")),
    ("mAP@all + P@100, 10,000 x 70,000", "s", "<", 10.0,
     lambda r: _metric_seconds(r, "map_precision", 10_000, 70_000)),
    ("acc@K, 6,312 x 1,250", "s", "<", 1.0, lambda r: _metric_seconds(r, "acc_at_k", 6_312, 1_250)),
]


def _pct(x):
    return None if x is None else 100.0 * x


def evaluate_targets(results: dict) -> list[dict]:
    """Every target with its measured value and PASS / MISS (``n/a`` when that figure was not measured)."""
    rows = []
    for figure, unit, op, threshold, read in TARGETS:
        value = read(results)
        if value is None:
            status = "n/a"
        else:
            ok = value >= threshold if op == ">=" else value < threshold
            status = "PASS" if ok else "MISS"
        rows.append({"figure": figure, "value": value, "unit": unit, "target": f"{op} {threshold:g} {unit}",
                     "status": status})
    return rows


# ------------------------------------------------------------------------------------------------ report


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}".strip()


def _step_results(results: dict):
    """``(tag, result, precision)`` of every fine-grained step measurement: the ``train`` section (precision
    ``None``: the float32 baseline), then the ``precision`` section."""
    for variant, by_size in (_get(results, "train", "fg") or {}).items():
        for size, r in by_size.items():
            yield f"train {variant} {size}px", r, None
    for precision, by_variant in (results.get("precision") or {}).items():
        for variant, by_size in by_variant.items():
            for size, r in by_size.items():
                yield f"train {variant} {size}px {precision}", r, precision
    for depth, by_mode in (results.get("frozen") or {}).items():
        for mode, by_variant in by_mode.items():
            for variant, by_size in by_variant.items():
                for size, r in by_size.items():
                    yield f"train {variant} {size}px {depth} {mode}", r, None


def report_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, target, status) rows: every measured figure, the targeted ones with PASS/MISS."""
    rows: list[tuple[str, str, str, str]] = []
    targets = {t["figure"]: t for t in results.get("targets") or evaluate_targets(results)}

    def add(figure, value, unit=""):
        t = targets.pop(figure, None)
        rows.append((figure, _fmt(value, unit), t["target"] if t else "", t["status"] if t else ""))

    peak = results.get("peak")
    if peak:
        add(f"matmul peak float32 ({peak['n']}x{peak['n']})", peak["gflops"], "GFLOP/s")
    for tag, r, precision in _step_results(results):
        if "error" in r:
            rows.append((tag, "failed", "", r["error"][:60]))
            continue
        add(f"{tag} images/s (batch {r['batch_size']} triplets)", r["images_per_s"], "img/s")
        if precision:
            add(f"{tag} speed-up over float32", r.get("speedup_over_float32"), "x")
            continue
        if r.get("frozen_blocks"):
            if r.get("cached"):
                add(f"{tag} speed-up over live", r.get("speedup_over_live"), "x")
            add(f"{tag} step time (median of {r['timed_steps']})", r["step_s"], "s")
            continue
        add(f"{tag} step time (median of {r['timed_steps']})", r["step_s"], "s")
        add(f"{tag} peak memory (process max RSS)", r["ru_maxrss_mb"], "MB")
        add(f"{tag} step memory (RSS over pre-build)", r["step_rss_mb"], "MB")
        if "mfu" in r:
            add(f"{tag} MFU", _pct(r["mfu"]), "%")
    zs = _get(results, "train", "wadcmsn")
    if zs:
        add(f"WAD-CMSN iteration (batch {zs['batch_size']})", zs["iteration_ms"], "ms")
    pipe = results.get("pipeline")
    if pipe:
        size = pipe.get("image_size")
        add(f"input pipeline {size}px", pipe.get("images_per_s"), "img/s")
        add(f"input pipeline {size}px / training consumption", pipe.get("ratio_to_training"), "x")
    inf = results.get("inference") or {}
    for size, r in (inf.get("embedding") or {}).items():
        add(f"gallery embedding {size}px (batch {r['batch_size']})", r["images_per_s"], "img/s")
    if inf.get("query"):
        q = inf["query"]
        add(f"single query {q['image_size']}px -> top-{q['k']} of {q['gallery_size']:,}", q["ms"], "ms")
    for size, r in (inf.get("search") or {}).items():
        add(f"top-10 query, {_count(size)} gallery", r.get("ms"), "ms")
    faiss = inf.get("faiss") or {}
    if faiss and not faiss.get("available"):
        rows.append(("FAISS search (optional extra 'ann')", "not installed", "", ""))
    for size, r in faiss.items():
        if isinstance(r, dict):
            add(f"FAISS top-10 query, {_count(size)} gallery", r.get("ms"), "ms")
    metrics = results.get("metrics") or {}
    if "map_precision" in metrics:
        r = metrics["map_precision"]
        add(f"mAP@all + P@100, {r.get('queries', 0):,} x {r.get('gallery', 0):,}", r.get("seconds"), "s")
    if "acc_at_k" in metrics:
        r = metrics["acc_at_k"]
        add(f"acc@K, {r.get('queries', 0):,} x {r.get('gallery', 0):,}", r.get("seconds"), "s")
    for t in targets.values():  # targets whose figure was not measured in this run
        rows.append((t["figure"], "-", t["target"], t["status"]))
    return rows


def machine_line(results: dict) -> str:
    m = results.get("machine", {})
    return (f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, TensorFlow {m.get('tensorflow', '?')}, "
            f"oneDNN {'on' if m.get('onednn') else 'off'} ({m.get('onednn_source', '?')})")


def format_table(results: dict) -> str:
    """Plain-text table for the terminal."""
    header = ("figure", "value", "target", "status")
    rows = report_rows(results)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    out = [f"Machine: {machine_line(results)}", line, "  ".join(h.ljust(w) for h, w in zip(header, widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    for section, err in (results.get("errors") or {}).items():
        out.append(f"ERROR in {section}: {err.strip().splitlines()[-1] if err.strip() else '?'}")
    return "\n".join(out)


def to_markdown(results: dict) -> str:
    """The README's Performance section body: the machine line and a markdown table of every figure and target."""
    settings = results.get("settings", {})
    lines = [f"Machine: {machine_line(results)}."]
    if settings.get("quick"):
        lines.append("Quick smoke run (tiny sizes): the numbers are not meaningful.")
    lines += ["", "| Figure | Value | Target | Status |", "|---|---:|---|---|"]
    for figure, value, target, status in report_rows(results):
        status = f"**{status}**" if status == "MISS" else status
        lines.append(f"| {figure} | {value} | {target} | {status} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main


def run(sections=SECTIONS, sizes=DEFAULT_SIZES, quick: bool = False, log=print) -> dict:
    """Run the chosen sections and return the results dict (see the module docstring)."""
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    sizes = tuple(int(s) for s in sizes)
    bad = [s for s in sizes if s < 32 or s % 16]
    if not sizes or bad:
        raise ValueError(f"image sizes must be multiples of 16 and >= 32 (the decoder doubles an integer seed grid); got {list(sizes)}")
    cfg = settings_for(quick)
    results: dict = {"machine": machine_info(), "settings": {"quick": quick, "sizes": list(sizes),
                                                             "sections": [s for s in SECTIONS if s in sections]},
                     "errors": {}, "elapsed_s": {}}
    log(f"Machine: {machine_line(results)}")

    def section(name, fn):
        if name not in sections:
            return None
        log(f"[{name}]")
        start = time.perf_counter()
        try:
            results[name] = fn()
        except Exception:  # one failing section must not lose the others' results
            results["errors"][name] = traceback.format_exc()
            log(f"  {name} failed: {results['errors'][name].strip().splitlines()[-1]}")
        results["elapsed_s"][name] = time.perf_counter() - start
        return results.get(name)

    peak = section("peak", lambda: run_peak(cfg["peak"]))
    section("train", lambda: run_train(cfg["train"], sizes, peak["gflops"] if peak else None, log,
                                       results["errors"]))
    section("precision", lambda: run_precision(cfg["precision"], cfg["train"], sizes, results.get("train"), log,
                                               results["errors"]))
    # the CPU campaign's image size when asked for (about 5 min on 2 cores), else the smallest size asked for
    frozen_sizes = [s for s in sizes if s in cfg["frozen"].get("sizes", sizes)] or [min(sizes)]
    section("frozen", lambda: run_frozen(cfg["frozen"], cfg["train"], frozen_sizes, log, results["errors"]))
    pipe_size = 224 if 224 in sizes else max(sizes)
    section("pipeline", lambda: run_pipeline(cfg["pipeline"], pipe_size, results.get("train")))
    section("inference", lambda: run_inference(cfg["inference"], cfg["metrics"], sizes, log))
    section("metrics", lambda: run_metrics(cfg["metrics"]))
    results["targets"] = evaluate_targets(results)
    return results


def default_out(machine: dict, quick: bool) -> Path:
    return RESULTS_DIR / f"{machine['slug']}{'-quick' if quick else ''}.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every code path")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated image sizes for training/inference (default 224,112,64; quick: 32)")
    parser.add_argument("--out", default=None, help="output JSON path (default benchmarks/results/<machine>.json)")
    parser.add_argument("--markdown", default=None, metavar="JSON",
                        help="only print the markdown table of an existing results JSON (for the README) and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        print(to_markdown(json.loads(Path(args.markdown).read_text())), end="")
        return 0
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    sizes = ([int(s) for s in args.sizes.split(",") if s.strip()] if args.sizes
             else list(QUICK_SIZES if args.quick else DEFAULT_SIZES))
    try:
        results = run(sections, sizes, quick=args.quick, log=lambda msg: print(msg, flush=True))
    except ValueError as err:
        parser.error(str(err))
    out = Path(args.out) if args.out else default_out(results["machine"], args.quick)
    from sbir_tf.train.run_dir import write_json

    write_json(out, results)
    print()
    print(format_table(results))
    print(f"\nwrote {out}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
