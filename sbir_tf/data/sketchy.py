"""Reader for the Sketchy database (Sangkloy, Burnell, Ham, Hays, SIGGRAPH 2016), official ``rendered_256x256`` layout.

Layout::

    <root>/256x256/sketch/tx_000000000000/<class>/<photo_id>-<k>.png
    <root>/256x256/photo/tx_000000000000/<class>/<photo_id>.jpg
    <root>/info/testset.txt              fine-grained test photos (optional)
    <root>/info/invalid-*.txt            sketches flagged by the authors (optional)

``root`` may be the folder holding ``sketch/`` and ``photo/``, ``256x256/``, ``rendered_256x256/`` or the parent of
``256x256/`` (the folder that also holds ``info/``). Sketch ``<photo_id>-<k>.png`` depicts photo ``<photo_id>.jpg`` of
the same class. Photo ids start with the ImageNet WordNet id of the class (``n02691156_10151`` -> ``n02691156``).

Renderings. The release renders every sketch six ways and every photo two ways, one ``tx_*`` folder each
(:data:`SKETCH_RENDERINGS`, :data:`PHOTO_RENDERINGS`, as its ``README.txt`` describes them). The sketch and the photo
rendering are chosen separately (``read_sketchy(rendering=..., photo_rendering=...)``; in the experiment configs
``data.sketch_rendering`` and ``data.photo_rendering``); both default to ``tx_000000000000``. Pang et al. 2017
(Sec. 4) train on "the uniformly scaled and centred version of sketches": :data:`CENTRED_SKETCH_RENDERING`.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from sbir_tf.data.images import IMAGE_EXTENSIONS, scan_class_folders
from sbir_tf.data.records import PHOTO, SKETCH, DataError, DatasetIndex, Record, SkipLog

DEFAULT_RENDERING = "tx_000000000000"
#: Sketch rendering folders of the official ``rendered_256x256`` release (its README.txt, paraphrased).
SKETCH_RENDERINGS = {
    "tx_000000000000": "canvas scaled to 256x256 like the paired photo (non-uniformly): aligned with the photo",
    "tx_000100000000": "centred and uniformly scaled so that the larger side spans 78% of the canvas",
    "tx_000000000010": "translated so that it is centred on the photo's object bounding box",
    "tx_000000000110": "centred on the bounding box, uniformly scaled to fit it along one side (least scaling)",
    "tx_000000001010": "centred on the bounding box, uniformly scaled to fit it along one side (most scaling)",
    "tx_000000001110": "centred on the bounding box, non-uniformly scaled to fill it",
}
#: Photo rendering folders of the official ``rendered_256x256`` release (its README.txt, paraphrased).
PHOTO_RENDERINGS = {
    "tx_000000000000": "the whole photo, non-uniformly scaled to 256x256",
    "tx_000100000000": "the object bounding box plus 10% on each side, scaled to 256x256 (a crop)",
}
#: Pang et al. 2017, Sec. 4: "We used the uniformly scaled and centred version of sketches".
CENTRED_SKETCH_RENDERING = "tx_000100000000"
_SKETCH_NAME = re.compile(r"^(?P<photo_id>.+)-(?P<k>\d+)$")
_WNID = re.compile(r"^(n\d{8})(?:_|$)")


def wordnet_id(photo_id: str) -> str:
    """The ImageNet WordNet id a photo id starts with: ``"n02691156_10151"`` -> ``"n02691156"`` (``""`` if none)."""
    match = _WNID.match(photo_id)
    return match.group(1) if match else ""


def find_layout(root: str | Path) -> tuple[Path, Path | None]:
    """``(folder holding sketch/ and photo/, info folder or None)`` for any accepted Sketchy root."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"Sketchy root {root} does not exist (expected a folder holding 256x256/sketch/tx_*/<class>/ "
                        f"and 256x256/photo/tx_*/<class>/)")
    candidates = [root, root / "256x256", root / "rendered_256x256", root / "rendered_256x256" / "256x256"]
    for cand in candidates:
        if (cand / "sketch").is_dir() and (cand / "photo").is_dir():
            base = cand
            break
    else:
        looked = ", ".join(str(c) for c in candidates)
        raise DataError(f"no Sketchy layout under {root}: expected folders sketch/ and photo/ (each holding "
                        f"tx_*/<class>/ image folders); looked in {looked}")
    info = next((c / "info" for c in layout_parents(root, base) if (c / "info").is_dir()), None)
    return base, info


def layout_parents(root: Path, base: Path) -> list[Path]:
    """Folders that may hold ``info/`` (or extra-photo folders) for a layout found at ``base`` from ``root``."""
    parents = [Path(root), base, base.parent]
    if base.parent.name.startswith("rendered") or base.name.startswith("rendered"):
        parents.append(base.parent.parent)
    return list(dict.fromkeys(parents))


def _rendering_dir(domain_dir: Path, rendering: str) -> Path:
    path = domain_dir / rendering
    if path.is_dir():
        return path
    available = sorted(p.name for p in domain_dir.glob("tx_*") if p.is_dir())
    raise DataError(f"{domain_dir.name} rendering folder {path} not found (expected {domain_dir}/<tx_*>/<class>/); "
                    f"available: {available or 'none'}: choose one of them (experiment configs: "
                    f"data.{domain_dir.name}_rendering)")


def photo_id_from_line(line: str) -> str:
    """``"airplane/n02691156_10151.jpg"``, ``"airplane/n02691156_10151"`` or ``"n02691156_10151"`` -> the bare id."""
    name = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return stem if dot and "." + ext.lower() in IMAGE_EXTENSIONS + (".svg",) else name


def read_id_list(path: Path) -> set[str]:
    """Photo or sketch ids, one per line, with or without ``<class>/`` prefix and extension; ``#`` starts a comment."""
    ids = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            ids.add(photo_id_from_line(line))
    return ids


def read_paired_folders(sketch_dir: Path, photo_dir: Path, log: SkipLog, *,
                        invalid_sketches: set[str] = frozenset()) -> tuple[list[Record], list[Record], dict]:
    """Photos and the sketches that name them from ``<sketch_dir>/<class>/`` and ``<photo_dir>/<class>/`` folders.

    Returns ``(sketches, photos, stats)``; every unusable file or folder goes to ``log``. Sketches listed in
    ``invalid_sketches`` (ids ``<photo_id>-<k>``) are left out and counted in ``stats["excluded_invalid"]``.
    """
    photo_classes = scan_class_folders(photo_dir, log, what="photo")
    sketch_classes = scan_class_folders(sketch_dir, log, what="sketch")
    photos: list[Record] = []
    sketches: list[Record] = []
    owner: dict[str, str] = {}
    excluded = 0
    for cls in sorted(set(photo_classes) | set(sketch_classes)):
        if cls not in sketch_classes or cls not in photo_classes:
            have, missing = (PHOTO, SKETCH) if cls in photo_classes else (SKETCH, PHOTO)
            folder, files = (photo_classes if have == PHOTO else sketch_classes)[cls]
            where = (photo_dir if have == PHOTO else sketch_dir) / folder
            log.skip(str(where), f"class in one domain only: {cls!r} has {len(files)} {have} files "
                                 f"but no {missing} folder; class left out")
            continue
        ids_here = set()
        for f in photo_classes[cls][1]:
            pid = f.stem
            if pid in owner:
                log.skip(str(f), f"duplicate photo id: {pid} is already a photo of class {owner[pid]!r}")
                continue
            owner[pid] = cls
            ids_here.add(pid)
            photos.append(Record(str(f), cls, pid, PHOTO))
        for f in sketch_classes[cls][1]:
            match = _SKETCH_NAME.match(f.stem)
            if not match:
                log.skip(str(f), "bad sketch name: expected <photo_id>-<k>.<ext>")
                continue
            pid = match.group("photo_id")
            if pid not in ids_here:
                log.skip(str(f), f"sketch without photo: no photo {pid} in {photo_dir / photo_classes[cls][0]}")
                continue
            if f.stem in invalid_sketches:
                excluded += 1
                continue
            sketches.append(Record(str(f), cls, pid, SKETCH))
    return sketches, photos, {"excluded_invalid": excluded}


def class_wnids(photos: list[Record]) -> dict[str, str]:
    """``{class: most common WordNet id among its photo ids}`` (classes without one are left out)."""
    per_class: dict[str, Counter] = {}
    for r in photos:
        wnid = wordnet_id(r.instance_id)
        if wnid:
            per_class.setdefault(r.class_name, Counter())[wnid] += 1
    return {c: counter.most_common(1)[0][0] for c, counter in sorted(per_class.items())}


def read_sketchy(root: str | Path, rendering: str = DEFAULT_RENDERING, exclude_invalid: bool = False,
                 strict: bool = False, photo_rendering: str = DEFAULT_RENDERING) -> DatasetIndex:
    """Index the Sketchy database under ``root``.

    rendering: the *sketch* rendering folder (:data:`SKETCH_RENDERINGS`; ``tx_000000000000`` = scaled like its photo,
        :data:`CENTRED_SKETCH_RENDERING` = Pang et al. 2017's choice); any ``tx_*`` folder present may be chosen.
    photo_rendering: the photo rendering folder, chosen independently (:data:`PHOTO_RENDERINGS`;
        ``tx_000000000000`` = whole photos, ``tx_000100000000`` = bounding-box crops).
    A rendering folder that does not exist raises :class:`DataError` listing the ones that do.
    exclude_invalid: leave out sketches listed in ``info/invalid-*.txt``.
    strict: raise :class:`DataError` on the first unusable file instead of skipping it.
    """
    base, info = find_layout(root)
    sketch_dir = _rendering_dir(base / "sketch", rendering)
    photo_dir = _rendering_dir(base / "photo", photo_rendering)
    log = SkipLog(strict)
    invalid: set[str] = set()
    invalid_files = sorted(info.glob("invalid-*.txt")) if info else []
    if exclude_invalid:
        for path in invalid_files:
            invalid |= read_id_list(path)
    sketches, photos, stats = read_paired_folders(sketch_dir, photo_dir, log, invalid_sketches=invalid)
    if not photos:
        raise DataError(f"no usable Sketchy photos under {photo_dir} (expected <class>/<photo_id>.jpg)")

    test_instances = None
    notes = {"sketch_rendering": sketch_dir.name, "photo_rendering": photo_dir.name, "layout_root": str(base),
             "wnids": class_wnids(photos), **stats}
    testset = info / "testset.txt" if info else None
    if testset is not None and testset.is_file():
        listed = read_id_list(testset)
        photo_ids = {r.instance_id for r in photos}
        test_instances = frozenset(listed & photo_ids)
        notes["testset"] = str(testset)
        notes["testset_unmatched"] = len(listed - photo_ids)
    return DatasetIndex(name="sketchy", root=str(Path(root)), sketches=sketches, photos=photos,
                        skipped=log.items, test_instances=test_instances, notes=notes)
