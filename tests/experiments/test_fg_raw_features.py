"""experiments/scripts/fg_raw_features.py: the untrained-feature floor of the fine-grained protocol, on a tiny
Sketchy folder. A feature that names the photo exactly must give acc@1 = 1 and rank 0; one that names another photo
of the same class must give acc@1 = 0; the real extractor runs end to end and writes the record."""
import json

import numpy as np
import pytest

from tests.data.helpers import make_tiny_sketchy
from tests.experiments.script_loader import load_script

CLASSES = ("cat", "dog", "owl")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    # per class: photo 1 is the test photo (2 sketches), photo 2 trains, photos 3 and 4 are never-sketched distractors
    return make_tiny_sketchy(tmp_path_factory.mktemp("sketchy"), classes=CLASSES, photos_per_class=4,
                             sketched_per_class=2, sketches_per_photo=2)


def fake_features(shift: int):
    """A one-hot feature naming the record's photo; a sketch's names the photo ``shift`` places along its class."""
    def extract(records, **_):
        out = np.zeros((len(records), 4 * len(CLASSES)), np.float32)
        for i, r in enumerate(records):
            k = int(r.instance_id.rsplit("_", 1)[1]) - 1
            if r.domain == "sketch":
                k = (k + shift) % 4
            out[i, CLASSES.index(r.class_name) * 4 + k] = 1.0
        return out
    return extract


# shift 2: each sketch matches a distractor of its class exactly, and its true photo is next (every other photo is
# at the same distance, and equal distances do not count against the true photo): rank 1 for every query
@pytest.mark.parametrize("shift, acc1, mean_rank", [(0, 1.0, 0.0), (2, 0.0, 1.0)])
def test_perfect_and_all_wrong_features(tiny, tmp_path, monkeypatch, shift, acc1, mean_rank):
    import sbir_tf.features

    script = load_script("fg_raw_features")
    monkeypatch.setattr(sbir_tf.features, "extract_features", fake_features(shift))
    out = tmp_path / "raw.json"
    assert script.main(["--data_dir", str(tiny), "--sizes", "32", "--output", str(out)]) == 0
    record = json.loads(out.read_text())
    (row,) = record["results"]
    assert record["queries"] == 6 and record["gallery"] == 9  # 3 test photos + 6 distractors
    assert row["acc@1"] == acc1 and row["correct@1"] == round(acc1 * 6) and row["mean_rank"] == mean_rank
    assert row["acc@5"] == 1.0
    assert record["chance@1"] == pytest.approx(1 / 9)


def test_real_extractor_end_to_end(tiny, tmp_path):
    script = load_script("fg_raw_features")
    out = tmp_path / "raw.json"
    assert script.main(["--data_dir", str(tiny), "--weights", "none", "--sizes", "32", "--output", str(out)]) == 0
    record = json.loads(out.read_text())
    (row,) = record["results"]
    assert set(row) >= {"image_size", "acc@1", "acc@5", "acc@10", "correct@1", "mean_rank", "seconds"}
    assert row["image_size"] == 32 and 0 <= row["mean_rank"] <= record["gallery"] - 1
    assert row["acc@10"] == 1.0  # a 9-photo gallery: the true photo is always in the top 10
    assert record["weights"] == "none" and "commit" in record["environment"]


@pytest.mark.parametrize("extra, message", [(["--weights", "imagenet-typo"], "imagenet-typo"),
                                             (["--sizes", "16"], "at least 32 px")])
def test_bad_settings_are_a_message(tiny, tmp_path, capsys, extra, message):
    script = load_script("fg_raw_features")
    out = tmp_path / "raw.json"
    assert script.main(["--data_dir", str(tiny), "--output", str(out), *extra]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_a_missing_folder_is_a_message(tmp_path, capsys):
    script = load_script("fg_raw_features")
    assert script.main(["--data_dir", str(tmp_path / "nowhere"), "--output", str(tmp_path / "raw.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fg_raw_features: ") and "nowhere" in err
