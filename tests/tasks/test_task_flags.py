"""Each task's flags are sugar for config keys: a command line with flags resolves to the same config as the same
settings written with --set; and the dataset each command line reads without flags."""
import pytest

from sbir_tf.run import cli
from sbir_tf.tasks.registry import PROGRAMS, task_for


def resolve(prog, argv):
    task = task_for(prog)
    return cli.resolve_config(task, cli.build_parser(task, prog).parse_args(argv), log=lambda _: None)


@pytest.mark.parametrize("prog, flags, sets", [
    ("sketchy_fg", ["--steps", "7", "--seed", "2", "--batch_size", "4", "--precision", "bfloat16", "--jit_compile",
                    "--deterministic", "--sharing", "hybrid", "--schedule", "joint", "--frozen_blocks", "3",
                    "--image_size", "48", "--strategy", "mirrored", "--weights", "none"],
     ["train.steps=7", "train.seed=2", "train.batch_size=4", "train.precision=bfloat16", "train.jit_compile=true",
      "train.deterministic=true", "model.sharing=hybrid", "train.schedule=joint", "model.frozen_blocks=3",
      "data.image_size=48", "train.strategy=mirrored", "model.weights=none"]),
    ("sketchy_fg", ["--variant", "googlenet-D"], ["variant=googlenet-D", "model.backbone=googlenet",
                                                   "model.use_decoder=false"]),
    ("qmul_fg", ["--dataset", "qmul_v2", "--category", "chairs"], ["data.dataset=qmul_v2", "data.category=chairs"]),
    ("sketchy_zs", ["--split", "sake25", "--semantics", "w2v+path", "--weights", "hed", "--image_size", "96",
                    "--cache_dir", "/c", "--refresh_features", "--no_figures", "--dataset_reader", "sketchy",
                    "--text_vectors", "/v.txt"],
     ["data.split=sake25", "semantics.spec=w2v+path", "features.weights=hed", "features.image_size=96",
      "features.synthetic_image_size=96", "features.cache_dir=/c", "features.refresh=true", "figures.enabled=false",
      "data.reader=sketchy", "semantics.text_vectors=/v.txt"]),
    ("tuberlin_zs", ["--ablation", "wasserstein+cls"], ["ablation=wasserstein+cls", "loss.weights.cyc=0.0",
                                                        "loss.weights.iml=0.0"]),
])
def test_flags_equal_their_set_overrides(prog, flags, sets):
    base = ["--config", "smoke"]
    with_flags = resolve(prog, base + flags)
    with_sets = resolve(prog, base + ["--set", *sets])
    assert with_flags == with_sets
    assert with_flags != resolve(prog, base)  # the flags did change something


def test_data_flags_and_the_dataset_each_program_reads():
    assert resolve("sketchy_fg", []).data.dataset == "synthetic"  # no data at all: the embedded synthetic set
    fg = resolve("sketchy_fg", ["--data_dir", "/sketchy"])
    assert (fg.data.dataset, fg.data.root, fg.preset) in (("sketchy", "/sketchy", "cpu"),
                                                          ("sketchy", "/sketchy", "paper"))  # paper on a GPU
    assert resolve("qmul_fg", []).data.dataset == "qmul_v1"
    zs = resolve("tuberlin_zs", ["--prepared_dir", "/tfds", "--config", "cpu"])
    assert (zs.data.dataset, zs.data.prepared_dir, zs.data.root) == ("tuberlin", "/tfds", None)
    assert sorted(PROGRAMS) == ["qmul_fg", "sketchy_fg", "sketchy_zs", "tuberlin_zs"]
