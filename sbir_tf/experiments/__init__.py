"""Runnable entry points (``python -m sbir_tf.experiments.<name>``) and their config presets."""
