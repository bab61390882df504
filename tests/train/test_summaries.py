"""Scalar summaries (the one helper the training loop uses) and the shared CPU-model lookup."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.train import loop, run_dir
from sbir_tf.train.summaries import SCALARS_PLUGIN, write_scalar


def test_write_scalar_event_reads_back_as_a_scalars_plugin_value(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        write_scalar("loss/total", 1.25, step=3)
        write_scalar("lr", 1e-4, step=7)
    writer.flush()
    found = {}
    for path in tmp_path.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                found[v.tag] = (event.step, float(tf.make_ndarray(v.tensor)), v.metadata.plugin_data.plugin_name)
    assert found["loss/total"] == (3, 1.25, SCALARS_PLUGIN)
    assert found["lr"][0] == 7 and np.isclose(found["lr"][1], 1e-4) and found["lr"][2] == "scalars"


def test_the_loop_uses_the_shared_helper():
    assert loop.write_scalar is write_scalar


def test_cpu_model_is_shared_with_the_benchmarks():
    from benchmarks import run

    name = run_dir.cpu_model()
    assert isinstance(name, str) and name
    assert run.cpu_model is run_dir.cpu_model
    assert run_dir.environment()["cpu"] == name


def test_write_scalar_matches_tf_summary_scalar_when_tensorboard_is_installed(tmp_path):
    """With ``tensorboard`` installed, ``tf.summary.scalar`` exists; both writers give the same event."""
    import pytest

    pytest.importorskip("tensorboard")

    def events(folder, fn):
        writer = tf.summary.create_file_writer(str(folder))
        with writer.as_default():
            fn("acc@1", 0.5, step=2)
        writer.flush()
        (path,) = folder.glob("events.out.tfevents.*")
        return [(e.step, v.tag, tf.make_ndarray(v.tensor).item(), v.metadata.plugin_data.plugin_name)
                for e in tf.compat.v1.train.summary_iterator(str(path)) for v in e.summary.value]

    ours = events(tmp_path / "a", write_scalar)
    theirs = events(tmp_path / "b", tf.summary.scalar)
    assert ours == theirs == [(2, "acc@1", 0.5, "scalars")]


def test_environment_names_uncommitted_package_changes(tmp_path):
    """environment.json lists tracked files changed since the commit it names: a run made with uncommitted code
    says so; outside a checkout the field is None."""
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    assert run_dir.uncommitted_changes(tmp_path) is None
    git("init", "-q")
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "b.py").write_text("y = 1\n")
    git("add", ".")
    git("commit", "-qm", "first")
    assert run_dir.uncommitted_changes(pkg) == []
    (pkg / "b.py").write_text("y = 2\n")
    (pkg / "new.py").write_text("untracked\n")  # untracked files are not part of any run's code path by default
    assert run_dir.uncommitted_changes(pkg) == ["pkg/b.py"]
    assert "uncommitted_changes" in run_dir.environment()


@pytest.mark.skipif(__import__("platform").machine() != "x86_64", reason="TF's x86-64 builds carry oneDNN kernels")
@pytest.mark.parametrize("setting, expected", [("0", False), ("1", True)])
def test_environment_records_whether_onednn_kernels_run(setting, expected):
    """TF reads TF_ENABLE_ONEDNN_OPTS once, at import: a fresh interpreter per setting."""
    import subprocess
    import sys

    code = "import json; from sbir_tf.train import run_dir; print(json.dumps(run_dir.onednn_enabled()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) is expected


def test_cpu_features_reads_the_flags_line_in_a_fixed_order(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx512_bf16 avx2 avx512f amx_tile\n"
                    "processor\t: 1\nflags\t\t: fpu sse2 avx512_bf16 avx2 avx512f amx_tile\n")
    assert run_dir.cpu_features(info) == ["avx2", "avx512f", "avx512_bf16", "amx_tile"]
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert run_dir.cpu_features(info) == ["avx2"]
    info.write_text("processor\t: 0\nmodel name\t: something\n")  # no flags line: not known
    assert run_dir.cpu_features(info) is None
    assert run_dir.cpu_features(tmp_path / "absent") is None
    assert run_dir.environment()["cpu_features"] == run_dir.cpu_features()


def test_onednn_hint_only_where_tfs_default_leaves_the_kernels_off_on_an_avx2_cpu():
    hint = run_dir.onednn_hint(onednn=False, requested=None, gpus=0, cpu_features=["avx2"])
    assert "TF_ENABLE_ONEDNN_OPTS=1" in hint and "oneDNN on a CPU without AVX-512" in hint
    assert run_dir.onednn_hint(onednn=False, requested=None, gpus=0, cpu_features=["avx2", "avx512_bf16"]) == hint
    for case in (dict(onednn=True, requested=None, gpus=0, cpu_features=["avx2"]),  # already on
                 dict(onednn=None, requested=None, gpus=0, cpu_features=["avx2"]),  # TF does not say
                 dict(onednn=False, requested="0", gpus=0, cpu_features=["avx2"]),  # the user turned them off
                 dict(onednn=False, requested=None, gpus=1, cpu_features=["avx2"]),  # the step runs on the GPU
                 dict(onednn=False, requested=None, gpus=0, cpu_features=["avx2", "avx512f"]),  # AVX-512: not measured
                 dict(onednn=False, requested=None, gpus=0, cpu_features=[]),  # no AVX2
                 dict(onednn=False, requested=None, gpus=0, cpu_features=None)):  # not known
        assert run_dir.onednn_hint(**case) is None, case
