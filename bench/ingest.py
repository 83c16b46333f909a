"""Ingest benchmark: a generated chat JSONL (with duplicates), read and parsed bare, then ingested.

    python bench/ingest.py                 # 1 GB
    python bench/ingest.py --gb 4 --workers 2
    python bench/ingest.py --gb 0.1        # quick look

Prints, from one run: bare read MB/s, bare orjson parse MB/s (one core), samdata ingest MB/s with 1
and 2 workers, peak RSS of each ingest (main process and its workers), and the ratio ingest/parse.
Each ingest runs in its own process into a fresh catalog, so RSS figures are its own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

_TOPICS = ["sql", "rust", "bread", "taxes", "tennis", "lora", "git", "cats", "jazz", "french"]


def generate(path: Path, target_bytes: int, dup_share: float = 0.3) -> int:
    """Chat records of realistic size (0.3–3 KB), `dup_share` of them repeats of earlier ones."""
    rng = random.Random(3)
    words = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "is",
        "you",
        "that",
        "it",
        "for",
        "on",
        "are",
        "with",
        "as",
        "this",
        "be",
        "at",
        "have",
        "from",
        "or",
        "can",
    ]
    written = lines = 0
    recent: list[bytes] = []
    with open(path, "wb") as f:
        while written < target_bytes:
            if recent and rng.random() < dup_share:
                line = rng.choice(recent)
            else:
                q = f"Tell me about {rng.choice(_TOPICS)} #{lines}: " + " ".join(
                    rng.choices(words, k=rng.randint(5, 40))
                )
                a = " ".join(rng.choices(words, k=rng.randint(40, 450)))
                line = (
                    orjson.dumps(
                        {
                            "messages": [
                                {"role": "system", "content": "You are SAM."},
                                {"role": "user", "content": q},
                                {"role": "assistant", "content": a},
                            ]
                        }
                    )
                    + b"\n"
                )
                recent.append(line)
                if len(recent) > 5000:
                    recent.pop(0)
            f.write(line)
            written += len(line)
            lines += 1
    return lines


def bare_read(path: Path) -> float:
    t = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass
    return time.perf_counter() - t


def bare_parse(path: Path) -> float:
    t = time.perf_counter()
    loads = orjson.loads
    with open(path, "rb") as f:
        for line in f:
            loads(line)
    return time.perf_counter() - t


_CHILD = """
import json, resource, sys, time
from samdata.catalog import Catalog
from samdata.config import parse_config
from pathlib import Path
from samdata.ingest import run_ingest
work, data, workers = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cfg = parse_config(f'[[sources]]\\nname = "bench"\\npath = "{data}"\\nformat = "chat_jsonl"\\n'
                   f'[ingest]\\nworkers = {workers}\\n', work / "samdata.toml")
with Catalog.open(cfg.catalog_path) as cat:
    t = time.perf_counter()
    report = run_ingest(cfg, cat)
    elapsed = time.perf_counter() - t
print(json.dumps({"elapsed": elapsed, **report.totals(),
                  "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def ingest(path: Path, workers: int, work: Path) -> dict:
    run_dir = work / f"ingest-{workers}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(run_dir), str(path), str(workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["catalog_mb"] = sum(p.stat().st_size for p in (run_dir / ".samdata").iterdir()) / 1e6
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts to run")
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="samdata-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = work / "chat.jsonl"
        print(f"generating {args.gb} GB of chat JSONL …", flush=True)
        lines = generate(data, int(args.gb * 1e9))
        mb = data.stat().st_size / 1e6
        bare_read(data)  # warm the page cache: every figure below reads from memory
        t_read, t_parse = bare_read(data), bare_parse(data)
        print(f"input: {mb:,.0f} MB, {lines:,} lines ({os.cpu_count()} cores)")
        print(f"bare read:          {mb / t_read:8,.0f} MB/s")
        print(f"bare orjson parse:  {mb / t_parse:8,.0f} MB/s (one core, {lines / t_parse:,.0f} lines/s)")
        for w in (int(x) for x in args.workers.split(",")):
            r = ingest(data, w, work)
            rate = mb / r["elapsed"]
            print(
                f"ingest, {w} worker{'s' if w > 1 else ' '}: {rate:8,.1f} MB/s ({r['records'] / r['elapsed']:,.0f} records/s), "
                f"{r['examples_new']:,} distinct examples of {r['examples']:,}; peak RSS main {r['rss_main_mb']:,.0f} MB, "
                f"workers {r['rss_worker_mb']:,.0f} MB; catalog {r['catalog_mb']:,.0f} MB; "
                f"ingest/parse = {rate / (mb / t_parse):.1%} ({rate / w / (mb / t_parse):.1%} per worker)"
            )
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
