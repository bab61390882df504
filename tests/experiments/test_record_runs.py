"""experiments/scripts/record_runs.sh on fake runs laid out where fg_sketchy_mini.sh and zs_sketchy_mini.sh write
them (their default run folders are read from the scripts themselves): records land under experiments/ and the
report puts them beside the papers' rows."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.experiments.test_report import fg_metrics, table_rows, write_record, zs_config, zs_metrics

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "experiments" / "scripts"


def default_runs_dir(script: str) -> str:
    """The folder ``script`` writes to without arguments and without WEIGHTS / DECODER_DISTANCE."""
    lines = [line for line in (SCRIPTS / script).read_text().splitlines()
             if line.startswith(("weights=", "distance=", "runs="))]
    assert any(line.startswith("runs=") for line in lines), f"{script} has no runs= line"
    out = subprocess.run(["bash", "-c", "set --\n" + "\n".join(lines) + '\necho "$runs"'], env={},
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_record_runs_reads_the_campaign_folders(tmp_path):
    checkout = tmp_path / "checkout"  # the script works from the folder two levels above it
    (checkout / "experiments" / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPTS / "record_runs.sh", checkout / "experiments" / "scripts")
    fg_runs, zs_runs = default_runs_dir("fg_sketchy_mini.sh"), default_runs_dir("zs_sketchy_mini.sh")
    assert (fg_runs, zs_runs) == ("runs/fg_sketchy_mini_imagenet-offline_pixel_mse",
                                  "runs/zs_sketchy_mini_imagenet-offline")
    assert '"${runs}_synthetic/' in (SCRIPTS / "zs_sketchy_mini.sh").read_text()

    fg = write_record(checkout / fg_runs / "vgg16", fg_metrics(weights="imagenet-offline", image_size=112))
    (fg / "history.json").write_text("[]")
    (fg / "checkpoints").mkdir()
    for seed, mAP in ((0, 0.1), (1, 0.3)):
        write_record(checkout / zs_runs / "wasserstein+cls" / f"seed{seed}",
                     zs_metrics(seed=seed, mAP=mAP, ablation="wasserstein+cls"), config=zs_config(seed))
    (checkout / zs_runs / "wasserstein+cls" / "seed2").mkdir()  # still training
    write_record(checkout / zs_runs / "full_glove" / "seed0", zs_metrics(semantics="glove"), config=zs_config())
    write_record(checkout / f"{zs_runs}_synthetic" / "full" / "seed0", zs_metrics(), config=zs_config())

    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2",
           "SBIR_TF_NO_DOWNLOAD": "1", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run(["bash", str(checkout / "experiments" / "scripts" / "record_runs.sh")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    records = checkout / "experiments"
    fg_record = records / "fg_sketchy_mini_imagenet-offline_pixel_mse_112px" / "vgg16"
    assert sorted(p.name for p in fg_record.iterdir()) == ["config.json", "environment.json", "figures",
                                                         "history.json", "metrics.json"]
    cls = json.loads((records / "zs_sketchy_mini_imagenet-offline_sempcyc25" / "wasserstein+cls" /
                      "metrics.json").read_text())
    assert cls["aggregate"]["seeds"] == [0, 1] and abs(cls["aggregate"]["mean"]["mAP@all"] - 0.2) < 1e-12
    assert (records / "zs_sketchy_mini_imagenet-offline_sempcyc25" / "full_glove" / "metrics.json").is_file()
    assert (records / "zs_synthetic_imagenet-offline" / "full" / "metrics.json").is_file()
    text = (records / "REPORT.md").read_text()
    t4 = table_rows(text, "Xu et al. — Table 4, Sketchy (Extended)")
    assert [(r["Our records"], r["Ours mAP@all"]) for r in t4 if r["Paper row"] == "Baseline+classification loss"] \
        == [("`zs_sketchy_mini_imagenet-offline_sempcyc25/wasserstein+cls`", "0.200 ± 0.141 (n=2)")]
