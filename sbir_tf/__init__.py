"""sbir_tf: sketch-based image retrieval in TensorFlow/Keras.

Two papers are reproduced:

* Fine-grained SBIR, Pang, Song, Xiang, Hospedales, BMVC 2017 (``sbir_tf.experiments.sketchy_fg``).
* Zero-shot SBIR with WAD-CMSN, Xu, Hu, Cai (``sbir_tf.experiments.sketchy_zs``).
"""

__version__ = "0.1.0"
