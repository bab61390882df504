"""The search latency benchmark runs end to end (tiny sizes; its numbers mean nothing here)."""
from __future__ import annotations

from benchmarks import search_latency


def test_benchmark_times_every_gallery_size_and_renders_the_table(tiny_run):
    result = search_latency.measure(sizes=(50, 500), model=str(tiny_run.path), warmup=1, repeats=3)
    assert [r["gallery"] for r in result["rows"]] == [50, 500]
    for row in result["rows"]:
        assert row["dim"] == 8 and 0 < row["p50_ms"] <= row["p90_ms"]
        assert row["encode_p50_ms"] > 0 and row["search_p50_ms"] > 0 and row["cpu_p50_ms"] > 0
    table = search_latency.to_markdown(result).splitlines()
    assert len(table) == 4 and table[2].startswith("| 50 x 8 |")
    assert search_latency.verdict(result) is None  # the target is stated for 112 px, the tiny run is 32 px
    result["image_size"], result["rows"][1]["gallery"] = 112, 100_000
    result["rows"][1]["p50_ms"] = 99.0
    assert search_latency.verdict(result).startswith("PASS")
