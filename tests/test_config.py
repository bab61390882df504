"""The locked Config: unknown keys are errors through every path, overrides are type-checked, additions need
``unlocked()``, a frozen config refuses writes; and every preset builds without adding keys."""
import copy
import json

import pytest

from sbir_tf.config import Config, ConfigError, parse_literal


def make() -> Config:
    return Config(train=dict(steps=10, base_lr=1e-4, precision="float32", jit_compile=False, ks=[1, 5]),
                  model=dict(weights=None, dims=[4, 2]), name="x")


@pytest.mark.parametrize("write", [
    lambda c: setattr(c.train, "stpes", 3),
    lambda c: c.train.__setitem__("stpes", 3),
    lambda c: c.train.update(stpes=3),
    lambda c: c.train.update({"stpes": 3}),
    lambda c: c.train.setdefault("stpes", 3),
    lambda c: c.set_path("train.stpes", 3),
    lambda c: c.override(["train.stpes=3"]),
    lambda c: c.set_path("trian.steps", 3),
    lambda c: c.update(train={"stpes": 3}),
    lambda c: c.__ior__({"extra": 1}),
])
def test_unknown_key_is_rejected_through_every_path(write):
    cfg = make()
    before = cfg.to_dict()
    with pytest.raises(ConfigError, match="stpes|trian|extra"):
        write(cfg)
    assert cfg.to_dict() == before  # nothing was added


def test_unknown_key_error_suggests_the_close_name():
    with pytest.raises(ConfigError, match="did you mean 'steps'"):
        make().override(["train.stpes=3"])


def test_keys_cannot_be_removed():
    cfg = make()
    for remove in (lambda: cfg.train.pop("steps"), lambda: cfg.train.__delitem__("steps"), cfg.train.clear,
                   cfg.train.popitem):
        with pytest.raises(ConfigError):
            remove()
    assert cfg.train.steps == 10


@pytest.mark.parametrize("key, value", [
    ("train.steps", "ten"), ("train.steps", 2.5), ("train.steps", True), ("train.jit_compile", 1),
    ("train.precision", 16), ("train.ks", 5), ("train", 3), ("name", ["x"]),
])
def test_overrides_are_type_checked(key, value):
    cfg = make()
    with pytest.raises(ConfigError, match=key.split(".")[-1]):
        cfg.set_path(key, value)


def test_allowed_overrides_and_int_to_float():
    cfg = make()
    cfg.override(["train.base_lr=1", "train.steps=20", "train.ks=[1,10]", "train.jit_compile=true",
                  "model.weights=hed", "name=none"])
    assert cfg.train.base_lr == 1.0 and isinstance(cfg.train.base_lr, float)
    assert (cfg.train.steps, cfg.train.ks, cfg.train.jit_compile) == (20, [1, 10], True)
    assert cfg.model.weights == "hed" and cfg.name is None
    cfg.model.weights = None  # None is a value: it may replace and be replaced by anything
    cfg.train.update(steps=30)  # update of existing keys goes through the same checks
    cfg.model.dims = (8, 4)  # tuples are stored as lists (JSON round trip)
    assert cfg.train.steps == 30 and cfg.model.dims == [8, 4]
    with pytest.raises(ConfigError, match="steps"):
        cfg.train.update(steps="x")


def test_mapping_assignment_updates_a_section_key_by_key():
    cfg = make()
    cfg.train = {"steps": 5}
    assert cfg.train.steps == 5 and cfg.train.base_lr == 1e-4
    with pytest.raises(ConfigError, match="nope"):
        cfg.train = {"nope": 1}


def test_unlocked_allows_a_deliberate_addition_then_locks_again():
    cfg = make()
    with cfg.unlocked():
        cfg.train.warmup = 5
        cfg["extra"] = {"a": 1}
        cfg.extra.b = 2  # sections added inside the block are open too
    assert cfg.train.warmup == 5 and cfg.extra.to_dict() == {"a": 1, "b": 2}
    with pytest.raises(ConfigError):
        cfg.train.cooldown = 1
    with pytest.raises(ConfigError):
        cfg.extra.c = 3
    cfg.train.warmup = 6  # an added key is an ordinary, type-checked key afterwards
    with pytest.raises(ConfigError):
        cfg.train.warmup = "six"


def test_freeze_refuses_every_write_and_copies_are_unfrozen():
    cfg = make().freeze()
    for write in (lambda: setattr(cfg.train, "steps", 1), lambda: cfg.set_path("train.steps", 1),
                  lambda: cfg.train.update(steps=1)):
        with pytest.raises(ConfigError, match="frozen"):
            write()
    with pytest.raises(ConfigError, match="frozen"):
        with cfg.unlocked():
            pass
    other = cfg.copy()
    other.train.steps = 1
    assert cfg.train.steps == 10 and other.train.steps == 1 and cfg.frozen and not other.frozen
    with pytest.raises(ConfigError):
        other.train.nope = 1  # a copy is still locked


def test_json_round_trip_and_deepcopy_keep_the_lock():
    cfg = make()
    again = Config.from_json(cfg.to_json())
    assert again == cfg and json.loads(again.to_json()) == cfg.to_dict()
    for clone in (again, copy.deepcopy(cfg)):
        with pytest.raises(ConfigError):
            clone.train.nope = 1


def test_reads_of_unknown_keys_name_them():
    cfg = make()
    with pytest.raises(AttributeError, match="stpes"):
        _ = cfg.train.stpes
    with pytest.raises(ConfigError, match="train.stpes"):
        cfg.get_path("train.stpes")
    assert not hasattr(cfg, "nope")


def test_parse_literal():
    assert parse_literal("3") == 3 and parse_literal("1e-4") == 1e-4 and parse_literal("[1,5]") == [1, 5]
    assert parse_literal("None") is None and parse_literal("true") is True and parse_literal("hed") == "hed"


def test_every_preset_builds_locked_with_the_shared_train_keys():
    """The presets set only keys they declare (no preset adds a key), both papers carry the precision / XLA /
    determinism keys, and one name per setting (no data.dir / train.lr aliases)."""
    from sbir_tf.configs import fg, zs

    configs = [fg.get_config(p) for p in fg.PRESETS] + [zs.get_config(p, d) for p in zs.PRESETS for d in zs.DATASETS]
    for cfg in configs:
        assert (cfg.train.precision, cfg.train.jit_compile, cfg.train.deterministic) == ("float32", False, False)
        assert "root" in cfg.data and "dir" not in cfg.data and "dataset" in cfg.data
        assert "base_lr" in cfg.train and "lr" not in cfg.train and "mixed_precision" not in cfg.train
        assert cfg.preset in ("paper", "cpu", "smoke")
        with pytest.raises(ConfigError):
            cfg.train.nope = 1
    for name in zs.ABLATIONS:
        zs.apply_ablation(zs.get_config("smoke"), name)  # ablations only change existing keys
    for variant in fg.VARIANTS:
        fg.apply_variant(fg.get_config("smoke"), variant)
