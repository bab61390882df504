"""Save, reload and export trained models: ``model.keras`` in the run directory, and serving encoders.

Saving (the run layer calls it at the end of a run):

* :func:`save_run_model` writes ``RUN_DIR/model.keras`` (architecture from ``get_config`` + every weight);
  :func:`load_run_model` reloads it as the same class (:class:`~sbir_tf.models.fg.PangModel` or
  :class:`~sbir_tf.models.wadcmsn.WADCMSN`) with identical embeddings.

Export (``python -m sbir_tf.export RUN_DIR --out DIR [--tflite]``, or :func:`export_run` / :func:`export_encoders`):

* ``DIR/sketch_encoder/`` and ``DIR/photo_encoder/``: TF SavedModels, each with one ``serving_default`` signature
  ``images``: ``tf.uint8 [None, None, None, 3]`` (RGB, one size per batch, any size) ->
  ``{"embedding": float32 [None, D]}``. The signature applies the run's own evaluation preprocessing
  (:func:`evaluation_preprocess`: resize to ``load_size`` squared, the central ``image_size`` crop, Caffe/VGG
  preprocessing, as :func:`sbir_tf.data.pipeline.image_dataset` does for the test queries and gallery), then:

  - fine-grained (Pang et al. 2017): the sketch or photo encoder (``image_size = data.image_size``);
  - zero-shot (WAD-CMSN): the fixed VGG16 feature extractor of :mod:`sbir_tf.features` (``block5_conv3`` + global
    average pooling, weights ``features.weights``, at the run's feature image size), the run's feature normalisation
    (``features.normalize``), then the generator ``G_sk`` or ``G_im`` into the semantic space.

* ``DIR/export.json``: ``{"format": 1, "task": "fine_grained" | "zero_shot", "model_id": <sha256 of the exported
  weights>, "image_size", "embedding_dim", "metric": "euclidean" | "cosine", "source_run", "config"}`` plus
  ``load_size``, ``preprocessing``, ``signature``, ``source_model_sha256`` (of ``model.keras``, when exported from a
  run directory) and ``tflite`` (file names, with ``--tflite``).
* ``--tflite``: ``DIR/sketch_encoder.tflite`` and ``DIR/photo_encoder.tflite`` (TFLite builtins only). TFLite has
  no antialiased resize, so these take uint8 ``[B, load_size, load_size, 3]`` images that the caller has already
  resized (:func:`sbir_tf.data.preprocessing.resize_square`); they crop, preprocess and embed (:func:`_write_tflite`).

:func:`load_encoders` takes an export directory or a run directory (exported once into ``RUN_DIR/export/`` and
reused while ``model.keras`` is unchanged) and returns :class:`Encoders`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from sbir_tf.paths import file_sha256

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
EXPORT_FILE = "export.json"
EXPORT_DIRNAME = "export"
EXPORT_FORMAT = 1
DOMAINS = ("sketch", "photo")
#: Images per call of the serving signature in :class:`Encoders` (bounds the memory of one call).
ENCODE_BATCH = 32
#: Feature normalisations of the zero-shot pipeline (``features.normalize``): as extracted, or l2 per feature.
FEATURE_NORMALIZATIONS = ("none", "l2")
#: Smallest norm divided by in the ``l2`` feature normalisation, as ``sbir_tf.semantics.side_info.l2_normalize_rows``.
L2_EPSILON = 1e-12


class ExportError(ValueError):
    """A run directory or export directory cannot be saved, exported or loaded as asked (the message names why)."""


# ---------------------------------------------------------------------------------------------------- save / reload


def _model_classes():
    """Import the registered model classes so ``load_model`` can find them."""
    from sbir_tf.models.fg import PangModel
    from sbir_tf.models.wadcmsn import WADCMSN

    return PangModel, WADCMSN


def save_run_model(model, run_dir: str | os.PathLike) -> Path:
    """Write ``run_dir/model.keras`` (written beside it, then renamed, so a reader never sees half a file)."""
    PangModel, WADCMSN = _model_classes()
    if not isinstance(model, (PangModel, WADCMSN)):
        raise ExportError(f"save_run_model takes a PangModel or a WADCMSN, got {type(model).__name__}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / MODEL_FILE
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".model.", suffix=".keras")
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_run_model(run_dir: str | os.PathLike):
    """The model saved by :func:`save_run_model` in ``run_dir`` (or a ``.keras`` file path), as its own class."""
    import keras

    _model_classes()
    given = Path(run_dir)
    path = given if given.suffix == ".keras" else given / MODEL_FILE
    if not path.is_file():
        raise ExportError(f"no {MODEL_FILE} in {given}: train the run to the end (the run layer saves the model "
                          "there) or pass a run directory that has one")
    return keras.saving.load_model(path, compile=False)


def weights_sha256(variables: Sequence, settings: Mapping | None = None) -> str:
    """SHA-256 over ``settings`` (as sorted JSON) then ``variables`` in order (each one's path, dtype, shape and
    bytes). The export's ``model_id``: :func:`identity_settings` and the :func:`inference_variables` of the sketch
    encoder, then those of the photo encoder not already counted; so two exports share an id exactly when they
    compute the same embeddings from the same pixels."""
    h = hashlib.sha256()
    if settings:
        h.update(json.dumps(dict(settings), sort_keys=True).encode() + b"\n")
    for v in variables:
        value = np.ascontiguousarray(np.asarray(v))
        h.update(f"{getattr(v, 'path', getattr(v, 'name', ''))}|{value.dtype.str}|{value.shape}\n".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def inference_variables(model) -> list:
    """The variables that determine ``model``'s inference outputs, once each: Keras ``weights`` (kernels, biases,
    batch-norm statistics), without the dropout seed-generator states of ``variables``, which only change
    training-time masks."""
    from sbir_tf.models.fg import unique_variables

    return unique_variables(model.weights)


# ---------------------------------------------------------------------------------------------------- preprocessing


def evaluation_preprocess(images, image_size: int, load_size: int):
    """uint8 RGB ``[B, H, W, 3]`` (any ``H``, ``W``) -> float32 ``[B, S, S, 3]`` encoder input, the evaluation
    pipeline of :func:`sbir_tf.data.pipeline.image_dataset` applied to a batch: resize to ``load_size`` squared
    (:func:`~sbir_tf.data.preprocessing.resize_square`), the central ``image_size`` window
    (:func:`~sbir_tf.data.preprocessing.centre_offset`), Caffe/VGG preprocessing
    (:func:`~sbir_tf.data.preprocessing.vgg_preprocess`)."""
    from sbir_tf.data.preprocessing import centre_offset, resize_square, vgg_preprocess

    x = resize_square(images, int(load_size))
    off = centre_offset(int(load_size), int(image_size))
    x = x[:, off:off + int(image_size), off:off + int(image_size), :]
    return vgg_preprocess(x)


def normalize_features(features, mode: str):
    """The zero-shot feature normalisation ``features.normalize`` as a TF op: ``"none"`` or ``"l2"`` (each 512-d
    feature divided by ``max(||x||_2, 1e-12)``, as the run's ``l2_normalize_rows``)."""
    import tensorflow as tf

    if mode not in FEATURE_NORMALIZATIONS:
        raise ExportError(f"features.normalize must be one of {FEATURE_NORMALIZATIONS}, got {mode!r}")
    if mode == "none":
        return features
    norms = tf.sqrt(tf.reduce_sum(tf.square(features), axis=1, keepdims=True))
    return features / tf.maximum(norms, L2_EPSILON)


def _section(config: Mapping, key: str) -> Mapping:
    value = config.get(key) if config else None
    return value if isinstance(value, Mapping) else {}


def fine_grained_settings(model, config: Mapping | None) -> dict:
    """Image and crop size of a fine-grained run: ``data.image_size`` (must equal the encoders' input size) and
    ``data.load_size`` (``None``: ``round(S * 256 / 224)``, :func:`~sbir_tf.data.preprocessing.default_load_size`)."""
    from sbir_tf.data.preprocessing import default_load_size

    size = int(model.photo_encoder.input.shape[1])
    data = _section(config or {}, "data")
    if data.get("image_size") is not None and int(data["image_size"]) != size:
        raise ExportError(f"config data.image_size={data['image_size']} but the model's encoders take {size} px: "
                          "the config does not belong to this model")
    load = data.get("load_size")
    load = default_load_size(size) if load is None else int(load)
    if load < size:
        raise ExportError(f"data.load_size ({load}) must be >= data.image_size ({size})")
    return {"image_size": size, "load_size": load, "metric": "euclidean"}


def zero_shot_settings(config: Mapping | None) -> dict:
    """Feature-extractor settings of a zero-shot run, from its config: weights ``features.weights``; image size
    ``features.image_size`` on real data (``data.root`` / ``data.prepared_dir`` set) or
    ``features.synthetic_image_size`` on the offline synthetic set; ``features.load_size``; ``features.normalize``;
    retrieval metric ``eval.metric``."""
    from sbir_tf.data.preprocessing import default_load_size
    from sbir_tf.models import backbones

    feats, data = _section(config or {}, "features"), _section(config or {}, "data")
    if not feats:
        raise ExportError("a zero-shot export needs the run's config (its 'features' section: weights, image_size, "
                          f"load_size, normalize); {CONFIG_FILE} is missing or has none")
    weights = feats.get("weights")
    if weights is None:
        raise ExportError("features.weights is None (a randomly initialised VGG16): the run's feature extractor "
                          "cannot be rebuilt; export runs whose features came from a named or file weight source")
    try:
        backbones.check_weights_arg(weights)
    except ValueError as err:
        raise ExportError(f"features.weights: {err}") from err
    real = any(data.get(k) for k in ("root", "dir", "prepared_dir"))
    size = feats.get("image_size") if real or feats.get("synthetic_image_size") is None \
        else feats.get("synthetic_image_size")
    if size is None:
        raise ExportError("features.image_size is missing from the run's config")
    size = int(size)
    load = feats.get("load_size")
    load = default_load_size(size) if load is None else int(load)
    mode = feats.get("normalize") or "none"
    if mode not in FEATURE_NORMALIZATIONS:
        raise ExportError(f"features.normalize must be one of {FEATURE_NORMALIZATIONS}, got {mode!r}")
    metric = _section(config or {}, "eval").get("metric") or "euclidean"
    return {"image_size": size, "load_size": load, "weights": weights, "normalize": mode, "metric": metric}


# ---------------------------------------------------------------------------------------------------- export


def identity_settings(task: str, settings: Mapping) -> dict:
    """The export settings besides the weights that change an embedding: task, image and load size, and for the
    zero-shot model the feature normalisation. Hashed into ``model_id`` (:func:`weights_sha256`)."""
    out = {"task": task, "image_size": int(settings["image_size"]), "load_size": int(settings["load_size"])}
    if task == "zero_shot":
        out["normalize"] = settings["normalize"]
    return out


@dataclass
class _Endpoint:
    """What one SavedModel serves: ``fn(float32 preprocessed batch) -> embeddings`` and the objects it uses."""
    embed: Callable
    tracked: list
    variables: list


def _endpoints(model, config: Mapping | None) -> tuple[str, dict, dict[str, _Endpoint]]:
    PangModel, WADCMSN = _model_classes()
    if isinstance(model, PangModel):
        settings = fine_grained_settings(model, config)
        eps = {}
        for domain, encoder in (("sketch", model.sketch_encoder), ("photo", model.photo_encoder)):
            eps[domain] = _Endpoint(embed=lambda x, e=encoder: e(x, training=False), tracked=[encoder],
                                    variables=inference_variables(encoder))
        settings["embedding_dim"] = int(model.photo_encoder.output.shape[-1])
        settings["preprocessing"] = (f"resize to {settings['load_size']}x{settings['load_size']} (bilinear, "
                                     f"antialiased), central {settings['image_size']}x{settings['image_size']} crop, "
                                     "Caffe/VGG (BGR minus the ImageNet mean)")
        return "fine_grained", settings, eps
    if isinstance(model, WADCMSN):
        from sbir_tf.models.backbones import vgg16_feature_extractor

        settings = zero_shot_settings(config)
        extractor = vgg16_feature_extractor(settings["image_size"], weights=settings["weights"],
                                            name="vgg16_features")
        if int(extractor.output.shape[-1]) != model.visual_dim:
            raise ExportError(f"the VGG16 features are {extractor.output.shape[-1]}-d but the model takes "
                              f"{model.visual_dim}-d visual features")
        mode = settings["normalize"]
        eps = {}
        for domain, generator in (("sketch", model.g_sk), ("photo", model.g_im)):
            def embed(x, g=generator):
                return g(normalize_features(extractor(x, training=False), mode), training=False)
            eps[domain] = _Endpoint(embed=embed, tracked=[extractor, generator],
                                    variables=inference_variables(extractor) + inference_variables(generator))
        settings["embedding_dim"] = int(model.semantic_dim)
        settings["weights"] = str(settings["weights"])
        settings["preprocessing"] = (f"resize to {settings['load_size']}x{settings['load_size']} (bilinear, "
                                     f"antialiased), central {settings['image_size']}x{settings['image_size']} crop, "
                                     f"Caffe/VGG, VGG16 block5_conv3 + global average pooling "
                                     f"(weights {settings['weights']}), feature normalisation '{mode}'")
        return "zero_shot", settings, eps
    raise ExportError(f"cannot export a {type(model).__name__}: expected a PangModel or a WADCMSN")


def _write_saved_model(endpoint: _Endpoint, path: Path, image_size: int, load_size: int, xla: bool = True) -> None:
    """One SavedModel: uint8 images -> the evaluation preprocessing -> the encoder. With ``xla`` the encoder part
    (everything after the resize, whose antialiased kernel has no XLA version) is compiled with XLA when the
    SavedModel first sees a batch size (the README's Performance section gives the query latency); embeddings
    differ from the plain kernels' by float round-off."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    for obj in endpoint.tracked:
        archive.track(obj)
    encode = tf.function(lambda x: endpoint.embed(x), jit_compile=xla)

    def serve(images):
        x = evaluation_preprocess(images, image_size, load_size)
        return {"embedding": tf.cast(encode(x), tf.float32)}

    archive.add_endpoint("serving_default", serve,
                         input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    archive.write_out(str(path), verbose=False)


def tflite_preprocess(images, image_size: int, load_size: int):
    """uint8 RGB ``[B, L, L, 3]`` already resized to ``load_size`` -> the encoder input: the central ``image_size``
    crop and Caffe/VGG preprocessing (the second half of :func:`evaluation_preprocess`)."""
    from sbir_tf.data.preprocessing import centre_offset, vgg_preprocess

    off = centre_offset(int(load_size), int(image_size))
    x = images[:, off:off + int(image_size), off:off + int(image_size), :]
    return vgg_preprocess(x)


def _write_tflite(endpoint: _Endpoint, path: Path, image_size: int, load_size: int) -> None:
    """A TFLite model of ``endpoint`` taking uint8 ``[B, load_size, load_size, 3]``: TFLite (builtins and Flex)
    has no antialiased resize (``ScaleAndTranslate``), so the caller resizes to ``load_size`` first
    (:func:`sbir_tf.data.preprocessing.resize_square`, rounded to uint8); the model crops, preprocesses and
    embeds."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, load_size, load_size, 3], tf.uint8, name="images")])
    def serve(images):
        return {"embedding": tf.cast(endpoint.embed(tflite_preprocess(images, image_size, load_size)), tf.float32)}

    # Keras 3 variables are not frozen by the converter (the .tflite would read uninitialised resource
    # variables), so the weights are folded into constants first.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path.write_bytes(converter.convert())


def _replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished export ``tmp`` to ``out``; an existing ``out`` is replaced only if it is an export."""
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not (out / EXPORT_FILE).is_file()):
            raise ExportError(f"{out} exists and is not an export directory (no {EXPORT_FILE}); choose another --out")
        shutil.rmtree(out)
    os.replace(tmp, out)


def export_encoders(model, out_dir: str | os.PathLike, *, config: Mapping | None = None,
                    source_run: str | os.PathLike | None = None, source_model_sha256: str | None = None,
                    tflite: bool = False, xla: bool = True) -> dict:
    """Write the sketch and photo SavedModels (and ``export.json``, optionally TFLite files) of ``model`` to
    ``out_dir``; returns the ``export.json`` dict. ``config``: the run's config dict (``config.json``), which holds
    the preprocessing settings (required for zero-shot models). ``xla``: compile the encoders (after the resize)
    with XLA."""
    task, settings, eps = _endpoints(model, config)
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for domain in DOMAINS:
            _write_saved_model(eps[domain], tmp / f"{domain}_encoder", settings["image_size"], settings["load_size"],
                               xla=xla)
        tflite_files = []
        if tflite:
            for domain in DOMAINS:
                name = f"{domain}_encoder.tflite"
                _write_tflite(eps[domain], tmp / name, settings["image_size"], settings["load_size"])
                tflite_files.append(name)
        variables = eps["sketch"].variables + [v for v in eps["photo"].variables
                                               if id(v) not in {id(u) for u in eps["sketch"].variables}]
        model_id = weights_sha256(variables, identity_settings(task, settings))
        info = {"format": EXPORT_FORMAT, "task": task, "model_id": model_id,
                "image_size": settings["image_size"], "embedding_dim": settings["embedding_dim"],
                "metric": settings["metric"], "source_run": None if source_run is None else str(source_run),
                "config": dict(config) if config else {},
                "load_size": settings["load_size"], "preprocessing": settings["preprocessing"],
                "signature": {"name": "serving_default", "inputs": {"images": "uint8 [None, None, None, 3]"},
                              "outputs": {"embedding": f"float32 [None, {settings['embedding_dim']}]"}},
                "source_model_sha256": source_model_sha256, "tflite": tflite_files, "xla": bool(xla)}
        if task == "zero_shot":
            info["features"] = {k: settings[k] for k in ("weights", "normalize")}
        (tmp / EXPORT_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return info


def read_run_config(run_dir: str | os.PathLike) -> dict:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
               tflite: bool = False, xla: bool = True) -> dict:
    """Export the model of a finished run (``RUN_DIR/model.keras`` + ``config.json``) to ``out_dir``
    (default ``RUN_DIR/export``); returns the ``export.json`` dict."""
    run_dir = Path(run_dir)
    model = load_run_model(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / EXPORT_DIRNAME
    return export_encoders(model, out, config=read_run_config(run_dir), source_run=run_dir.resolve(),
                           source_model_sha256=file_sha256(run_dir / MODEL_FILE), tflite=tflite,
                           xla=xla)


# ---------------------------------------------------------------------------------------------------- loading


@dataclass
class Encoders:
    """Exported sketch and photo encoders: uint8 ``[B, H, W, 3]`` RGB images -> float32 ``[B, D]`` embeddings."""
    path: Path
    info: dict
    _serving: dict = field(repr=False, default_factory=dict)

    def _embed(self, domain: str, images) -> np.ndarray:
        import tensorflow as tf

        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise ValueError(f"{domain} images must be uint8 RGB in [0, 255], got dtype {images.dtype} "
                             "(convert with np.clip(x, 0, 255).astype(np.uint8))")
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"{domain} images must have shape [B, H, W, 3], got {images.shape} (a single image: "
                             "images[None])")
        if len(images) == 0:
            return np.zeros((0, int(self.info["embedding_dim"])), np.float32)
        fn = self._serving[domain]
        out = [fn(images=tf.constant(images[i:i + ENCODE_BATCH]))["embedding"].numpy()
               for i in range(0, len(images), ENCODE_BATCH)]
        return np.concatenate(out).astype(np.float32, copy=False)

    def sketch(self, images) -> np.ndarray:
        """Sketch embeddings (the query encoder)."""
        return self._embed("sketch", images)

    def photo(self, images) -> np.ndarray:
        """Photo embeddings (the gallery encoder)."""
        return self._embed("photo", images)


def _read_export(path: Path) -> Encoders:
    import tensorflow as tf

    info = json.loads((path / EXPORT_FILE).read_text())
    if info.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{path / EXPORT_FILE} has format {info.get('format')!r}, this version reads format "
                          f"{EXPORT_FORMAT}: export the run again")
    serving = {}
    for domain in DOMAINS:
        saved = path / f"{domain}_encoder"
        if not saved.is_dir():
            raise ExportError(f"{saved} is missing: export the run again")
        serving[domain] = tf.saved_model.load(str(saved)).signatures["serving_default"]
    return Encoders(path=path, info=info, _serving=serving)


def load_encoders(path: str | os.PathLike) -> Encoders:
    """Encoders from an export directory (with ``export.json``) or a run directory (with ``model.keras``).

    A run directory is exported once into ``RUN_DIR/export/``; that export is reused while its
    ``source_model_sha256`` equals the current ``model.keras``'s and redone when the model has changed.
    """
    path = Path(path)
    if (path / EXPORT_FILE).is_file():
        return _read_export(path)
    if (path / MODEL_FILE).is_file():
        export_dir = path / EXPORT_DIRNAME
        current = file_sha256(path / MODEL_FILE)
        if (export_dir / EXPORT_FILE).is_file():
            stored = json.loads((export_dir / EXPORT_FILE).read_text()).get("source_model_sha256")
            if stored == current:
                return _read_export(export_dir)
        export_run(path, export_dir)
        return _read_export(export_dir)
    raise ExportError(f"{path} is neither an export directory (no {EXPORT_FILE}) nor a run directory (no "
                      f"{MODEL_FILE}): pass the --out directory of 'python -m sbir_tf.export' or a finished run")


# ---------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sbir_tf.export", description=(
        "Export a finished run's sketch and photo encoders as TF SavedModels (uint8 images of any size -> "
        "embeddings), with export.json and optionally TFLite files."))
    parser.add_argument("run_dir", help="run directory holding model.keras and config.json")
    parser.add_argument("--out", default=None, help="export directory (default: RUN_DIR/export)")
    parser.add_argument("--tflite", action="store_true", help="also write sketch_encoder.tflite / photo_encoder.tflite")
    parser.add_argument("--no_xla", action="store_true",
                        help="do not compile the encoders with XLA (by default they are: about half the CPU latency)")
    args = parser.parse_args(argv)
    try:
        info = export_run(args.run_dir, args.out, tflite=args.tflite, xla=not args.no_xla)
    except (ExportError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.run_dir) / EXPORT_DIRNAME
    print(json.dumps({"out": str(out), **{k: info[k] for k in ("task", "model_id", "image_size", "embedding_dim",
                                                                "metric", "tflite")}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
