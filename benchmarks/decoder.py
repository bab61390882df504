"""The fine-grained decoder's step time, for comparing kernel settings: ``python -m benchmarks.decoder``.

Times the decoder D of Pang et al. 2017 (``sbir_tf.models.fg.build_decoder``) alone on random embeddings: the
forward pass in training mode and the forward + backward pass of a pixel MSE, median over ``--repeats`` calls after
a warm-up. In a stage-2 step of a frozen-trunk run it is most of the time (the trunk's part is gone with
``data.trunk_cache_views``). TF reads ``TF_ENABLE_ONEDNN_OPTS`` once, at import, so compare the kernels with one
process each::

    TF_ENABLE_ONEDNN_OPTS=0 python -m benchmarks.decoder
    TF_ENABLE_ONEDNN_OPTS=1 python -m benchmarks.decoder
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(image_size: int = 112, batch: int = 24, repeats: int = 5) -> dict:
    """Median seconds of the decoder's forward and forward + backward passes on ``batch`` embeddings."""
    import tensorflow as tf

    from sbir_tf.models.fg import build_decoder
    from sbir_tf.train.run_dir import onednn_enabled

    decoder = build_decoder(image_size, 256)
    z = tf.random.normal([batch, 256], seed=0)
    target = tf.random.uniform([batch, image_size, image_size, 3], -1.0, 1.0, seed=1)

    @tf.function
    def forward(z):
        return decoder(z, training=True)

    @tf.function
    def forward_backward(z):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(decoder(z, training=True) - target))
        return tape.gradient(loss, decoder.trainable_variables)

    out = {"image_size": image_size, "batch": batch, "onednn": onednn_enabled()}
    for name, fn in (("forward_s", forward), ("forward_backward_s", forward_backward)):
        tf.nest.map_structure(lambda t: t.numpy(), fn(z))  # trace and warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy(), fn(z))
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=24, help="default: a stage-2 step's 2 x 12 reconstructions")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    r = measure(args.image_size, args.batch, args.repeats)
    print(f"decoder {r['image_size']} px, batch {r['batch']}, oneDNN {'on' if r['onednn'] else 'off'}: "
          f"forward {r['forward_s']:.3f} s, forward + backward {r['forward_backward_s']:.3f} s (medians of "
          f"{args.repeats})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
