"""Near-duplicates: MinHash signatures, LSH banding, verification by true Jaccard, clusters.

Shingles are word 5-grams by default (or character n-grams), hashed via xxh32 per word. Signatures for a
whole batch of documents are computed at once in numpy: one (permutations × shingles) matrix and a
`minimum.reduceat` per document, instead of a Python loop per document. Band hashes are stored in
the catalog, so new examples are matched against old ones by an indexed join, never by holding all
signatures in memory. A candidate pair counts only if the Jaccard similarity of its shingle sets
really reaches the threshold, so precision does not depend on banding luck.

Numbers are kept as they are by default: code and maths are full of numbers, and datatrove's
default of mapping every digit run to "0" collapses numeric-heavy data into false clusters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

VERSION = 3
_WORDS = re.compile(r"\w+", re.UNICODE)
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class NearDupParams:
    """Shingling and banding; `bands * rows` permutations. The LSH curve's midpoint is about
    (1/bands) ** (1/rows): 0.71 for 16 × 8, so pairs well above the 0.7 threshold are found with
    near certainty and pairs right at it about half the time; 20 × 6 (midpoint 0.61) finds 99 %
    of pairs at the threshold for about 1.6× the time (bench/curate.py). Every candidate is then
    verified exactly."""

    shingle: str = "word"  # word | char
    n: int = 5
    threshold: float = 0.7
    bands: int = 16
    rows: int = 8
    normalize_numbers: bool = False
    seed: int = 1

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows


MIN_TRAINABLE_WORDS = 10


def example_text(body: dict[str, Any]) -> str:
    """The text an example trains on: its trained assistant turns (both answers of a pair).

    The prompt is context, so two answers to one long prompt are not near-duplicates, while one
    answer pasted under five different prompts is. Answers too short to compare on their own
    ("Yes.", "4") are compared together with their prompt instead.
    """
    if body["kind"] == "preference":
        answers = [m["content"] for side in ("chosen", "rejected") for m in body.get(side) or []]
    else:
        answers = [
            m["content"] for m in body["messages"] if m["role"] == "assistant" and m.get("train", True)
        ]
    text = "\n".join(answers)
    if len(_WORDS.findall(text)) >= MIN_TRAINABLE_WORDS:
        return text
    return "\n".join(m["content"] for m in body["messages"]) + "\n" + text


_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) for polynomial mixing
_PUNCT_TO_SPACE = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"})
_UNIT_CACHE: dict[str, int] = {}
_UNIT_CACHE_MAX = 1 << 20


def _unit_hash(unit: str) -> int:
    """xxh32 of a word, memoised: natural text repeats its words, and a dict lookup is ~10x cheaper
    than encoding and hashing again. The cache is bounded (cleared when full)."""
    h = _UNIT_CACHE.get(unit)
    if h is None:
        if len(_UNIT_CACHE) >= _UNIT_CACHE_MAX:
            _UNIT_CACHE.clear()
        h = _UNIT_CACHE[unit] = xxhash.xxh32_intdigest(unit.encode())
    return h


def shingles(text: str, params: NearDupParams) -> np.ndarray:
    """Distinct 64-bit shingle hashes of `text` (sorted, so set operations are cheap).

    Each word (or character) is hashed once; the n-gram hashes are then combined in numpy as a
    polynomial over consecutive unit hashes, instead of joining and hashing every n-gram string.
    """
    text = text.lower()
    if params.normalize_numbers:
        text = _NUMBER.sub("0", text)
    # Words: split on whitespace after mapping ASCII punctuation to spaces (str.translate and
    # str.split run in C; a \w+ regex was a quarter of the whole near-dup time).
    units = list(text) if params.shingle == "char" else text.translate(_PUNCT_TO_SPACE).split()
    if not units:
        return np.zeros(1, dtype=np.uint64)
    cached = list(map(_UNIT_CACHE.get, units))
    if None in cached:
        cached = [c if c is not None else _unit_hash(u) for c, u in zip(cached, units, strict=True)]
    h = np.array(cached, dtype=np.uint64)
    n = min(params.n, len(h))
    acc = h[: len(h) - n + 1].copy()
    for k in range(1, n):
        acc = acc * _MIX + h[k : len(h) - n + 1 + k]  # wraps mod 2^64, as intended
    return np.unique(acc)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted distinct hash arrays."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


class MinHasher:
    """Multiply-shift hashing, h(x) = (a·x + b mod 2^64) >> 32 with odd random a: universal enough
    for MinHash and free of the slow 64-bit modulus. One random (a, b) per permutation."""

    def __init__(self, params: NearDupParams) -> None:
        self.params = params
        rng = np.random.default_rng(params.seed)
        self.a = rng.integers(1, 2**63, size=(params.num_perm, 1), dtype=np.uint64) | np.uint64(1)
        self.b = rng.integers(0, 2**63, size=(params.num_perm, 1), dtype=np.uint64)
        # Band hashing: a polynomial over the band's rows, with one odd multiplier per row.
        self.row_mult = rng.integers(1, 2**63, size=params.rows, dtype=np.uint64) | np.uint64(1)

    def signatures(self, docs: Sequence[np.ndarray], max_cells: int = 4_000_000) -> np.ndarray:
        """(len(docs), num_perm) uint32 signatures for a batch of shingle arrays.

        Documents are processed in slices of at most `max_cells` (permutations × shingles) matrix
        cells (32 MB), so memory does not grow with the batch.
        """
        out, start, cells = [], 0, 0
        for i, d in enumerate(docs):
            cells += max(len(d), 1) * self.params.num_perm
            if cells > max_cells and i > start:
                out.append(self._signatures(docs[start:i]))
                start, cells = i, max(len(d), 1) * self.params.num_perm
        out.append(self._signatures(docs[start:]))
        return np.concatenate(out) if out else np.empty((0, self.params.num_perm), dtype=np.uint32)

    def _signatures(self, docs: Sequence[np.ndarray]) -> np.ndarray:
        if not docs:
            return np.empty((0, self.params.num_perm), dtype=np.uint32)
        lengths = np.array([max(len(d), 1) for d in docs])
        flat = np.concatenate([d if len(d) else np.zeros(1, dtype=np.uint64) for d in docs])
        hashed = np.multiply(self.a, flat[None, :])  # in place from here: no temporaries
        hashed += self.b
        hashed >>= np.uint64(32)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        return np.minimum.reduceat(hashed, starts, axis=1).T.astype(np.uint32)

    def band_hashes(self, signatures: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
        """(docs, bands) signed 64-bit hashes of each band (SQLite integers), seeded by the example
        kind: an SFT path and a preference pair mined from the same conversation share text by
        construction and are not duplicates of each other."""
        p = self.params
        rows = signatures.reshape(len(signatures), p.bands, p.rows).astype(np.uint64)
        seeds = np.array([xxhash.xxh3_64_intdigest(k.encode()) for k in kinds], dtype=np.uint64)
        acc = np.repeat(seeds[:, None], p.bands, axis=1)
        for r in range(p.rows):
            acc = (acc ^ rows[:, :, r]) * self.row_mult[r]
        return acc.view(np.int64)


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        self.parent.setdefault(a, a)
        self.parent.setdefault(b, b)
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[str]]:
        out: dict[str, list[str]] = {}
        for x in list(self.parent):
            out.setdefault(self.find(x), []).append(x)
        return [sorted(g) for g in out.values() if len(g) > 1]
