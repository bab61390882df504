"""TensorFlow Datasets builders for the SBIR datasets, and a loader turning prepared records into an index.

Builders (manual download; the archives cannot be fetched automatically):

* ``sketchy``            Sketchy (Sangkloy et al. 2016), one config per sketch rendering (``tx_*`` folder:
  ``sketchy/tx_000000000000``, the default, ``sketchy/tx_000100000000``, ...), photos ``tx_000000000000``
* ``sketchy_extended``   Sketchy + the extra ImageNet photos of Liu et al. (2017)
* ``tuberlin_extended``  TU-Berlin sketches (Eitz et al. 2012) + photos of Zhang et al. (2016)
* ``qmul_v1``            QMUL Shoe-V1 / Chair-V1 / Handbag-V1 (configs ``shoes``, ``chairs``, ``handbags``)

Each builder reads its manual folder with the project's readers (:func:`sbir_tf.data.registry.read_dataset`, so
invalid files are skipped exactly as when training from raw folders) and writes two splits, ``sketch`` and
``photo``. Every example holds the image as its original encoded bytes (array-backed sets are PNG-encoded), the
integer ``label`` (index in the sorted class list), ``class_name``, ``instance_id``, ``domain``, ``fg_test``
(the instance is in the dataset's fine-grained test list) and ``source`` (the original file or ``<file>#<row>``).
The class list, the reader's notes (for Sketchy: ``sketch_rendering`` and ``photo_rendering``, the ``tx_*`` folders
the records were read from) and the test instances are kept in the dataset metadata.

Usage::

    import sbir_tf.data.tfds_builders  # registers the builders
    builder = tfds.builder("sketchy", data_dir=DATA_DIR)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=MANUAL_DIR))
    index = load_prepared("sketchy", DATA_DIR)   # DatasetIndex, images held in memory as encoded bytes

``load_prepared`` gives an array-backed :class:`~sbir_tf.data.records.DatasetIndex`, so the same
:func:`~sbir_tf.data.pipeline.triplet_dataset` / :func:`~sbir_tf.data.pipeline.image_dataset` calls work on raw
folders and on prepared records.
"""
from __future__ import annotations

import inspect
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from sbir_tf.data.records import PHOTO, SKETCH, DataError, DatasetIndex, Record, array_ref
from sbir_tf.data.sketchy import DEFAULT_RENDERING, SKETCH_RENDERINGS

SPLITS = (SKETCH, PHOTO)
VERSION = tfds.core.Version("1.0.0")


def _encode_pixels(pixels: np.ndarray) -> bytes:
    from PIL import Image

    pixels = np.asarray(pixels, np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _image_payload(record: Record, arrays: dict | None):
    """What the Image feature stores for a record: a file path (bytes kept as is) or encoded bytes."""
    if arrays and "#" in record.path:
        key, row = array_ref(record.path)
        if key in arrays:
            value = arrays[key][row]
            if isinstance(value, (bytes, bytearray, np.bytes_)):
                return bytes(value)
            return _encode_pixels(value)
    return record.path


class _SbirBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared logic: read the manual folder with the project reader, write ``sketch`` and ``photo`` splits."""

    VERSION = VERSION
    RELEASE_NOTES = {"1.0.0": "First release: sketch and photo splits with instance ids and fine-grained flags."}
    DATASET_NAME = ""       # name understood by sbir_tf.data.registry.read_dataset

    # TFDS looks the builder's source file up through `importlib_resources`, an optional package missing from
    # some environments; the file of the class is all it needs.
    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        from etils import epath

        return epath.Path(inspect.getfile(cls))
    CITATION = ""
    DESCRIPTION = ""
    HOMEPAGE = ""

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": np.int64,
                "class_name": tfds.features.Text(),
                "instance_id": tfds.features.Text(),
                "domain": tfds.features.Text(),
                "fg_test": np.bool_,
                "source": tfds.features.Text(),
            }),
            supervised_keys=("image", "label"),
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
            metadata=tfds.core.MetadataDict(),
        )

    def _reader_root(self, dl_manager) -> Path:
        return Path(dl_manager.manual_dir)

    def _reader_kwargs(self) -> dict:
        return {}

    def _split_generators(self, dl_manager):
        from sbir_tf.data.registry import read_dataset

        root = self._reader_root(dl_manager)
        try:
            index = read_dataset(self.DATASET_NAME, root, **self._reader_kwargs())
        except DataError as exc:
            raise DataError(f"{exc}\n\nManual download instructions for {self.name}:\n"
                            f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}") from exc
        classes = index.classes
        self.info.metadata.update({
            "classes": classes,
            "test_instances": sorted(index.test_instances) if index.test_instances is not None else None,
            "notes": _jsonable(index.notes),
            "counts": _jsonable(index.counts()),
        })
        c2l = index.class_to_label()
        return {
            SKETCH: self._generate_examples(index.sketches, index, c2l),
            PHOTO: self._generate_examples(index.photos, index, c2l),
        }

    def _generate_examples(self, records, index: DatasetIndex, c2l: dict):
        test = index.test_instances or frozenset()
        for k, r in enumerate(records):
            yield f"{r.domain}/{k:07d}", {
                "image": _image_payload(r, index.arrays),
                "label": c2l[r.class_name],
                "class_name": r.class_name,
                "instance_id": r.instance_id,
                "domain": r.domain,
                "fg_test": bool(r.instance_id) and r.instance_id in test,
                "source": r.path,
            }


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


class Sketchy(_SbirBuilder):
    """Sketchy database: 125 classes, 12,500 photos, 75,471 sketches of each rendering.

    Configs: one per sketch rendering (:data:`~sbir_tf.data.sketchy.SKETCH_RENDERINGS`), named after its ``tx_*``
    folder; ``sketchy`` alone is ``sketchy/tx_000000000000``. Pang et al. 2017 train on ``sketchy/tx_000100000000``
    ("the uniformly scaled and centred version of sketches"). The photos are ``tx_000000000000`` in every config.
    """

    DATASET_NAME = "sketchy"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {**_SbirBuilder.RELEASE_NOTES,
                     "1.1.0": "One config per sketch rendering (tx_* folder); photos tx_000000000000."}
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name, description=f"sketches {name}: {text}")
                       for name, text in SKETCH_RENDERINGS.items()]
    DEFAULT_BUILDER_CONFIG_NAME = DEFAULT_RENDERING
    DESCRIPTION = "The Sketchy Database (Sangkloy, Burnell, Ham, Hays, SIGGRAPH 2016): sketch-photo pairs."
    HOMEPAGE = "https://sketchy.eye.gatech.edu/"
    CITATION = ("@article{sangkloy2016sketchy, title={The Sketchy Database: Learning to Retrieve Badly Drawn "
                "Bunnies}, author={Sangkloy, Patsorn and Burnell, Nathan and Ham, Cusuh and Hays, James}, "
                "journal={ACM Transactions on Graphics}, year={2016}}")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download from the Sketchy Database page (https://sketchy.eye.gatech.edu/) the archives
      * rendered_256x256.7z  (sketches and photos, 256x256)
      * info-06-04.7z        (the `info/` folder with testset.txt and the invalid-sketch lists)
    and extract both into the manual folder (`<data_dir>/downloads/manual/` by default, or the folder passed as
    `tfds.download.DownloadConfig(manual_dir=...)`), giving
      <manual_dir>/256x256/sketch/tx_000000000000/<class>/<photo_id>-<k>.png
      <manual_dir>/256x256/photo/tx_000000000000/<class>/<photo_id>.jpg
      <manual_dir>/info/testset.txt
    (`rendered_256x256/256x256/...` is accepted too). 7z archives are not extracted automatically. The config
    names the sketch folder read: `sketchy/tx_000100000000` reads <manual_dir>/256x256/sketch/tx_000100000000/.
    """

    def _reader_kwargs(self) -> dict:
        return {"rendering": self.builder_config.name, "photo_rendering": DEFAULT_RENDERING}


class SketchyExtended(_SbirBuilder):
    """Sketchy Extended: Sketchy plus 60,502 extra ImageNet photos (gallery only, no sketches)."""

    DATASET_NAME = "sketchy_extended"
    DESCRIPTION = ("Sketchy extended with the extra ImageNet photos of Liu et al. (Deep Sketch Hashing, CVPR 2017) "
                   "used for zero-shot SBIR.")
    HOMEPAGE = "https://github.com/ymcidence/DeepSketchHashing"
    CITATION = ("@inproceedings{liu2017deep, title={Deep Sketch Hashing: Fast Free-hand Sketch-Based Image "
                "Retrieval}, author={Liu, Li and Shen, Fumin and Shen, Yuming and Liu, Xianglong and Shao, Ling}, "
                "booktitle={CVPR}, year={2017}}")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    1. Prepare Sketchy as for the `sketchy` builder: extract rendered_256x256.7z and info-06-04.7z into the manual
       folder (`<manual_dir>/256x256/...`, `<manual_dir>/info/`).
    2. Download the Sketchy Extended photo archive of Deep Sketch Hashing (EXTEND_image_sketchy.zip, linked from
       https://github.com/ymcidence/DeepSketchHashing) and extract it into the same folder, giving
       <manual_dir>/EXTEND_image_sketchy/<class>/*.jpg   (a folder named `extended_photo/` is accepted too).
    """

    def _reader_root(self, dl_manager) -> Path:
        manual = Path(dl_manager.manual_dir)
        archive = manual / "EXTEND_image_sketchy.zip"
        if archive.is_file() and not any((manual / n).is_dir() for n in ("EXTEND_image_sketchy", "extended_photo")):
            return _staged_root(dl_manager, manual, {"EXTEND_image_sketchy": archive})
        return manual


class TuberlinExtended(_SbirBuilder):
    """TU-Berlin Extended: 20,000 sketches of 250 classes plus 204,489 photos; no instance pairing."""

    DATASET_NAME = "tuberlin_extended"
    DESCRIPTION = ("TU-Berlin sketches (Eitz, Hays, Alexa, SIGGRAPH 2012) extended with ImageNet photos "
                   "(Zhang et al. 2016; Liu et al. 2017) for category-level and zero-shot SBIR.")
    HOMEPAGE = "https://cybertron.cg.tu-berlin.de/eitz/projects/classifysketch/"
    CITATION = ("@article{eitz2012hdhso, title={How Do Humans Sketch Objects?}, author={Eitz, Mathias and Hays, "
                "James and Alexa, Marc}, journal={ACM Transactions on Graphics}, year={2012}}")
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download
      * png.zip from the TU-Berlin sketch page
        (https://cybertron.cg.tu-berlin.de/eitz/projects/classifysketch/), and
      * the extended photo set `ImageResized` (ImageResized.zip, linked from
        https://github.com/ymcidence/DeepSketchHashing)
    and put the archives into the manual folder (`<data_dir>/downloads/manual/` by default). Zip archives are
    extracted automatically; already-extracted folders are used as they are:
      <manual_dir>/png/<class>/<n>.png
      <manual_dir>/ImageResized/<class>/*.JPEG
    """

    def _reader_root(self, dl_manager) -> Path:
        manual = Path(dl_manager.manual_dir)
        archives = {name: manual / f"{name}.zip" for name in ("png", "ImageResized")
                    if not (manual / name).is_dir() and (manual / f"{name}.zip").is_file()}
        return _staged_root(dl_manager, manual, archives) if archives else manual


class QmulV1(_SbirBuilder):
    """QMUL fine-grained sets: Shoe-V1 (419 pairs), Chair-V1 (297), Handbag-V1 (568); sketches + edge maps."""

    DATASET_NAME = "qmul_v1"
    DESCRIPTION = ("QMUL Shoe-V1 / Chair-V1 (Yu et al., Sketch Me That Shoe, CVPR 2016) and Handbag-V1 (Song et al. "
                   "2017): paired free-hand sketches and photo edge maps, 256x256.")
    HOMEPAGE = "http://sketchx.eecs.qmul.ac.uk/downloads/"
    CITATION = ("@inproceedings{yu2016sketch, title={Sketch Me That Shoe}, author={Yu, Qian and Liu, Feng and "
                "Song, Yi-Zhe and Xiang, Tao and Hospedales, Timothy M and Loy, Chen Change}, booktitle={CVPR}, "
                "year={2016}}")
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name=c, description=f"QMUL {c} (V1)") for c in ("shoes", "chairs", "handbags")
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download the QMUL-V1 data (http://sketchx.eecs.qmul.ac.uk/downloads/, release of "Sketch Me That Shoe" /
    Triplet-SN) and place the MATLAB files of each set in the manual folder (`<data_dir>/downloads/manual/`):
      <manual_dir>/shoes/shoes_sketch_db_train.mat     shoes_sketch_db_test.mat
      <manual_dir>/shoes/shoes_edge_db_train.mat       shoes_edge_db_test.mat
    and likewise chairs/chairs_*.mat and handbags/handbags_*.mat (key `data`: uint8 [N, 256, 256]).
    """

    def _reader_kwargs(self) -> dict:
        return {"category": self.builder_config.name}


def _staged_root(dl_manager, manual: Path, archives: dict[str, Path]) -> Path:
    """A folder mirroring ``manual`` where each ``archives[name]`` zip appears extracted as ``name/``.

    Extraction goes to the download folder (the manual folder is never written to); the rest of ``manual`` is
    linked in.
    """
    stage = Path(dl_manager.download_dir) / "sbir_tf_stage"
    stage.mkdir(parents=True, exist_ok=True)
    for entry in manual.iterdir():
        link = stage / entry.name
        if not link.exists() and entry.is_dir():
            os.symlink(entry, link, target_is_directory=True)
    for name, archive in archives.items():
        target = stage / name
        if target.exists():
            continue
        tmp = stage / f".{name}.extracting"
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        inner = tmp / name if (tmp / name).is_dir() else tmp  # zips usually hold a top-level `<name>/` folder
        inner.rename(target)
    return stage


# ---------------------------------------------------------------------------------------------------------------
# Prepared records -> DatasetIndex
# ---------------------------------------------------------------------------------------------------------------

def load_prepared(name: str, data_dir: str | os.PathLike | None = None) -> DatasetIndex:
    """Read a prepared builder (``"sketchy"``, ``"qmul_v1/shoes"``, ...) into an array-backed DatasetIndex.

    Images stay encoded in memory: ``arrays`` maps ``"<name>:<split>"`` to a 1-D object array of PNG/JPEG bytes and
    each Record's path is ``"<name>:<split>#<row>"``; the pipelines decode them on the fly.
    """
    import tensorflow as tf

    builder = tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
    if not builder.is_prepared():
        root = Path(builder.data_dir_root)
        found = sorted(str(p.parent.relative_to(root))
                       for p in (root / name.split("/")[0]).glob("**/dataset_info.json"))
        raise DataError(f"TFDS dataset {builder.info.full_name!r} is not prepared in {root} (prepared there: "
                        f"{', '.join(found) or 'none'}); run python -m sbir_tf.data.prepare (or "
                        f"tfds.builder({name!r}, data_dir=...).download_and_prepare(...)) first")
    arrays: dict[str, np.ndarray] = {}
    lists: dict[str, list[Record]] = {}
    for split in SPLITS:
        ds = builder.as_dataset(split=split, shuffle_files=False,
                                decoders={"image": tfds.decode.SkipDecoding()})
        key = f"{name}:{split}"
        images, records = [], []
        for row, ex in enumerate(ds.prefetch(tf.data.AUTOTUNE).as_numpy_iterator()):
            images.append(ex["image"])
            records.append(Record(f"{key}#{row}", ex["class_name"].decode(), ex["instance_id"].decode(),
                                  ex["domain"].decode()))
        arr = np.empty(len(images), dtype=object)
        arr[:] = images
        arrays[key] = arr
        lists[split] = records
    meta = dict(builder.info.metadata or {})
    test = meta.get("test_instances")
    notes = dict(meta.get("notes") or {})
    notes.update({"prepared_from": str(builder.data_dir), "tfds_name": name})
    return DatasetIndex(name=builder.info.name, root=str(builder.data_dir), sketches=lists[SKETCH],
                        photos=lists[PHOTO], test_instances=frozenset(test) if test is not None else None,
                        arrays=arrays, notes=notes)
