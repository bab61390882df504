"""Reader for Sketchy Extended (Liu, Shen, Shen, Liu, Shao, CVPR 2017): Sketchy plus extra ImageNet photos per class.

The extra photos live in ``extended_photo/<class>/`` or ``EXTEND_image_sketchy/<class>/`` beside the Sketchy folders
(in the folder holding ``sketch/`` and ``photo/``, its parent, or ``root``). They are merged into the Sketchy photos of
the same class (class names compared with :func:`~sbir_tf.data.records.canonical_class_name`); they have no sketches,
so they only enlarge the gallery. A photo id already present in Sketchy is not added twice.
"""
from __future__ import annotations

from pathlib import Path

from sbir_tf.data.images import scan_class_folders
from sbir_tf.data.records import PHOTO, DataError, DatasetIndex, Record, SkipLog
from sbir_tf.data.sketchy import DEFAULT_RENDERING, class_wnids, find_layout, layout_parents, read_sketchy

EXTENDED_FOLDER_NAMES = ("extended_photo", "EXTEND_image_sketchy")


def find_extended_dir(root: str | Path) -> Path:
    """The extra-photo folder for a Sketchy root, or a :class:`DataError` listing where it was looked for."""
    base, _ = find_layout(root)
    places = []
    for parent in layout_parents(root, base):
        for name in EXTENDED_FOLDER_NAMES:
            places.append(parent / name)
            if (parent / name).is_dir():
                return parent / name
    raise DataError("no Sketchy Extended photo folder (extended_photo/<class>/ or EXTEND_image_sketchy/<class>/) "
                    f"beside the Sketchy folders; looked in {', '.join(str(p) for p in places)}")


def read_sketchy_extended(root: str | Path, rendering: str = DEFAULT_RENDERING, exclude_invalid: bool = False,
                          strict: bool = False, extended_dir: str | Path | None = None,
                          photo_rendering: str = DEFAULT_RENDERING) -> DatasetIndex:
    """Sketchy (see :func:`~sbir_tf.data.sketchy.read_sketchy`: ``rendering`` is the sketch rendering,
    ``photo_rendering`` the Sketchy photos' one) with the extended photos merged per class (they have one form)."""
    index = read_sketchy(root, rendering=rendering, exclude_invalid=exclude_invalid, strict=strict,
                         photo_rendering=photo_rendering)
    ext_dir = Path(extended_dir) if extended_dir else find_extended_dir(root)
    if not ext_dir.is_dir():
        raise DataError(f"Sketchy Extended photo folder {ext_dir} does not exist (expected <class>/*.jpg inside)")
    log = SkipLog(strict)
    classes = set(index.classes)
    known = {r.instance_id for r in index.photos}
    added = duplicates = 0
    photos = list(index.photos)
    for cls, (folder, files) in sorted(scan_class_folders(ext_dir, log, what="photo").items()):
        if cls not in classes:
            log.skip(str(ext_dir / folder), f"class in one domain only: extended photo class {cls!r} has no "
                                            f"Sketchy sketches; {len(files)} files left out")
            continue
        for f in files:
            if f.stem in known:
                duplicates += 1
                continue
            known.add(f.stem)
            photos.append(Record(str(f), cls, f.stem, PHOTO))
            added += 1
    photos.sort(key=lambda r: (r.class_name, r.path))
    notes = dict(index.notes, extended_dir=str(ext_dir), extended_photos_added=added,
                 extended_duplicates=duplicates, wnids=class_wnids(photos))
    return DatasetIndex(name="sketchy_extended", root=str(Path(root)), sketches=index.sketches, photos=photos,
                        skipped=index.skipped + log.items, test_instances=index.test_instances, notes=notes)
