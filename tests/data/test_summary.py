"""The inspection CLI: ``python -m sbir_tf.data.summary``."""
from __future__ import annotations

import json
import subprocess
import sys

from helpers import make_tiny_qmul_v2, make_tiny_sketchy

from sbir_tf.data.summary import main


def _json(capsys, argv):
    assert main(argv + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sketchy_mini_numbers(capsys, sketchy_mini_root):
    s = _json(capsys, ["--dataset", "sketchy", "--root", str(sketchy_mini_root)])
    assert (s["classes"], s["photos"], s["sketches"], s["sketched_photos"]) == (125, 3125, 3125, 578)
    assert s["fine_grained"]["test_photos"] == 250
    assert s["fine_grained"]["gallery_photos"] == 250 + 3125 - 578
    zs = s["zero_shot"]
    assert (zs["split"], zs["seen_classes"], zs["unseen_classes"], zs["val_classes"]) == ("sempcyc25", 100, 25, 12)
    assert s["skipped"] == []


def test_qmul_v1_numbers(capsys, qmul_v1_root):
    s = _json(capsys, ["--dataset", "qmul_v1", "--root", str(qmul_v1_root), "--category", "chairs"])
    assert (s["photos"], s["fine_grained"]["test_photos"], s["fine_grained"]["train_photos"]) == (297, 97, 200)
    assert s["zero_shot"]["split"] is None and "single-category" in s["zero_shot"]["reason"]


def test_qmul_v2_and_split_override(capsys, tmp_path):
    s = _json(capsys, ["--dataset", "qmul_v2", "--root", str(make_tiny_qmul_v2(tmp_path / "v2"))])
    assert (s["photos"], s["sketches"], s["fine_grained"]["test_photos"]) == (2, 4, 1)
    s = _json(capsys, ["--dataset", "sketchy", "--root", str(make_tiny_sketchy(tmp_path / "sk")), "--split", "sake25"])
    assert "absent from the data" in s["zero_shot"]["reason"]


def test_errors_are_one_clear_line(capsys, tmp_path):
    assert main(["--dataset", "tuberlin_extended", "--root", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: TU-Berlin Extended root") and "png/<class>" in err and "Traceback" not in err


def test_module_entry_point(tmp_path):
    root = make_tiny_sketchy(tmp_path)
    out = subprocess.run([sys.executable, "-m", "sbir_tf.data.summary", "--dataset", "sketchy", "--root", str(root)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "classes          2" in out.stdout and "sketched photos  6" in out.stdout
