"""Retrieval metrics, nearest-neighbour search and figures."""
