"""Configs as code: a locked, type-checked attribute dictionary with dotted overrides.

A :class:`Config` declares its keys when it is built (``Config(train=dict(steps=10))``); afterwards an unknown key
is an error wherever it is set — attributes, items, ``update``, ``set_path`` and so ``--set``. A deliberate
addition goes through ``with cfg.unlocked(): ...``. Overrides are type-checked against the current value: the same
type, or an int for a float (stored as float); ``None`` is a value and may replace or be replaced by anything.
:meth:`Config.freeze` makes a config read-only (the run layer freezes it once validated). Presets live in
:mod:`sbir_tf.configs`; a run writes its resolved config as JSON next to its results.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import difflib
import json
from typing import Any, Iterable, Iterator, Mapping


class ConfigError(ValueError):
    """An unknown key, a value of the wrong type or a write to a frozen config; the message names the key."""


class Config(dict):
    """A nested ``dict`` whose keys are also attributes (``cfg.train.base_lr``); locked against new keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_open", False)
        object.__setattr__(self, "_frozen", False)
        for key, value in dict(*args, **kwargs).items():
            dict.__setitem__(self, key, _wrap(value))

    # ------------------------------------------------------------------------------------------ writes
    def __setitem__(self, key: str, value: Any) -> None:
        if self._frozen:
            raise ConfigError(f"config is frozen; cannot set {key!r}")
        if key not in self:
            if not self._open:
                raise ConfigError(f"config has no key {key!r}{_suggest(key, self)}; known keys: {sorted(self)} "
                                  f"(a deliberate new key goes through `with cfg.unlocked():`)")
            value = _wrap(value)
            if isinstance(value, Config):  # a section added inside `unlocked()` is open until the block ends
                for node in value._nodes():
                    object.__setattr__(node, "_open", True)
            dict.__setitem__(self, key, value)
            return
        old = dict.__getitem__(self, key)
        if isinstance(old, Config) and isinstance(value, Mapping):
            for sub, sub_value in value.items():  # a mapping updates the existing section key by key
                old[sub] = sub_value
            return
        dict.__setitem__(self, key, _checked(key, old, value))

    def __setattr__(self, key: str, value: Any) -> None:
        self[key] = value

    def __delitem__(self, key: str) -> None:
        raise ConfigError(f"config keys cannot be removed (tried {key!r}); set the value to None instead")

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Mapping) -> "Config":  # type: ignore[override]
        self.update(other)
        return self

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        raise ConfigError(f"config keys cannot be removed (tried {key!r})")

    def popitem(self) -> tuple:  # type: ignore[override]
        raise ConfigError("config keys cannot be removed")

    def clear(self) -> None:  # type: ignore[override]
        raise ConfigError("config keys cannot be removed")

    # ------------------------------------------------------------------------------------------ reads
    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}{_suggest(key, self)}; known keys: {sorted(self)}") \
                from None

    # ------------------------------------------------------------------------------------------ lock state
    @contextlib.contextmanager
    def unlocked(self) -> Iterator["Config"]:
        """Within the block, new keys may be added here and in every sub-section (a deliberate addition)."""
        nodes = list(self._nodes())
        if any(n._frozen for n in nodes):
            raise ConfigError("config is frozen; cannot unlock it")
        for node in nodes:
            object.__setattr__(node, "_open", True)
        try:
            yield self
        finally:
            for node in self._nodes():
                object.__setattr__(node, "_open", False)

    def freeze(self) -> "Config":
        """Make this config and its sections read-only (in place); returns ``self``."""
        for node in self._nodes():
            object.__setattr__(node, "_frozen", True)
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def _nodes(self) -> Iterator["Config"]:
        yield self
        for value in self.values():
            if isinstance(value, Config):
                yield from value._nodes()

    # ------------------------------------------------------------------------------------------ copies, JSON
    def __deepcopy__(self, memo: dict) -> "Config":
        return Config(copy.deepcopy(_plain(self), memo))

    def __reduce__(self):
        return (Config, (_plain(self),))

    def copy(self) -> "Config":
        """A deep, unfrozen, locked copy."""
        return copy.deepcopy(self)

    def to_dict(self) -> dict:
        return json.loads(self.to_json())

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self, indent=indent, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls(json.loads(text))

    # ------------------------------------------------------------------------------------------ dotted paths
    def get_path(self, dotted: str) -> Any:
        node: Any = self
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                where = f"; known keys at that level: {sorted(node)}" if isinstance(node, Mapping) else ""
                raise ConfigError(f"config has no key {dotted!r} (stopped at {part!r}){where}")
            node = node[part]
        return node

    def set_path(self, dotted: str, value: Any) -> None:
        """Set ``a.b.c`` to ``value``: the key must exist and the value must have its type."""
        *parents, leaf = dotted.split(".")
        node = self.get_path(".".join(parents)) if parents else self
        if not isinstance(node, Config):
            raise ConfigError(f"config has no key {dotted!r}: {'.'.join(parents)!r} is not a section")
        if leaf not in node and not node._open:
            raise ConfigError(f"config has no key {dotted!r}{_suggest(leaf, node)}; known keys at that level: "
                              f"{sorted(node)}")
        try:
            node[leaf] = value
        except ConfigError as err:
            raise ConfigError(str(err).replace(f"{leaf!r}", f"{dotted!r}", 1)) from None

    def override(self, assignments: Iterable[str]) -> "Config":
        """Apply ``key.path=value`` strings (values parsed as Python literals when they parse)."""
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not of the form key.path=value")
            key, raw = item.split("=", 1)
            self.set_path(key.strip(), parse_literal(raw.strip()))
        return self


def _wrap(value: Any) -> Any:
    if isinstance(value, Mapping) and not isinstance(value, Config):
        return Config(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _checked(key: str, old: Any, new: Any) -> Any:
    """``new`` if it may replace ``old`` (same type; int for float, stored as float; None either way)."""
    if old is None or new is None:
        return _wrap(new)
    if isinstance(old, bool) or isinstance(new, bool):
        if isinstance(old, bool) and isinstance(new, bool):
            return new
    elif isinstance(old, float) and isinstance(new, (int, float)):
        return float(new)
    elif isinstance(old, int) and isinstance(new, int):
        return new
    elif isinstance(old, list) and isinstance(new, (list, tuple)):
        return list(new)
    elif isinstance(old, str) and isinstance(new, str):
        return new
    elif isinstance(old, Config):
        pass
    elif type(old) is type(new):
        return new
    raise ConfigError(f"config key {key!r} holds a {_type_name(old)} ({old!r}); got a {_type_name(new)} ({new!r})")


def _suggest(key: str, node: Mapping) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in node], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_literal(raw: str) -> Any:
    """``"3"`` -> 3, ``"[1,5]"`` -> [1, 5], ``"none"`` -> None, anything else stays a string."""
    lowered = raw.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw
