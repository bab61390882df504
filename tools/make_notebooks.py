"""Write the two notebooks in ``notebooks/`` (no outputs) with nbformat, so they are easy to review and regenerate.

    python tools/make_notebooks.py            # rewrites notebooks/*.ipynb
    python tools/make_notebooks.py --out DIR  # writes them somewhere else (the tests compare the two)

The notebooks are thin: every computation is a call to the package (configs resolved by the command lines' own
``sbir_tf.run.cli``, runs by ``sbir_tf.run.runner`` through ``notebook_helpers``; ``sbir_tf.experiments.notebook_helpers`` for showing tables
and the PNGs the runs write). Each has a ``parameters``-tagged cell (papermill): ``SMOKE = True`` runs tiny
configs on the embedded synthetic data in a few minutes on a CPU (this is what CI runs with
``pytest --nbmake notebooks``); ``SMOKE = False`` runs the papers' settings (GPU).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from sbir_tf.models import backbones
from sbir_tf.tasks import fg as fg_task

REPO = Path(__file__).resolve().parents[1]

SETUP = '''\
# Set-up (Colab-ready). A no-op where sbir_tf is importable, e.g. in a checkout: the notebooks/ folder's parent.
# On Colab: Runtime > Change runtime type > GPU; put the sbir_tf source (or set SBIR_TF_SOURCE to a
# "git+https://..." URL) and the datasets on Google Drive.
import os
import subprocess
import sys
from pathlib import Path

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB and not Path("/content/drive").exists():
    from google.colab import drive

    drive.mount("/content/drive")
try:
    import sbir_tf
except ImportError:
    checkout = Path.cwd().parent
    if (checkout / "sbir_tf" / "__init__.py").is_file():
        sys.path.insert(0, str(checkout))
    else:
        source = os.environ.get("SBIR_TF_SOURCE", "/content/drive/MyDrive/sbir_tf")
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", source])
    import sbir_tf

import tensorflow as tf

for gpu in tf.config.list_physical_devices("GPU"):
    tf.config.experimental.set_memory_growth(gpu, True)
print("sbir_tf:", Path(sbir_tf.__file__).parent, "| TensorFlow", tf.__version__,
      "| GPUs:", [g.name for g in tf.config.list_physical_devices("GPU")] or "none")
'''


def _weights_choices(names) -> str:
    """``"imagenet" | "imagenet-offline" | ...``: the weight names a notebook's ``WEIGHTS`` takes."""
    return " | ".join(f'"{n}"' for n in names)


def _params(extra: str, weight_names) -> str:
    return '''\
SMOKE = True        # True: the tiny "smoke" preset on the embedded synthetic data (minutes on a CPU; what CI runs)
                    # False: the paper's setting (GPU; DATA_DIR should point at the real dataset)
DATA_DIR = None     # dataset root; None = the embedded synthetic dataset (or set it to ../shared/data/<set>)
CONFIG = None       # preset "paper" | "cpu" | "smoke"; None = "smoke" if SMOKE else "paper"
WEIGHTS = None      # ''' + _weights_choices(weight_names) + ''' | path to a .h5 file; None = the preset's
STEPS = None        # training steps of every run; None = the preset's
IMAGE_SIZE = None   # None = the preset's
OUTPUT_DIR = None   # runs are written below it; None = a temporary folder (SMOKE) or runs/<notebook name>
PRECISION = None    # "float32" | "bfloat16" | "float16"; None = the preset's (float32). On a GPU use its 16-bit
                    # tensor cores: "bfloat16" on A100 / L4 / H100, "float16" on a T4 (README, "How to go fast")
JIT_COMPILE = False # True: compile every training update with XLA (--jit_compile)
''' + extra


def _cell(source: str, tags=None):
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


# ------------------------------------------------------------------------------------------------ fine-grained
def fg_notebook():
    md, code = new_markdown_cell, _cell
    cells = [
        md("# Fine-grained SBIR — Pang, Song, Xiang, Hospedales (BMVC 2017)\n\n"
           "Cross-domain generative learning: a VGG16 encoder maps sketches and photos to a 256-d l2-normalised "
           "embedding trained with classification and triplet losses, and a shallow deconvolution decoder "
           "reconstructs the sketch from either embedding. This notebook rebuilds the paper's tables and figures "
           "with the package: each run is `sbir_tf.run.runner.run` (the code behind "
           "`python -m sbir_tf.experiments.sketchy_fg`), and every figure is a PNG the run wrote.\n\n"
           "**With `SMOKE = True` (default) the numbers are a plumbing check on tiny synthetic data, not a "
           "reproduction.** The tables print the published numbers in their own columns and the setting of every "
           "measured number beside it."),
        code(SETUP),
        code(_params('TABLE3_VARIANTS = None  # None = ["vgg16", "vgg16-D", "googlenet"] if SMOKE else all four of Table 3\n'
                     'TABLE4_SHARING = None   # None = ["heterogeneous"] if SMOKE else all three of Table 4\n',
                     fg_task.WEIGHT_NAMES),
             tags=["parameters"]),
        md("## Configuration\nThe config of every run is resolved by the command line's own parser "
           "(`notebook_helpers.config_from_flags`, i.e. `sbir_tf.run.cli`), so a notebook run and a CLI run with the same flags "
           "are the same run."),
        code('''\
import tempfile

from sbir_tf.configs import fg as fg_presets
from sbir_tf.experiments import notebook_helpers as nh
from sbir_tf.tasks import fg as fg_task

PRESET = CONFIG or ("smoke" if SMOKE else "paper")
OUT = Path(OUTPUT_DIR or (tempfile.mkdtemp(prefix="fg_sbir_pang2017_") if SMOKE else "runs/fg_sbir_pang2017"))
EXTRA_SETS = ["train.eval_every=0"] if SMOKE else []   # no validation passes in the smoke runs


def make_config(**flags):
    """The CLI's config for ``python -m sbir_tf.experiments.sketchy_fg`` with these flags."""
    values = dict(data_dir=DATA_DIR, config=PRESET, weights=WEIGHTS, steps=STEPS, image_size=IMAGE_SIZE,
                  precision=PRECISION)
    values.update(flags)
    argv = [item for key, value in values.items() if value is not None for item in (f"--{key}", str(value))]
    argv += ["--jit_compile"] if JIT_COMPILE else []
    return nh.config_from_flags("sketchy_fg", argv + (["--set", *EXTRA_SETS] if EXTRA_SETS else []))


base = make_config()
data = nh.load_data("sketchy_fg", base)  # read once, shared by every run below
index, split = data.index, data.split
print(f"{index.name}: {len(split.classes)} classes, {len(split.train_sketches)} training sketches, "
      f"{len(split.query_sketches)} queries, gallery {len(split.gallery_photos)} photos; runs in {OUT}")
'''),
        md("## Table 1 — decoder architecture\nRead off the decoder the model builds for the paper's setting "
           "(224 px, 256-d embedding)."),
        code('''\
from sbir_tf.models.fg import build_decoder

paper = fg_presets.get_config("paper")
decoder = build_decoder(paper.data.image_size, paper.model.embedding_dim, paper.model.decoder_channels,
                        paper.model.decoder_kernel)
nh.show_markdown(nh.architecture_markdown(nh.decoder_architecture(decoder)))
'''),
        md("## Training runs\nTable 3 varies the encoder (VGG16 / GoogLeNet) and the decoder (with / without); "
           "Table 4 varies weight sharing between the sketch and photo encoders. Finished runs in `OUT` are read "
           "back instead of retrained."),
        code('''\
variants = TABLE3_VARIANTS or (["vgg16", "vgg16-D", "googlenet"] if SMOKE else list(fg_presets.VARIANTS))
sharings = TABLE4_SHARING or (["heterogeneous"] if SMOKE else ["siamese", "hybrid", "heterogeneous"])
settings = [(v, None) for v in variants] + [("vgg16", s) for s in sharings]
runs = {}
for variant, sharing in settings:
    # GoogLeNet has no built-in pretrained weights (the named sources are VGG16's): random unless WEIGHTS is a file
    googlenet_random = fg_presets.VARIANTS[variant][0] == "googlenet" and (WEIGHTS or "none") in fg_task.WEIGHT_NAMES
    cfg = make_config(variant=variant, sharing=sharing, **({"weights": "none"} if googlenet_random else {}))
    key = (cfg.variant, cfg.model.sharing)
    if key not in runs:
        runs[key] = OUT / f"{cfg.variant}-{cfg.model.sharing}"
        nh.run_fine_grained(cfg, runs[key], data=data)
run_dirs = list(runs.values())
'''),
        md("## Table 2 — against published competitors and human performance"),
        code('nh.show_markdown(nh.paper_table_markdown("pang2017", "Table 2", run_dirs))'),
        md("## Table 3 — with / without the decoder, VGG16 vs GoogLeNet"),
        code('nh.show_markdown(nh.paper_table_markdown("pang2017", "Table 3", run_dirs))'),
        md("## Table 4 — siamese / hybrid / heterogeneous encoders"),
        code('nh.show_markdown(nh.paper_table_markdown("pang2017", "Table 4", run_dirs))'),
        md("### Every run, all numbers"),
        code('nh.show_markdown(nh.records_markdown(run_dirs, "fine_grained"))'),
        md("## Figure 3 — decoder outputs for matched sketch / photo pairs"),
        code('''\
full = runs.get(("vgg16", base.model.sharing)) or run_dirs[0]
nh.show_figure(full, "reconstructions", caption=f"run {full.name}")
'''),
        md("## Figure 4 — top-10 retrieval (true match marked)"),
        code('nh.show_figure(full, "retrieval_grid", caption=f"run {full.name}")'),
        md("### Training losses"),
        code('nh.show_figure(full, "loss_curves", caption=f"run {full.name}")'),
    ]
    return _notebook(cells)


# ------------------------------------------------------------------------------------------------ zero-shot
def zs_notebook():
    md, code = new_markdown_cell, _cell
    cells = [
        md("# Zero-shot SBIR — WAD-CMSN (Xu, Hu, Cai 2022)\n\n"
           "VGG16 features of sketches and photos are mapped to a 64-d semantic space by generators trained "
           "against Wasserstein critics, with word-vector + WordNet side information, cycle, classification and "
           "identity-matching losses. Each run is `sbir_tf.run.runner.run` (the code behind "
           "`python -m sbir_tf.experiments.sketchy_zs` / `tuberlin_zs`); every figure is a PNG the run wrote.\n\n"
           "**With `SMOKE = True` (default) the numbers are a plumbing check on tiny synthetic data, not a "
           "reproduction.** Published numbers are printed in their own columns, with the setting of every measured "
           "number beside it."),
        code(SETUP),
        code(_params('TUBERLIN_DIR = None  # TU-Berlin Extended root for Table 2; None = Table 2 only without SMOKE '
                     '(synthetic)\n'
                     'SEEDS = [0]          # several seeds -> mean ± std (report.aggregate_runs)\n'
                     'SEMANTICS = None     # Table 3 rows; None = ["glove", "path"] if SMOKE else all eight\n'
                     'ABLATIONS = None     # Table 4 rows other than "full"; None = ["adv_no_wasserstein", '
                     '"wasserstein"] if SMOKE else the other six\n',
                     backbones.KNOWN_WEIGHTS),
             tags=["parameters"]),
        md("## Configuration\nConfigs come from the command line's own resolution "
           "(`notebook_helpers.config_from_flags`, i.e. `sbir_tf.run.cli`). The Sketchy gallery is Sketchy Extended: "
           "a root without its photo folder needs `dataset_reader=\"sketchy\"` (`make_config`). VGG16 features are extracted once per dataset and cached; every later run reuses "
           "them."),
        code('''\
import tempfile

from sbir_tf.configs import zs as zs_presets
from sbir_tf.experiments import notebook_helpers as nh

PRESET = CONFIG or ("smoke" if SMOKE else "paper")
OUT = Path(OUTPUT_DIR or (tempfile.mkdtemp(prefix="zs_sbir_wadcmsn_") if SMOKE else "runs/zs_sbir_wadcmsn"))
DATA = {"sketchy": DATA_DIR, "tuberlin": TUBERLIN_DIR}


def make_config(dataset, **flags):
    """The CLI's config for ``python -m sbir_tf.experiments.<dataset>_zs`` with these flags."""
    values = dict(data_dir=DATA[dataset], config=PRESET, weights=WEIGHTS, steps=STEPS, image_size=IMAGE_SIZE,
                  precision=PRECISION, **flags)
    argv = [item for key, value in values.items() if value is not None for item in (f"--{key}", str(value))]
    argv += ["--jit_compile"] if JIT_COMPILE else []
    return nh.config_from_flags(f"{dataset}_zs", argv)


def setting(dataset, ablation="full", semantics=None):
    """Train/evaluate one setting for every seed (semantics None: the preset's default for the dataset,
    zs_presets.DEFAULT_SEMANTICS); returns the folder to report."""
    configs = [make_config(dataset, ablation=ablation, semantics=semantics, seed=s) for s in SEEDS]
    name = f"{dataset}_{configs[0].ablation}_{configs[0].semantics.spec}".replace("+", "-")
    return nh.run_zero_shot_seeds(configs, OUT / name)


print(f"preset {PRESET}, seeds {SEEDS}, runs in {OUT}")
'''),
        md("## Training runs"),
        code('''\
main = {"sketchy": setting("sketchy")}
if TUBERLIN_DIR is not None or not SMOKE:
    main["tuberlin"] = setting("tuberlin")
# Tables 1-2 "Softmax (Baseline)": nearest neighbour on the raw VGG16 features (no training)
raw_runs = {dataset: setting(dataset, ablation=zs_presets.RAW_FEATURES) for dataset in main}
semantic_runs = {spec: setting("sketchy", semantics=spec)
                 for spec in (SEMANTICS or (["glove", "path"] if SMOKE else list(zs_presets.SEMANTICS_EXAMPLES)))}
ablation_runs = {name: setting("sketchy", ablation=name)
                 for name in (ABLATIONS or (["adv_no_wasserstein", "wasserstein"] if SMOKE else
                              [row for row in zs_presets.TABLE4_ROWS if row != "full"]))}
run_dirs = [*main.values(), *raw_runs.values(), *semantic_runs.values(), *ablation_runs.values()]
'''),
        md("## Tables 1-2 — WAD-CMSN and the raw-feature baseline against published competitors"),
        code('''\
nh.show_markdown(nh.paper_table_markdown("wadcmsn2022", "Table 1", run_dirs))
nh.show_markdown(nh.paper_table_markdown("wadcmsn2022", "Table 2", run_dirs))
'''),
        md("## Table 3 — side information (text model and/or WordNet hierarchy)"),
        code('nh.show_markdown(nh.paper_table_markdown("wadcmsn2022", "Table 3", run_dirs))'),
        md("## Table 4 — loss ablations"),
        code('nh.show_markdown(nh.paper_table_markdown("wadcmsn2022", "Table 4", run_dirs))'),
        md("### Every run, all numbers"),
        code('nh.show_markdown(nh.records_markdown(run_dirs, "zero_shot"))'),
        md("## Figure 3 — validation mAP and losses during training"),
        code('''\
nh.show_figure(main["sketchy"], "curves_val", caption=f"validation mAP, run {main['sketchy'].name}")
nh.show_figure(main["sketchy"], "curves_losses", caption=f"loss terms, run {main['sketchy'].name}")
'''),
        md("## Figure 4 — retrieval on unseen classes (correct results marked)"),
        code('nh.show_figure(main["sketchy"], "retrieval_grid", caption=f"run {main[\'sketchy\'].name}")'),
        md("## Figure 5 — t-SNE of the generated semantic features, with and without the Wasserstein term"),
        code('''\
nh.show_figure(main["sketchy"], "tsne", caption="with the Wasserstein term (full WAD-CMSN)")
without = ablation_runs.get("adv_no_wasserstein")
if without is not None:
    nh.show_figure(without, "tsne", caption="without the Wasserstein term (adversarial loss without Wasserstein)")
'''),
    ]
    return _notebook(cells)


def _notebook(cells):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives byte-identical files
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    return nb


NOTEBOOKS = {"fg_sbir_pang2017.ipynb": fg_notebook, "zs_sbir_wadcmsn.ipynb": zs_notebook}


def write_all(out_dir: str | Path = REPO / "notebooks") -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in NOTEBOOKS.items():
        path = out_dir / name
        nbformat.write(build(), str(path))
        written.append(path)
    return written


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(REPO / "notebooks"))
    for path in write_all(p.parse_args(argv).out):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
