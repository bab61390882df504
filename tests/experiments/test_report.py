"""Report on fake records (test data written to tmp_path, never results): paper tables beside our runs grouped
over seeds, the settings printed with every row, aggregate_runs on hand numbers and the committed notebooks."""
import json
from pathlib import Path

import pytest

from sbir_tf.experiments import paper_numbers as P
from sbir_tf.experiments import report
from tests.experiments.script_loader import load_script

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ("fg_sbir_pang2017.ipynb", "zs_sbir_wadcmsn.ipynb")
CPU_ENV = {"tensorflow": "2.21", "gpus": [], "cores": 2, "commit": "0123456789abcdef"}


def write_record(folder: Path, metrics: dict, env: dict | None = None, config: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    seed = metrics.get("seed", 0)
    (folder / "config.json").write_text(json.dumps(config or {"fake": True, "train": {"seed": seed}}))
    (folder / "environment.json").write_text(json.dumps(env or CPU_ENV))
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


def zs_config(seed=0, lr=1e-3) -> dict:
    return {"model": {"semantic_dim": 64, "visual_dim": 512}, "train": {"seed": seed, "lr": lr}}


def table_rows(text: str, heading: str) -> list[dict]:
    """The rows (header -> cell) of the Markdown table under the heading ending with ``heading``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and line.endswith(heading))
    table = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    header, _, *body = table
    assert all(len(row) == len(header) for row in body)
    return [dict(zip(header, row)) for row in body]


def rows_for(rows: list[dict], label: str) -> list[dict]:
    return [r for r in rows if r["Paper row"] == label]


SETTING_KEYS = ("Our records", "Model", "Dataset", "Split", "Image size", "Weights", "Steps", "Seeds", "Preset",
                "Device", "Commit", "Paper setting?")


def setting(row: dict) -> dict:
    return {k: row[k] for k in SETTING_KEYS}


# ----------------------------------------------------------------------------------------------- fine-grained
def test_mixed_precision_runs_are_their_own_row(tmp_path):
    """A bfloat16 run of an otherwise equal setting is not averaged with float32 seeds, and its row says so."""
    for seed, precision in ((0, "float32"), (1, "float32"), (0, "bfloat16"), (1, "bfloat16")):
        config = {"train": {"seed": seed, "precision": precision}}
        write_record(tmp_path / f"fg_{precision}_s{seed}", fg_metrics(seed=seed, precision=precision), config=config)
    ours = rows_for(table_rows(report.build_report(tmp_path), "Pang et al. — Table 3, Sketchy"), "Ours")
    assert sorted((r["Model"], r["Seeds"]) for r in ours) == [
        ("vgg16, siamese, schedule text", "0,1"), ("vgg16, siamese, schedule text, bfloat16", "0,1")]


def test_fine_grained_seeds_grouped_beside_pang_tables(tmp_path):
    for seed, acc in enumerate((0.25, 0.5, 0.75)):
        write_record(tmp_path / f"fg_s{seed}", fg_metrics(seed=seed, **{"acc@1": acc, "acc@10": 0.5 + acc / 2}))
    write_record(tmp_path / "fg_nodec", fg_metrics(variant="vgg16-D", **{"acc@1": 0.125}))
    write_record(tmp_path / "fg_heter", fg_metrics(sharing="heterogeneous", **{"acc@1": 0.0625}))
    write_record(tmp_path / "fg_qmul", fg_metrics(dataset="qmul_v1", category="shoes", data_root="/data/qmul_v1"))
    write_record(tmp_path / "fg_paper", fg_metrics(preset="paper", data_root="/data/sketchy_full", steps=30000,
                                                   image_size=224, weights="imagenet", **{"acc@1": 0.5}),
                 env={"gpus": ["/physical_device:GPU:0"], "commit": "abcdef0123",
                      "uncommitted_changes": ["sbir_tf/tasks/fg.py"]})
    text = report.build_report(tmp_path)

    t3 = table_rows(text, "Pang et al. — Table 3, Sketchy")
    assert list(t3[0])[:3] == ["Paper row", "Paper acc@1", "Ours acc@1"]
    ours = {r["Our records"]: r for r in rows_for(t3, "Ours")}
    assert [(r["Paper acc@1"], r["Ours acc@1"]) for r in ours.values()] == [("0.5014", "0.5000 (n=1)"),
                                                                           ("0.5014", "0.5000 ± 0.2500 (n=3)")]
    assert setting(ours["`fg_s0`, `fg_s1`, `fg_s2`"]) == {
        "Our records": "`fg_s0`, `fg_s1`, `fg_s2`", "Model": "vgg16, siamese, schedule text",
        "Dataset": "sketchy (mini subset)", "Split": "fine_grained", "Image size": "64 px", "Weights": "hed",
        "Steps": "300", "Seeds": "0,1,2", "Preset": "cpu", "Device": "CPU (2 cores)", "Commit": "01234567",
        "Paper setting?": "no: preset cpu; mini subset"}
    assert setting(ours["`fg_paper`"]) == {
        "Our records": "`fg_paper`", "Model": "vgg16, siamese, schedule text", "Dataset": "sketchy",
        "Split": "fine_grained", "Image size": "224 px", "Weights": "imagenet", "Steps": "30000", "Seeds": "0",
        "Preset": "paper", "Device": "GPU x1", "Commit": "abcdef01+uncommitted", "Paper setting?": "yes"}
    nodec = rows_for(t3, "Ours-D")
    assert [(r["Paper acc@1"], r["Ours acc@1"], r["Our records"]) for r in nodec] == [("0.4718", "0.1250 (n=1)",
                                                                                      "`fg_nodec`")]
    assert [(r["Paper acc@1"], r["Ours acc@1"], r["Our records"]) for r in rows_for(t3, "Our_GN-D")] == [
        ("0.4552", report.NO_RECORD, "no record")]

    t4 = table_rows(text, "Pang et al. — Table 4, Sketchy")
    assert [r["Ours acc@1"] for r in rows_for(t4, "Ours-Heter")] == ["0.0625 (n=1)"]
    assert [r["Our records"] for r in rows_for(t4, "Ours")] == ["`fg_paper`", "`fg_s0`, `fg_s1`, `fg_s2`"]
    t2 = table_rows(text, "Pang et al. — Table 2, Sketchy")
    assert [r["Paper row"] for r in t2] == ["Sia-SN-Tri [17]", "Heter-AN-Pair [17]", "Heter-GN-Pair [17]",
                                            "Heter-GN-Tri [17]", "Ours", "Ours", "Human [17]"]
    assert rows_for(t2, "Human [17]")[0]["Paper acc@1"] == "0.5427"
    assert not any("qmul" in r["Our records"] for r in t2 + t3 + t4)  # Pang's tables are Sketchy

    everything = table_rows(text, "All fine-grained settings")
    grouped = [r for r in everything if r["Seeds"] == "0,1,2"][0]
    assert (grouped["Our records"], grouped["acc@1"], grouped["acc@10"], grouped["chance acc@1"]) == (
        "`fg_s0`, `fg_s1`, `fg_s2`", "0.5000 ± 0.2500 (n=3)", "0.7500 ± 0.1250 (n=3)", "0.0100 ± 0.0000 (n=3)")
    assert len(everything) == 5  # the three seeds are one setting
    qmul = [r for r in everything if r["Our records"] == "`fg_qmul`"][0]
    assert qmul["Dataset"] == "qmul_v1/shoes"


def test_records_marked_as_not_evidence_stay_out_of_the_paper_tables(tmp_path):
    write_record(tmp_path / "evidence", fg_metrics(**{"acc@1": 0.25}))
    write_record(tmp_path / "timing" / "k3", fg_metrics(steps=12, **{"acc@1": 0.001}))
    write_record(tmp_path / "timing" / "k4", fg_metrics(steps=12, seed=1, **{"acc@1": 0.002}))
    (tmp_path / "timing" / "record.json").write_text(json.dumps({"purpose": "speed only", "paper_tables": False}))
    text = report.build_report(tmp_path)
    for table in ("Table 2, Sketchy", "Table 3, Sketchy", "Table 4, Sketchy"):
        assert [r["Our records"] for r in rows_for(table_rows(text, table), "Ours")] == ["`evidence`"]
    everything = {r["Our records"]: r for r in table_rows(text, "All fine-grained settings")}
    assert everything["`timing/k3`, `timing/k4`"]["Paper setting?"] == (
        "no: preset cpu; mini subset (purpose: speed only)")
    assert everything["`evidence`"]["Paper setting?"] == "no: preset cpu; mini subset"
    (tmp_path / "timing" / "record.json").write_text(json.dumps({"paper_tables": "no"}))
    records, warnings = report.find_records(tmp_path)  # a bad note: those records are skipped, with the reason
    assert [r.name for r in records] == ["evidence"]
    assert len(warnings) == 2 and all("record.json" in w and "paper_tables true or false" in w for w in warnings)


def test_runs_that_differ_in_more_than_the_seed_are_not_grouped(tmp_path):
    write_record(tmp_path / "a", fg_metrics(seed=0))
    write_record(tmp_path / "b", fg_metrics(seed=1, steps=600))
    write_record(tmp_path / "c", fg_metrics(seed=2), config={"fake": True, "train": {"seed": 2, "base_lr": 1e-3}})
    write_record(tmp_path / "d", fg_metrics(seed=3))
    groups, warnings = report.group_runs(report.find_records(tmp_path)[0])
    assert [[r.seed for r in g.runs] for g in groups] == [[0, 3], [1], [2]] and warnings == []


def test_seeds_recorded_by_older_config_schemas_group_with_newer_ones(tmp_path):
    """A key added later at the value older runs had, or a renamed key, does not split a setting; a real difference
    in the same keys still does."""
    old = {"data": {"image_size": 112}, "train": {"seed": 0, "mixed_precision": False}}
    new = {"data": {"image_size": 112, "val_instances": 0},
           "train": {"seed": 1, "precision": "float32", "deterministic": False, "jit_compile": False}}
    write_record(tmp_path / "old", fg_metrics(seed=0), config=old)
    write_record(tmp_path / "new", fg_metrics(seed=1), config=new)
    held_out = {"data": {"image_size": 112, "val_instances": 30}, "train": {"seed": 2, "precision": "float32"}}
    write_record(tmp_path / "val30", fg_metrics(seed=2), config=held_out)
    write_record(tmp_path / "bf16", fg_metrics(seed=3), config={"data": {"image_size": 112},
                                                               "train": {"seed": 3, "precision": "bfloat16"}})
    write_record(tmp_path / "xla", fg_metrics(seed=4), config={"data": {"image_size": 112},
                                                              "train": {"seed": 4, "jit_compile": True}})
    groups, warnings = report.group_runs(report.find_records(tmp_path)[0])
    assert sorted(sorted(r.seed for r in g.runs) for g in groups) == [[0, 1], [2], [3], [4]] and warnings == []
    splits = {tuple(r.seed for r in g.runs): g.setting()["split"] for g in groups}
    assert splits[(2,)] == "fine_grained, 30 training instances held out for validation"
    assert splits[(0, 1)] == splits[(3,)] == "fine_grained"  # the split's whole training set
    assert report.comparable_config(old) == {"data": {"image_size": 112}, "train": {"precision": "float32"}}
    assert old["train"] == {"seed": 0, "mixed_precision": False}  # the record's own config is left alone


def test_classifier_scale_pooling_flips_crops_negatives_lambda_t_lr_and_cache_are_part_of_the_setting(tmp_path):
    """model.classifier_scale (added later at 1.0) and data.flip_pairs (added at False) group older records with newer
    ones at those values; other values, gap pooling, no flips, paired crops, always-hard negatives, another
    lambda_T and learning rates other than the preset's are their own rows and say so."""
    old = {"model": {"pooling": "flatten"}, "data": {"flip": True}}
    new = {"model": {"pooling": "flatten", "classifier_scale": 1.0}, "data": {"flip": True, "flip_pairs": False}}
    configs = {"old": (old, 0), "new": (new, 1),
               "cls10": ({**new, "model": {"pooling": "flatten", "classifier_scale": 10.0}}, 0),
               "gap": ({**new, "model": {"pooling": "gap", "classifier_scale": 1.0}}, 0),
               "noflip": ({**new, "data": {"flip": False, "flip_pairs": False}}, 0),
               "paired": ({**new, "data": {"flip": True, "flip_pairs": True}}, 0),
               "crops": ({**new, "data": {"flip": True, "flip_pairs": False, "crop_pairs": True}}, 0),
               "hn10": ({**new, "data": {"flip": True, "hard_negative_prob": 1.0}}, 0),
               # data.trunk_cache_views (added at 0): at 0 no change, at 8 a row of its own
               "live": ({**new, "data": {"flip": True, "flip_pairs": False, "trunk_cache_views": 0}}, 3),
               "views8": ({**new, "data": {"flip": True, "flip_pairs": False, "trunk_cache_views": 8}}, 0),
               "lt10": ({**new, "loss": {"lambda_t": 10.0}}, 0),
               "lr3": ({**new, "train": {"base_lr": 3e-4, "final_lr": 3e-5}}, 0),
               # the `cpu` preset's values (p = 0.5, lambda_T 1, Adam 1e-4 then 1e-5), written out: a row of their
               # own, described as no change
               "defaults": ({**new, "data": {"flip": True, "hard_negative_prob": 0.5}, "loss": {"lambda_t": 1.0},
                             "train": {"base_lr": 1e-4, "final_lr": 1e-5}}, 2)}
    for name, (config, seed) in configs.items():
        write_record(tmp_path / name, fg_metrics(seed=seed),
                     config={**config, "train": {**config.get("train", {}), "seed": seed}})
    groups, warnings = report.group_runs(report.find_records(tmp_path)[0])
    models = sorted((g.setting()["model"], g.setting()["seeds"]) for g in groups)
    assert models == [("vgg16, siamese, schedule text", "0,1,3"),
                      ("vgg16, siamese, schedule text", "2"),
                      ("vgg16, siamese, schedule text, Adam lr 3e-4 -> 3e-5", "0"),
                      ("vgg16, siamese, schedule text, classifier lr x10", "0"),
                      ("vgg16, siamese, schedule text, crops paired", "0"),
                      ("vgg16, siamese, schedule text, flips paired", "0"),
                      ("vgg16, siamese, schedule text, lambda_T 10", "0"),
                      ("vgg16, siamese, schedule text, no flips", "0"),
                      ("vgg16, siamese, schedule text, pool5 gap", "0"),
                      ("vgg16, siamese, schedule text, same-class negatives p=1", "0"),
                      ("vgg16, siamese, schedule text, trunk cache of 8 views", "0")] and warnings == []


# ----------------------------------------------------------------------------------------------- zero-shot
def test_zero_shot_runs_aggregates_and_settings_beside_wadcmsn_tables(tmp_path):
    for seed, mAP in ((0, 0.3), (1, 0.4)):  # single seed runs of one setting, grouped by the report
        write_record(tmp_path / f"tub_s{seed}", zs_metrics(seed=seed, mAP=mAP, dataset="tuberlin",
                                                           data={"source": "tuberlin", "root": "/d/tuberlin"},
                                                           split={"name": "sempcyc30", "num_seen": 220,
                                                                  "num_test": 30}, features={"weights": "imagenet",
                                                                                             "image_size": 224},
                                                           config="paper", steps=20000),
                     config=zs_config(seed))
    seeds = [write_record(tmp_path / "glove" / f"s{i}", zs_metrics(seed=i, mAP=v, semantics="glove"),
                          config=zs_config(i)) for i, v in enumerate((0.1, 0.2, 0.3))]
    report.aggregate_runs(seeds, tmp_path / "zs_glove_3seeds")
    write_record(tmp_path / "glove_extra_seed", zs_metrics(seed=3, mAP=0.4, semantics="glove"), config=zs_config(3))
    write_record(tmp_path / "raw", zs_metrics(ablation="raw_features", base=0.05, steps=None,
                                              wadcmsn=None), config=zs_config())
    write_record(tmp_path / "ablation", zs_metrics(ablation="wasserstein+cls", mAP=0.25), config=zs_config())
    text = report.build_report(tmp_path)

    t2 = table_rows(text, "Xu et al. — Table 2, TU-Berlin (Extended)")
    ours = rows_for(t2, "ours")
    assert len(ours) == 1
    assert (ours[0]["Paper mAP@all"], ours[0]["Paper P@100"], ours[0]["Paper dimension"]) == ("0.351", "0.464", "64")
    assert (ours[0]["Ours mAP@all"], ours[0]["Ours P@100"], ours[0]["Ours dimension"]) == (
        "0.350 ± 0.071 (n=2)", "0.175 ± 0.035 (n=2)", "64")
    assert setting(ours[0]) == {
        "Our records": "`tub_s0`, `tub_s1`", "Model": "full, glove+path", "Dataset": "tuberlin [tuberlin]",
        "Split": "sempcyc30 (220 seen / 30 test classes)", "Image size": "224 px", "Weights": "imagenet",
        "Steps": "20000", "Seeds": "0,1", "Preset": "paper", "Device": "CPU (2 cores)", "Commit": "01234567",
        "Paper setting?": "no: semantics glove+path (paper: w2v+path)"}
    assert rows_for(t2, "Softmax (Baseline)")[0]["Our records"] == "no record"  # the raw run is on Sketchy

    t1 = table_rows(text, "Xu et al. — Table 1, Sketchy (Extended)")
    softmax = rows_for(t1, "Softmax (Baseline)")
    assert [(r["Paper mAP@all"], r["Paper dimension"], r["Ours mAP@all"], r["Ours P@100"], r["Ours dimension"],
             r["Model"], r["Steps"], r["Paper setting?"]) for r in softmax] == [
        ("0.114", "4096", "0.050 (n=1)", "0.025 (n=1)", "512", "raw_features", "none (no training)",
         "no: preset smoke; synthetic data")]
    t1_ours = rows_for(t1, "ours")
    assert [(r["Our records"], r["Ours mAP@all"]) for r in t1_ours] == [
        ("`zs_glove_3seeds`, `glove_extra_seed`", "0.250 ± 0.129 (n=4)")]  # the aggregate and one more seed
    assert t1_ours[0]["Seeds"] == "0,1,2,3"
    assert t1_ours[0]["Dataset"] == "sketchy [synthetic] (synthetic data)"
    assert t1_ours[0]["Paper setting?"] == "no: preset smoke; synthetic data; semantics glove (paper: w2v+jcn)"

    t3 = table_rows(text, "Xu et al. — Table 3, Sketchy (Extended)")
    assert [r["Paper row"] for r in t3] == ["Glove", "Word2vec", "Path", "Jiang-Conrath", "Glove + Path",
                                            "Glove + Jiang-Conrath", "Word2vec + Path", "Word2vec + Jiang-Conrath"]
    glove = rows_for(t3, "Glove")[0]
    assert (glove["Paper mAP@all"], glove["Ours mAP@all"], glove["Paper setting?"]) == (
        "0.294", "0.250 ± 0.129 (n=4)", "no: preset smoke; synthetic data")
    assert rows_for(t3, "Glove + Path")[0]["Our records"] == "no record"  # the only glove+path full run: TU-Berlin
    t3_tub = table_rows(text, "Xu et al. — Table 3, TU-Berlin (Extended)")
    assert rows_for(t3_tub, "Glove + Path")[0]["Ours mAP@all"] == "0.350 ± 0.071 (n=2)"

    t4 = table_rows(text, "Xu et al. — Table 4, Sketchy (Extended)")
    cls = rows_for(t4, "Baseline+classification loss")
    assert [(r["Paper mAP@all"], r["Ours mAP@all"], r["Model"]) for r in cls] == [
        ("0.307", "0.250 (n=1)", "wasserstein+cls, glove+path")]
    assert [r["Paper mAP@all"] for r in t4 if r["Our records"] == "no record"] == [
        "0.128", "0.241", "0.238", "0.314", "0.301"]

    everything = table_rows(text, "All zero-shot settings")
    assert [r["Our records"] for r in everything] == [
        "`ablation`", "`zs_glove_3seeds`, `glove_extra_seed`", "`raw`", "`tub_s0`, `tub_s1`"]
    glove_all = everything[1]
    assert (glove_all["mAP@all"], glove_all["raw-feature NN mAP@all"], glove_all["dimension"]) == (
        "0.250 ± 0.129 (n=4)", "0.100 ± 0.000 (n=4)", "64")
    assert "glove/s0" not in text  # seeds of an aggregate are read through it


SUBSTITUTED = {"text_requested": "word2vec", "text_used": "glove-6b-50d", "text_origin": "glove_6b_50d_classes.json.gz",
               "text_substituted": True, "text_note": "300-d word2vec is not available offline"}


def test_semantics_used_on_hand_records():
    assert report.semantics_used({"semantics": "w2v+jcn", "side_information": SUBSTITUTED}) == (
        "glove+jcn", "substituted: w2v+jcn requested, glove-6b-50d used for word2vec")
    assert report.semantics_used({"semantics": "path+word2vec", "side_information": SUBSTITUTED})[0] == "path+glove"
    kept = {**SUBSTITUTED, "text_used": "word2vec-google-news-300", "text_substituted": False}
    assert report.semantics_used({"semantics": "w2v+jcn", "side_information": kept}) == ("w2v+jcn", None)
    assert report.semantics_used({"semantics": "glove"}) == ("glove", None)  # records without side_information


def test_substituted_word2vec_run_is_shown_with_the_glove_it_used(tmp_path):
    """A run asking for w2v+jcn whose word2vec was replaced by GloVe is labelled glove+jcn, marked as substituted,
    sits beside Table 3's Glove + Jiang-Conrath row (not the Word2vec one) and is never the paper's setting."""
    real = dict(data={"source": "sketchy_extended", "root": "/d/sketchy"}, config="paper", steps=20000,
                split={"name": "sempcyc21", "num_seen": 104, "num_test": 21},
                features={"weights": "imagenet", "image_size": 224})
    write_record(tmp_path / "zs_sub", zs_metrics(mAP=0.3, semantics="w2v+jcn", side_information=SUBSTITUTED, **real),
                 config=zs_config())
    genuine = {**SUBSTITUTED, "text_used": "word2vec-google-news-300", "text_substituted": False}
    write_record(tmp_path / "zs_w2v", zs_metrics(mAP=0.4, semantics="w2v+jcn", side_information=genuine, **real),
                 config=zs_config(lr=2e-3))
    text = report.build_report(tmp_path)

    note = "substituted: w2v+jcn requested, glove-6b-50d used for word2vec"
    t3 = table_rows(text, "Xu et al. — Table 3, Sketchy (Extended)")
    assert [(r["Our records"], r["Model"], r["Paper setting?"]) for r in rows_for(t3, "Word2vec + Jiang-Conrath")] == [
        ("`zs_w2v`", "full, w2v+jcn", "yes")]
    assert [(r["Our records"], r["Ours mAP@all"], r["Model"], r["Paper setting?"])
            for r in rows_for(t3, "Glove + Jiang-Conrath")] == [
        ("`zs_sub`", "0.300 (n=1)", f"full, glove+jcn ({note})", f"no: text model {note}")]
    t1 = {r["Our records"]: r for r in rows_for(table_rows(text, "Xu et al. — Table 1, Sketchy (Extended)"), "ours")}
    assert t1["`zs_w2v`"]["Paper setting?"] == "yes"
    assert t1["`zs_sub`"]["Paper setting?"] == f"no: text model {note}; semantics glove+jcn (paper: w2v+jcn)"


def test_aggregate_keeps_side_information_and_rejects_mixed_substitution(tmp_path):
    a = write_record(tmp_path / "a", zs_metrics(seed=0, semantics="w2v", side_information=SUBSTITUTED))
    b = write_record(tmp_path / "b", zs_metrics(seed=1, semantics="w2v", side_information=SUBSTITUTED))
    c = write_record(tmp_path / "c", zs_metrics(seed=2, semantics="w2v",
                                                side_information={**SUBSTITUTED, "text_substituted": False,
                                                                  "text_used": "word2vec-google-news-300"}))
    rec = report.aggregate_runs([a, b], tmp_path / "agg")
    assert report.semantics_used(rec)[0] == "glove"
    with pytest.raises(ValueError, match="other side information"):
        report.aggregate_runs([a, c], tmp_path / "agg2")


def test_a_repeated_seed_is_counted_once_and_reported(tmp_path):
    write_record(tmp_path / "a", zs_metrics(seed=0, mAP=0.2))
    write_record(tmp_path / "b", zs_metrics(seed=0, mAP=0.2))
    text = report.build_report(tmp_path)
    assert "`b` repeats seed 0 of `a` in the same setting: counted once" in text
    ours = rows_for(table_rows(text, "Xu et al. — Table 1, Sketchy (Extended)"), "ours")
    assert [r["Ours mAP@all"] for r in ours] == ["0.200 (n=1)"]


def test_value_cell_on_hand_numbers():
    assert report.value_cell([0.1, 0.2, 0.3], "mAP@all", 3) == "0.200 ± 0.100 (n=3)"
    assert report.value_cell([0.5014], "acc@1", 4) == "0.5014 (n=1)"
    assert report.value_cell([64, 64], "dimension", 3) == "64"
    assert report.value_cell([], "P@100", 3) == "n/a"


# ----------------------------------------------------------------------------------------------- CLI
def test_report_cli_writes_file_and_skips_unknown_records(tmp_path):
    write_record(tmp_path / "runs" / "fg", fg_metrics())
    (tmp_path / "runs" / "junk").mkdir()
    (tmp_path / "runs" / "junk" / "metrics.json").write_text("{\"loss\": 1}")
    out = tmp_path / "REPORT.md"
    assert report.main(["--root", str(tmp_path / "runs"), "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# sbir_tf experiment report") and "Skipped folders" in text and "junk" in text
    assert "No zero-shot records." in text
    assert report.main(["--root", str(tmp_path / "runs"), "--out"]) == 0  # --out alone: <root>/REPORT.md
    assert (tmp_path / "runs" / "REPORT.md").read_text() == text


def test_report_on_missing_root_prints_every_paper_number(tmp_path, capsys):
    assert report.main(["--root", str(tmp_path / "nothing")]) == 0
    text = capsys.readouterr().out
    assert "no records folder" in text
    paper_cells = []
    for table in P.FG_TABLES + P.ZS_TABLES:
        for entries in report._by_dataset(table):
            e = entries[0]
            for row in table_rows(text, f"— {e.table}, {e.dataset}"):
                paper_cells += [(e.table, e.dataset, row["Paper row"], k[len("Paper "):], v) for k, v in row.items()
                                if k.startswith("Paper ") and k not in ("Paper row", "Paper setting?")]
    assert sorted(paper_cells) == sorted((e.table, e.dataset, e.row, e.metric, P.format_value(e)) for e in P.ALL)


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
    written = load_script("make_notebooks", folder="tools").write_all(tmp_path)
    for path in written:
        assert path.read_text() == (REPO / "notebooks" / path.name).read_text(), f"{path.name} is stale"


def _notebook_cell(name: str, starts_with: str) -> str:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts_with))


@pytest.mark.parametrize("smoke, ablations", [
    (False, ["adv_no_wasserstein", "adv_no_wasserstein+identity", "wasserstein", "wasserstein+cycle",
             "wasserstein+cls", "wasserstein+identity"]),
    (True, ["adv_no_wasserstein", "wasserstein"]),
])
def test_zero_shot_notebook_runs_the_table4_rows_and_the_raw_feature_baseline(smoke, ablations):
    """The notebook's training cell, run with a recording ``setting``: Table 4's rows (none of the extras) and the
    raw-feature baseline of Table 1 for every dataset it trains on."""
    from sbir_tf.configs import zs as zs_presets

    calls = []

    def setting(dataset, ablation="full", semantics=None):
        calls.append((dataset, ablation, semantics))
        return Path(f"{dataset}_{ablation}_{semantics}")

    cell = _notebook_cell("zs_sbir_wadcmsn.ipynb", 'main = {"sketchy"')
    exec(cell, {"SMOKE": smoke, "TUBERLIN_DIR": None, "SEMANTICS": ["glove"], "ABLATIONS": None,
                "setting": setting, "zs_presets": zs_presets})
    trained = [a for d, a, s in calls if d == "sketchy" and s is None and a != "full"]
    assert trained == [zs_presets.RAW_FEATURES, *ablations]
    datasets = ["sketchy"] if smoke else ["sketchy", "tuberlin"]
    assert [d for d, a, _ in calls if a == zs_presets.RAW_FEATURES] == datasets


@pytest.mark.parametrize("name, extra", [("fg_sbir_pang2017.ipynb", ("none",)), ("zs_sbir_wadcmsn.ipynb", ())])
def test_notebook_weights_parameter_lists_the_known_weights(name, extra):
    from sbir_tf.models.backbones import KNOWN_WEIGHTS

    params = _notebook_cell(name, "SMOKE = True")
    line = next(line for line in params.splitlines() if line.startswith("WEIGHTS = None"))
    listed = line.split("#", 1)[1].split("| path")[0]
    assert [w.strip().strip('"') for w in listed.split("|")] == [*KNOWN_WEIGHTS, *extra]


def test_notebook_helpers_read_the_seed_folders_the_campaign_scripts_write(tmp_path, capsys):
    """``runs/zs_sketchy_mini_<weights>/<setting>/seed<k>/`` (zs_sketchy_mini.sh) without an aggregate: the seeds
    are read and grouped, an unfinished seed is left out, the figure comes from the lowest seed."""
    from sbir_tf.experiments import notebook_helpers as nh

    campaign = tmp_path / "runs" / "zs_sketchy_mini_imagenet-offline"
    setting_dir = campaign / "wasserstein+cls"
    for seed, mAP in ((1, 0.3), (0, 0.1)):
        write_record(setting_dir / f"seed{seed}", zs_metrics(seed=seed, mAP=mAP, ablation="wasserstein+cls"),
                     config=zs_config(seed))
    (setting_dir / "seed2").mkdir()  # still training: no metrics.json yet
    (setting_dir / "seed2" / "config.json").write_text(json.dumps(zs_config(2)))
    write_record(campaign / "full_glove" / "seed0", zs_metrics(semantics="glove"), config=zs_config())
    (tmp_path / "empty").mkdir()

    rows = table_rows(nh.paper_table_markdown("wadcmsn2022", "Table 4", [setting_dir, tmp_path / "empty"]),
                      "Table 4, Sketchy (Extended)")
    cls = rows_for(rows, "Baseline+classification loss")
    assert [(r["Ours mAP@all"], r["Seeds"], r["Our records"]) for r in cls] == [
        ("0.200 ± 0.141 (n=2)", "0,1", "`wasserstein+cls/seed0`, `wasserstein+cls/seed1`")]
    assert "empty: no finished run" in capsys.readouterr().out
    assert "`zs_sketchy_mini_imagenet-offline/full_glove/seed0`" in nh.records_markdown([campaign], "zero_shot")
    assert nh.figure_path(setting_dir, "retrieval_grid.png") == setting_dir / "seed0" / "figures" / "retrieval_grid.png"


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


def test_device_names_the_cpu_model_and_seeds_on_two_machines_show_both(tmp_path):
    assert report.cpu_name("Intel(R) Xeon(R) CPU @ 2.20GHz") == "Intel Xeon"
    assert report.cpu_name("AMD EPYC 7B13 64-Core Processor") == "AMD EPYC 7B13 64-Core"
    for seed, cpu in enumerate(("Intel(R) Xeon(R) Processor", "Intel(R) Xeon(R) Processor", "AMD EPYC")):
        write_record(tmp_path / f"s{seed}", fg_metrics(seed=seed), env={**CPU_ENV, "cpu": cpu})
    (group,), warnings = report.group_runs(report.find_records(tmp_path)[0])
    assert [run.seed for run in group.runs] == [0, 1, 2] and warnings == []  # one setting, whatever the machine
    assert group.setting()["device"] == "CPU (2 cores, Intel Xeon), CPU (2 cores, AMD EPYC)"


def test_a_run_resumed_on_other_code_names_both_commits():
    assert report._commit({"commit": "abcdef0123"}) == "abcdef01"
    assert report._commit({"commit": "abcdef0123", "resumed_from_step": 600, "earlier": [{"commit": "abcdef0123"}]}) \
        == "abcdef01"  # resumed on the same code: nothing to add
    env = {"commit": "cccccccc99", "resumed_from_step": 600,
           "earlier": [{"commit": "aaaaaaaa99", "uncommitted_changes": ["x.py"]}, {"commit": "bbbbbbbb99"}]}
    assert report._commit(env) == ("cccccccc (resumed at step 600; earlier steps on aaaaaaaa+uncommitted, "
                                   "bbbbbbbb)")
    assert report._commit({}) == "unknown"
