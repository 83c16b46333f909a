"""Curate's work as a pure function over a batch of examples: every pending detector on each
example, from one parse of its body. Runs in this process or in a worker (`samdata.engine`); no
catalog handle, no I/O: rows in, labels out.

`init(plan)` builds what is costly to build (the secrets scanner, the MinHash permutations, the
tokenizer) once per process; `label(rows)` then labels a batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from samdata.catalog.search import search_text
from samdata.curate import categorize, language, neardup, quality, secrets, tokens, verdict
from samdata.curate.redact import scan_secrets
from samdata.model import short_id

DETECTORS = ("secrets", "quality", "minhash", "category", "language", "tokens")
# A fresh example (never signed, so in no cluster yet) gets its verdict here, from its own labels.
FRESH = frozenset({"quality", "language", "minhash"})


@dataclass(frozen=True)
class Plan:
    """Everything a worker needs to label examples as the main process would (it pickles)."""

    versions: dict[str, int]
    literals: tuple[str, ...]
    allow: tuple[str, ...]
    allow_patterns: tuple[str, ...]
    rules: quality.QualityRules
    params: neardup.NearDupParams
    tokenizer: str
    category_defaults: dict[str, str]  # source → category
    category_overrides: dict[str, str]  # example id → category
    expected_languages: dict[str, str]  # source → language
    source_order: tuple[str, ...]  # config order: the first source with a setting wins


@dataclass
class Row:
    """An example to label: id, catalog rowid, kind, canonical body, its sources, and which
    detectors it needs."""

    id: str
    rowid: int
    kind: str
    body: str
    sources: list[str]
    needs: frozenset[str]


@dataclass
class Labels:
    """What a batch produced: per detector (id, value), secret findings and redacted bodies, LSH
    band rows, and the search text of each example whose secrets were labelled (by rowid)."""

    values: dict[str, list[tuple[str, Any]]] = field(
        default_factory=lambda: {d: [] for d in (*DETECTORS, "verdict")}
    )
    findings: list[tuple[Any, ...]] = field(default_factory=list)
    redactions: list[tuple[str, str]] = field(default_factory=list)
    # (band << 32 | 32-bit band hash, short id) rows: an array pickles as one buffer, not 20 tuples an example.
    bands: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int64))
    texts: list[tuple[int, str | None]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("parse", *DETECTORS), 0.0))

    def __len__(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)


_STATE: dict[str, Any] = {}


def init(plan: Plan) -> None:
    """Build the scanner, hasher and tokenizer of `plan` in this process."""
    _STATE.update(
        plan=plan,
        scanner=secrets.SecretScanner(plan.literals, plan.allow, plan.allow_patterns),
        hasher=neardup.MinHasher(plan.params),
        count=tokens.encoder(plan.tokenizer),
    )


def init_verify(plan: Plan) -> None:
    """What `verify` needs in this process: the plan's shingling (no tokenizer to build)."""
    _STATE["plan"] = plan


def _ordered(sources: list[str], order: tuple[str, ...]) -> list[str]:
    return sorted(sources, key=lambda n: order.index(n) if n in order else len(order))


def label(rows: list[Row]) -> Labels:
    """Labels of every pending detector of every row (init must have run in this process)."""
    plan: Plan = _STATE["plan"]
    out = Labels()
    signed: list[tuple[Row, str]] = []
    clock = time.perf_counter
    spent = out.seconds
    for row in rows:
        t = clock()
        body = orjson.loads(row.body)
        srcs = _ordered(row.sources, plan.source_order)
        t, spent["parse"] = clock(), spent["parse"] + clock() - t
        if "secrets" in row.needs:
            findings, redacted = scan_secrets(body, _STATE["scanner"])
            out.values["secrets"].append((row.id, [f["kind"] for f in findings]))
            out.findings += [
                (row.id, f["kind"], f["part"], f["start"], f["end"], f["hash"], f["preview"])
                for f in findings
            ]
            if redacted is not None:
                out.redactions.append((row.id, orjson.dumps(redacted, option=orjson.OPT_SORT_KEYS).decode()))
            out.texts.append((row.rowid, search_text(body if redacted is None else redacted)))
            t, spent["secrets"] = clock(), spent["secrets"] + clock() - t
        if "quality" in row.needs:
            out.values["quality"].append((row.id, quality.example_flags(body, plan.rules)))
            t, spent["quality"] = clock(), spent["quality"] + clock() - t
        if "minhash" in row.needs:
            signed.append((row, neardup.example_text(body)))
            t, spent["minhash"] = clock(), spent["minhash"] + clock() - t
        if "category" in row.needs:
            out.values["category"].append((row.id, _category(row, body, srcs, plan)))
            t, spent["category"] = clock(), spent["category"] + clock() - t
        if "language" in row.needs:
            lang, p = language.example_language(body)
            want = next((plan.expected_languages[s] for s in srcs if s in plan.expected_languages), None)
            value: dict[str, Any] = {"lang": lang, "p": p}
            if want:
                value.update(expected=want, mismatch=lang not in (want, "und"))
            out.values["language"].append((row.id, value))
            t, spent["language"] = clock(), spent["language"] + clock() - t
        if "tokens" in row.needs:
            out.values["tokens"].append((row.id, tokens.count(body, _STATE["count"])))
            spent["tokens"] += clock() - t
        if row.needs >= FRESH:
            flags = {f["flag"] for f in out.values["quality"][-1][1]}
            reason = verdict.not_kept(None, flags, bool(out.values["language"][-1][1].get("mismatch")))
            out.values["verdict"].append((row.id, {"kept": reason is None, "reason": reason}))
    if signed:
        t = clock()
        docs = neardup.shingles_batch([t for _, t in signed], plan.params)
        hasher: neardup.MinHasher = _STATE["hasher"]
        bands = hasher.band_hashes(hasher.signatures(docs), [r.kind for r, _ in signed])
        keys = (np.arange(bands.shape[1], dtype=np.int64) << 32) | (bands & 0xFFFFFFFF)
        shorts = np.array([short_id(row.id) for row, _ in signed], dtype=np.int64)
        out.bands = np.stack([keys.ravel(), np.repeat(shorts, bands.shape[1])], axis=1)
        out.values["minhash"] += [
            (row.id, {"shingles": len(doc)}) for (row, _), doc in zip(signed, docs, strict=True)
        ]
        spent["minhash"] += clock() - t
    return out


def _category(row: Row, body: dict[str, Any], srcs: list[str], plan: Plan) -> dict[str, Any] | None:
    if row.kind != "sft":
        return None
    if row.id in plan.category_overrides:
        return {"category": plan.category_overrides[row.id], "confidence": 1.0, "by": "override"}
    default = next((plan.category_defaults[s] for s in srcs if s in plan.category_defaults), None)
    if default:
        return {"category": default, "confidence": 1.0, "by": "source"}
    category, confidence, rule = categorize.classify(body)
    return {"category": category, "confidence": confidence, "by": f"rule:{rule}"}


def verify(job: tuple[list[tuple[str, str]], dict[str, str]]) -> list[tuple[str, str, float]]:
    """Candidate pairs (with the bodies of their examples) whose shingle sets really reach the
    Jaccard threshold: (a, b, jaccard). `init_verify` (or `init`) must have run in this process."""
    pairs, bodies = job
    params: neardup.NearDupParams = _STATE["plan"].params
    ids = list(bodies)
    texts = [neardup.example_text(orjson.loads(bodies[i])) for i in ids]
    sets = dict(zip(ids, neardup.shingles_batch(texts, params), strict=True))
    out = []
    for a, b in pairs:
        if a in sets and b in sets:
            j = neardup.jaccard(sets[a], sets[b])
            if j >= params.threshold:
                out.append((a, b, round(j, 4)))
    return out
