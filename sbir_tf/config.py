"""Configs as code: a small attribute dictionary with dotted overrides.

Every experiment preset is a function ``get_config(smoke=False) -> Config``; a run writes its resolved config as
JSON next to its results so the numbers can always be traced back to the settings that produced them.
"""
from __future__ import annotations

import ast
import copy
import json
from typing import Any, Iterable, Mapping


class Config(dict):
    """A nested ``dict`` whose keys are also attributes (``cfg.train.lr``).

    Unknown attributes raise ``AttributeError`` so that a typo in a preset is loud, not silently a new key:
    new keys must be added with item syntax (``cfg["new_key"] = ...``) or in the constructor.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, Mapping) and not isinstance(value, Config):
            value = Config(value)
        super().__setitem__(key, value)

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}; known keys: {sorted(self)}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in self:
            raise AttributeError(f"config has no key {key!r}; add new keys with cfg[{key!r}] = ...")
        self[key] = value

    def __deepcopy__(self, memo: dict) -> "Config":
        return Config(copy.deepcopy(dict(self), memo))

    def copy(self) -> "Config":
        return copy.deepcopy(self)

    def to_dict(self) -> dict:
        return json.loads(self.to_json())

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self, indent=indent, sort_keys=True, default=str)

    def get_path(self, dotted: str) -> Any:
        node: Any = self
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(f"config has no key {dotted!r} (stopped at {part!r})")
            node = node[part]
        return node

    def set_path(self, dotted: str, value: Any) -> None:
        """Set ``a.b.c`` to ``value``; the key must already exist so typos fail loudly."""
        *parents, leaf = dotted.split(".")
        node: Any = self
        for part in parents:
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(f"config has no key {dotted!r} (stopped at {part!r})")
            node = node[part]
        if leaf not in node:
            raise KeyError(f"config has no key {dotted!r}; known keys at that level: {sorted(node)}")
        node[leaf] = value

    def override(self, assignments: Iterable[str]) -> "Config":
        """Apply ``key.path=value`` strings (values parsed as Python literals when they parse)."""
        for item in assignments:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not of the form key.path=value")
            key, raw = item.split("=", 1)
            self.set_path(key.strip(), parse_literal(raw.strip()))
        return self

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls(json.loads(text))


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
