from __future__ import annotations

from samdata.scan.dupsketch import DistinctSketch


def test_exact_below_k() -> None:
    s = DistinctSketch(k=64)
    for i in range(50):
        s.add(str(i % 10).encode())
    assert s.distinct() == 10
    assert s.duplicate_rate() == 0.8


def test_estimate_within_a_few_percent_with_bounded_memory() -> None:
    s = DistinctSketch(k=4096)
    for i in range(300_000):
        s.add(f"record {i % 60_000}".encode())
    assert abs(s.distinct() - 60_000) / 60_000 < 0.05
    assert abs(s.duplicate_rate() - 0.8) < 0.01
    assert len(s._heap) == 4096 == len(s._members)


def test_empty() -> None:
    assert DistinctSketch().duplicate_rate() == 0.0
