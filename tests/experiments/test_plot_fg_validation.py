"""experiments/scripts/plot_fg_validation.py: what the plot's title says the curves were read on, per record."""
import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_script():
    path = REPO / "experiments" / "scripts" / "plot_fg_validation.py"
    spec = importlib.util.spec_from_file_location("plot_fg_validation", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def write(record: Path, queries: int, val_queries: int = 100, val_instances: int = 0) -> None:
    record.mkdir(parents=True)
    (record / "metrics.json").write_text(json.dumps({"queries": queries}))
    (record / "config.json").write_text(json.dumps({"data": {"val_instances": val_instances},
                                                    "eval": {"val_queries": val_queries}}))


def test_each_set_names_its_own_monitor_slice(tmp_path):
    plot = load_script()
    for variant in ("vgg16", "vgg16-D"):
        write(tmp_path / "chairs" / variant / "seed0", queries=97)   # fewer queries than the slice asks for
        write(tmp_path / "shoes" / variant / "seed0", queries=115)
    assert plot.slice_label(tmp_path) == ("chairs: 97 queries of the test split, a monitor; "
                                          "shoes: 100 queries of the test split, a monitor")
    assert plot.slice_label(tmp_path / "shoes") == "100 queries of the test split, a monitor"


def test_held_out_instances_are_named(tmp_path):
    plot = load_script()
    for setting in ("k3_1000", "k0_1000"):
        write(tmp_path / setting / "vgg16-D" / "seed0", queries=1403, val_instances=60)
    assert plot.slice_label(tmp_path) == "sketches of 60 held-out training instances"
