"""Keras models of both papers: registered classes, config round trips, ``.keras`` save/reload (tiny sizes)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from sbir_tf.models import pretrained
from sbir_tf.models.fg import (FGClassifier, FGDecoder, FGEncoder, PangModel, build_fg_model, pang_model)
from sbir_tf.models.wadcmsn import MLP, WADCMSN
from tests.helpers import assert_config_round_trip, assert_keras_reload

#: Tiny fine-grained model: 32 px, fc_dims (32,), embedding 16, decoder 16/8.
TINY = {"weights": None, "fc_dims": (32,), "embedding_dim": 16, "decoder_channels": (16, 8, 8, 8, 8, 8),
        "dropout": 0.5}
SHARINGS = ("siamese", "heterogeneous", "hybrid", "hybrid_fc")


def _images(n=3, size=32, seed=0):
    return np.random.default_rng(seed).uniform(-120, 120, (n, size, size, 3)).astype("float32")


def _fg_outputs(model):
    """Everything the model computes in inference: both embeddings, the logits and the reconstruction."""
    x = _images()
    out = model.forward(x, _images(seed=1), _images(seed=2))
    parts = [out["emb_sketch"], out["emb_positive"], out["emb_negative"], out["logits_sketch"]]
    if out["recon_from_sketch"] is not None:
        parts.append(np.reshape(out["recon_from_sketch"], (len(x), -1)))
    return np.concatenate([np.asarray(p) for p in parts], axis=1)


def _shared_variable_ids(model):
    sketch = {id(v) for v in model.sketch_encoder.weights}
    return sketch & {id(v) for v in model.photo_encoder.weights}


def _shared_layer_names(model):
    by_id = {id(v): v for v in model.sketch_encoder.weights}
    return {by_id[i].path.split("/")[-2] for i in _shared_variable_ids(model)}


def test_parts_are_registered_under_sbir_tf():
    for cls in (FGEncoder, FGDecoder, FGClassifier, PangModel, WADCMSN, MLP):
        assert keras.saving.get_registered_name(cls) == f"sbir_tf>{cls.__name__}"


def test_encoder_config_echoes_its_arguments_and_round_trips():
    enc = FGEncoder(image_size=32, embedding_dim=16, fc_dims=(32,), dropout=0.25, pooling="gap", frozen_blocks=2,
                    name="enc")
    config = enc.get_config()
    assert {k: config[k] for k in ("backbone", "image_size", "embedding_dim", "fc_dims", "dropout", "pooling",
                                   "frozen_blocks", "tie")} == {
        "backbone": "vgg16", "image_size": 32, "embedding_dim": 16, "fc_dims": [32], "dropout": 0.25,
        "pooling": "gap", "frozen_blocks": 2, "tie": None}
    clone = assert_config_round_trip(enc)
    assert not clone.trunk.get_layer("block2_conv2").trainable and clone.trunk.get_layer("block3_conv1").trainable
    assert clone.head.get_layer("fc1").kernel.shape == (512, 32)  # gap: 512-d input at every size
    assert clone(_images()).shape == (3, 16)


def test_decoder_and_classifier_round_trip():
    dec = FGDecoder(32, 16, (16, 8, 8, 8, 8, 8), 4)
    clone = assert_config_round_trip(dec)
    assert clone(np.zeros((2, 16), "float32")).shape == (2, 32, 32, 3)
    cls = FGClassifier(5, 16)
    assert assert_config_round_trip(cls)(np.zeros((2, 16), "float32")).shape == (2, 5)


#: Layers the sketch encoder shares with the photo encoder (Table 4 / Sec. 3.3, Pang et al. 2017).
SHARED = {"heterogeneous": set(), "hybrid": {"embedding"}, "hybrid_fc": {"fc1", "embedding"}}


@pytest.mark.parametrize("sharing", SHARINGS)
def test_pang_model_config_round_trip_keeps_the_sharing(sharing):
    model = pang_model({**TINY, "sharing": sharing}, num_classes=4, image_size=32)
    clone = assert_config_round_trip(model)
    if sharing == "siamese":
        assert clone.sketch_encoder is clone.photo_encoder and model.get_config()["photo_encoder"] is None
    else:
        assert clone.sketch_encoder is not clone.photo_encoder
        assert _shared_layer_names(clone) == _shared_layer_names(model) == SHARED[sharing]
    assert len(clone.encoder_variables) == len(model.encoder_variables)
    assert clone.config["sharing"] == sharing


def test_a_tied_encoder_rebuilt_alone_gets_layers_of_its_own():
    model = pang_model({**TINY, "sharing": "hybrid"}, num_classes=3, image_size=32)
    alone = FGEncoder.from_config(model.sketch_encoder.get_config())
    assert alone.tie == "embedding"
    assert alone.head.get_layer("embedding") is not model.photo_encoder.head.get_layer("embedding")
    assert alone(_images()).shape == (3, 16)


@pytest.mark.parametrize("sharing", SHARINGS)
def test_keras_reload_is_identical_in_every_sharing_mode(tmp_path, sharing):
    keras.utils.set_random_seed(3)
    model = build_fg_model({**TINY, "sharing": sharing}, num_classes=4, image_size=32)
    reloaded, diff = assert_keras_reload(model, tmp_path, _fg_outputs)
    assert diff == 0.0  # embeddings, logits and reconstructions: max abs difference 0.0
    assert isinstance(reloaded.sketch_encoder, FGEncoder) and isinstance(reloaded.decoder, FGDecoder)
    assert (reloaded.sketch_encoder is reloaded.photo_encoder) == (sharing == "siamese")
    assert len(_shared_variable_ids(reloaded)) == len(_shared_variable_ids(model))
    # the reloaded tie is real: changing the shared embedding layer changes both domains' embeddings
    if sharing in ("hybrid", "hybrid_fc"):
        x = _images()
        before = np.asarray(reloaded.embed_photo(x))
        kernel = reloaded.sketch_encoder.head.get_layer("embedding").kernel
        kernel.assign(-kernel.numpy())
        np.testing.assert_allclose(np.asarray(reloaded.embed_photo(x)), -before, atol=1e-6)


def test_keras_reload_keeps_frozen_blocks_and_metadata(tmp_path):
    model = build_fg_model({**TINY, "frozen_blocks": 2, "use_decoder": False}, num_classes=3, image_size=32)
    reloaded, _ = assert_keras_reload(model, tmp_path, _fg_outputs)
    assert len(reloaded.encoder_variables) == len(model.encoder_variables) == 30 - 8
    assert reloaded.decoder is None and reloaded.decoder_variables == []
    assert reloaded.config == {**model.config, "fc_dims": [32], "decoder_channels": [16, 8, 8, 8, 8, 8]}


def test_keras_reload_of_the_googlenet_backbone(tmp_path):
    model = build_fg_model({"backbone": "googlenet", "weights": None, "embedding_dim": 16, "use_decoder": False},
                           num_classes=3, image_size=32)
    reloaded, diff = assert_keras_reload(model, tmp_path, _fg_outputs)
    assert diff == 0.0 and reloaded.sketch_encoder.backbone == "googlenet"
    assert reloaded.sketch_encoder.head.get_layer("embedding").kernel.shape == (1024, 16)


def test_from_config_reads_no_weight_file(tmp_path):
    """The weight source is metadata only: a config naming a file that no longer exists still rebuilds."""
    src = FGEncoder(image_size=32, embedding_dim=16, fc_dims=(32,), name="src")
    path = tmp_path / "src.weights.h5"
    src.save_weights(path)
    model = build_fg_model({**TINY, "weights": str(path), "use_decoder": False}, num_classes=3, image_size=32)
    assert "block1_conv1" in model.loaded_layers["photo"]
    np.testing.assert_array_equal(model.photo_encoder.trunk.get_layer("block3_conv1").kernel.numpy(),
                                  src.trunk.get_layer("block3_conv1").kernel.numpy())
    path.unlink()
    clone = PangModel.from_config(model.get_config())
    assert clone.config["weights"] == str(path)
    assert not np.array_equal(clone.photo_encoder.trunk.get_layer("block3_conv1").kernel.numpy(),
                              src.trunk.get_layer("block3_conv1").kernel.numpy())


def test_load_pretrained_applies_sketch_weights_to_the_sketch_trunk_only(tmp_path):
    a = FGEncoder(image_size=32, embedding_dim=16, fc_dims=(32,), name="a")
    b = FGEncoder(image_size=32, embedding_dim=16, fc_dims=(32,), name="b")
    model = pang_model({**TINY, "sharing": "heterogeneous", "use_decoder": False}, num_classes=3, image_size=32)
    read = {name: pretrained.read_weights("vgg16", _save(enc, tmp_path / f"{name}.weights.h5"))
            for name, enc in (("a", a), ("b", b))}
    loaded = pretrained.load_pretrained(model, read["a"], read["b"])
    assert loaded == model.loaded_layers and "fc1" in loaded["sketch"] and "embedding" not in loaded["sketch"]
    for encoder, source in ((model.photo_encoder, a), (model.sketch_encoder, b)):
        np.testing.assert_array_equal(encoder.trunk.get_layer("block5_conv3").kernel.numpy(),
                                      source.trunk.get_layer("block5_conv3").kernel.numpy())
        np.testing.assert_array_equal(encoder.head.get_layer("fc1").kernel.numpy(),
                                      source.head.get_layer("fc1").kernel.numpy())


def _save(encoder, path):
    encoder.save_weights(path)
    return str(path)


def test_wadcmsn_config_round_trip_and_keras_reload(tmp_path):
    model = WADCMSN(3, visual_dim=16, semantic_dim=8, generator_hidden=[12], critic_hidden=[6], name="wadcmsn")
    clone = assert_config_round_trip(model)
    assert clone.get_config()["generator_hidden"] == [12] and clone.num_seen_classes == 3
    x = np.random.default_rng(0).normal(size=(5, 16)).astype("float32")
    s = np.random.default_rng(1).normal(size=(5, 8)).astype("float32")

    def outputs(m):  # every network: both generators, both regenerators, the three critics, the classifier
        parts = [m.g_sk(x), m.g_im(x), m.f_sk(s), m.f_im(s), m.critic_se(s), m.critic_sk(x), m.critic_im(x),
                 m.classifier(s)]
        return np.concatenate([np.asarray(p) for p in parts], axis=1)

    reloaded, diff = assert_keras_reload(model, tmp_path, outputs)
    assert diff == 0.0
    np.testing.assert_array_equal(reloaded.embed_sketches(x), model.embed_sketches(x))
    assert {id(v) for v in reloaded.generator_variables}.isdisjoint({id(v) for v in reloaded.critic_variables})
    assert len(reloaded.generator_variables) == len(model.generator_variables) == 4 * 4 + 2


def test_a_mixed_precision_model_reloads_with_its_own_compute_dtypes(tmp_path):
    """Built under mixed_bfloat16, reloaded while the global policy is float32: the same bfloat16 compute, identical
    outputs (a float32 rebuild differs by about 4e-3 on these embeddings)."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_fg_model({**TINY, "sharing": "hybrid"}, num_classes=3, image_size=32)
        zs = WADCMSN(3, visual_dim=16, semantic_dim=8, generator_hidden=[12], critic_hidden=[6])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    reloaded, diff = assert_keras_reload(model, tmp_path / "fg", _fg_outputs)
    assert diff == 0.0 and keras.mixed_precision.global_policy().name == "float32"
    assert reloaded.sketch_encoder.trunk.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert reloaded.photo_encoder.head.get_layer("l2_normalize").compute_dtype == "float32"
    x = np.random.default_rng(0).normal(size=(4, 16)).astype("float32")
    zs_reloaded, _ = assert_keras_reload(zs, tmp_path / "zs", lambda m: m.embed_sketches(x))
    assert zs_reloaded.g_sk.hidden_layers[0].compute_dtype == "bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32"
