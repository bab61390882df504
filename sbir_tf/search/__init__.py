"""Sketch search over a photo folder: index it, query it with a drawing, in the terminal or in the browser.

* :mod:`sbir_tf.search.index` - ``index``: photo-encoder embeddings of every image under a folder, their paths and
  the model's identity; incremental updates.
* :mod:`sbir_tf.search.search` - ``query``: sketch -> sketch encoder -> exact nearest photos in the model's metric.
* :mod:`sbir_tf.search.server` / :mod:`sbir_tf.search.page` - ``serve``: a self-contained page with a drawing
  canvas and the ranked photos, served by the standard library.
* :mod:`sbir_tf.search.demo` - the embedded default of ``serve`` (the synthetic gallery, the default run's model).

Encoders come from :func:`sbir_tf.export.load_encoders` (run or export folders); the command line is
``python -m sbir_tf.search {index,query,serve}`` (:mod:`sbir_tf.search.cli`).
"""
