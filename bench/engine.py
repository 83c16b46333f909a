"""The Ray engine against the local one, on the same input, on this machine; and a scaling model
for N nodes from measured per-task costs.

    python bench/engine.py             # a 200 MB slice shaped like the owner's backup
    python bench/engine.py --mb 50     # quick look

Part 1, the path users run: `samdata ingest` and `samdata curate --config` as processes, once with
`--engine local` (worker processes on every core) and once with `--engine ray` (a Ray started for
the command on this machine, with as many CPUs), each on a fresh catalog; wall time per stage, the
overhead ratio (goal: Ray <= 1.5x local), and the check that both catalogs hold the same rows.

Part 2, the model: the same stages in one process through the API, timing what the batch
functions cost (C, CPU seconds in the tasks) apart from the single writer's share (W, the main
process: reading batches, committing results) and counting the tasks (T). Ray's cost per task (o)
comes from part 1: o = (Ray wall - S - max(W, C / n)) * n / T on n CPUs, S being what starting
a Ray on this machine and running its first task costs (measured alone). A cluster of N nodes with k
CPUs each then takes about  S + max(W, (C + T * o) / (N * k))  per stage (S: starting the engine):
the tasks spread, the writer does not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import _samdata, generate, measured

from samdata.catalog import Catalog, connect
from samdata.config import load_config
from samdata.curate import run_curate
from samdata.engine import LocalEngine, Tasks, default_workers
from samdata.ingest import run_ingest

STAGES = ("ingest", "curate")
# Rows that must match between engines (times and run numbers left out).
SAME = (
    "SELECT id, kind, body_text(body) FROM examples",
    "SELECT example_id, source, file, locator FROM provenance_paths",
    "SELECT * FROM labels",
    "SELECT source, file, locator, reason FROM quarantine",
    "SELECT a, b, jaccard FROM neardup_pairs",
)


def _config(folder: Path, data: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "samdata.toml"
    # Every file through the engine: the slice's files are smaller than the default threshold.
    path.write_text(
        f'[[sources]]\nname = "backup"\npath = "{data}/*.jsonl"\nformat = "chat_jsonl"\n'
        "[ingest]\nparallel_min_bytes = 0\n"
    )
    return path


def _digest(catalog: Path) -> list[int]:
    conn = connect(catalog)
    try:
        return [hash(tuple(sorted(map(repr, conn.execute(sql))))) for sql in SAME]
    finally:
        conn.close()


class TimedEngine(LocalEngine):
    """One process, timing the batch function apart from everything else."""

    def __init__(self) -> None:
        super().__init__(1)
        self.task_s = 0.0
        self.tasks = 0

    def _tasks(
        self, fn: Callable[[Any], Any], initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
    ) -> AbstractContextManager[Tasks]:
        def timed(item: Any) -> Any:
            t = time.perf_counter()
            result = fn(item)
            self.task_s += time.perf_counter() - t
            self.tasks += 1
            return result

        return super()._tasks(timed, initializer, initargs)


START = """
import sys, time
t = time.perf_counter()
import ray
ray.init(address="local", num_cpus=int(sys.argv[1]), include_dashboard=False, logging_level="warning")
ray.get(ray.remote(lambda: 1).remote())
ray.shutdown()
print(time.perf_counter() - t)
"""


def ray_start_s(cpus: int) -> float:
    """S: import Ray, start it on this machine, run one task, stop it."""
    done = subprocess.run(
        [sys.executable, "-c", START, str(cpus)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def model(config_path: Path) -> dict[str, dict[str, float]]:
    """C, W and T of each stage, measured in one process."""
    config = load_config(config_path)
    out = {}
    with Catalog.open(config.catalog_path) as cat:
        for stage in STAGES:
            engine = TimedEngine()
            t = time.perf_counter()
            if stage == "ingest":
                run_ingest(config, cat, engine=engine)
            else:
                run_curate(config, cat, engine=engine)
            wall = time.perf_counter() - t
            out[stage] = {"C": engine.task_s, "W": wall - engine.task_s, "T": engine.tasks}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=200.0, help="size of the slice")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="samdata-engine-"))
    try:
        data = work / "data"
        generate(data, int(args.mb * (1 << 20)))
        cpus = default_workers()
        runs: dict[str, dict[str, Any]] = {}
        for engine in ("local", "ray"):
            cfg = _config(work / engine, data)
            runs[engine] = {
                stage: measured(_samdata(stage, "--config", str(cfg), "--engine", engine), work)
                for stage in STAGES
            }
            runs[engine]["digest"] = _digest(work / engine / ".samdata" / "catalog.db")
        same = runs["local"]["digest"] == runs["ray"]["digest"]
        costs = model(_config(work / "model", data))
        start = ray_start_s(cpus)
        rows = []
        for stage in STAGES:
            local_s, ray_s = runs["local"][stage]["wall"], runs["ray"][stage]["wall"]
            c = costs[stage]
            per_task = max(0.0, (ray_s - start - max(c["W"], c["C"] / cpus)) * cpus / max(c["T"], 1))
            rows.append({"stage": stage, "local_s": local_s, "ray_s": ray_s, "ratio": ray_s / local_s,
                         "C_s": c["C"], "W_s": c["W"], "tasks": c["T"], "ray_s_per_task": per_task})  # fmt: skip
        print(f"{args.mb:.0f} MB slice, {cpus} CPUs; catalogs identical: {same}; Ray start S = {start:.1f} s")
        print(
            f"{'stage':8} {'local s':>8} {'ray s':>8} {'ray/local':>9} {'C s':>8} {'W s':>8} {'tasks':>6} {'o ms':>7}"
        )
        for r in rows:
            print(f"{r['stage']:8} {r['local_s']:8.1f} {r['ray_s']:8.1f} {r['ratio']:9.2f} {r['C_s']:8.1f} "
                  f"{r['W_s']:8.1f} {r['tasks']:6d} {r['ray_s_per_task'] * 1000:7.1f}")  # fmt: skip
        total = sum(r["ray_s"] for r in rows) / sum(r["local_s"] for r in rows)
        print(f"ingest + curate: Ray {total:.2f}x the local wall time (goal <= 1.5x)")
        print(
            f"model, Ray wall per stage on N nodes x 2 CPUs: S + max(W, (C + T*o) / (2N)), S = {start:.1f} s"
        )
        for n in (1, 2, 4, 8, 16):
            est = [
                start + max(r["W_s"], (r["C_s"] + r["tasks"] * r["ray_s_per_task"]) / (2 * n)) for r in rows
            ]
            bound = (
                " (the writer bounds it)"
                if any(e == start + r["W_s"] for e, r in zip(est, rows, strict=True))
                else ""
            )
            print(
                f"  N={n:2d}: "
                + ", ".join(f"{r['stage']} {e:.1f} s" for r, e in zip(rows, est, strict=True))
                + bound
            )
        if args.json:
            args.json.write_text(json.dumps({"mb": args.mb, "cpus": cpus, "identical": same, "ray_start_s": start, "stages": rows,
                                             "ray_over_local": total}, indent=2))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
