"""The non-finite guard of every compiled training update (the loop's NaN policy, :mod:`sbir_tf.train.loop`).

An update computes its loss terms and gradients, then applies them only when everything is finite, inside the same
compiled function (``tf.cond``): a skipped update changes no weight, optimizer slot or iteration counter, and the
variables the forward pass wrote (batch-norm statistics, dropout seed states) are put back. The step function reports
``applied`` and the loop stops the run.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf


def all_finite(values) -> tf.Tensor:
    """One boolean: every element of every tensor in ``values`` is finite."""
    checks = [tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32))) for v in values if v is not None]
    return tf.reduce_all(tf.stack(checks)) if checks else tf.constant(True)


def gradients_and_finite(tape: tf.GradientTape, scaled_loss, variables, terms, optimizer) -> tuple[list, tf.Tensor]:
    """The gradients of ``scaled_loss`` (zeros for variables it does not reach) and whether the update is finite:
    every loss term, and every gradient unless the optimizer scales the loss (then an overflowing scaled gradient is
    the optimizer's business: it skips the step and lowers the scale)."""
    from sbir_tf.train.precision import uses_loss_scaling

    grads = tape.gradient(scaled_loss, variables)
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    return grads, all_finite(list(terms.values()) + ([] if uses_loss_scaling(optimizer) else grads))


def guarded_update(strategy: tf.distribute.Strategy, forward_backward: Callable, apply: Callable, args: tuple,
                   state: list = ()):
    """Run ``forward_backward(*args) -> (terms, grads, finite)`` on every replica, then ``apply(grads)`` on every
    replica only when every replica's ``finite`` and the summed terms are finite; otherwise put the ``state``
    variables the forward pass wrote (batch-norm statistics, seed-generator states) back. Returns
    ``(terms, applied)`` with the terms summed over replicas (each replica's term is already scaled to the global
    batch).

    The ``tf.cond`` runs in cross-replica context (a distribution strategy cannot branch around its own
    all-reduce in replica context), as ``keras.optimizers.LossScaleOptimizer`` does for its skipped steps.
    """
    saved = [tf.identity(v) for v in state]  # read before the forward pass (tf.function keeps program order)

    def replica(*replica_args):
        terms, grads, finite = forward_backward(*replica_args)
        return terms, grads, tf.cast(tf.logical_not(finite), tf.int32)

    terms_pr, grads_pr, bad_pr = strategy.run(replica, args=args)
    terms = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in terms_pr.items()}
    bad = strategy.reduce(tf.distribute.ReduceOp.SUM, bad_pr, axis=None)
    finite = tf.logical_and(tf.equal(bad, 0), all_finite(terms.values()))

    def do_apply():
        strategy.run(apply, args=(grads_pr,))
        return tf.constant(True)

    def skip():
        for v, value in zip(state, saved):
            v.assign(value)
        return tf.constant(False)

    applied = tf.cond(finite, do_apply, skip)
    return terms, applied
