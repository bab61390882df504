"""Report on fake records (test data written to tmp_path, never results), aggregate_runs on hand numbers,
the paper-number table's rules and the committed notebooks' structure."""
import json
from pathlib import Path

import pytest

from sbir_tf.experiments import paper_numbers as P
from sbir_tf.experiments import report

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("fg_sbir_pang2017.ipynb", "zs_sbir_wadcmsn.ipynb")


def write_record(folder: Path, metrics: dict, env: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "config.json").write_text(json.dumps({"fake": True}))
    (folder / "environment.json").write_text(json.dumps(env or {"tensorflow": "2.21", "gpus": [], "cores": 2,
                                                                "commit": "0123456789abcdef"}))
    (folder / "figures").mkdir(exist_ok=True)
    (folder / "figures" / "retrieval_grid.png").write_bytes(b"\x89PNG fake")
    return folder


def fg_metrics(**kw) -> dict:
    m = {"acc@1": 0.25, "acc@5": 0.5, "acc@10": 0.75, "chance": {"acc@1": 0.01, "acc@5": 0.05, "acc@10": 0.1},
         "dataset": "sketchy", "data_root": "/data/sketchy_mini", "category": None,
         "split": "fine_grained (train: ...)", "image_size": 64, "weights": "hed", "steps": 300, "variant": "vgg16",
         "sharing": "siamese", "schedule": "text", "preset": "cpu", "seed": 0, "queries": 40, "gallery_size": 100}
    m.update(kw)
    return m


def zs_metrics(seed=0, mAP=0.2, base=0.1, **kw) -> dict:
    m = {"dataset": "sketchy", "data": {"source": "synthetic", "root": "/cache/synthetic"},
         "split": {"name": "synthetic", "num_seen": 8, "num_unseen": 4, "num_test": 4},
         "semantics": "glove+path", "ablation": "full", "config": "smoke",
         "features": {"weights": "hed", "image_size": 32}, "seed": seed, "steps": 6,
         "num_queries": 20, "num_gallery": 20,
         "baseline_raw_features": {"mAP@all": base, "P@100": base / 2, "mAP@200": base, "P@200": base / 4},
         "wadcmsn": {"mAP@all": mAP, "P@100": mAP / 2, "mAP@200": mAP, "P@200": mAP / 4}}
    m.update(kw)
    return m


def table_lines(text: str, heading: str) -> list[str]:
    """The Markdown table lines under the first heading containing ``heading``."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("#") and heading in l)
    out = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            out.append(line)
    return out


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split(" | ")]


# ----------------------------------------------------------------------------------------------- report
def test_fine_grained_rows_columns_and_unverified_paper_values(tmp_path):
    write_record(tmp_path / "fg_vgg16", fg_metrics())
    write_record(tmp_path / "fg_vgg16-D", fg_metrics(variant="vgg16-D", **{"acc@1": 0.125}))
    write_record(tmp_path / "fg_paper", fg_metrics(preset="paper", data_root="/data/sketchy_full", steps=30000,
                                                   image_size=224, weights="imagenet"),
                 env={"gpus": ["/physical_device:GPU:0"], "commit": "abcdef0123"})
    text = report.build_report(tmp_path)

    t3 = table_lines(text, "Table 3")
    header = cells(t3[0])
    assert header[:5] == ["Paper row", "Paper acc@1 (quoted)", "Paper acc@10 (quoted)", "Ours acc@1", "Ours acc@10"]
    for col in ("Dataset", "Split", "Image size", "Weights", "Steps", "Device", "Paper setting?"):
        assert col in header
    rows = {cells(l)[0] + "@" + cells(l)[5]: cells(l) for l in t3[2:]}
    no_dec = rows["VGG16 without decoder@`fg_vgg16-D`"]
    assert no_dec[1] == "n/a (not verified)" and no_dec[3] == "0.125" and no_dec[4] == "0.750"
    col = {name: i for i, name in enumerate(header)}
    assert no_dec[col["Dataset"]] == "sketchy (mini subset)" and no_dec[col["Model"]].startswith("vgg16-D, siamese")
    assert no_dec[col["Image size"]] == "64 px" and no_dec[col["Steps"]] == "300"
    assert no_dec[col["Device"]].startswith("CPU") and no_dec[col["Paper setting?"]] == "no"
    full = rows["VGG16 with decoder@`fg_paper`"]
    assert full[col["Paper setting?"]] == "yes" and full[col["Device"]] == "GPU x1"
    assert full[col["Commit"]] == "abcdef01"
    googlenet = [cells(l) for l in t3[2:] if cells(l)[0] == "GoogLeNet with decoder"]
    assert googlenet and googlenet[0][3] == report.NO_RECORD and googlenet[0][5] == "no record"

    t2 = table_lines(text, "Table 2, Sketchy (fine-grained)")
    chance = [cells(l) for l in t2[2:] if cells(l)[0].startswith("Chance")]
    assert [c[3] for c in chance] == ["0.010", "0.010"]  # once per distinct gallery (mini, full), not per run

    t4 = table_lines(text, "Table 4")
    siamese = [cells(l) for l in t4[2:] if cells(l)[0].startswith("Siamese")]
    assert {c[5] for c in siamese} == {"`fg_vgg16`", "`fg_paper`"}  # vgg16-D is not a Table 4 row

    all_rows = table_lines(text, "All fine-grained records")
    assert len(all_rows) == 2 + 3


def test_zero_shot_single_and_aggregate_records(tmp_path):
    write_record(tmp_path / "zs_sketchy_full", zs_metrics(mAP=0.3, base=0.05))
    write_record(tmp_path / "zs_tuberlin_cycle", zs_metrics(mAP=0.2, dataset="tuberlin",
                                                            ablation="wasserstein+cycle", semantics="glove+path",
                                                            data={"source": "tuberlin_extended", "root": "/d/tub"}))
    seeds = [write_record(tmp_path / "seeds" / f"s{i}", zs_metrics(seed=i, mAP=v, base=0.1, semantics="glove"))
             for i, v in enumerate((0.1, 0.2, 0.3))]
    report.aggregate_runs(seeds, tmp_path / "zs_glove_3seeds")
    text = report.build_report(tmp_path)

    t1 = [cells(l) for l in table_lines(text, "Table 1, Sketchy Extended")[2:]]
    wad = [c for c in t1 if c[0] == "WAD-CMSN"]
    assert [c[3] for c in wad] == ["0.300"] and wad[0][1] == "n/a (not verified)"
    base = [c for c in t1 if c[0].startswith("Softmax baseline")]
    assert [c[3] for c in base] == ["0.050"]  # the glove-only aggregate belongs to Table 3, not Table 1
    assert all("synthetic" in c[8] for c in base)  # dataset column flags the synthetic set

    t2 = [cells(l) for l in table_lines(text, "Table 2, TU-Berlin Extended")[2:]]
    assert all(c[5] == "no record" for c in t2 if c[0] == "WAD-CMSN")  # the tuberlin run is an ablation row
    t4_tub = [cells(l) for l in table_lines(text, "Table 4, TU-Berlin Extended")[2:]]
    assert [c[3] for c in t4_tub if c[0] == "Wasserstein + cycle consistency"] == ["0.200"]
    t3 = [cells(l) for l in table_lines(text, "Table 3, Sketchy Extended")[2:]]
    assert [c[3] for c in t3 if c[0] == "glove"] == ["0.200 ± 0.100 (n=3)"]
    assert [c[3] for c in t3 if c[0] == "glove+path"] == ["0.300"]

    all_rows = [cells(l) for l in table_lines(text, "All zero-shot records")[2:]]
    names = [r[0] for r in all_rows]
    assert "`zs_glove_3seeds`" in names and not any("seeds/s" in n for n in names)  # seeds folded in
    agg = all_rows[names.index("`zs_glove_3seeds`")]
    header = cells(table_lines(text, "All zero-shot records")[0])
    assert agg[header.index("Seed(s)")] == "0,1,2"


def test_report_cli_writes_file_and_skips_unknown_records(tmp_path):
    write_record(tmp_path / "runs" / "fg", fg_metrics())
    (tmp_path / "runs" / "junk").mkdir()
    (tmp_path / "runs" / "junk" / "metrics.json").write_text("{\"loss\": 1}")
    out = tmp_path / "REPORT.md"
    assert report.main(["--root", str(tmp_path / "runs"), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# sbir_tf experiment report") and "Skipped folders" in text and "junk" in text
    assert "No zero-shot records." in text


def test_report_on_missing_root_still_lists_paper_tables(tmp_path):
    text = report.build_report(tmp_path / "nothing")
    assert "no records folder" in text
    assert text.count("n/a (not verified)") >= len([e for e in P.ALL if e.value is None and e.paper != "sempcyc2019"])


# ----------------------------------------------------------------------------------------------- aggregate
def test_aggregate_runs_mean_std_on_hand_numbers(tmp_path):
    dirs = [write_record(tmp_path / f"s{i}", zs_metrics(seed=i, mAP=v, base=b))
            for i, (v, b) in enumerate(((0.1, 0.2), (0.2, 0.2), (0.3, 0.5)))]
    rec = report.aggregate_runs(dirs, tmp_path / "agg")
    agg = rec["aggregate"]
    assert agg["seeds"] == [0, 1, 2] and agg["n"] == 3
    assert agg["mean"]["mAP@all"] == pytest.approx(0.2)
    assert agg["std"]["mAP@all"] == pytest.approx(0.1)  # sample std of 0.1, 0.2, 0.3
    assert agg["mean"]["P@100"] == pytest.approx(0.1) and agg["std"]["P@100"] == pytest.approx(0.05)
    assert agg["baseline_raw_features"]["mean"]["mAP@all"] == pytest.approx(0.3)
    assert agg["baseline_raw_features"]["std"]["mAP@all"] == pytest.approx(0.17320508, rel=1e-6)
    out = tmp_path / "agg"
    assert json.loads((out / "metrics.json").read_text())["task"] == "zero_shot"
    assert (out / "config.json").is_file() and (out / "environment.json").is_file()
    assert (out / "figures" / "retrieval_grid.png").is_file()
    assert report.record_kind(rec) == "zero_shot_aggregate"
    assert [r["source"] for r in rec["runs"]] == [str(d) for d in dirs]


def test_aggregate_single_seed_has_zero_std(tmp_path):
    d = write_record(tmp_path / "s0", zs_metrics(mAP=0.4))
    rec = report.aggregate_runs([d], tmp_path / "agg")
    assert rec["aggregate"]["mean"]["mAP@all"] == pytest.approx(0.4) and rec["aggregate"]["std"]["mAP@all"] == 0.0


@pytest.mark.parametrize("second, message", [
    (dict(seed=0), "duplicate seeds"),
    (dict(seed=1, ablation="wasserstein"), "'ablation'"),
    (dict(seed=1, semantics="glove"), "'semantics'"),
])
def test_aggregate_rejects_runs_that_differ_in_more_than_the_seed(tmp_path, second, message):
    a = write_record(tmp_path / "a", zs_metrics(seed=0))
    b = write_record(tmp_path / "b", zs_metrics(**second))
    with pytest.raises(ValueError, match=message):
        report.aggregate_runs([a, b], tmp_path / "agg")


def test_aggregate_rejects_fine_grained_records(tmp_path):
    d = write_record(tmp_path / "fg", fg_metrics())
    with pytest.raises(ValueError, match="fine_grained"):
        report.aggregate_runs([d], tmp_path / "agg")


# ----------------------------------------------------------------------------------------------- paper numbers
def test_paper_numbers_are_sourced_or_marked_unverified():
    P.check_entries()
    for e in P.ALL:
        assert e.paper in P.PAPERS and e.table.startswith("Table") and e.metric
        if e.value is None:
            assert e.note == P.NOT_VERIFIED and P.format_value(e) == "n/a (not verified)"
        else:
            assert e.source, e


def test_check_entries_rejects_a_value_without_source():
    bad = P.PaperNumber("pang2017", "Table 3", "VGG16 with decoder", "acc@1", 0.5, "Sketchy", note="typed in")
    with pytest.raises(ValueError, match="source"):
        P.check_entries([bad])
    good = P.PaperNumber("pang2017", "Table 3", "x", "acc@1", 0.5, "Sketchy", note="n", source="https://example")
    P.check_entries([good])
    assert P.format_value(good) == "0.500"


def test_main_comparison_uses_the_default_semantics():
    from sbir_tf.experiments import zs_presets

    assert P.MAIN_SEMANTICS == zs_presets.DEFAULT_SEMANTICS


def test_lookup_names_the_missing_entry():
    assert P.lookup("pang2017", "Table 3", "VGG16 with decoder", "acc@1").match == {"variant": "vgg16"}
    with pytest.raises(KeyError, match="Table 9"):
        P.lookup("pang2017", "Table 9", "x", "acc@1")


# ----------------------------------------------------------------------------------------------- notebooks
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_are_stripped_and_parameterised(name):
    """Every committed notebook: no outputs, one ``parameters`` cell, a Colab set-up cell first."""
    nbformat = pytest.importorskip("nbformat")
    path = REPO / "notebooks" / name
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "outputs not stripped"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    params = tagged[0].source
    for name_ in ("SMOKE = True", "DATA_DIR = None", "CONFIG", "WEIGHTS", "OUTPUT_DIR"):
        assert name_ in params
    first = code[0].source
    assert "import sbir_tf" in first and "except ImportError" in first  # Colab set-up cell, no-op when installed


def test_make_notebooks_regenerates_the_committed_files(tmp_path):
    pytest.importorskip("nbformat")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "tools" / "make_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    written = mod.write_all(tmp_path)
    for path in written:
        assert path.read_text() == (REPO / "notebooks" / path.name).read_text(), f"{path.name} is stale"


def test_decoder_architecture_reads_table1_off_the_built_decoder():
    from sbir_tf.experiments import notebook_helpers as nh
    from sbir_tf.models.fg import build_decoder

    rows = nh.decoder_architecture(build_decoder(64, 16, (16, 16, 8, 8, 8, 8), 4))
    assert [r["layer"] for r in rows] == ["decoder_seed_fc", "decoder_seed", "deconv1", "deconv2", "deconv3",
                                          "deconv4", "deconv5", "decoder_output"]
    by = {r["layer"]: r for r in rows}
    assert by["decoder_seed_fc"]["batch norm"] == "no" and by["decoder_seed"]["output shape"] == "2 x 2 x 16"
    assert by["deconv1"] == {"layer": "deconv1", "type": "Conv2DTranspose", "output shape": "4 x 4 x 16",
                             "kernel / stride": "4x4 / 2", "batch norm": "yes", "activation": "relu"}
    assert by["deconv5"]["output shape"] == "64 x 64 x 8"
    assert by["decoder_output"]["activation"] == "tanh" and by["decoder_output"]["batch norm"] == "no"
    assert "| deconv1 | Conv2DTranspose |" in nh.architecture_markdown(rows)
