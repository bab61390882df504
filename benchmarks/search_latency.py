"""Sketch search latency: one query = sketch decode + sketch encoder + search, on CPU, per gallery size.

What is timed are the three steps of :meth:`sbir_tf.search.search.SketchSearch.search_bytes`, the call behind both
``python -m sbir_tf.search query`` and the browser demo's ``POST /api/search``: decode a PNG sketch (a real Sketchy
sketch from ``shared/data/sketchy_mini`` when present, else a synthetic one), embed it with the exported sketch
encoder (the SavedModel of ``python -m sbir_tf.export``, which resizes, crops and preprocesses itself), and rank
the gallery exactly (top 10). Each query is timed whole and step by step in the same pass.

* Encoder: the real fine-grained architecture of Pang et al. 2017 (VGG16 trunk, fc6/fc7 4096, 256-d embedding;
  random weights, which do not change the cost) built at ``--image_size`` and exported, or ``--model`` (a run or
  export folder).
* Gallery: ``--sizes`` random unit vectors (default 1k, 100k, 1M) of the model's embedding dimension; the cost of
  search depends only on the gallery's size and dimension.
* Each size: ``--warmup`` untimed queries, then ``--repeats`` timed ones; p50 and p90 of the whole query, the p50
  of each of its three steps, and the p50 of the process CPU time one query uses (all threads): well below the wall
  time when the query waited for cores busy with other processes. With ``faiss`` installed, the search step is also
  timed with the FAISS backend (exact ``IndexFlatL2``, one thread) for comparison. The 1-minute load average before
  and after the run is printed with the machine.

Target: p50 < 100 ms at 112 px for the 100k gallery. ``python -m benchmarks.search_latency [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

DEFAULT_SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
TARGET_MS = 100.0
TARGET_SIZE = 100_000
TARGET_IMAGE_SIZE = 112
TOP = 10


def sketch_png() -> tuple[bytes, str]:
    """A real sketch PNG from sketchy_mini when it is there, else a synthetic sketch; ``(bytes, where from)``."""
    from sbir_tf.paths import shared_data_dir

    shared = shared_data_dir()
    if shared is not None:
        found = sorted((shared / "sketchy_mini" / "256x256" / "sketch").rglob("*.png"))
        if found:
            return found[0].read_bytes(), str(found[0].relative_to(shared))
    import io

    from sbir_tf.data.synthetic import _random_pose, make_instance, render_sketch

    rng = np.random.default_rng(0)
    parts = make_instance("house", rng)
    buf = io.BytesIO()
    render_sketch(parts, rng, _random_pose(rng, 256), 256).save(buf, format="PNG")
    return buf.getvalue(), "synthetic house sketch"


def constructed_export(image_size: int, out: Path) -> Path:
    """Export of the fine-grained model of Pang et al. (random weights, no decoder) at ``image_size``."""
    import keras

    from sbir_tf.export import export_encoders
    from sbir_tf.models.fg import build_fg_model

    keras.utils.set_random_seed(0)
    model = build_fg_model({"weights": None, "use_decoder": False}, num_classes=125, image_size=image_size)
    export_encoders(model, out)
    return out


def random_gallery(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.standard_normal((n, dim), dtype=np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    return g


def _percentiles(seconds: list[float]) -> dict:
    ms = 1e3 * np.asarray(seconds)
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90))}


def _time(fn, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def measure_size(encoders, png: bytes, n: int, *, warmup: int, repeats: int, with_faiss: bool) -> dict:
    from sbir_tf.search.images import decode_image
    from sbir_tf.search.index import PhotoIndex
    from sbir_tf.search.search import SketchSearch

    info = encoders.info
    dim = int(info["embedding_dim"])
    index = PhotoIndex(model={k: info[k] for k in ("model_id", "task", "metric", "image_size", "embedding_dim")},
                       model_path="(benchmark)", photos_root=Path("."), paths=[f"{i}.jpg" for i in range(n)],
                       embeddings=random_gallery(n, dim), stats=np.zeros((n, 2), np.int64))
    searcher = SketchSearch(index, encoders)
    parts: dict[str, list[float]] = {"decode": [], "encode": [], "search": []}
    total: list[float] = []
    cpu: list[float] = []
    for i in range(warmup + repeats):  # each query timed whole and in its three parts, in the same run
        c0 = time.process_time()
        t0 = time.perf_counter()
        image = decode_image(png, name="sketch")
        t1 = time.perf_counter()
        emb = searcher.embed_sketch(image)
        t2 = time.perf_counter()
        searcher.search_embedding(emb, TOP)
        t3 = time.perf_counter()
        c3 = time.process_time()
        if i >= warmup:
            total.append(t3 - t0)
            cpu.append(c3 - c0)
            for key, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
                parts[key].append(seconds)
    row = {"gallery": n, "dim": dim, **_percentiles(total), "cpu_p50_ms": _percentiles(cpu)["p50_ms"],
           **{f"{k}_p50_ms": _percentiles(v)["p50_ms"] for k, v in parts.items()}}
    if with_faiss:
        fast = SketchSearch(index, encoders, backend="faiss")
        row["faiss_search_p50_ms"] = _percentiles(_time(lambda: fast.search_embedding(emb, TOP), 1, repeats))["p50_ms"]
        del fast
    del searcher, index
    return row


def measure(image_size: int = TARGET_IMAGE_SIZE, sizes=DEFAULT_SIZES, *, model: str | None = None,
            warmup: int = 3, repeats: int = 30) -> dict:
    from sbir_tf.eval.retrieval import faiss_available
    from sbir_tf.export import load_encoders

    png, source = sketch_png()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="search_latency_") as tmp:
        path = Path(model) if model else constructed_export(image_size, Path(tmp) / "export")
        encoders = load_encoders(path)
        with_faiss = faiss_available()
        rows = [measure_size(encoders, png, int(n), warmup=warmup, repeats=repeats, with_faiss=with_faiss)
                for n in sizes]
    import tensorflow as tf

    return {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                        "tensorflow": tf.__version__,
                        # 1-minute load average before and after: other processes sharing the cores slow the encoder
                        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]},
            "model": model or f"fine-grained Pang et al. architecture (random weights), exported at {image_size} px",
            "image_size": int(encoders.info["image_size"]), "sketch": source, "top": TOP, "warmup": warmup,
            "repeats": repeats, "faiss": with_faiss, "rows": rows}


def to_markdown(result: dict) -> str:
    faiss = result["faiss"]
    head = ("| gallery | p50 ms | p90 ms | decode p50 | encode p50 | search p50 | CPU time p50 |"
            + (" FAISS search p50 |" if faiss else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in result["rows"]:
        line = (f"| {r['gallery']:,} x {r['dim']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['decode_p50_ms']:.1f} "
                f"| {r['encode_p50_ms']:.1f} | {r['search_p50_ms']:.1f} | {r['cpu_p50_ms']:.1f} |")
        if faiss:
            line += f" {r['faiss_search_p50_ms']:.1f} |"
        lines.append(line)
    return "\n".join(lines)


def verdict(result: dict) -> str | None:
    """PASS/MISS line for the target (p50 < 100 ms at 112 px, 100k gallery) when this run measured it."""
    if result["image_size"] != TARGET_IMAGE_SIZE:
        return None
    for r in result["rows"]:
        if r["gallery"] == TARGET_SIZE:
            ok = r["p50_ms"] < TARGET_MS
            return (f"{'PASS' if ok else 'MISS'}: p50 {r['p50_ms']:.1f} ms for a {TARGET_SIZE:,} gallery at "
                    f"{TARGET_IMAGE_SIZE} px (target < {TARGET_MS:.0f} ms)")
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", type=int, default=TARGET_IMAGE_SIZE, help="encoder input size (px)")
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="gallery sizes")
    parser.add_argument("--model", help="run or export folder to time instead of the constructed model")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes and repeats (a smoke run)")
    parser.add_argument("--out", help="also write the result as JSON here")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else tuple(int(s) for s in args.sizes.split(","))
    repeats, warmup = (3, 1) if args.quick else (args.repeats, args.warmup)
    image_size = 32 if args.quick and not args.model else args.image_size
    result = measure(image_size, sizes, model=args.model, warmup=warmup, repeats=repeats)
    machine = result["machine"]
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, TF {machine['tensorflow']}, 1-min load average "
          f"{machine['load_average'][0]} before / {machine['load_average'][1]} after")
    print(f"model: {result['model']}; sketch: {result['sketch']}; top {result['top']}; "
          f"{result['repeats']} timed queries per size after {result['warmup']} warm-up")
    print(to_markdown(result))
    line = verdict(result)
    if line:
        print(line)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
