"""Live capture over HTTP: acknowledged captures/s and latency of a real `samdata serve` process,
beside the same captures written in-process through `samdata.capture.Capture`, in one run.

    python bench/capture.py [--clients 8] [--seconds 30]

The server runs as `samdata serve` on loopback; every client posts conversations with a unique
Idempotency-Key and waits for each answer (201 = committed, synchronous=FULL). Prints requests/s,
p50/p99/max latency, and checks the catalog holds every acknowledged capture exactly once.
Goal (issue 12): >= 500 captures/s on 2 cores with p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.serve.loadgen import Server, body, run_load  # noqa: E402

from samdata.capture import Capture  # noqa: E402
from samdata.catalog import Catalog  # noqa: E402


def in_process(catalog: Path, seconds: float) -> tuple[int, float]:
    """One process calling `Capture.record_conversation` in a loop (one transaction per capture)."""
    cap = Capture(catalog)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        b = body(f"direct-{n:07d}")
        cap.record_conversation(b["messages"], b["meta"])  # type: ignore[arg-type]
        n += 1
    return n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="samdata-bench-capture-") as tmp:
        config = Path(tmp) / "samdata.toml"
        config.write_text('catalog = "catalog.db"\n')
        server = Server(config)
        server.start()
        try:
            load = run_load(server.url, args.clients, args.seconds)
        finally:
            server.stop()
        with Catalog.open(Path(tmp) / "catalog.db", readonly=True) as cat:
            keys = cat.conn.execute("SELECT count(*) FROM capture_requests").fetchone()[0]
            examples = cat.conn.execute("SELECT count(*) FROM examples").fetchone()[0]
        n, secs = in_process(Path(tmp) / "direct.db", min(args.seconds, 10.0))
    ms = 1e3
    print(f"{os.cpu_count()} cores, {args.clients} clients, {load.seconds:.1f} s")
    print(f"{'path':<28}{'captures/s':>12}{'p50':>10}{'p99':>10}{'max':>10}")
    print(f"{'samdata serve (HTTP)':<28}{len(load.acked) / load.seconds:>12,.0f}"
          f"{load.percentile(50) * ms:>8.1f}ms{load.percentile(99) * ms:>8.1f}ms"
          f"{max(load.latencies, default=0) * ms:>8.1f}ms")  # fmt: skip
    print(f"{'Capture() in-process, 1 thr':<28}{n / secs:>12,.0f}{secs / max(n, 1) * ms:>8.1f}ms (mean)")
    exact = keys == examples == len(load.acked) and not load.errors
    print(f"acknowledged {len(load.acked):,}, stored keys {keys:,}, examples {examples:,}, errors"
          f" {len(load.errors)}: {'exactly once' if exact else 'MISMATCH'}")  # fmt: skip
    sys.exit(0 if exact else 1)


if __name__ == "__main__":
    main()
