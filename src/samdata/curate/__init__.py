"""`samdata curate`: label every ingested example, incrementally, without touching its raw record.

Detectors write attributes (one JSON value per example and detector, with the detector's version):
an example is (re)labelled when it has no value yet or its value came from an older version. The
secrets detector also stores findings and a redacted body, which is what exports use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import xxhash

from samdata.catalog import Catalog, utcnow
from samdata.config import Config
from samdata.curate import categorize, language, neardup, quality, secrets, tokens, verdict

BATCH = 1000


@dataclass
class CurateReport:
    """How many examples each detector labelled in this run, and the funnel after it."""

    labelled: dict[str, int] = field(default_factory=dict)
    clusters: int = 0
    funnel: dict[str, dict[str, int]] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "neardup_clusters": self.clusters,
            "funnel": self.funnel,
            "quality_flags": self.flags,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def _texts(body: dict[str, Any]) -> list[tuple[str, list[Any], str]]:
    """(part name, containing object path, text) of every string an example trains on or shows."""
    out = []
    for side in ("messages", "chosen", "rejected"):
        for i, m in enumerate(body.get(side) or []):
            out.append((f"{side}[{i}].content", [side, i, "content"], m["content"]))
            for j, call in enumerate(m.get("tool_calls") or []):
                args = call["arguments"]
                text = args if isinstance(args, str) else orjson.dumps(args).decode()
                out.append(
                    (f"{side}[{i}].tool_calls[{j}].arguments", [side, i, "tool_calls", j, "arguments"], text)
                )
    return out


def scan_secrets(
    body: dict[str, Any], scanner: secrets.SecretScanner
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Findings of one example body and, if there are any, its redacted body."""
    findings: list[dict[str, Any]] = []
    redacted = None
    for part, path, text in _texts(body):
        hits = scanner.scan(text)
        if not hits:
            continue
        if redacted is None:
            redacted = orjson.loads(orjson.dumps(body))
        node = redacted
        for key in path[:-1]:
            node = node[key]
        clean = secrets.redact(text, hits)
        if path[-1] == "arguments" and not isinstance(node["arguments"], str):
            try:
                node["arguments"] = orjson.loads(clean)
            except orjson.JSONDecodeError:
                node["arguments"] = clean
        else:
            node[path[-1]] = clean
        findings += [
            {
                "kind": h.kind,
                "part": part,
                "start": h.start,
                "end": h.end,
                "hash": h.hash,
                "preview": h.preview,
            }
            for h in hits
        ]
    return findings, redacted


class CurateProgress:
    """Hooks a front end implements to show progress; the default shows nothing."""

    def detector(self, name: str, total: int) -> None: ...  # a detector starts on `total` examples
    def advance(self, n: int) -> None: ...
    def stage(self, name: str) -> None: ...  # a step without a count (clustering, the funnel)
    def done(self) -> None: ...


def run_curate(config: Config, catalog: Catalog, progress: CurateProgress | None = None) -> CurateReport:
    """Label what is not labelled by the current detector versions; return counts and the funnel."""
    progress = progress or CurateProgress()
    try:
        return _run_curate(config, catalog, progress)
    finally:
        progress.done()


def _run_curate(config: Config, catalog: Catalog, progress: CurateProgress) -> CurateReport:
    t0 = time.perf_counter()
    report = CurateReport()
    settings = config.curate
    scanner = secrets.SecretScanner(settings.literals, settings.allow)
    # The allow-list and literals change what the secrets detector finds: they are part of its version.
    secrets_version = detector_version(secrets.VERSION, settings.literals, settings.allow)
    rules = quality.QualityRules(
        min_answer_chars=settings.min_answer_chars, max_answer_chars=settings.max_answer_chars
    )
    quality_version = detector_version(quality.VERSION, rules)

    def label_secrets(rows: list[tuple[str, str, str]]) -> None:
        values, found, redactions = [], [], []
        for example_id, _kind, raw in rows:
            findings, redacted = scan_secrets(orjson.loads(raw), scanner)
            values.append((example_id, [f["kind"] for f in findings]))
            found += [
                (example_id, f["kind"], f["part"], f["start"], f["end"], f["hash"], f["preview"])
                for f in findings
            ]
            if redacted is not None:
                redactions.append((example_id, orjson.dumps(redacted, option=orjson.OPT_SORT_KEYS).decode()))
        catalog.save_attributes("secrets", secrets_version, values, utcnow(), found, redactions)

    def label_quality(rows: list[tuple[str, str, str]]) -> None:
        values = [
            (example_id, quality.example_flags(orjson.loads(raw), rules)) for example_id, _kind, raw in rows
        ]
        catalog.save_attributes("quality", quality_version, values, utcnow())

    params = neardup.NearDupParams(
        shingle=settings.shingle,
        n=settings.shingle_size,
        threshold=settings.neardup_threshold,
        bands=settings.lsh_bands,
        rows=settings.lsh_rows,
        normalize_numbers=settings.normalize_numbers,
    )
    minhash_version = detector_version(neardup.VERSION, params)
    if catalog.get_stat("neardup.version") != minhash_version:
        catalog.reset_neardup()
        catalog.put_stat("neardup.version", minhash_version)
    hasher = neardup.MinHasher(params)

    def label_minhash(rows: list[tuple[str, str, str]]) -> None:
        ids = [r[0] for r in rows]
        docs = neardup.shingles_batch([neardup.example_text(orjson.loads(r[2])) for r in rows], params)
        bands = hasher.band_hashes(hasher.signatures(docs), [r[1] for r in rows])
        band_rows = [(b, int(h), i) for i, hs in zip(ids, bands, strict=True) for b, h in enumerate(hs)]
        catalog.add_bands(
            band_rows,
            [(i, {"shingles": len(d)}) for i, d in zip(ids, docs, strict=True)],
            minhash_version,
            utcnow(),
        )
        _verify(catalog, catalog.band_candidates(ids), params)

    defaults = {s.name: s.category for s in config.sources if s.category}
    expected = {s.name: s.language for s in config.sources if s.language}
    order = [s.name for s in config.sources]

    def sources_of(ids: list[str]) -> dict[str, list[str]]:
        facts = catalog.keeper_facts(ids)
        return {
            i: sorted(facts[i][0], key=lambda n: order.index(n) if n in order else len(order)) for i in ids
        }

    def label_category(rows: list[tuple[str, str, str]]) -> None:
        srcs = sources_of([r[0] for r in rows])
        values = []
        for example_id, kind, raw in rows:
            if kind != "sft":
                values.append((example_id, None))
            elif example_id in settings.category_overrides:
                values.append(
                    (
                        example_id,
                        {
                            "category": settings.category_overrides[example_id],
                            "confidence": 1.0,
                            "by": "override",
                        },
                    )
                )
            elif default := next((defaults[s] for s in srcs[example_id] if s in defaults), None):
                values.append((example_id, {"category": default, "confidence": 1.0, "by": "source"}))
            else:
                category, confidence, rule = categorize.classify(orjson.loads(raw))
                values.append(
                    (example_id, {"category": category, "confidence": confidence, "by": f"rule:{rule}"})
                )
        catalog.save_attributes("category", category_version, values, utcnow())

    def label_language(rows: list[tuple[str, str, str]]) -> None:
        srcs = sources_of([r[0] for r in rows])
        values = []
        for example_id, _kind, raw in rows:
            lang, p = language.example_language(orjson.loads(raw))
            want = next((expected[s] for s in srcs[example_id] if s in expected), None)
            value: dict[str, Any] = {"lang": lang, "p": p}
            if want:
                value.update(expected=want, mismatch=lang not in (want, "und"))
            values.append((example_id, value))
        catalog.save_attributes("language", language_version, values, utcnow())

    count_text = tokens.encoder(settings.tokenizer)

    def label_tokens(rows: list[tuple[str, str, str]]) -> None:
        values = [
            (example_id, tokens.count(orjson.loads(raw), count_text)) for example_id, _kind, raw in rows
        ]
        catalog.save_attributes("tokens", tokens_version, values, utcnow())

    category_version = detector_version(
        categorize.VERSION, sorted(defaults.items()), sorted(settings.category_overrides.items())
    )
    language_version = detector_version(language.VERSION, sorted(expected.items()))
    tokens_version = detector_version(tokens.VERSION, settings.tokenizer)
    detectors = [
        ("secrets", secrets_version, label_secrets),
        ("quality", quality_version, label_quality),
        ("minhash", minhash_version, label_minhash),
        ("category", category_version, label_category),
        ("language", language_version, label_language),
        ("tokens", tokens_version, label_tokens),
    ]
    for name, version, label in detectors:
        after, done = "", 0
        progress.detector(name, catalog.pending_count(name, version))
        while rows := catalog.pending(name, version, after, BATCH):
            label(rows)
            done += len(rows)
            after = rows[-1][0]
            progress.advance(len(rows))
        report.labelled[name] = done
    progress.stage("near-duplicate clusters")
    report.clusters = _cluster(catalog, settings.source_priority, minhash_version)
    progress.stage("funnel")
    report.funnel = verdict.funnel(catalog)
    report.flags = catalog.quality_flag_counts()
    report.elapsed_s = time.perf_counter() - t0
    return report


def _verify(catalog: Catalog, candidates: set[tuple[str, str]], params: neardup.NearDupParams) -> None:
    """Keep the candidate pairs whose shingle sets really reach the Jaccard threshold."""
    if not candidates:
        return
    ids = sorted({x for pair in candidates for x in pair})
    bodies = catalog.bodies(ids)
    keys = list(bodies)
    sets = dict(
        zip(
            keys, neardup.shingles_batch([neardup.example_text(bodies[k]) for k in keys], params), strict=True
        )
    )
    verified = []
    for a, b in sorted(candidates):
        if a in sets and b in sets:
            j = neardup.jaccard(sets[a], sets[b])
            if j >= params.threshold:
                verified.append((a, b, round(j, 4)))
    catalog.save_pairs(verified)


def _cluster(catalog: Catalog, source_priority: list[str], version: int) -> int:
    """Union-find over verified pairs; one keeper per cluster by a documented priority:
    1. the earliest source in `[curate] source_priority` (unlisted sources come after listed ones),
    2. fewer quality flags, 3. the newest (latest created_at), 4. the smallest id (stable)."""
    uf = neardup.UnionFind()
    for a, b, _j in catalog.neardup_pairs():
        uf.union(a, b)
    groups = uf.groups()
    facts = catalog.keeper_facts([x for g in groups for x in g])
    rank = {name: i for i, name in enumerate(source_priority)}

    def priority(example_id: str) -> tuple[int, int, float, str]:
        sources, flags, created = facts.get(example_id, ([], 0, ""))
        best_source = min((rank.get(s, len(rank)) for s in sources), default=len(rank))
        newest_first = -datetime.fromisoformat(created).timestamp() if created else 0.0
        return best_source, flags, newest_first, example_id

    values = []
    for group in groups:
        keeper = min(group, key=priority)
        # The anchor (oldest member) never changes as new members join: exports group by it.
        anchor = min(group, key=lambda x: (facts.get(x, ([], 0, ""))[2], x))
        values += [
            (x, {"keeper_id": keeper, "keeper": x == keeper, "size": len(group), "anchor": anchor})
            for x in group
        ]
    catalog.replace_clusters(values, version, utcnow())
    return len(groups)


def detector_version(version: int, *settings: Any) -> int:
    """A detector's version folded with the settings that shape its output, so a settings change
    re-labels exactly like a new version does."""
    return version * 1_000_003 + xxhash.xxh3_64_intdigest(repr(settings).encode()) % 1_000_003
