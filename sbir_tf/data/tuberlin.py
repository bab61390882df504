"""Reader for TU-Berlin Extended (Eitz, Hays, Alexa 2012 sketches; photos added by Zhang et al. 2016 / Liu et al. 2017).

Layout::

    <root>/png/<class>/<n>.png                 20,000 sketches (80 per class)
    <root>/ImageResized/<class>/*.JPEG|*.jpg   photos

Class folder names differ between the two domains and between releases (``alarm clock`` / ``alarm_clock``,
``t-shirt``); both sides are matched with :func:`~sbir_tf.data.records.canonical_class_name`. Sketches were drawn
from the class name, not from a photo, so they have no instance pairing (``instance_id == ""``); photos carry
their file stem. There is no official fine-grained test list (``test_instances`` is ``None``).
"""
from __future__ import annotations

from pathlib import Path

from sbir_tf.data.images import scan_class_folders
from sbir_tf.data.records import PHOTO, SKETCH, DataError, DatasetIndex, Record, SkipLog

SKETCH_FOLDERS = ("png", "sketches", "sketch")
PHOTO_FOLDERS = ("ImageResized", "images", "photo")


def _find(root: Path, names: tuple[str, ...], what: str) -> Path:
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise DataError(f"no TU-Berlin Extended {what} folder under {root}: expected one of "
                    f"{', '.join(n + '/<class>/' for n in names)}")


def read_tuberlin_extended(root: str | Path, strict: bool = False) -> DatasetIndex:
    """Index TU-Berlin Extended under ``root`` (a folder holding ``png/`` and ``ImageResized/``)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"TU-Berlin Extended root {root} does not exist (expected png/<class>/<n>.png and "
                        f"ImageResized/<class>/*.JPEG inside)")
    sketch_dir = _find(root, SKETCH_FOLDERS, "sketch")
    photo_dir = _find(root, PHOTO_FOLDERS, "photo")
    log = SkipLog(strict)
    sketch_classes = scan_class_folders(sketch_dir, log, what="sketch")
    photo_classes = scan_class_folders(photo_dir, log, what="photo")
    sketches: list[Record] = []
    photos: list[Record] = []
    folder_names = {}
    for cls in sorted(set(sketch_classes) | set(photo_classes)):
        if cls not in sketch_classes or cls not in photo_classes:
            have, table, base = ((PHOTO, photo_classes, photo_dir) if cls in photo_classes
                                 else (SKETCH, sketch_classes, sketch_dir))
            folder, files = table[cls]
            log.skip(str(base / folder), f"class in one domain only: {cls!r} has {len(files)} {have} files and "
                                         f"no folder in the other domain; class left out")
            continue
        folder_names[cls] = photo_classes[cls][0]
        sketches += [Record(str(f), cls, "", SKETCH) for f in sketch_classes[cls][1]]
        photos += [Record(str(f), cls, f.stem, PHOTO) for f in photo_classes[cls][1]]
    if not photos or not sketches:
        raise DataError(f"no usable TU-Berlin Extended classes with both sketches ({sketch_dir}) and photos "
                        f"({photo_dir})")
    return DatasetIndex(name="tuberlin_extended", root=str(root), sketches=sketches, photos=photos,
                        skipped=log.items, test_instances=None,
                        notes={"photo_folder_names": folder_names, "sketch_dir": str(sketch_dir),
                               "photo_dir": str(photo_dir)})
