"""Near-duplicates: MinHash signatures, LSH banding, verification by true Jaccard, clusters.

Shingles are word 5-grams by default (or character n-grams), hashed in numpy from the text's bytes. Signatures for a
whole batch of documents are computed at once in numpy by one-permutation hashing (one hash per
shingle, not one per shingle and permutation), never in a Python loop per document. Band hashes are stored in
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

VERSION = 7
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class NearDupParams:
    """Shingling and banding; `bands * rows` permutations. A pair with Jaccard J becomes a candidate
    with probability 1 − (1 − J^rows)^bands: for 20 × 6 that is 0.92 at J = 0.7 and 0.998 at 0.8
    (16 × 8 would give 0.43 and 0.95). Every candidate is then verified exactly, so the extra
    candidates cost time, never precision."""

    shingle: str = "word"  # word | char
    n: int = 5
    threshold: float = 0.7
    bands: int = 20
    rows: int = 6
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
    # Whitespace-separated words, counted in C; a regex word scan cost a fifth of signing.
    if len(text.split(None, MIN_TRAINABLE_WORDS)) >= MIN_TRAINABLE_WORDS:
        return text
    return "\n".join(m["content"] for m in body["messages"]) + "\n" + text


EMPTY = np.uint32(0xFFFFFFFF)  # a bin no shingle reached
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) for polynomial mixing
_P = 0x100000001B3  # odd: invertible mod 2^64
_P_INV = pow(_P, -1, 1 << 64)
_PUNCT_TO_SPACE = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"})
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True
_powers = np.ones(1, dtype=np.uint64)
_inv_powers = np.ones(1, dtype=np.uint64)


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^i and P^-i mod 2^64 for i < n (grown on demand, kept between calls)."""
    global _powers, _inv_powers
    if len(_powers) < n:
        size = max(n, 2 * len(_powers))
        _powers = np.cumprod(np.full(size, _P, dtype=np.uint64))
        _powers = np.concatenate(([np.uint64(1)], _powers[:-1]))
        _inv_powers = np.cumprod(np.full(size, _P_INV, dtype=np.uint64))
        _inv_powers = np.concatenate(([np.uint64(1)], _inv_powers[:-1]))
    return _powers[:n], _inv_powers[:n]


def _mix(x: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix-style) so every bit of a polynomial hash is well spread."""
    x = x ^ (x >> np.uint64(31))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    return x ^ (x >> np.uint64(29))


def shingles(text: str, params: NearDupParams) -> np.ndarray:
    """Distinct 64-bit shingle hashes of one text (sorted); see `shingles_batch`."""
    return shingles_batch([text], params)[0]


def shingles_batch(texts: Sequence[str], params: NearDupParams) -> list[np.ndarray]:
    """Distinct 64-bit shingle hashes of each text (sorted, so set operations are cheap); see
    `_shingles_batch`."""
    limit = 1 << _DOC_BITS
    if len(texts) <= limit:
        return _shingles_batch(texts, params)
    return [
        d
        for start in range(0, len(texts), limit)
        for d in _shingles_batch(texts[start : start + limit], params)
    ]


def _shingles_batch(texts: Sequence[str], params: NearDupParams) -> list[np.ndarray]:
    """Distinct shingle hashes of each text, sorted.

    The whole batch is one numpy computation, with no Python loop per word or per document: the
    texts' UTF-8 bytes get a prefix sum of b_i·P^i (mod 2^64), so the hash of any byte span [s, e)
    is (H[e] − H[s])·P^−s; words are the spans between whitespace (ASCII punctuation became
    spaces); a word n-gram is a polynomial over its word hashes, kept when all its words belong to
    one text. Texts shorter than n words get one shingle of all their words.
    """
    prepared = []
    for text in texts:
        text = text.lower()
        if params.normalize_numbers:
            text = _NUMBER.sub("0", text)
        if params.shingle == "word":
            text = text.translate(_PUNCT_TO_SPACE)
        prepared.append(text.encode("utf-8"))
    lengths = np.array([len(t) + 1 for t in prepared], dtype=np.int64)  # +1: a separator after each
    b = np.frombuffer(b"\n".join(prepared) + b"\n", dtype=np.uint8)
    doc_start = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    pw, inv = _power_tables(len(b) + 1)
    prefix = np.empty(len(b) + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum((b.astype(np.uint64) + np.uint64(1)) * pw[: len(b)], out=prefix[1:])
    if params.shingle == "char":
        pos = np.arange(len(b) - params.n + 1)
        doc = np.searchsorted(doc_start, pos, side="right") - 1
        same = doc == np.searchsorted(doc_start, pos + params.n - 1, side="right") - 1
        keep = same & (b[pos + params.n - 1] != 10) & (b[pos] != 10)
        grams = _mix((prefix[pos + params.n] - prefix[pos]) * inv[pos])[keep]
        return _per_doc(grams, doc[keep], len(texts))
    space = _SPACE[b]
    word = ~space
    starts = np.flatnonzero(word & np.concatenate(([True], space[:-1])))
    ends = np.flatnonzero(word & np.concatenate((space[1:], [True]))) + 1
    h = _mix((prefix[ends] - prefix[starts]) * inv[starts])
    doc = np.searchsorted(doc_start, starts, side="right") - 1
    n = params.n
    out = [np.zeros(1, dtype=np.uint64)] * len(texts)
    if len(h) >= n:
        acc = h[: len(h) - n + 1].copy()
        for k in range(1, n):
            acc = acc * _MIX + h[k : len(h) - n + 1 + k]  # wraps mod 2^64, as intended
        whole = doc[: len(h) - n + 1] == doc[n - 1 :]
        out = _per_doc(_mix(acc[whole]), doc[: len(h) - n + 1][whole], len(texts))
    counts = np.bincount(doc, minlength=len(texts))
    for i in np.flatnonzero((counts > 0) & (counts < n)):  # short texts: one shingle of all words
        acc1 = 0
        for w in h[doc == i].tolist():
            acc1 = (acc1 * int(_MIX) + w) & 0xFFFFFFFFFFFFFFFF
        out[i] = _mix(np.array([acc1], dtype=np.uint64))
    return out


_DOC_BITS = 12  # documents per shingling call (batches are cut to fit)
_HASH_MASK = np.uint64((1 << (64 - _DOC_BITS)) - 1)


def _per_doc(values: np.ndarray, doc: np.ndarray, ndocs: int) -> list[np.ndarray]:
    """Split hashes by document, sorted and distinct within each. One sort of a 64-bit key whose
    top bits are the document (shingle hashes keep their 52 low bits: plenty for sets of
    thousands) instead of a two-key lexsort, three times slower."""
    key = np.sort((doc.astype(np.uint64) << np.uint64(64 - _DOC_BITS)) | (values & _HASH_MASK))
    fresh = np.ones(len(key), dtype=bool)
    fresh[1:] = key[1:] != key[:-1]
    key = key[fresh]
    bounds = np.searchsorted(key >> np.uint64(64 - _DOC_BITS), np.arange(ndocs + 1, dtype=np.uint64))
    values = key & _HASH_MASK
    empty = np.zeros(1, dtype=np.uint64)
    return [values[bounds[i] : bounds[i + 1]] if bounds[i + 1] > bounds[i] else empty for i in range(ndocs)]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted distinct hash arrays."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


class MinHasher:
    """One-permutation MinHash with optimal densification (Shrivastava 2017): each shingle is hashed
    once, its high bits choose one of `num_perm` bins and its low bits compete for that bin's
    minimum; an empty bin borrows the value of a bin chosen by hashing (bin, attempt), the same for
    every document, so two documents agree on a borrowed bin exactly when they agree on its source.

    The estimate has the variance of k-permutation MinHash at a cost of one hash per shingle
    instead of `num_perm` (120): signing is no longer the near-duplicate stage's hot path.
    """

    def __init__(self, params: NearDupParams) -> None:
        self.params = params
        rng = np.random.default_rng(params.seed)
        self.seed = rng.integers(1, 2**63, dtype=np.uint64) | np.uint64(1)
        # Band hashing: a polynomial over the band's rows, with one odd multiplier per row.
        self.row_mult = rng.integers(1, 2**63, size=params.rows, dtype=np.uint64) | np.uint64(1)
        # Where an empty bin looks, attempt by attempt (32 attempts leave a bin empty with odds
        # (1 - filled share)^32; a document with no shingle at all keeps the empty marker).
        k = params.num_perm
        probe = (
            np.arange(k, dtype=np.uint64)[:, None] * np.uint64(1_000_003)
            + np.arange(32, dtype=np.uint64)[None, :]
        )
        self.probes = (_mix(probe * self.seed + np.uint64(0x632BE59BD9B4E019)) % np.uint64(k)).astype(
            np.int64
        )

    def signatures(self, docs: Sequence[np.ndarray]) -> np.ndarray:
        """(len(docs), num_perm) uint32 signatures for a batch of shingle arrays."""
        k = self.params.num_perm
        if not docs:
            return np.empty((0, k), dtype=np.uint32)
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        flat = np.concatenate(list(docs)) if lengths.sum() else np.empty(0, dtype=np.uint64)
        doc = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        h = _mix(flat ^ self.seed)
        cell = doc * k + (h >> np.uint64(32)).astype(np.int64) % k
        value = (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        sig = np.full(len(docs) * k, EMPTY, dtype=np.uint32)
        np.minimum.at(sig, cell, value)
        sig = sig.reshape(len(docs), k)
        empty = sig == EMPTY
        if empty.any():
            rows, bins = np.nonzero(empty)
            filled = np.full(len(rows), EMPTY, dtype=np.uint32)
            for attempt in range(self.probes.shape[1]):
                todo = filled == EMPTY
                if not todo.any():
                    break
                filled[todo] = sig[rows[todo], self.probes[bins[todo], attempt]]
            sig[rows, bins] = filled
        return sig

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
