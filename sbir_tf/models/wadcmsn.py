"""WAD-CMSN networks (Xu, Hu, Cai, "WAD-CMSN: Wasserstein distance based cross-modal semantic network for zero-shot
sketch-based image retrieval", 2022).

Everything operates on pre-extracted 512-d VGG16 features (``sbir_tf.features``):

* generators ``G_sk``, ``G_im``: visual 512 -> semantic 64 (retrieval embeddings: sketches by ``G_sk``, photos by
  ``G_im``);
* regenerators ``F_sk``, ``F_im``: semantic 64 -> visual 512 (closing the cycle of Eqs. 5-6, producing the fake
  visual features the visual critics judge in Eqs. 3-4, and matched to the class's visual features ``x``, ``y`` by
  the identity-matching loss, Eq. 8);
* critics ``f_se`` (on 64-d), ``f_sk`` and ``f_im`` (on 512-d): MLP -> one unbounded score, no sigmoid (a Wasserstein
  critic; the ``adv_no_wasserstein`` ablation reads the same score as a logit);
* ``classifier``: linear 64 -> seen classes, on generated semantic features (Eq. 7).

Layer choice (the paper gives no layer table; all sizes are configurable in ``cfg.model``):
``G``: 512-1024-64 and ``F``: 64-1024-512, a hidden Dense(1024) + LeakyReLU(0.2) + dropout, linear output (semantic
vectors and GAP'd ReLU features are compared by l2/l1 distances, so the output is not squashed). The dropout (default
0.3) regularises the mapping learnt from only the seen classes; it is applied statelessly from a per-step seed so a
resumed run replays exactly. Critics: 64-512-1 and 512-512-1 with LeakyReLU(0.2), no dropout, no normalisation
(batch norm would break the per-sample Lipschitz argument of WGAN).
"""
from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from sbir_tf.models.serialization import current_policy, policy_scope

VISUAL_DIM = 512  # GAP'd VGG16 conv5_3 features (Section 4.2)
SEMANTIC_DIM = 64  # common semantic space (side-information dimension, Section 4.2)
GENERATOR_HIDDEN = (1024,)
CRITIC_HIDDEN = (512,)
LEAKY_SLOPE = 0.2
GENERATOR_DROPOUT = 0.3


def stateless_dropout(x: tf.Tensor, rate: float, seed: tf.Tensor) -> tf.Tensor:
    """Inverted dropout whose mask is a pure function of ``seed`` (shape [2] int), for exactly replayable runs."""
    keep = tf.random.stateless_uniform(tf.shape(x), seed=seed, dtype=x.dtype) >= rate
    return tf.where(keep, x / (1.0 - rate), tf.zeros_like(x))


@keras.saving.register_keras_serializable(package="sbir_tf")
class MLP(keras.Model):
    """Dense stack: ``hidden`` Dense+LeakyReLU(+dropout) layers then a linear Dense(``out_dim``).

    ``call(x, training=False, seed=None)``: when training with dropout, ``seed`` ([2] int tensor) selects the mask.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (), dropout: float = 0.0,
                 leaky_slope: float = LEAKY_SLOPE, **kwargs) -> None:
        super().__init__(**kwargs)
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.hidden, self.dropout, self.leaky_slope = [int(h) for h in hidden], float(dropout), float(leaky_slope)
        self.hidden_layers = [keras.layers.Dense(h, name=f"dense_{i}") for i, h in enumerate(self.hidden)]
        self.out_layer = keras.layers.Dense(self.out_dim, name="out")
        self.build((None, self.in_dim))

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        for layer in self.hidden_layers:
            layer.build(shape)
            shape = (shape[0], layer.units)
        self.out_layer.build(shape)
        self.built = True

    def call(self, x, training: bool = False, seed=None):
        for i, layer in enumerate(self.hidden_layers):
            x = tf.nn.leaky_relu(layer(x), alpha=self.leaky_slope)
            if training and self.dropout > 0:
                if seed is None:
                    x = tf.nn.dropout(x, rate=self.dropout)
                else:
                    x = stateless_dropout(x, self.dropout, tf.cast(seed, tf.int64) + tf.constant([0, 7919], tf.int64) * i)
        return self.out_layer(x)

    def get_config(self) -> dict:
        return {"in_dim": self.in_dim, "out_dim": self.out_dim, "hidden": list(self.hidden), "dropout": self.dropout,
                "leaky_slope": self.leaky_slope, "name": self.name, "trainable": self.trainable}


@keras.saving.register_keras_serializable(package="sbir_tf")
class WADCMSN(keras.Model):
    """The seven WAD-CMSN networks plus the seen-class classifier, grouped for Algorithm 1.

    Registered under the package ``sbir_tf``: ``get_config`` returns the constructor arguments and
    ``keras.saving.load_model`` on a saved ``.keras`` file returns a ``WADCMSN`` with every network's weights.
    ``build_policy``: the Keras dtype policy the networks are built under (default: the current global one), kept
    in the config so a reload has the same compute dtypes.
    ``call((sketch_features, photo_features))`` returns the retrieval embeddings ``(G_sk(x), G_im(y))``.

    ``generator_variables``: G_sk, G_im, F_sk, F_im and the classifier (updated on L_ps, Eq. 10);
    ``critic_variables``: f_se, f_sk, f_im (updated on L_dis, Sec. 3.2: the critic side of Eqs. 2-4).
    """

    def __init__(self, num_seen_classes: int, visual_dim: int = VISUAL_DIM, semantic_dim: int = SEMANTIC_DIM,
                 generator_hidden: Sequence[int] = GENERATOR_HIDDEN, critic_hidden: Sequence[int] = CRITIC_HIDDEN,
                 generator_dropout: float = GENERATOR_DROPOUT, leaky_slope: float = LEAKY_SLOPE,
                 build_policy: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if num_seen_classes < 2:
            raise ValueError(f"WAD-CMSN needs at least 2 seen classes for its classifier, got {num_seen_classes}")
        self.num_seen_classes = int(num_seen_classes)
        self.visual_dim, self.semantic_dim = int(visual_dim), int(semantic_dim)
        self.generator_hidden, self.critic_hidden = list(generator_hidden), list(critic_hidden)
        self.generator_dropout, self.leaky_slope = float(generator_dropout), float(leaky_slope)
        gen = dict(hidden=self.generator_hidden, dropout=self.generator_dropout, leaky_slope=self.leaky_slope)
        crit = dict(hidden=self.critic_hidden, dropout=0.0, leaky_slope=self.leaky_slope)
        self.build_policy = build_policy or current_policy()
        with policy_scope(self.build_policy):
            self.g_sk = MLP(self.visual_dim, self.semantic_dim, name="G_sk", **gen)
            self.g_im = MLP(self.visual_dim, self.semantic_dim, name="G_im", **gen)
            self.f_sk = MLP(self.semantic_dim, self.visual_dim, name="F_sk", **gen)
            self.f_im = MLP(self.semantic_dim, self.visual_dim, name="F_im", **gen)
            self.critic_se = MLP(self.semantic_dim, 1, name="f_se", **crit)
            self.critic_sk = MLP(self.visual_dim, 1, name="f_sk", **crit)
            self.critic_im = MLP(self.visual_dim, 1, name="f_im", **crit)
            self.classifier = MLP(self.semantic_dim, self.num_seen_classes, name="classifier")
        self.built = True

    @property
    def generators(self) -> list[MLP]:
        return [self.g_sk, self.g_im, self.f_sk, self.f_im, self.classifier]

    @property
    def critics(self) -> list[MLP]:
        return [self.critic_se, self.critic_sk, self.critic_im]

    @property
    def generator_variables(self) -> list:
        return [v for m in self.generators for v in m.trainable_variables]

    @property
    def critic_variables(self) -> list:
        return [v for m in self.critics for v in m.trainable_variables]

    def call(self, inputs, training: bool = False):
        sketch, photo = inputs
        return self.g_sk(sketch, training=training), self.g_im(photo, training=training)

    def embed_sketches(self, features, batch_size: int = 4096):
        """Retrieval embeddings of sketches, ``G_sk(x)`` (numpy [N, semantic_dim])."""
        return _batched(self.g_sk, features, batch_size)

    def embed_photos(self, features, batch_size: int = 4096):
        """Retrieval embeddings of photos, ``G_im(y)`` (numpy [N, semantic_dim])."""
        return _batched(self.g_im, features, batch_size)

    def get_config(self) -> dict:
        return {"num_seen_classes": self.num_seen_classes, "visual_dim": self.visual_dim,
                "semantic_dim": self.semantic_dim, "generator_hidden": [int(h) for h in self.generator_hidden],
                "critic_hidden": [int(h) for h in self.critic_hidden], "generator_dropout": self.generator_dropout,
                "leaky_slope": self.leaky_slope, "build_policy": self.build_policy, "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict) -> "WADCMSN":
        return cls(**config)


def _batched(net: MLP, features, batch_size: int):
    import numpy as np

    features = np.asarray(features, dtype="float32")
    if len(features) == 0:
        return np.zeros((0, net.out_dim), "float32")
    return np.concatenate([net(features[i:i + batch_size], training=False).numpy()
                           for i in range(0, len(features), batch_size)])


def build_wadcmsn(cfg_model, num_seen_classes: int) -> WADCMSN:
    """Build from a ``cfg.model`` mapping (keys as :class:`WADCMSN`'s arguments)."""
    return WADCMSN(num_seen_classes=num_seen_classes, visual_dim=cfg_model["visual_dim"],
                   semantic_dim=cfg_model["semantic_dim"], generator_hidden=cfg_model["generator_hidden"],
                   critic_hidden=cfg_model["critic_hidden"], generator_dropout=cfg_model["generator_dropout"],
                   leaky_slope=cfg_model["leaky_slope"], name="wadcmsn")
