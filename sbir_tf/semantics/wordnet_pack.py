"""Generate the WordNet facts shipped with the package, from a real WordNet 3.0.

The file (``sbir_tf/semantics/resources/wordnet_facts.json.gz``, read by
:class:`~sbir_tf.semantics.taxonomy.ShippedTaxonomy`) lets the hierarchy embeddings run on a machine without
WordNet. It holds, for the synsets of the shipped class tables (``resources/*_synsets.tsv``: Sketchy, TU-Berlin and the
synthetic set) and every ancestor of them (hypernyms and instance hypernyms up to ``entity.n.01``): the WordNet
offset, the parents, the lemma names and the SemCor information-content count (``semcor_cntlist``, see
:func:`sbir_tf.semantics.wordnet.semcor_information_content`), plus the root total and provenance (WordNet version,
IC source, the generator's git commit). Gzip with a zero timestamp and sorted JSON make the output depend on the
facts only::

    python -m sbir_tf.semantics.wordnet_pack                  # rewrite the shipped file
    python -m sbir_tf.semantics.wordnet_pack --out facts.json.gz
    python -m sbir_tf.semantics.wordnet_pack --check          # exit 1 if the shipped file is stale

The WordNet used is the installed one (nltk's corpus, or Debian's ``wordnet-base`` in ``/usr/share/wordnet``, see
:mod:`sbir_tf.semantics.wordnet`); ``$SBIR_TF_HIDE_WORDNET`` must be unset.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

from sbir_tf.semantics import hierarchy as hier
from sbir_tf.semantics import taxonomy as tx
from sbir_tf.semantics import wordnet as wnlib

GENERATOR = "python -m sbir_tf.semantics.wordnet_pack"


def git_commit() -> str:
    """``git rev-parse HEAD`` of the repository holding this package, or ``"unknown"`` outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def table_synsets() -> list[str]:
    """The distinct synsets of all shipped class tables, sorted."""
    return sorted({s for path in hier.TABLES.values() for s in hier.load_synset_table(path).values()})


def _number(x: float):
    return int(x) if float(x).is_integer() else float(x)


def build_facts(taxonomy: tx.WordNetTaxonomy | None = None, roots: list[str] | None = None,
                commit: str | None = None) -> dict:
    """The facts of ``roots`` (default: :func:`table_synsets`) and their ancestors, from an installed WordNet."""
    taxonomy = taxonomy or tx.WordNetTaxonomy(ic_source="semcor_cntlist")
    if taxonomy.ic_source != "semcor_cntlist":
        raise ValueError("the shipped facts carry the semcor_cntlist information content")
    roots = sorted(set(roots if roots is not None else table_synsets()))
    for r in roots:
        if not taxonomy.has(r):
            raise ValueError(f"synset {r!r} of a shipped class table is not in the installed WordNet")
    nodes = sorted(taxonomy.closure(roots))
    synsets = {n: {"offset": taxonomy.offset(n), "parents": sorted(taxonomy.parents(n)),
                   "lemmas": taxonomy.lemmas(n), "count": _number(taxonomy.count(n))} for n in nodes}
    return {
        "format": tx.FACTS_FORMAT,
        "format_version": tx.FACTS_FORMAT_VERSION,
        "provenance": {
            "wordnet_version": taxonomy.wn.get_version(),
            "ic_source": "semcor_cntlist",
            "ic_description": wnlib.information_content_source("semcor_cntlist"),
            "ic_smoothing": wnlib.IC_SMOOTHING,
            "generator": GENERATOR,
            "commit": commit if commit is not None else git_commit(),
            "tables": sorted(p.name for p in hier.TABLES.values()),
        },
        "class_synsets": roots,
        "ic_total": _number(taxonomy.total),
        "synsets": synsets,
    }


def encode(facts: dict) -> bytes:
    """Deterministic gzip of sorted, compact JSON (no file name, zero timestamp)."""
    raw = json.dumps(facts, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


def read_facts(path: str | Path = tx.SHIPPED_FACTS) -> dict:
    return tx.read_json_gz(path)


def without_commit(facts: dict) -> dict:
    """``facts`` with the provenance's commit removed (what must match when the file is regenerated)."""
    out = json.loads(json.dumps(facts))
    out["provenance"].pop("commit", None)
    return out


def write_facts(path: str | Path, facts: dict) -> Path:
    """Write :func:`encode` of ``facts`` to ``path`` through a temporary file (no half-written file on failure)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(encode(facts))
    tmp.replace(path)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=GENERATOR, description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=tx.SHIPPED_FACTS, help=f"output file (default {tx.SHIPPED_FACTS})")
    p.add_argument("--check", action="store_true",
                   help="compare with --out instead of writing: exit 1 when they differ (commit aside)")
    args = p.parse_args(argv)
    try:
        facts = build_facts()
    except (wnlib.WordNetUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if not args.out.is_file() or without_commit(read_facts(args.out)) != without_commit(facts):
            print(f"{args.out} differs from the facts of the installed WordNet; regenerate with {GENERATOR}",
                  file=sys.stderr)
            return 1
        print(f"{args.out}: up to date ({len(facts['synsets'])} synsets)")
        return 0
    write_facts(args.out, facts)
    print(f"{len(facts['class_synsets'])} class synsets, {len(facts['synsets'])} synsets with ancestors, "
          f"WordNet {facts['provenance']['wordnet_version']}, commit {facts['provenance']['commit'][:12]} -> {args.out} "
          f"({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
