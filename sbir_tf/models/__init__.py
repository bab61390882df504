"""Backbones (VGG16, GoogLeNet), the fine-grained encoder/decoder/heads and the WAD-CMSN networks."""
