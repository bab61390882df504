"""experiments/scripts/plot_fg_validation.py: what the plot's title says the curves were read on, per record."""
import json
from pathlib import Path

from tests.experiments.script_loader import load_script


def write(record: Path, queries: int, val_queries: int = 100, val_instances: int = 0) -> None:
    record.mkdir(parents=True)
    (record / "metrics.json").write_text(json.dumps({"queries": queries}))
    (record / "config.json").write_text(json.dumps({"data": {"val_instances": val_instances},
                                                    "eval": {"val_queries": val_queries}}))


def test_each_set_names_its_own_monitor_slice(tmp_path):
    plot = load_script("plot_fg_validation")
    for variant in ("vgg16", "vgg16-D"):
        write(tmp_path / "chairs" / variant / "seed0", queries=97)   # fewer queries than the slice asks for
        write(tmp_path / "shoes" / variant / "seed0", queries=115)
    assert plot.slice_label(tmp_path) == ("chairs: 97 queries of the test split, a monitor; "
                                          "shoes: 100 queries of the test split, a monitor")
    assert plot.slice_label(tmp_path / "shoes") == "100 queries of the test split, a monitor"


def test_held_out_instances_are_named(tmp_path):
    plot = load_script("plot_fg_validation")
    for setting in ("k3_1000", "k0_1000"):
        write(tmp_path / setting / "vgg16-D" / "seed0", queries=1403, val_instances=60)
    assert plot.slice_label(tmp_path) == "sketches of 60 held-out training instances"


def test_beside_draws_a_setting_recorded_elsewhere_under_its_own_name(tmp_path, monkeypatch):
    plot = load_script("plot_fg_validation")
    rows = lambda hits: [{"step": 250, "val/acc@10": hits[0] / 332}, {"step": 500, "val/acc@10": hits[1] / 332}]
    new, old = tmp_path / "part20", tmp_path / "part16" / "noflip"
    for folder, hits in ((new / "lt10", (40, 50)), (old, (49, 59))):
        write(folder / "vgg16-D" / "seed0", queries=1403, val_instances=60)
        (folder / "vgg16-D" / "seed0" / "validation.json").write_text(json.dumps(rows(hits)))
    drawn = {}
    monkeypatch.setattr(plot, "curves", lambda series, out, **kw: drawn.update(series=series, title=kw["title"]))
    assert plot.main([str(new), "--metric", "acc@10", "--beside", str(old)]) == 0
    assert drawn["series"] == {"lt10/vgg16-D seed0": [(250, 40 / 332), (500, 50 / 332)],
                               "noflip/vgg16-D seed0": [(250, 49 / 332), (500, 59 / 332)]}
    assert drawn["title"].startswith("Validation acc@10 (sketches of 60 held-out training instances)")
    assert plot.main([str(new), "--beside", str(tmp_path / "missing")]) == 2
