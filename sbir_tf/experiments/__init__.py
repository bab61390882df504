"""Runnable entry points (``python -m sbir_tf.experiments.<name>``, each a thin wrapper over
:mod:`sbir_tf.run.cli`), the report over recorded runs, the papers' numbers and the notebooks' helpers."""
