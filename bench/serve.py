"""The dashboard at scale: p50/p95 of the overview, a search and an example page of a real
`samdata serve` process over a catalog of N examples (default 1,000,000).

    python bench/serve.py [--examples 1000000] [--requests 20] [--keep DIR]

The catalog is written straight into the catalog's schema by this script (examples, provenance,
labels, verdicts, the search index) in the shapes ingest and curate write, because building it
through ingest + curate would take most of an hour on two cores; the pages then read it as they
read any catalog. Goals (issue 13): overview < 500 ms, search < 300 ms, example < 200 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.serve.loadgen import Server  # noqa: E402

from samdata.catalog import Catalog, utcnow  # noqa: E402

WORDS = [
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "is",
    "it",
    "you",
    "that",
    "for",
    "on",
    "with",
    "as",
    "this",
    "be",
    "are",
    "was",
    "at",
    "or",
    "by",
    "from",
    "not",
    "have",
    "can",
    "your",
    "model",
    "data",
    "train",
    "file",
    "python",
    "code",
    "error",
    "test",
    "memory",
    "answer",
    "question",
    "weather",
    "lighthouse",
    "garden",
    "recipe",
    "travel",
    "music",
    "history",
    "budget",
    "email",
    "meeting",
    "schedule",
    "project",
    "design",
    "server",
    "query",
    "index",
    "search",
    "page",
]
SOURCES = ["chatgpt", "claude-code", "captures", "dolly", "oasst", "backup"]
LANGS = ["en"] * 8 + ["de", "fr"]
CATEGORIES = ["code", "explanation", "writing", "advice", "chat", "math"]


def build(path: Path, n: int, seed: int = 3) -> float:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    with Catalog.open(path) as cat:
        c = cat.conn
        c.execute("PRAGMA synchronous = OFF")
        run = c.execute(
            "INSERT INTO ingest_runs (started_at, status) VALUES (?, 'done')", (utcnow(),)
        ).lastrowid
        files = {}
        for s in SOURCES:
            c.execute("INSERT INTO ingest_files (source, path) VALUES (?, ?)", (s, f"/data/{s}.jsonl"))
            files[s] = c.execute("SELECT id FROM ingest_files WHERE source = ?", (s,)).fetchone()[0]
        batch = 20_000
        for start in range(0, n, batch):
            ex, prov, attrs, fts = [], [], [], []
            for i in range(start, min(n, start + batch)):
                q = " ".join(rng.choices(WORDS, k=12)) + f" #{i}?"
                a = " ".join(rng.choices(WORDS, k=40)) + "."
                body = orjson.dumps({"kind": "sft", "messages": [{"content": q, "role": "user"},
                                                                 {"content": a, "role": "assistant"}]}).decode()  # fmt: skip
                eid = f"{i:032x}"
                month = f"2026-{1 + i * 12 // n:02d}-01T00:00:00+00:00"
                ex.append((eid, "sft", body, 2, len(q) + len(a), run, month))
                source = SOURCES[i % len(SOURCES)]
                prov.append((eid, files[source], orjson.dumps({"line": i}).decode(), "{}", run))
                flags = [{"flag": "short_answer", "reason": "2 words"}] if i % 17 == 0 else []
                attrs.append((
                    eid, "[]", orjson.dumps(flags).decode(),
                    orjson.dumps({"lang": rng.choice(LANGS), "p": 0.99}).decode(),
                    orjson.dumps({"category": rng.choice(CATEGORIES)}).decode(),
                    orjson.dumps({"tokens": 60 + i % 300}).decode(),
                    orjson.dumps({"kept": not flags, "reason": "short_answer" if flags else None}).decode(),
                ))  # fmt: skip
                fts.append((q + "\n" + a,))
            c.executemany(
                "INSERT INTO examples (id, kind, body, turns, chars, first_run, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ex,
            )
            c.executemany(
                "INSERT INTO provenance (example_id, file_id, locator, meta, ingest_run) VALUES (?, ?, ?, ?, ?)",
                prov,
            )
            c.executemany(
                "INSERT INTO labels (example_id, secrets, secrets_version, quality, quality_version, language,"
                " language_version, category, category_version, tokens, tokens_version, verdict)"
                " VALUES (?1, ?2, 1, ?3, 1, ?4, 1, ?5, 1, ?6, 1, ?7)",
                attrs,
            )
            first = c.execute("SELECT min(rowid) FROM examples WHERE id = ?", (ex[0][0],)).fetchone()[0]
            c.executemany(
                "INSERT INTO examples_fts (rowid, text) VALUES (?, ?)",
                [(first + k, t) for k, (t,) in enumerate(fts)],
            )
            c.commit()
            print(f"\r  built {min(n, start + batch):,} examples", end="", flush=True)
    print()
    return time.perf_counter() - t0


def timed(http: httpx.Client, path: str, n: int) -> tuple[float, float]:
    http.get(path).raise_for_status()  # warm: the first answer opens the catalog's pages
    seconds = []
    for _ in range(n):
        t = time.perf_counter()
        http.get(path).raise_for_status()
        seconds.append(time.perf_counter() - t)
    seconds.sort()
    return statistics.median(seconds), seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--keep", type=Path, help="build (or reuse) the catalog in this folder")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="samdata-bench-serve-")
    folder = args.keep or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "samdata.toml"
    config.write_text('catalog = "catalog.db"\n')
    if not (folder / "catalog.db").exists():
        print(f"building a catalog of {args.examples:,} examples in {folder} …")
        print(f"  {build(folder / 'catalog.db', args.examples):.0f} s")
    server = Server(config)
    server.start()
    goals = {"overview": 0.5, "search": 0.3, "facet": 0.3, "example": 0.2}
    paths = {
        "overview": "/",
        "search": "/examples?q=lighthouse+garden",
        "facet": "/examples?q=weather&language=de",
        "example": f"/examples/{args.examples // 2:032x}",
    }
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            print(f"{'page':<10}{'p50':>10}{'p95':>10}{'goal':>8}  path")
            for name, path in paths.items():
                p50, p95 = timed(http, path, args.requests)
                mark = "ok" if p95 < goals[name] else "MISSED"
                print(
                    f"{name:<10}{p50 * 1e3:>8.0f}ms{p95 * 1e3:>8.0f}ms{goals[name] * 1e3:>6.0f}ms  {path}  {mark}"
                )
    finally:
        server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
