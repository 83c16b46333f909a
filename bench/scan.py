"""Scan benchmark: files/s on a tree of small files (first scan and unchanged re-scan), and MB/s
hashing one big file next to `cat FILE > /dev/null` and the bare hash function, in the same run.

    python bench/scan.py                      # 50k files, 2 GB file (needs ~2.3 GB of disk)
    python bench/scan.py --files 5000 --big-mb 256

Figures are printed, not asserted. All reads come from the page cache (the files were just
written), so the three hashing figures are comparable with one another.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from samdata.catalog import Catalog
from samdata.config import ScanSettings, parse_config
from samdata.scan.analyze import analyze_file
from samdata.scan.hashing import hash_stream
from samdata.scan.run import run_scan


def build_tree(root: Path, n_files: int, per_folder: int = 100) -> int:
    rng = random.Random(1)
    total = 0
    for i in range(n_files):
        folder = root / f"d{i // per_folder:04d}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        row = {
            "messages": [
                {"role": "user", "content": f"q{i} {rng.random()}"},
                {"role": "assistant", "content": "a"},
            ]
        }
        data = (json.dumps(row) + "\n").encode() * (1 + i % 3)
        (folder / f"f{i:06d}.jsonl").write_bytes(data)
        total += len(data)
    return total


def write_big(path: Path, mb: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mb):
            f.write(block[i % 251 :] + block[: i % 251])  # no two MiB alike


def write_jsonl(path: Path, mb: int) -> int:
    rng = random.Random(2)
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"question {i} " * 8},
                    {"role": "assistant", "content": "x" * rng.randrange(100, 900)},
                ]
            }
        )
        for i in range(2000)
    ]
    blob = ("\n".join(lines) + "\n").encode()
    n = 0
    with open(path, "wb") as f:
        while f.tell() < mb << 20:
            f.write(blob)
            n += len(lines)
    return n


def timed(fn):
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--big-mb", type=int, default=2048)
    ap.add_argument("--jsonl-mb", type=int, default=256)
    ap.add_argument(
        "--dir", type=Path, default=None, help="work folder (default: a temp folder, removed after)"
    )
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="samdata-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        tree = work / "tree"
        print(f"building {args.files:,} small files …", flush=True)
        nbytes = build_tree(tree, args.files)
        config = parse_config(f'[[roots]]\nname = "tree"\npath = "{tree}"\n', work / "samdata.toml")
        with Catalog.open(config.catalog_path) as cat:
            t1, r1 = timed(lambda: run_scan(config, cat))
            rescans = [timed(lambda: run_scan(config, cat)) for _ in range(3)]
        print(
            f"first scan:   {r1.files_read:,} files ({nbytes / 1e6:.1f} MB) in {t1:.2f} s = "
            f"{r1.files_read / t1:,.0f} files/s ({os.cpu_count()} workers)"
        )
        rates = sorted(r.files_seen / t for t, r in rescans)
        assert all(r.files_read == 0 for _t, r in rescans)
        print(
            f"re-scan x3:   {args.files:,} unchanged files, nothing re-read: "
            + ", ".join(f"{x:,.0f}" for x in rates)
            + f" files/s (median {rates[1]:,.0f}) [goal ≥ 20,000 files/s]"
        )

        big = work / "big.bin"
        print(f"writing a {args.big_mb} MB file …", flush=True)
        write_big(big, args.big_mb)
        size = big.stat().st_size
        subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        t_cat, _ = timed(lambda: subprocess.run(["cat", str(big)], stdout=subprocess.DEVNULL, check=True))

        def bare() -> str:
            with open(big, "rb") as f:
                return hash_stream(f)

        t_bare, _ = timed(bare)
        t_scan, facts = timed(lambda: analyze_file(big, ScanSettings()))
        mbs = lambda t: size / 1e6 / t  # noqa: E731
        print(f"cat > /dev/null:      {mbs(t_cat):8,.0f} MB/s")
        print(f"bare xxh3-128:        {mbs(t_bare):8,.0f} MB/s")
        print(
            f"scan (hash + sniff):  {mbs(t_scan):8,.0f} MB/s = {t_bare / t_scan:.0%} of bare hash [goal ≥ 80%]"
            f" ({facts.format}/{facts.variant})"
        )

        jl = work / "big.jsonl"
        n = write_jsonl(jl, args.jsonl_mb)
        t_jl, facts = timed(lambda: analyze_file(jl, ScanSettings()))
        print(
            f"JSONL {jl.stat().st_size / 1e6:,.0f} MB ({n:,} records): {jl.stat().st_size / 1e6 / t_jl:,.0f} MB/s, "
            f"{facts.records / t_jl:,.0f} records/s, duplicate rate ~{facts.details['duplicate_rate']:.0%} (every record repeats)"
        )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"peak RSS of this process: {rss:,.0f} MB (the 2 GB and {args.jsonl_mb} MB files were streamed)"
        )
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
