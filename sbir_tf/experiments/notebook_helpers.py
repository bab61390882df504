"""Thin helpers for the notebooks in ``notebooks/``: they run the same package functions as the command lines
(configs resolved by :mod:`sbir_tf.run.cli`, runs by :func:`sbir_tf.run.runner.run`) and show what those wrote
(``metrics.json``, ``figures/*.png``) through the report module. No training or evaluation logic lives here.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from sbir_tf.experiments import paper_numbers as P
from sbir_tf.experiments import report


# ---------------------------------------------------------------------------------------------- runs
def config_from_flags(prog: str, argv: Sequence[str] = ()):
    """The config ``python -m sbir_tf.experiments.<prog> <argv>`` would run (the command line's own resolution,
    :func:`sbir_tf.run.cli.resolve_config`), validated."""
    from sbir_tf.run import cli
    from sbir_tf.tasks.registry import task_for

    task = task_for(prog)
    cfg = cli.resolve_config(task, cli.build_parser(task, prog).parse_args(list(argv)))
    task.validate(cfg)
    return cfg


def load_data(prog: str, cfg):
    """The task data of ``cfg`` (read once, shared by several runs through ``data=``)."""
    from sbir_tf.tasks.registry import task_for

    return task_for(prog).load_data(cfg)


def _run(prog: str, cfg, output_dir: str | Path, **kwargs) -> dict:
    """:func:`sbir_tf.run.runner.run` with ``resume`` whenever ``output_dir`` already holds a run, so the one resume
    policy (:mod:`sbir_tf.run.resume`) decides: a finished run of the same config is read back, an unfinished one
    continued, a run of another config is an error."""
    from sbir_tf.run import resume, runner
    from sbir_tf.tasks.registry import task_for

    return runner.run(task_for(prog), cfg, output_dir, resume=resume.holds_run(output_dir), name=prog, **kwargs)


def run_fine_grained(cfg, output_dir: str | Path, *, data=None, verbose: bool = True) -> dict:
    """One fine-grained run (``sketchy_fg``'s task) into ``output_dir`` (see :func:`_run`)."""
    prog = "qmul_fg" if str(cfg.data.dataset).startswith("qmul") else "sketchy_fg"
    return _run(prog, cfg, output_dir, data=data, verbose=verbose)


def run_zero_shot(cfg, output_dir: str | Path, *, progress: bool = False) -> dict:
    """One zero-shot run (``<dataset>_zs``'s task) into ``output_dir`` (see :func:`_run`)."""
    return _run(f"{cfg.data.dataset}_zs", cfg, output_dir, progress=progress)


def run_zero_shot_seeds(configs: Sequence, output_dir: str | Path) -> Path:
    """One zero-shot setting over several seeds: ``configs`` differ only in ``train.seed``; each runs into
    ``output_dir/seed<k>``; with more than one seed they are combined by ``report.aggregate_runs`` into
    ``output_dir`` (mean ± std). Returns the folder to report (the aggregate, or the single run)."""
    output_dir = Path(output_dir)
    if len(configs) == 1:
        run_zero_shot(configs[0], output_dir)
        return output_dir
    dirs = []
    for cfg in configs:
        dirs.append(output_dir / f"seed{cfg.train.seed}")
        run_zero_shot(cfg, dirs[-1])
    report.aggregate_runs(dirs, output_dir)
    return output_dir


# ---------------------------------------------------------------------------------------------- tables
def load_records(run_dirs: Sequence[str | Path]) -> list[report.Record]:
    """The report's view of the given run folders: a folder with ``metrics.json`` is one record; any other folder
    gives every record below it (``report.find_records``), such as the finished ``seed<k>/`` runs of a setting that
    the campaign scripts write (``runs/zs_sketchy_mini_<weights>/<setting>/seed<k>/``, grouped over seeds by the
    report) or a whole campaign folder. Folders without a finished run are named and skipped."""
    records: list[report.Record] = []
    for folder in map(Path, run_dirs):
        if (folder / "metrics.json").is_file():
            records.append(report.load_record(folder))
            continue
        found, warnings = report.find_records(folder)
        for warning in warnings:
            print(f"[notebook] skipped: {warning}")
        if not found:
            print(f"[notebook] {folder}: no finished run (no metrics.json below it)")
        for record in found:
            record.name = f"{folder.name}/{record.name}"
        records += found
    return records


def paper_table_markdown(paper: str, table: str, run_dirs: Sequence[str | Path]) -> str:
    """Markdown of ``paper``'s ``table`` (every dataset it covers) with our runs beside the quoted numbers."""
    entries = [e for e in P.ALL if e.paper == paper and e.table == table]
    if not entries:
        raise KeyError(f"no paper numbers for {paper} {table}")
    groups = report.group_runs(load_records(run_dirs))[0]
    lines: list[str] = []
    for part in report._by_dataset(entries):
        lines += report.group_paper_table(part, groups)
    return "\n".join(lines)


def records_markdown(run_dirs: Sequence[str | Path], kind: str) -> str:
    """All numbers and the setting of each run (``kind``: fine_grained | zero_shot)."""
    return "\n".join(report.records_table(load_records(run_dirs), kind))


def show_markdown(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


# ---------------------------------------------------------------------------------------------- Table 1
def decoder_architecture(decoder) -> list[dict]:
    """Table 1 of Pang et al. 2017 read off a built decoder: one row per Dense / Reshape / Conv2DTranspose layer
    with its output shape, kernel/stride, whether batch norm follows and the activation that follows."""
    import keras

    layers = list(decoder.layers)
    rows = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Reshape, keras.layers.Conv2DTranspose)):
            continue
        following = []
        for f in layers[i + 1:]:
            if isinstance(f, (keras.layers.Dense, keras.layers.Reshape, keras.layers.Conv2DTranspose)):
                break
            following.append(f)
        bn = any(isinstance(f, keras.layers.BatchNormalization) for f in following)
        act = getattr(getattr(layer, "activation", None), "__name__", None)
        for f in following:
            if isinstance(f, (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.Activation)):
                act = ({"ReLU": "relu", "LeakyReLU": "leaky_relu"}.get(type(f).__name__)
                       or getattr(getattr(f, "activation", None), "__name__", "?"))
                break
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kernel = f"{layer.kernel_size[0]}x{layer.kernel_size[1]} / {layer.strides[0]}"
        else:
            kernel = "—"
        shape = tuple(layer.output.shape[1:]) if hasattr(layer, "output") else ()
        rows.append({"layer": layer.name, "type": type(layer).__name__,
                     "output shape": " x ".join(str(s) for s in shape), "kernel / stride": kernel,
                     "batch norm": "yes" if bn else "no", "activation": act if act and act != "linear" else "none"})
    return rows


def architecture_markdown(rows: Sequence[dict]) -> str:
    header = list(rows[0]) if rows else []
    return "\n".join(report._md_table(header, [[r[h] for h in header] for r in rows]))


# ---------------------------------------------------------------------------------------------- figures
def figure_path(run_dir: str | Path, name: str) -> Path | None:
    """The PNG a run wrote: ``name`` is a file in ``run_dir/figures`` (``retrieval_grid.png``) or a key of the
    ``figures`` dict in its ``metrics.json`` (``retrieval_grid``); for a setting folder of seed runs without an
    aggregate (``<setting>/seed<k>/``), the lowest seed's figure. None when there is none."""
    run_dir = Path(run_dir)
    direct = run_dir / "figures" / name
    if direct.is_file():
        return direct
    metrics_path = run_dir / "metrics.json"
    figures = json.loads(metrics_path.read_text()).get("figures") or {} if metrics_path.is_file() else {}
    if name in figures:
        for candidate in (run_dir / "figures" / Path(figures[name]).name, Path(figures[name])):
            if candidate.is_file():
                return candidate
    if not metrics_path.is_file():
        seed_dirs = [d for d in run_dir.glob("seed*") if d.is_dir()]
        for seed_dir in sorted(seed_dirs, key=lambda d: report.seed_sort_key(d.name[len("seed"):])):
            found = figure_path(seed_dir, name)
            if found is not None:
                return found
    return None


def show_figure(run_dir: str | Path, name: str, *, width: int | None = None, caption: str | None = None) -> Path | None:
    """Display a PNG a run wrote (see :func:`figure_path`), or say that it is missing."""
    from IPython.display import Image, display

    path = figure_path(run_dir, name)
    if caption:
        print(caption)
    if path is None:
        written = sorted(p.name for p in (Path(run_dir) / "figures").glob("*.png"))
        print(f"(no {name} in {run_dir}/figures; written: {written or 'none'})")
        return None
    display(Image(filename=str(path), width=width))
    return path
