"""The zero-shot protocol a config selects (``sbir_tf.tasks.zs.load_protocol``): which classes are tested."""
import pytest

from sbir_tf.configs import zs as zs_presets
from sbir_tf.tasks import zs as zs_task


def _protocol(root, test_classes):
    cfg = zs_presets.get_config("cpu", "sketchy")
    cfg.data.root = str(root)
    cfg.data.reader = "sketchy"
    cfg.data.split = "sempcyc25"
    cfg.eval.test_classes = test_classes
    return zs_task.load_protocol(cfg)


def test_test_classes_unseen_or_split_test(sketchy_mini_root):
    """sempcyc25 on sketchy_mini: 100 seen and 25 unseen classes. ``unseen`` tests all 25 (the papers' text);
    ``test`` tests the unseen classes minus the validation classes the split holds out."""
    unseen = _protocol(sketchy_mini_root, "unseen")
    split_test = _protocol(sketchy_mini_root, "test")
    assert len(unseen.seen) == 100 and len(unseen.unseen) == 25
    assert unseen.test == unseen.unseen
    assert not set(unseen.test) & set(unseen.seen)
    assert len(split_test.val) == 12  # the seeded SEM-PCYC validation classes among the 25 unseen
    assert set(split_test.test) == set(split_test.unseen) - set(split_test.val)
    assert len(split_test.test) == 25 - len(split_test.val)
    with pytest.raises(ValueError, match="test_classes"):
        cfg = zs_presets.get_config("cpu", "sketchy")
        cfg.eval.test_classes = "all"
        zs_task.ZSTask("sketchy").validate(cfg)
