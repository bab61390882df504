"""What each paper supplies to the run layer (:class:`sbir_tf.run.task.Task`): ``fg`` (Pang et al. 2017,
fine-grained) and ``zs`` (WAD-CMSN, zero-shot) — config, validation, data, model, train step, evaluation, figures;
``registry``: the public command lines, their tasks and default output folders."""
