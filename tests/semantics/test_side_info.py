"""End-to-end class semantics (text + hierarchy + auto-encoder), the CLI, and sketchy_mini's hierarchy size."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sbir_tf.semantics import hierarchy as H
from sbir_tf.semantics import wordnet as W
from sbir_tf.semantics.side_info import class_semantics, l2_normalize_rows, side_information

try:
    W.get_wordnet()
    from sbir_tf.semantics.word_vectors import load_glove_offline

    load_glove_offline()
except (W.WordNetUnavailable, FileNotFoundError) as exc:  # pragma: no cover
    pytest.skip(str(exc), allow_module_level=True)

CLASSES = ["airplane", "alarm_clock", "hot-air_balloon", "car_(sedan)", "dog", "cat", "jack_o_lantern",
           "teddy_bear", "t-shirt", "giraffe"]
SEEN = CLASSES[:7]
STEPS = 120


def test_class_semantics_end_to_end_deterministic():
    m1, info = class_semantics(CLASSES, text="glove", hierarchy="path", seen=SEEN, ae_steps=STEPS)
    m2, _ = class_semantics(CLASSES, text="glove", hierarchy="path", seen=SEEN, ae_steps=STEPS)
    assert m1.shape == (10, 64) and m1.dtype == np.float32 and np.all(np.isfinite(m1))
    np.testing.assert_array_equal(m1, m2)
    synsets, _ = H.class_synsets(SEEN)
    assert info["hierarchy_nodes"] == len(H.hierarchy_nodes(synsets))
    assert info["text_dim"] == 50 and info["input_dim"] == 50 + info["hierarchy_nodes"]
    assert info["synsets"]["jack_o_lantern"] == "jack-o'-lantern.n.02"
    assert len({tuple(r) for r in np.round(m1, 5)}) == 10   # classes stay distinct


@pytest.mark.parametrize("text, hierarchy", [(None, "jcn"), ("glove", None)])
def test_single_kind_of_side_information(text, hierarchy):
    side = side_information(CLASSES[:5], text=text, hierarchy=hierarchy, dim=16, ae_steps=30)
    assert side.semantic.shape == (5, 16)
    assert (side.text is None) == (text is None) and (side.hierarchy is None) == (hierarchy is None)
    if hierarchy == "jcn":
        assert side.hierarchy.max() == 1.0 and side.hierarchy.min() > 0 and "ic_source" in side.info


def test_bad_choices_rejected():
    with pytest.raises(ValueError, match="at least one"):
        class_semantics(CLASSES, text=None, hierarchy=None)
    with pytest.raises(ValueError, match="hierarchy measure"):
        class_semantics(CLASSES, hierarchy="lch")
    with pytest.raises(ValueError, match="seen classes not among"):
        class_semantics(CLASSES, seen=["dog", "unicorn_x"])


def test_l2_normalize_rows():
    x = l2_normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]])


def test_cli_with_class_list(tmp_path):
    from sbir_tf.semantics.cli import main

    out = tmp_path / "sem.npz"
    assert main(["--classes", "dog,cat,airplane,giraffe", "--seen", "dog,cat,airplane", "--text", "glove",
                 "--hierarchy", "path", "--dim", "8", "--ae-steps", "20", "--out", str(out)]) == 0
    data = np.load(out)
    assert list(data["classes"]) == ["dog", "cat", "airplane", "giraffe"]
    assert list(data["seen"]) == [True, True, True, False]
    assert data["text"].shape == (4, 50) and data["semantic"].shape == (4, 8)
    assert data["hierarchy"].shape == (4, len(data["nodes"]))
    info = json.loads(str(data["info_json"]))
    assert info["hierarchy_nodes"] == len(data["nodes"]) and info["text"] == "glove"
    # the vectors the zero-shot jobs match against: centred on the three seen classes, unit norm
    from sbir_tf.semantics.side_info import normalize_semantics

    assert info["normalize"] == "center_l2"
    np.testing.assert_allclose(data["semantic_normalized"], normalize_semantics(data["semantic"], [0, 1, 2],
                                                                                "center_l2"), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(data["semantic_normalized"], axis=1), 1.0, atol=1e-5)


def test_cli_reports_missing_classes(tmp_path, capsys):
    from sbir_tf.semantics.cli import main

    assert main(["--classes", "dog,blorfnax,zzqx", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "blorfnax" in err and "zzqx" in err
    assert not (tmp_path / "x.npz").exists()


def test_sketchy_mini_hierarchy_nodes(sketchy_mini_root):
    """Nodes of the hierarchy over sketchy_mini's SEM-PCYC seen classes (paper, full Sketchy: 354)."""
    from sbir_tf.semantics.cli import _seen_classes, _sketchy_classes

    classes, wnids = _sketchy_classes(sketchy_mini_root)
    seen = _seen_classes(classes, "sketchy", "sempcyc25")
    assert len(classes) == 125 and len(seen) == 100
    synsets, source = H.class_synsets(classes, wnids=wnids)
    assert set(source.values()) == {"wnid"}
    index = {c: i for i, c in enumerate(classes)}
    nodes = H.hierarchy_nodes([synsets[index[c]] for c in seen])
    print(f"sketchy_mini sempcyc25: {len(nodes)} hierarchy nodes")
    assert 250 <= len(nodes) <= 400
