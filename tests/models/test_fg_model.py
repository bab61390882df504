"""Fine-grained model of Pang et al. 2017: decoder (Table 1), weight sharing (Table 4), variants (Table 3)."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from sbir_tf.config import Config
from sbir_tf.models.fg import L2Normalize, build_decoder, build_encoder, build_fg_model, decoder_plan

SMALL = {"weights": None, "fc_dims": (32, 32)}


def _images(size=32, n=2, seed=0):
    return np.random.default_rng(seed).uniform(-100, 100, size=(n, size, size, 3)).astype("float32")


def _shared(model):
    sketch = {id(v) for v in model.sketch_encoder.trainable_variables}
    photo = {id(v) for v in model.photo_encoder.trainable_variables}
    return sketch & photo, sketch, photo


def test_decoder_matches_table1_at_224():
    dec = build_decoder(224)
    expected = [
        ("decoder_seed", (7, 7, 512)),
        ("deconv1", (14, 14, 512)), ("deconv2", (28, 28, 256)), ("deconv3", (56, 56, 128)),
        ("deconv4", (112, 112, 64)), ("deconv5", (224, 224, 32)), ("decoder_output", (224, 224, 3)),
    ]
    names = [l.name for l in dec.layers]
    positions = [names.index(n) for n, _ in expected]
    assert positions == sorted(positions)
    for name, shape in expected:
        assert tuple(dec.get_layer(name).output.shape[1:]) == shape, name
    for i in range(1, 6):
        layer = dec.get_layer(f"deconv{i}")
        assert layer.kernel_size == (4, 4) and layer.strides == (2, 2)
        assert names[names.index(f"deconv{i}") + 1] == f"deconv{i}_bn"
        assert names[names.index(f"deconv{i}") + 2] == f"deconv{i}_relu"
    out = dec.get_layer("decoder_output")
    assert out.strides == (1, 1) and out.kernel_size == (4, 4) and out.activation.__name__ == "tanh"
    assert names[-1] == "decoder_output"  # no batch norm after the last layer


def test_decoder_at_112_is_table1_truncated_at_that_resolution():
    """112 px = 7 x 16: Table 1's layers from the 7x7x512 seed up to 112x112x64, then the 3-channel output."""
    assert decoder_plan(112) == (7, 4) and decoder_plan(224) == (7, 5) and decoder_plan(64) == (2, 5)
    dec = build_decoder(112, embedding_dim=16)
    assert tuple(dec.get_layer("decoder_seed").output.shape[1:]) == (7, 7, 512)
    deconvs = [layer for layer in dec.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert [layer.name for layer in deconvs] == ["deconv1", "deconv2", "deconv3", "deconv4", "decoder_output"]
    assert [tuple(layer.output.shape[1:]) for layer in deconvs[:-1]] == [(14, 14, 512), (28, 28, 256),
                                                                          (56, 56, 128), (112, 112, 64)]
    assert tuple(dec.get_layer("decoder_output").output.shape[1:]) == (112, 112, 3)
    with pytest.raises(ValueError):
        dec.get_layer("deconv5")


def test_decoder_scales_to_64_and_rejects_bad_sizes():
    dec = build_decoder(64, embedding_dim=16, channels=(32, 32, 16, 16, 8, 8))
    assert tuple(dec.get_layer("decoder_seed").output.shape[1:]) == (2, 2, 32)
    y = dec(np.random.default_rng(0).normal(size=(2, 16)).astype("float32")).numpy()
    assert y.shape == (2, 64, 64, 3) and np.abs(y).max() <= 1.0
    with pytest.raises(ValueError, match="multiple of 16"):
        build_decoder(100)
    with pytest.raises(ValueError, match="6 numbers"):
        build_decoder(64, channels=(8, 8))


#: Per sharing mode (Table 4, Sec. 3.3), the variables that are the *same objects* in both encoders, by layer.
SHARED_LAYERS = {
    "heterogeneous": set(),
    "hybrid": {"embedding"},                  # "only tied at the joint embedding layer"
    "hybrid_fc": {"fc1", "fc2", "embedding"},
}
CONVS = [f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for c in range(1, n + 1)]


def _layer_of(variable) -> str:
    return variable.path.split("/")[-2]


@pytest.mark.parametrize("sharing", ["siamese", "heterogeneous", "hybrid", "hybrid_fc"])
def test_sharing_strategies_share_exactly_the_expected_variables(sharing):
    model = build_fg_model({**SMALL, "sharing": sharing, "use_decoder": False}, num_classes=4, image_size=32)
    shared, sketch, photo = _shared(model)
    per_encoder = 13 * 2 + 3 * 2  # 13 convs + fc1, fc2, embedding (kernel + bias)
    assert len(sketch) == len(photo) == per_encoder
    all_layers = set(CONVS) | {"fc1", "fc2", "embedding"}
    if sharing == "siamese":
        assert model.sketch_encoder is model.photo_encoder and len(shared) == per_encoder
        expected = all_layers
    else:
        assert model.sketch_encoder is not model.photo_encoder
        expected = SHARED_LAYERS[sharing]
        assert len(shared) == 2 * len(expected)
    by_id = {id(v): v for v in model.sketch_encoder.trainable_variables}
    shared_vars = [by_id[i] for i in shared]
    assert {_layer_of(v) for v in shared_vars} == expected
    assert sorted(v.path.split("/")[-1] for v in shared_vars) == sorted(["kernel", "bias"] * len(expected))
    assert len(model.encoder_variables) == 2 * per_encoder - len(shared)
    x = _images()
    emb_s, emb_p = model.embed_sketch(x).numpy(), model.embed_photo(x).numpy()
    assert np.allclose(emb_s, emb_p) == (sharing == "siamese")


def _zero(layer_owner, names):
    for name in names:
        for v in layer_owner.get_layer(name).weights:
            v.assign(np.zeros(v.shape, v.dtype))


@pytest.mark.parametrize("sharing", ["heterogeneous", "hybrid", "hybrid_fc"])
def test_sketches_go_through_the_sketch_trunk_and_photos_through_the_photo_trunk(sharing):
    """Zero one trunk's weights: only the embeddings of that domain change, in the encoders and in a triplet pass."""
    model = build_fg_model({**SMALL, "sharing": sharing, "use_decoder": False}, num_classes=3, image_size=32)
    s, p, n = _images(seed=1), _images(seed=2), _images(seed=3)
    before = {k: v.numpy() for k, v in model.forward(s, p, n).items() if k.startswith("emb")}
    _zero(model.sketch_encoder.get_layer("sketch_trunk"), CONVS)
    after = {k: v.numpy() for k, v in model.forward(s, p, n).items() if k.startswith("emb")}
    assert not np.allclose(after["emb_sketch"], before["emb_sketch"])
    np.testing.assert_array_equal(after["emb_positive"], before["emb_positive"])
    np.testing.assert_array_equal(after["emb_negative"], before["emb_negative"])
    # the triplet pass embeds positives stacked with negatives, a batch of another size: the kernels may sum in
    # another order, so equal up to float32 rounding (a wrong trunk moves unit-norm embeddings by ~1e-2)
    np.testing.assert_allclose(model.embed_photo(p).numpy(), before["emb_positive"], rtol=0, atol=1e-6)
    _zero(model.photo_encoder.get_layer("photo_trunk"), CONVS)
    final = {k: v.numpy() for k, v in model.forward(s, p, n).items() if k.startswith("emb")}
    np.testing.assert_array_equal(final["emb_sketch"], after["emb_sketch"])
    assert not np.allclose(final["emb_positive"], after["emb_positive"])


@pytest.mark.parametrize("sharing, photo_changes", [("heterogeneous", False), ("hybrid", False),
                                                    ("hybrid_fc", True)])
def test_fc_layers_are_shared_only_by_hybrid_fc(sharing, photo_changes):
    """Zeroing the sketch branch's fc1 changes photo embeddings only where fc1 is shared (hybrid_fc)."""
    model = build_fg_model({**SMALL, "sharing": sharing, "use_decoder": False}, num_classes=3, image_size=32)
    x = _images(seed=4)
    photo_before, sketch_before = model.embed_photo(x).numpy(), model.embed_sketch(x).numpy()
    head = [layer for layer in model.sketch_encoder.layers if layer.name.endswith("_head")][0]
    head.get_layer("fc1").bias.assign(np.full(head.get_layer("fc1").bias.shape, -1e6, np.float32))  # ReLU -> 0
    assert not np.allclose(model.embed_sketch(x).numpy(), sketch_before)
    assert (not np.allclose(model.embed_photo(x).numpy(), photo_before)) == photo_changes


@pytest.mark.parametrize("sharing, photo_changes", [("heterogeneous", False), ("hybrid", True),
                                                    ("hybrid_fc", True)])
def test_embedding_layer_is_tied_by_both_hybrids(sharing, photo_changes):
    model = build_fg_model({**SMALL, "sharing": sharing, "use_decoder": False}, num_classes=3, image_size=32)
    x = _images(seed=5)
    photo_before = model.embed_photo(x).numpy()
    head = [layer for layer in model.sketch_encoder.layers if layer.name.endswith("_head")][0]
    kernel = head.get_layer("embedding").kernel
    kernel.assign(-kernel.numpy())  # flips the sign of every embedding of the branches that use this layer
    np.testing.assert_allclose(model.embed_photo(x).numpy(), -photo_before if photo_changes else photo_before,
                               atol=1e-6)


def test_forward_outputs_embeddings_logits_and_reconstructions():
    model = build_fg_model({**SMALL, "embedding_dim": 16, "decoder_channels": (16, 16, 8, 8, 8, 8)},
                           num_classes=5, image_size=32)
    x = _images()
    out = model.forward(x, x[::-1], x, training=True)
    for k in ("emb_sketch", "emb_positive", "emb_negative"):
        assert out[k].shape == (2, 16) and out[k].dtype == tf.float32
        np.testing.assert_allclose(np.linalg.norm(out[k].numpy(), axis=1), 1.0, rtol=1e-5)
    assert out["logits_sketch"].shape == (2, 5)
    assert out["recon_from_sketch"].shape == out["recon_from_positive"].shape == (2, 32, 32, 3)
    groups = [model.encoder_variables, model.classifier_variables, model.decoder_variables]
    ids = [{id(v) for v in g} for g in groups]
    assert all(len(a & b) == 0 for i, a in enumerate(ids) for b in ids[i + 1:])
    assert len(model.classifier_variables) == 2 and len(model.decoder_variables) == 21


def test_no_decoder_variant_and_googlenet_backbone():
    model = build_fg_model({"backbone": "googlenet", "weights": None, "use_decoder": False}, num_classes=3,
                           image_size=64)
    assert model.decoder is None and model.decoder_variables == []
    out = model.forward(_images(64), _images(64), _images(64))
    assert out["emb_sketch"].shape == (2, 256) and out["recon_from_sketch"] is None
    head = model.sketch_encoder.get_layer("shared_head")
    assert head.get_layer("embedding").kernel.shape == (1024, 256)


def test_bad_config_raises_before_building(tmp_path):
    for bad, match in [({"sharing": "pseudo"}, "unknown sharing"), ({"backbone": "resnet"}, "unknown backbone"),
                       ({"weights": "imagenet22k"}, "unknown weights"), ({"pooling": "max"}, "unknown pooling"),
                       ({"embeding_dim": 3}, "unknown model config keys"),
                       ({"backbone": "googlenet", "weights": "hed"}, "googlenet")]:
        with pytest.raises(ValueError, match=match):
            build_fg_model({**SMALL, **bad}, num_classes=3, image_size=32)
    with pytest.raises(ValueError, match="multiple of 16"):
        build_fg_model(SMALL, num_classes=3, image_size=40)
    with pytest.raises(ValueError, match="siamese"):
        build_fg_model({**SMALL, "sketch_weights": "hed"}, num_classes=3, image_size=32)


def test_wrong_shape_weights_file_raises(tmp_path):
    # same names, wrong conv shapes: a trunk built for grayscale-like 1-channel inputs
    inputs = keras.Input((32, 32, 1))
    bad = keras.Model(inputs, keras.layers.Conv2D(64, 3, padding="same", name="block1_conv1")(inputs))
    path = tmp_path / "bad.weights.h5"
    bad.save_weights(path)
    with pytest.raises(ValueError, match="block1_conv1"):
        build_fg_model({**SMALL, "weights": str(path)}, num_classes=3, image_size=32)


def test_weights_file_loads_conv_and_fc_layers(tmp_path):
    src = build_encoder(SMALL, image_size=32, name="src")
    path = tmp_path / "encoder.weights.h5"
    src.save_weights(path)
    model = build_fg_model({**SMALL, "weights": str(path), "sharing": "hybrid"}, num_classes=3, image_size=32)
    assert set(model.loaded_layers["sketch"]) >= {"block1_conv1", "fc1", "fc2"}
    x = _images()
    # "embedding" is a new layer (not a VGG16 layer) so it starts random: compare up to fc2
    for enc in (model.sketch_encoder, model.photo_encoder):
        head_name = [l.name for l in enc.layers if "head" in l.name][0]
        trunk_name = [l.name for l in enc.layers if "trunk" in l.name][0]
        for name in ("fc1", "fc2"):
            np.testing.assert_array_equal(enc.get_layer(head_name).get_layer(name).kernel.numpy(),
                                          src.get_layer("src_head").get_layer(name).kernel.numpy())
        np.testing.assert_allclose(enc.get_layer(trunk_name)(x), src.get_layer("src_trunk")(x), rtol=1e-5, atol=1e-4)


def test_hed_weights_in_fg_model():
    model = build_fg_model(Config({**SMALL, "weights": "hed", "use_decoder": False}), num_classes=3, image_size=32)
    assert "block5_conv3" in model.loaded_layers["photo"] and "fc1" not in model.loaded_layers["photo"]


@pytest.mark.parametrize("sharing", ["hybrid", "hybrid_fc"])
def test_checkpoint_round_trip(tmp_path, sharing):
    a = build_fg_model({**SMALL, "sharing": sharing, "decoder_channels": (8,) * 6}, num_classes=3, image_size=32)
    path = tf.train.Checkpoint(model=a).save(str(tmp_path / "ck"))
    b = build_fg_model({**SMALL, "sharing": sharing, "decoder_channels": (8,) * 6}, num_classes=3, image_size=32)
    tf.train.Checkpoint(model=b).restore(path).assert_existing_objects_matched()
    x = _images()
    np.testing.assert_allclose(a.embed_sketch(x), b.embed_sketch(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.embed_photo(x), b.embed_photo(x), rtol=1e-5, atol=1e-6)
    assert a.config["sharing"] == sharing


def test_mixed_precision_outputs_are_float32():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_fg_model({**SMALL, "decoder_channels": (8,) * 6}, num_classes=3, image_size=32)
        out = model.forward(_images(), _images(), _images())
        for key in ("emb_sketch", "logits_sketch", "recon_from_sketch"):
            assert out[key].dtype == tf.float32, key
        np.testing.assert_allclose(np.linalg.norm(out["emb_sketch"].numpy(), axis=1), 1.0, rtol=1e-3)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_l2_normalize_config_round_trip():
    layer = L2Normalize(axis=-1, epsilon=1e-6, name="l2")
    clone = L2Normalize.from_config(layer.get_config())
    assert clone.epsilon == 1e-6 and clone.dtype_policy.name == "float32"
    x = np.array([[3.0, 4.0], [0.0, 0.0]], "float32")
    np.testing.assert_allclose(clone(x), [[0.6, 0.8], [0.0, 0.0]])


def test_imagenet_fc_layers_load_only_where_shapes_fit(monkeypatch):
    """Offline stand-in for the ImageNet download: fc1 fits only 224 px inputs, fc2 fits at every size."""
    from sbir_tf.models import backbones

    rng = np.random.default_rng(0)
    fake = dict(backbones.read_hed_weights())
    fake["fc1"] = [rng.normal(size=(7 * 7 * 512, 32)).astype("float32"), np.zeros(32, "float32")]
    fake["fc2"] = [rng.normal(size=(32, 32)).astype("float32"), np.ones(32, "float32")]
    calls = []
    monkeypatch.setattr(backbones, "imagenet_vgg16_weights", lambda include_top=False: calls.append(include_top) or fake)
    model = build_fg_model({**SMALL, "weights": "imagenet", "use_decoder": False}, num_classes=3, image_size=32)
    assert calls == [True]
    loaded = model.loaded_layers["photo"]
    assert "fc2" in loaded and "fc1" not in loaded and "block1_conv1" in loaded
    head = model.photo_encoder.get_layer("shared_head")
    np.testing.assert_array_equal(head.get_layer("fc2").kernel.numpy(), fake["fc2"][0])


@pytest.mark.parametrize("sharing", ["siamese", "heterogeneous"])
def test_stacked_triplet_embedding_equals_separate_calls(sharing):
    """``embed_triplet`` stacks the encoder calls for speed; the embeddings must equal one call per branch."""
    model = build_fg_model({**SMALL, "sharing": sharing, "use_decoder": False}, num_classes=3, image_size=32)
    rng = np.random.default_rng(1)
    s, p, n = (rng.normal(size=(2, 32, 32, 3)).astype("float32") for _ in range(3))
    z_s, z_p, z_n = model.embed_triplet(s, p, n, training=False)
    np.testing.assert_allclose(z_s, model.embed_sketch(s), atol=1e-5)
    np.testing.assert_allclose(z_p, model.embed_photo(p), atol=1e-5)
    np.testing.assert_allclose(z_n, model.embed_photo(n), atol=1e-5)


def _conv_kernels(encoder, names):
    trunk = [layer for layer in encoder.layers if layer.name.endswith("_trunk")][0]
    return {name: trunk.get_layer(name).kernel for name in names}


FROZEN_2 = CONVS[:4]  # blocks 1 and 2: block1_conv1, block1_conv2, block2_conv1, block2_conv2


@pytest.mark.parametrize("sharing", ["siamese", "heterogeneous", "hybrid"])
def test_frozen_blocks_leave_the_trainable_variables_of_every_trunk(sharing):
    """k=2: the 4 conv layers of blocks 1-2 (kernel + bias) leave each trunk's trainable variables, in both trunks
    when there are two; the variables stay in the model (and so in checkpoints)."""
    cfg = {**SMALL, "sharing": sharing, "use_decoder": False}
    full = build_fg_model(cfg, num_classes=3, image_size=32)
    frozen = build_fg_model({**cfg, "frozen_blocks": 2}, num_classes=3, image_size=32)
    trunks = 1 if sharing == "siamese" else 2
    assert len(full.encoder_variables) - len(frozen.encoder_variables) == trunks * 4 * 2
    assert {_layer_of(v) for v in frozen.encoder_variables} & set(FROZEN_2) == set()
    assert {_layer_of(v) for v in frozen.encoder_variables} >= set(CONVS[4:])
    assert len(frozen.sketch_encoder.variables) == len(full.sketch_encoder.variables)
    for encoder in (frozen.sketch_encoder, frozen.photo_encoder):
        assert [n for n, v in _conv_kernels(encoder, CONVS).items() if not v.trainable] == FROZEN_2
    assert frozen.config["frozen_blocks"] == 2 and full.config["frozen_blocks"] == 0


def test_frozen_block_weights_round_trip_through_a_checkpoint(tmp_path):
    cfg = {**SMALL, "frozen_blocks": 2, "use_decoder": False}
    keras.utils.set_random_seed(0)
    a = build_fg_model(cfg, num_classes=3, image_size=32)
    path = tf.train.Checkpoint(model=a).save(str(tmp_path / "ck"))
    keras.utils.set_random_seed(1)
    b = build_fg_model(cfg, num_classes=3, image_size=32)
    ka, kb = _conv_kernels(a.sketch_encoder, FROZEN_2), _conv_kernels(b.sketch_encoder, FROZEN_2)
    assert not any(np.array_equal(ka[n].numpy(), kb[n].numpy()) for n in FROZEN_2)  # different random starts
    tf.train.Checkpoint(model=b).restore(path).assert_existing_objects_matched()
    for name in FROZEN_2:
        np.testing.assert_array_equal(kb[name].numpy(), ka[name].numpy(), err_msg=name)
        assert not kb[name].trainable


@pytest.mark.parametrize("bad", [6, -1, 2.0, True, "2"])
def test_frozen_blocks_outside_0_to_5_raise(bad):
    with pytest.raises(ValueError, match=r"frozen_blocks must be an integer in 0\.\.5"):
        build_fg_model({**SMALL, "frozen_blocks": bad}, num_classes=3, image_size=32)


def test_frozen_blocks_need_the_vgg16_backbone():
    with pytest.raises(ValueError, match="googlenet backbone has no such blocks"):
        build_fg_model({"backbone": "googlenet", "weights": None, "frozen_blocks": 1}, num_classes=3, image_size=64)
