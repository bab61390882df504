"""The record type every dataset reader produces, and the index that groups them.

A reader never raises on one bad file: it appends a :class:`Skipped` entry (path + reason) and moves on, unless
``strict=True``, where the first problem raises :class:`DataError`. A missing root is always an error.
"""
from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

SKETCH = "sketch"
PHOTO = "photo"
DOMAINS = (SKETCH, PHOTO)


class DataError(ValueError):
    """Bad or missing data; the message names the file or folder and what was expected."""


def canonical_class_name(name: str) -> str:
    """One spelling per class: lower case, runs of spaces/hyphens/underscores folded to ``_``.

    ``hot-air_balloon``, ``hot_air_balloon`` and ``Hot air balloon`` all become ``hot_air_balloon``;
    ``alarm clock`` -> ``alarm_clock``; ``t-shirt`` -> ``t_shirt``; ``car_(sedan)`` stays ``car_(sedan)``.
    """
    return re.sub(r"[\s_\-]+", "_", name.strip().lower()).strip("_")


@dataclass(frozen=True)
class Record:
    """One image.

    path: file path, or ``<file>#<row>`` for array-backed sets (QMUL .mat, rasterised QMUL-V2 sketches).
    class_name: canonical class name (:func:`canonical_class_name`).
    instance_id: the photo id; a sketch carries the id of the photo it depicts (``""`` when a dataset has no
        instance pairing, e.g. TU-Berlin sketches).
    domain: ``"sketch"`` or ``"photo"``.
    """

    path: str
    class_name: str
    instance_id: str
    domain: str


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class DatasetIndex:
    """All records of one dataset plus what was skipped and the fine-grained test instances.

    ``arrays`` holds in-memory uint8 images for array-backed sets, keyed by the part of ``Record.path`` before
    ``#``; :func:`array_ref` splits a path into that key and a row.
    """

    name: str
    root: str
    sketches: list[Record]
    photos: list[Record]
    skipped: list[Skipped] = field(default_factory=list)
    test_instances: frozenset[str] | None = None
    arrays: dict | None = None
    notes: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return sorted({r.class_name for r in self.sketches} | {r.class_name for r in self.photos})

    def class_to_label(self, classes: Iterable[str] | None = None) -> dict[str, int]:
        return {c: i for i, c in enumerate(sorted(classes) if classes is not None else self.classes)}

    @property
    def sketched_instances(self) -> set[str]:
        return {r.instance_id for r in self.sketches if r.instance_id}

    def counts(self) -> dict:
        return {
            "classes": len(self.classes),
            "photos": len(self.photos),
            "sketches": len(self.sketches),
            "sketched_photos": len(self.sketched_instances & {p.instance_id for p in self.photos}),
            "skipped": len(self.skipped),
            "skipped_by_reason": dict(Counter(s.reason.split(":")[0] for s in self.skipped)),
        }


def array_ref(path: str) -> tuple[str, int]:
    """Split an array-backed record path ``<key>#<row>`` into ``(key, row)``."""
    key, sep, row = path.rpartition("#")
    if not sep:
        raise DataError(f"{path!r} is not an array-backed record path (<file>#<row>)")
    return key, int(row)


class SkipLog:
    """Collects skipped files for a reader; warns once per file, or raises under ``strict``."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.items: list[Skipped] = []

    def skip(self, path: str, reason: str) -> None:
        if self.strict:
            raise DataError(f"{path}: {reason}")
        self.items.append(Skipped(str(path), reason))
        warnings.warn(f"sbir_tf: skipping {path}: {reason}", stacklevel=3)
