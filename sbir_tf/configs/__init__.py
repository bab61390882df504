"""Experiment presets as code: ``fg.get_config(preset)`` (Pang et al. 2017) and ``zs.get_config(preset, dataset)``
(WAD-CMSN). Every key a run can read is present in every preset (``None`` is a value); the returned
:class:`~sbir_tf.config.Config` is locked, so an override of an unknown key is an error."""
