"""Curate benchmark: near-duplicate detection and the secret scan on a generated corpus with ground truth.

    python bench/curate.py              # ~200 MB of documents
    python bench/curate.py --mb 20      # quick look

Prints, from one run on the same documents and parameters (word 5-grams, 120 permutations as
20 bands × 6 rows, Jaccard threshold 0.7): docs/s of samdata's shingles + batched MinHash + LSH
banding + exact verification, the same for datasketch's MinHash + MinHashLSH (+ the same
verification), precision and recall of both against the corpus's known near-duplicate pairs, the
secret scan's docs/s, and peak RSS. One process, one core.
"""

from __future__ import annotations

import argparse
import itertools
import random
import resource
import time

import numpy as np

from samdata.curate.neardup import MinHasher, NearDupParams, jaccard, shingles, shingles_batch
from samdata.curate.secrets import SecretScanner


def corpus(target_bytes: int, seed: int = 5) -> tuple[list[str], set[tuple[int, int]]]:
    rng = random.Random(seed)
    vocab = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
        for _ in range(20000)
    ]
    docs: list[str] = []
    truth: set[tuple[int, int]] = set()
    size = 0
    while size < target_bytes:
        base = " ".join(rng.choices(vocab, k=rng.randint(80, 220)))
        group = [len(docs)]
        docs.append(base)
        if rng.random() < 0.3:  # a near-copy or two: a few words changed
            for _ in range(rng.randint(1, 2)):
                words = base.split()
                for _ in range(rng.randint(1, 4)):
                    words[rng.randrange(len(words))] = rng.choice(vocab)
                group.append(len(docs))
                docs.append(" ".join(words))
        truth |= set(itertools.combinations(group, 2))
        size += sum(len(docs[i]) for i in group)
    # Ground truth at the threshold: the generated pairs whose exact Jaccard reaches it.
    params = NearDupParams()
    sets = {i: shingles(docs[i], params) for pair in truth for i in pair}
    return docs, {(a, b) for a, b in truth if jaccard(sets[a], sets[b]) >= params.threshold}


def score(found: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float]:
    hit = len(found & truth)
    return hit / max(len(found), 1), hit / max(len(truth), 1)


def verify(pairs: set[tuple[int, int]], sets: list[np.ndarray], threshold: float) -> set[tuple[int, int]]:
    return {(a, b) for a, b in pairs if jaccard(sets[a], sets[b]) >= threshold}


def samdata_pairs(docs: list[str], params: NearDupParams) -> tuple[set[tuple[int, int]], float]:
    t = time.perf_counter()
    hasher = MinHasher(params)
    sets = [
        s for start in range(0, len(docs), 1000) for s in shingles_batch(docs[start : start + 1000], params)
    ]
    bands = np.concatenate(
        [hasher.band_hashes(hasher.signatures(sets[i : i + 5000]), ["sft"] * len(sets[i : i + 5000]))
         for i in range(0, len(sets), 5000)]
    )  # fmt: skip
    # An in-memory band index (datasketch's is in memory too; `samdata curate` keeps it in the
    # catalog): sort (band, hash) keys and pair up the documents of every run of equal keys.
    keys = (
        bands.view(np.uint64) ^ (np.arange(params.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    ).ravel()
    docs_of = np.repeat(np.arange(len(sets)), params.bands)
    order = np.argsort(keys, kind="stable")
    keys, docs_of = keys[order], docs_of[order]
    same = np.flatnonzero(keys[1:] == keys[:-1])
    candidates: set[tuple[int, int]] = set()
    run_starts = same[np.concatenate(([True], same[1:] != same[:-1] + 1))]
    for s in run_starts:
        e = s + 1
        while e < len(keys) and keys[e] == keys[s]:
            e += 1
        candidates |= set(itertools.combinations(sorted(docs_of[s:e].tolist()), 2))
    found = verify(candidates, sets, params.threshold)
    return found, time.perf_counter() - t


def datasketch_pairs(docs: list[str], params: NearDupParams) -> tuple[set[tuple[int, int]], float]:
    from datasketch import MinHash, MinHashLSH

    t = time.perf_counter()
    lsh = MinHashLSH(num_perm=params.num_perm, params=(params.bands, params.rows))
    sets = [shingles(d, params) for d in docs]  # the same shingles, for verification
    candidates: set[tuple[int, int]] = set()
    for i, d in enumerate(docs):
        words = d.lower().split()
        grams = {" ".join(words[j : j + params.n]).encode() for j in range(max(len(words) - params.n + 1, 1))}
        m = MinHash(num_perm=params.num_perm, seed=params.seed)
        m.update_batch(list(grams))
        for j in lsh.query(m):
            candidates.add((j, i))
        lsh.insert(i, m)
    found = verify(candidates, sets, params.threshold)
    return found, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200)
    args = ap.parse_args()
    params = NearDupParams()
    docs, truth = corpus(int(args.mb * 1e6))
    mb = sum(len(d) for d in docs) / 1e6
    print(
        f"corpus: {len(docs):,} documents, {mb:,.0f} MB, {len(truth):,} pairs with Jaccard ≥ {params.threshold}"
    )
    ours, t_ours = samdata_pairs(docs, params)
    p, r = score(ours, truth)
    print(
        f"samdata MinHash+LSH+verify: {len(docs) / t_ours:8,.0f} docs/s ({t_ours:.1f} s), precision {p:.3f}, recall {r:.3f}"
    )
    theirs, t_theirs = datasketch_pairs(docs, params)
    p2, r2 = score(theirs, truth)
    print(
        f"datasketch, same params:    {len(docs) / t_theirs:8,.0f} docs/s ({t_theirs:.1f} s), precision {p2:.3f}, recall {r2:.3f}"
    )
    print(f"speed-up: {t_theirs / t_ours:.1f}x [goal ≥ 5x]")
    scanner = SecretScanner()
    t = time.perf_counter()
    findings = sum(len(scanner.scan(d)) for d in docs)
    t_scan = time.perf_counter() - t
    print(
        f"secret scan: {len(docs) / t_scan:,.0f} docs/s ({mb / t_scan:,.1f} MB/s), {findings} findings in clean prose"
    )
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
