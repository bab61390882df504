"""Benchmarks of ``sbir_tf`` against the limits of the machine they run on.

``python -m benchmarks`` measures the dense float32 matmul peak of this machine, the fine-grained training step
(images/s, peak memory, model FLOP utilisation), the input pipeline, inference (gallery embedding, query latency,
search latency) and the retrieval metrics, writes ``benchmarks/results/<machine>.json`` and prints every figure
against its target. See ``benchmarks/run.py``.
"""
