"""``python -m sbir_tf.search {index,query,serve}``: sketch search over a photo folder.

* ``index --model RUN_OR_EXPORT_DIR --photos DIR --out INDEX_DIR`` - embed every image under DIR (recursively) with
  the photo encoder; unreadable files are reported and skipped; re-running embeds only new or changed files.
* ``query --index INDEX_DIR SKETCH.png [--top 10] [--json] [--grid out.png]`` - ranked photo paths and distances.
* ``serve [--index INDEX_DIR] [--port 7860]`` - the browser demo; without ``--index``, the synthetic gallery
  indexed with the model of ``python -m sbir_tf.experiments.sketchy_fg`` (trained first when missing).

Exit status: 0 on success, 2 on bad input (the message names the fix).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from sbir_tf.search.search import BACKENDS, DEFAULT_TOP

#: Unreadable files listed one per line after indexing; the rest are counted (all are in index.json).
MAX_LISTED_SKIPS = 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sbir_tf.search", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Sketch search over a photo folder: index it, query it with a sketch, or draw in the browser demo.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="embed the photos under a folder into an index")
    p.add_argument("--model", required=True, help="run folder (with model.keras) or export folder")
    p.add_argument("--photos", required=True, help="photo folder, searched recursively")
    p.add_argument("--out", required=True, help="index folder (updated in place when it exists)")
    p.add_argument("--rebuild", action="store_true", help="discard an existing index in --out and start over")
    p.add_argument("--batch_size", type=int, default=32, help="photos decoded and embedded together")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")

    p = sub.add_parser("query", help="rank the indexed photos for a sketch")
    p.add_argument("--index", required=True, help="index folder made by `index`")
    p.add_argument("sketch", help="sketch image file (PNG, JPEG, ...)")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="number of results")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--grid", help="also write a PNG strip: the sketch, then the ranked photos")
    p.add_argument("--model", help="model to query with (default: the one recorded in the index; another "
                                   "model is refused)")
    p.add_argument("--backend", choices=BACKENDS, default="bruteforce", help="search backend (same ranking)")

    p = sub.add_parser("serve", help="browser demo: draw a sketch, see the ranked photos")
    p.add_argument("--index", help="index folder (default: the synthetic gallery with the default run's model)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--top", type=int, default=DEFAULT_TOP, help="results shown by default")
    p.add_argument("--model", help="model to query with (default: the one recorded in the index)")
    p.add_argument("--backend", choices=BACKENDS, default="bruteforce", help="search backend (same ranking)")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def _index(args) -> int:
    from sbir_tf.search.index import build_index

    index, report = build_index(args.model, args.photos, args.out, rebuild=args.rebuild, batch_size=args.batch_size,
                                progress=not args.no_progress)
    for s in report.skipped[:MAX_LISTED_SKIPS]:
        print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
    if len(report.skipped) > MAX_LISTED_SKIPS:
        print(f"... and {len(report.skipped) - MAX_LISTED_SKIPS} more unreadable files (all listed in "
              f"{Path(args.out) / 'index.json'})", file=sys.stderr)
    print(f"{report.summary(len(index))} -> {args.out} (model {index.model['model_id'][:12]}, "
          f"{index.model['task']}, {index.metric})")
    return 0


def _query(args) -> int:
    from sbir_tf.search.images import read_image
    from sbir_tf.search.search import SketchSearch

    searcher = SketchSearch.open(args.index, args.model, backend=args.backend)
    sketch = read_image(args.sketch)
    hits = searcher.search_image(sketch, args.top)
    if args.grid:
        from sbir_tf.search.grid import query_strip

        photos = [read_image(searcher.index.photo_path(h.index)) for h in hits]
        query_strip(sketch, photos, hits, args.grid, title=f"{Path(args.sketch).name}: top {len(hits)}")
    if args.json:
        print(json.dumps({"sketch": str(args.sketch), "index": str(args.index), "metric": searcher.index.metric,
                          "results": [h.as_dict() for h in hits]}, indent=1))
    else:
        width = max(len(h.path) for h in hits)
        for h in hits:
            print(f"{h.rank:>4}  {h.path:<{width}}  {h.distance:.6f}")
    if args.grid:
        print(f"wrote {args.grid}", file=sys.stderr)
    return 0


def _serve(args) -> int:
    from sbir_tf.search.search import SketchSearch
    from sbir_tf.search.server import make_server

    if args.index:
        searcher = SketchSearch.open(args.index, args.model, backend=args.backend)
    else:
        from sbir_tf.search.demo import default_index

        index_dir, encoders = default_index()
        searcher = SketchSearch.open(index_dir, args.model, backend=args.backend,
                                     encoders=None if args.model else encoders)
    try:
        server = make_server(searcher, args.host, args.port, top=args.top, verbose=args.verbose)
    except OSError as err:
        raise ValueError(f"cannot listen on {args.host}:{args.port} ({err.strerror or err}): pass another --port "
                         f"(0 picks a free one)") from err
    searcher.warm_up()
    print(f"sketch search on {server.url} ({searcher.info['photos']} photos, {searcher.info['task']} model); "
          f"Ctrl+C stops it", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sbir_tf.search.model import ModelMismatchError

    try:
        return {"index": _index, "query": _query, "serve": _serve}[args.command](args)
    except (ModelMismatchError, ValueError, FileNotFoundError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
