"""The run layer shared by both papers: one command-line builder (:mod:`.cli`), one resume policy (:mod:`.resume`),
one ``metrics.json`` writer (:mod:`.results`), one driver (:mod:`.runner`) and the deterministic default output
folders (:mod:`.defaults`). What each paper supplies is a :class:`~sbir_tf.run.task.Task` (:mod:`sbir_tf.tasks`)."""
