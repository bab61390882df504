"""Training: one loop for both papers and their steps.

* :mod:`~sbir_tf.train.loop` — :class:`~sbir_tf.train.loop.Trainer` (checkpoints, ``history.jsonl``, TensorBoard,
  progress, the :func:`~sbir_tf.train.loop.due` cadence, the eval hook, the non-finite stop);
* :mod:`~sbir_tf.train.errors` — the one :class:`~sbir_tf.train.errors.NonFiniteLossError`;
* :mod:`~sbir_tf.train.guard` — how a compiled update skips itself when a value is not finite;
* :mod:`~sbir_tf.train.fg_step` — Pang et al. 2017: the two-stage schedules, L_C + L_D + L_T;
* :mod:`~sbir_tf.train.zs_step` — WAD-CMSN Algorithm 1: n_critic critic updates, then one generator update;
* :mod:`~sbir_tf.train.precision`, :mod:`~sbir_tf.train.strategy`, :mod:`~sbir_tf.train.determinism` — float32 /
  bfloat16 / float16, data parallelism, deterministic mode;
* :mod:`~sbir_tf.train.schedules`, :mod:`~sbir_tf.train.checkpoints`, :mod:`~sbir_tf.train.progress`,
  :mod:`~sbir_tf.train.summaries`, :mod:`~sbir_tf.train.run_dir`, :mod:`~sbir_tf.train.inference`.
"""
