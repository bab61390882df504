"""Backbones (VGG16, GoogLeNet), the fine-grained encoder/decoder/classifier and model of Pang et al. (``fg``), the
WAD-CMSN networks (``wadcmsn``), all Keras models registered under the package ``sbir_tf``; pretrained weights are
applied by ``pretrained``, outside any config."""
