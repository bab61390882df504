"""Class side information: word vectors, WordNet hierarchy embeddings and the feature-selection auto-encoder."""
