"""Bounded-memory estimate of how many distinct records a stream holds (k minimum values).

Keeps the k smallest distinct 64-bit hashes seen. With n > k distinct values the estimate is
(k - 1) / (kth smallest / 2^64), relative error about 1/sqrt(k) (k = 4096: ~1.6 %); below k it
is exact. Memory is O(k) whatever the input size.
"""

from __future__ import annotations

import heapq

import xxhash

_SPACE = float(2**64)


class DistinctSketch:
    """KMV sketch of the distinct count of a stream of byte strings."""

    def __init__(self, k: int = 4096) -> None:
        self.k = k
        self.total = 0
        self._heap: list[int] = []  # max-heap of the k smallest hashes, stored negated
        self._members: set[int] = set()

    def add(self, item: bytes) -> None:
        """Count one record."""
        self.total += 1
        h = xxhash.xxh3_64_intdigest(item)
        if h in self._members:
            return
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, -h)
            self._members.add(h)
        elif h < -self._heap[0]:
            evicted = -heapq.heappushpop(self._heap, -h)
            self._members.discard(evicted)
            self._members.add(h)

    def distinct(self) -> float:
        """Estimated number of distinct records."""
        if len(self._heap) < self.k:
            return float(len(self._heap))
        kth = -self._heap[0]
        return (self.k - 1) / ((kth + 1) / _SPACE)

    def duplicate_rate(self) -> float:
        """Estimated share of records that repeat an earlier one (0 when empty)."""
        if self.total == 0:
            return 0.0
        return max(0.0, min(1.0, 1.0 - self.distinct() / self.total))
