"""Export benchmark: a catalog of N curated chat examples exported by `run_export` (format mlx).

    python bench/export.py                   # 1,000,000 examples (and 100,000 for the memory slope)
    python bench/export.py --n 200000        # quicker look

The catalog is filled through the catalog API (ingest's commit_batch, curate's save_labels)
with the labels curate writes, which is much faster than running ingest and curate; that set-up
is not timed. Each export runs in its own process, so its peak RSS is its own. Prints examples/s
written (one process, one core) and peak RSS at two sizes: flat memory means equal RSS.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from samdata.catalog import Catalog, utcnow
from samdata.catalog.ingest import ExampleRow
from samdata.config import parse_config
from samdata.model import Example, Message

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "data",
    "model",
    "train",
    "export",
    "split",
    "valid",
    "loss",
    "adapter",
    "token",
    "lora",
    "sam",
    "owner",
]
CONFIG = """
[[sources]]
name = "chats"
path = "{data}/chats.jsonl"
format = "chat_jsonl"

[recipes.bench]
sources = ["chats"]
kinds = ["sft"]
splits = {{ train = 0.9, valid = 0.05, test = 0.05 }}
format = "mlx"
"""


def fill(catalog: Catalog, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    run_id = catalog.start_ingest(["chats"], utcnow())
    file = "/bench/chats.jsonl"
    batch = 20_000
    for start in range(0, n, batch):
        rows, secrets, tokens, category, quality = [], [], [], [], []
        for i in range(start, min(n, start + batch)):
            q = " ".join(rng.choices(WORDS, k=rng.randint(8, 40)))
            a = " ".join(rng.choices(WORDS, k=rng.randint(20, 120)))
            ex = Example(kind="sft", messages=[Message(role="user", content=f"{i} {q}"),
                                               Message(role="assistant", content=a)])  # fmt: skip
            rows.append(ExampleRow.of(ex, {"line": i + 1}, {}))
            secrets.append((ex.id, []))
            tokens.append(
                (ex.id, {"tokens": len(q.split()) + len(a.split()) + 10, "train_tokens": len(a.split())})
            )
            category.append((ex.id, {"category": "general", "confidence": 1.0, "by": "source"}))
            quality.append((ex.id, []))
        catalog.commit_batch(run_id, "chats", file, rows, [], None, utcnow())
        values = {"secrets": secrets, "tokens": tokens, "category": category, "quality": quality}
        catalog.save_labels(values, dict.fromkeys(values, 1), [], [], [])


def child(catalog_path: str, config_path: str, out: str) -> None:
    """Run one export in this process and print its figures as JSON."""
    from samdata.config import load_config
    from samdata.export import run_export

    config = load_config(Path(config_path))
    with Catalog.open(catalog_path) as catalog:
        t = time.perf_counter()
        result = run_export(config, catalog, "bench", Path(out))
        seconds = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": sum(result.counts.values()), "seconds": seconds, "rss_mb": rss_mb}))


def measure(tmp: Path, n: int) -> dict[str, float]:
    work = tmp / f"n{n}"
    work.mkdir()
    config_path = work / "samdata.toml"
    config_path.write_text(CONFIG.format(data=work))
    config = parse_config(config_path.read_text(), config_path)
    t = time.perf_counter()
    with Catalog.open(config.catalog_path) as catalog:
        fill(catalog, n)
    print(f"  set-up: {n:,} examples in the catalog in {time.perf_counter() - t:.0f}s", flush=True)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(config.catalog_path), str(config_path), str(work / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode:
        raise SystemExit(f"export failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=3, metavar=("CATALOG", "CONFIG", "OUT"))
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="samdata-bench-export-") as tmp:
        for n in sorted({max(args.n // 10, 1000), args.n}):
            r = measure(Path(tmp), n)
            print(f"export {r['rows']:>9,} examples: {r['rows'] / r['seconds']:>9,.0f} examples/s "
                  f"({r['seconds']:.1f}s), peak RSS {r['rss_mb']:.0f} MB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
