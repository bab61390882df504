"""Feature-selection auto-encoder that fuses side information into the 64-d semantic space (WAD-CMSN, Xu, Hu, Cai,
Sec. 3.1; the mechanism follows SEM-PCYC, Dutta & Akata 2019).

Input: one row per class, the concatenation of its text and hierarchy embeddings (``[n_classes, d]``).
Encoder: one linear ``Dense(d -> dim)`` layer whose kernel ``W`` (``[d, dim]``, one row per input feature) carries an
l2,1 penalty, which drives whole rows -- whole input features -- to zero, i.e. selects features. Decoder: one linear
``Dense(dim -> d)``. Loss (:func:`autoencoder_loss`)::

    L = mean((x - dec(enc(x)))^2) + beta * ||W||_{2,1},    ||W||_{2,1} = sum_i ||W[i, :]||_2

The class semantic vectors are the codes ``enc(x)``. Training is full-batch Adam from seeded initialisers, so a given
input, seed and step count always give the same vectors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: size of the semantic space (WAD-CMSN Sec. 3.1: side information is reduced to 64 dimensions)
SEMANTIC_DIM = 64
#: weight of the l2,1 feature-selection penalty on the encoder kernel
L21_BETA = 1e-3
#: full-batch Adam steps and learning rate (the input is tiny: n_classes x d)
AE_STEPS = 400
AE_LEARNING_RATE = 1e-2


def l21_norm(w):
    """l2,1 norm of a weight matrix ``W`` [d_in, d_out]: ``sum_i sqrt(sum_j W[i, j]^2)`` -- the sum over input
    features of the l2 norm of each feature's weight row (feature-selection penalty, WAD-CMSN Sec. 3.1)."""
    from keras import ops

    return ops.sum(ops.sqrt(ops.sum(ops.square(w), axis=1)))


def reconstruction_loss(x, x_hat):
    """Mean squared reconstruction error ``mean((x - x_hat)^2)`` over classes and features."""
    from keras import ops

    return ops.mean(ops.square(x - x_hat))


def autoencoder_loss(x, x_hat, encoder_kernel, beta: float = L21_BETA):
    """``reconstruction_loss(x, x_hat) + beta * l21_norm(encoder_kernel)`` (WAD-CMSN Sec. 3.1)."""
    return reconstruction_loss(x, x_hat) + beta * l21_norm(encoder_kernel)


def build_autoencoder(input_dim: int, dim: int = SEMANTIC_DIM, seed: int = 0):
    """``(encoder, decoder)`` Keras models: linear ``Dense(input_dim -> dim)`` named ``select`` and linear
    ``Dense(dim -> input_dim)`` named ``reconstruct``, Glorot-uniform initialised from ``seed``."""
    import keras

    enc_in = keras.Input((input_dim,), name="side_information")
    init = keras.initializers.GlorotUniform(seed=seed)
    code = keras.layers.Dense(dim, name="select", kernel_initializer=init)(enc_in)
    encoder = keras.Model(enc_in, code, name="semantic_encoder")
    dec_in = keras.Input((dim,), name="semantic")
    recon = keras.layers.Dense(input_dim, name="reconstruct",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1))(dec_in)
    decoder = keras.Model(dec_in, recon, name="semantic_decoder")
    return encoder, decoder


@dataclass
class AutoencoderResult:
    codes: np.ndarray                     # [n, dim] float32 semantic vectors
    reconstruction: np.ndarray            # [n, d] float32
    feature_norms: np.ndarray             # [d] l2 norm of each input feature's encoder row
    history: dict = field(default_factory=dict)
    encoder: object = None
    decoder: object = None

    def selected_features(self, rel_threshold: float = 1e-2) -> np.ndarray:
        """Indices of input features whose encoder row norm exceeds ``rel_threshold`` x the largest one."""
        return np.flatnonzero(self.feature_norms > rel_threshold * self.feature_norms.max())


def fit_autoencoder(x: np.ndarray, dim: int = SEMANTIC_DIM, *, beta: float = L21_BETA, steps: int = AE_STEPS,
                    learning_rate: float = AE_LEARNING_RATE, seed: int = 0) -> AutoencoderResult:
    """Train the feature-selection auto-encoder on ``x`` [n, d] (full batch) and return the codes."""
    import keras
    import tensorflow as tf

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"auto-encoder input must be a non-empty [n_classes, d] matrix, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("auto-encoder input contains NaN or inf")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    encoder, decoder = build_autoencoder(x.shape[1], dim, seed=seed)
    kernel = encoder.get_layer("select").kernel
    variables = encoder.trainable_variables + decoder.trainable_variables
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build(variables)
    xt = tf.constant(x)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            x_hat = decoder(encoder(xt, training=True), training=True)
            rec = reconstruction_loss(xt, x_hat)
            loss = rec + beta * l21_norm(kernel)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss, rec

    losses, recs = [], []
    for _ in range(steps):
        loss, rec = step()
        losses.append(float(loss))
        recs.append(float(rec))
    codes = encoder(xt, training=False).numpy().astype(np.float32)
    recon = decoder(codes, training=False).numpy().astype(np.float32)
    norms = np.sqrt(np.sum(np.square(kernel.numpy()), axis=1))
    history = {"loss": losses, "reconstruction": recs, "final_loss": losses[-1] if losses else None,
               "final_reconstruction": recs[-1] if recs else None}
    return AutoencoderResult(codes, recon, norms, history, encoder, decoder)
