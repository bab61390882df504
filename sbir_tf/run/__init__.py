"""The run layer shared by both papers: one command-line builder (:mod:`.cli`), one resume policy (:mod:`.resume`),
one ``metrics.json`` writer (:mod:`.results`) and one driver (:mod:`.runner`). What each paper supplies is a
:class:`~sbir_tf.run.task.Task` (:mod:`sbir_tf.tasks`; the command lines and their default output folders:
:mod:`sbir_tf.tasks.registry`); the run layer imports no task."""
