"""samdata at the seed's scale: a slice shaped like the owner's 37 GB backup through the CLI.

    python bench/scale.py              # 1 GB slice
    python bench/scale.py --gb 0.2     # quick look
    python bench/scale.py --gb 1 --skip-datatrove

The slice: chat JSONL in several files (a backup of copies), ~1.5 KB records, 70 % exact repeats
of earlier records (byte-identical lines, also across files), 5 % near copies (a few words of the
answer changed). Every stage is the real CLI (`samdata scan|ingest|curate|export --config`) in
its own process, on one catalog, as a user runs it; for each: wall time, CPU seconds (the process
and its workers), peak RSS (the largest of them), throughput. Beside them, in the same run on the
same data: the bare floor (decode + normalise + xxh3 + SQLite insert, one process), datasketch
(`MinHash.update_batch` + `MinHashLSH`, the same bands and rows) and datatrove's MinHash dedup
(bench extra; `--skip-datatrove` leaves it out; it gets the first 20,000 distinct texts, a
per-document rate needs no more), with precision and recall of each near-duplicate
method against the generated truth. Then 1 % new records are appended and the pipeline runs again:
that second run is compared with the first. Last, the projected time for 37 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import xxhash

from samdata.model import normalize_text

BACKUP_GB = 37.0
FILES = 8
WORDS = [
    "the",
    "be",
    "to",
    "of",
    "and",
    "a",
    "in",
    "that",
    "have",
    "it",
    "for",
    "not",
    "on",
    "with",
    "he",
    "as",
    "you",
    "do",
    "at",
    "this",
    "but",
    "his",
    "by",
    "from",
    "they",
    "we",
    "say",
    "her",
    "she",
    "or",
    "an",
    "will",
    "my",
    "one",
    "all",
    "would",
    "there",
    "their",
    "what",
    "so",
    "up",
    "out",
    "if",
    "about",
    "who",
    "get",
    "which",
    "go",
    "me",
    "when",
    "make",
    "can",
    "like",
    "time",
    "no",
    "just",
    "him",
    "know",
    "take",
    "people",
    "into",
    "year",
    "your",
    "good",
    "some",
    "could",
    "them",
    "see",
    "other",
    "than",
    "then",
    "now",
    "look",
    "only",
    "come",
    "its",
    "over",
    "think",
    "also",
    "back",
    "after",
    "use",
    "two",
    "how",
    "our",
    "work",
    "first",
    "well",
    "way",
    "even",
    "new",
    "want",
    "because",
    "any",
    "these",
    "give",
    "day",
    "most",
    "us",
    "data",
    "model",
    "train",
    "file",
    "code",
    "test",
    "run",
    "error",
    "python",
    "function",
    "list",
    "value",
    "return",
    "class",
    "module",
    "import",
    "string",
    "number",
    "table",
    "query",
    "server",
    "client",
    "request",
    "response",
    "cache",
    "memory",
    "disk",
    "drive",
    "backup",
    "export",
    "folder",
    "path",
    "config",
    "setting",
    "option",
    "batch",
    "token",
    "loss",
    "step",
    "adapter",
    "learning",
    "rate",
    "schedule",
    "coffee",
    "recipe",
    "garden",
    "weather",
    "travel",
    "train",
    "ticket",
    "flight",
    "hotel",
    "budget",
    "invoice",
    "meeting",
    "calendar",
    "email",
    "reminder",
    "note",
    "idea",
    "plan",
    "question",
    "answer",
    "reason",
    "because",
    "therefore",
    "however",
    "although",
    "meanwhile",
    "finally",
]


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return words[0].capitalize() + " " + " ".join(words[1:]) + rng.choice([".", ".", ".", "?", "!"])


def _record(rng: random.Random, i: int) -> dict[str, Any]:
    question = f"{_sentence(rng, rng.randint(8, 20))} (#{i})"
    answer = " ".join(_sentence(rng, rng.randint(8, 22)) for _ in range(rng.randint(8, 14)))
    if rng.random() < 0.1:
        answer += "\n\n```python\ndef step(x):\n    return x * 2\n```"
    return {"messages": [{"role": "system", "content": "You are SAM."}, {"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]}  # fmt: skip


def _near_copy(rng: random.Random, record: dict[str, Any]) -> dict[str, Any]:
    answer = record["messages"][2]["content"].split(" ")
    for _ in range(max(1, len(answer) // 100)):
        answer[rng.randrange(len(answer))] = rng.choice(WORDS)
    messages = [dict(m) for m in record["messages"]]
    messages[2]["content"] = " ".join(answer)
    return {"messages": messages}


def generate(folder: Path, target_bytes: int, seed: int = 1, start: int = 0) -> dict[str, Any]:
    """Write the slice; return lines, bytes, unique bytes and the near-copy truth (pairs of lines)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pool: list[bytes] = []  # unique lines written so far (the repeats are drawn from them)
    originals: list[tuple[dict[str, Any], bytes]] = []
    truth: list[tuple[str, str]] = []  # (original line, near copy line), as xxh3 of the lines
    files = [open(folder / f"part-{start + k:03d}.jsonl", "ab") for k in range(FILES)]  # noqa: SIM115
    written = unique = lines = 0
    i = start * 1_000_000
    try:
        while written < target_bytes:
            r = rng.random()
            if pool and r < 0.70:
                line = rng.choice(pool)
            elif originals and r < 0.75:
                original, original_line = rng.choice(originals)
                line = orjson.dumps(_near_copy(rng, original)) + b"\n"
                truth.append((xxhash.xxh3_64_hexdigest(original_line), xxhash.xxh3_64_hexdigest(line)))
                pool.append(line)
                unique += len(line)
            else:
                record = _record(rng, i)
                i += 1
                line = orjson.dumps(record) + b"\n"
                pool.append(line)
                originals.append((record, line))
                unique += len(line)
            if len(pool) > 20_000:  # bounded memory: repeats come from the recent past, as in a backup
                pool = pool[-10_000:]
                originals = originals[-5_000:]
            files[lines % FILES].write(line)
            written += len(line)
            lines += 1
    finally:
        for f in files:
            f.close()
    return {"lines": lines, "bytes": written, "unique_bytes": unique, "truth": truth}


_FLOOR = """
import sqlite3, sys, orjson, xxhash
from pathlib import Path
from samdata.model import normalize_text
con = sqlite3.connect(sys.argv[2])
con.execute("CREATE TABLE e (id TEXT PRIMARY KEY, body TEXT) WITHOUT ROWID")
con.execute("CREATE TABLE p (id INTEGER PRIMARY KEY, example_id TEXT, line INTEGER)")
rows, prov = [], []
for path in sorted(Path(sys.argv[1]).glob("*.jsonl")):
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            d = orjson.loads(line)
            for m in d["messages"]:
                m["content"] = normalize_text(m["content"])
            body = orjson.dumps(d, option=orjson.OPT_SORT_KEYS)
            h = xxhash.xxh3_128_hexdigest(body)
            rows.append((h, body.decode())); prov.append((h, n))
            if len(rows) >= 5000:
                con.executemany("INSERT OR IGNORE INTO e VALUES (?, ?)", rows)
                con.executemany("INSERT INTO p (example_id, line) VALUES (?, ?)", prov)
                con.commit(); rows.clear(); prov.clear()
con.executemany("INSERT OR IGNORE INTO e VALUES (?, ?)", rows)
con.executemany("INSERT INTO p (example_id, line) VALUES (?, ?)", prov)
con.commit()
"""


def measured(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """Wall time, CPU seconds (the command and every worker it waited for) and peak RSS (the largest
    of them) of a command, measured by a tiny parent that reports on its own children."""
    probe = (
        "import json, os, resource, subprocess, sys, time\n"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "wall = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "sys.stdout.buffer.write(p.stdout); sys.stderr.buffer.write(p.stderr)\n"
        "print(json.dumps({'rc': p.returncode, 'wall': wall, 'cpu': u.ru_utime + u.ru_stime,"
        " 'rss_mb': u.ru_maxrss / 1024}), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True, check=False)
    err = proc.stderr.decode()
    figures = json.loads(err.strip().splitlines()[-1])
    if figures["rc"]:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return {**figures, "stdout": proc.stdout.decode()}


def _samdata(*args: str) -> list[str]:
    return [sys.executable, "-m", "samdata", *args]


def _unique_texts(data: Path) -> tuple[list[str], dict[str, int]]:
    """The distinct records' answer texts (what near-dup signs), and each line hash's index."""
    from samdata.curate import neardup

    texts, index = [], {}
    for path in sorted(data.glob("*.jsonl")):
        with open(path, "rb") as f:
            for line in f:
                h = xxhash.xxh3_64_hexdigest(line)
                if h not in index:
                    index[h] = len(texts)
                    body = orjson.loads(line)
                    body["kind"] = "sft"
                    for m in body["messages"]:
                        m["content"] = normalize_text(m["content"])
                    texts.append(neardup.example_text(body))
    return texts, index


def _score(pairs: set[tuple[int, int]], truth: set[tuple[int, int]]) -> tuple[float, float]:
    found = len(pairs & truth)
    return (found / len(pairs) if pairs else 1.0), (found / len(truth) if truth else 1.0)


def datasketch_dedup(texts: list[str], bands: int, rows: int, threshold: float) -> dict[str, Any]:
    """datasketch on the same shingles samdata uses (word 5-grams of the normalised text)."""
    from datasketch import MinHash, MinHashLSH

    from samdata.curate import neardup

    params = neardup.NearDupParams()
    t0 = time.process_time()
    lsh = MinHashLSH(threshold=threshold, num_perm=bands * rows, params=(bands, rows))
    pairs: set[tuple[int, int]] = set()
    for start in range(0, len(texts), 1000):
        docs = neardup.shingles_batch(texts[start : start + 1000], params)
        for k, doc in enumerate(docs):
            m = MinHash(num_perm=bands * rows, seed=1)
            m.update_batch([int(x).to_bytes(8, "little") for x in doc])
            i = start + k
            for j in lsh.query(m):
                pairs.add((min(i, j), max(i, j)))
            lsh.insert(i, m)
    cpu = time.process_time() - t0
    return {"cpu": cpu, "pairs": pairs}


def catalog_pairs(catalog: Path, index: dict[str, int], data: Path) -> set[tuple[int, int]]:
    """samdata's near-duplicate pairs, as indices of the distinct texts."""
    by_id: dict[str, int] = {}
    with sqlite3.connect(catalog) as c:
        lines = {}
        for path in sorted(data.glob("*.jsonl")):
            lines[str(path)] = path.read_bytes().split(b"\n")
        for example_id, file, locator in c.execute("SELECT example_id, file, locator FROM provenance_paths"):
            line = lines[file][json.loads(locator)["line"] - 1] + b"\n"
            by_id.setdefault(example_id, index[xxhash.xxh3_64_hexdigest(line)])
        pairs = set()
        clusters: dict[str, list[int]] = {}
        for example_id, value in c.execute(
            "SELECT example_id, neardup FROM labels WHERE neardup IS NOT NULL"
        ):
            clusters.setdefault(json.loads(value)["keeper_id"], []).append(by_id[example_id])
    for members in clusters.values():
        members = sorted(set(members))
        pairs |= {(a, b) for k, a in enumerate(members) for b in members[k + 1 :]}
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="size of the slice")
    ap.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder, removed)")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument(
        "--datatrove-docs", type=int, default=20_000, help="texts given to datatrove (it is slow)"
    )
    args = ap.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="samdata-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "backup"
    try:
        print(f"generating a {args.gb:g} GB slice …", flush=True)
        gen = generate(data, int(args.gb * 1e9))
        mb = gen["bytes"] / 1e6
        cfg = work / "samdata.toml"
        cfg.write_text(
            f'[[roots]]\nname = "backup"\npath = "{data}"\n'
            f'[[sources]]\nname = "backup"\npath = "{data}/*.jsonl"\nformat = "chat_jsonl"\n'
            '[recipes.sft]\nsources = ["backup"]\nsplits = { train = 0.9, valid = 0.05, test = 0.05 }\n'
        )
        print(f"slice: {mb:,.0f} MB in {FILES} files, {gen['lines']:,} records, "
              f"{gen['unique_bytes'] / 1e6:,.0f} MB unique, {len(gen['truth']):,} near copies; {os.cpu_count()} cores")  # fmt: skip
        floor = measured([sys.executable, "-c", _FLOOR, str(data), str(work / "floor.db")], work)
        stages = {}
        for stage, argv in (
            ("scan", ["scan", "--config", str(cfg)]),
            ("ingest", ["ingest", "--config", str(cfg)]),
            ("curate", ["curate", "--config", str(cfg), "--json"]),
            ("export", ["export", "sft", "--config", str(cfg), "--out", str(work / "export"), "--json"]),
        ):
            stages[stage] = measured(_samdata(*argv), work)
        curate = json.loads(stages["curate"]["stdout"])
        export = json.loads(stages["export"]["stdout"])
        examples = sum(curate["labelled"].values()) and max(curate["labelled"].values())
        catalog = work / ".samdata" / "catalog.db"
        catalog_mb = sum(p.stat().st_size for p in catalog.parent.glob("catalog.db*")) / 1e6

        def line(name: str, f: dict[str, Any], extra: str = "") -> None:
            print(f"{name:<8} {f['wall']:8.1f} s  {mb / f['wall']:7.1f} MB/s  cpu {f['cpu']:7.1f} s"
                  f"  peak RSS {f['rss_mb']:6.0f} MB  {extra}")  # fmt: skip

        print(f"\n{'stage':<8} {'wall':>10}  {'input/s':>11}  {'cpu':>11}  {'peak RSS':>15}")
        line("floor", floor, "decode + normalise + xxh3 + SQLite insert, one process")
        for stage in ("scan", "ingest", "curate", "export"):
            extra = ""
            if stage == "curate":
                extra = f"{examples / stages[stage]['wall']:,.0f} fresh examples/s"
            if stage == "export":
                rows = sum(export["counts"].values())
                extra = f"{rows / stages[stage]['wall']:,.0f} rows/s"
            line(stage, stages[stage], extra)
        both = stages["ingest"]["wall"] + stages["curate"]["wall"]
        print(
            f"\ningest + curate: {both:.1f} s = {floor['wall'] / both:.2f}x the floor's speed;"
            f" 37 GB would take {both * BACKUP_GB / (mb / 1000) / 60:,.1f} min"
            f" (all four stages: {sum(s['wall'] for s in stages.values()) * BACKUP_GB / (mb / 1000) / 60:,.1f} min)"
        )
        secs = curate["seconds"]
        busy = sum(v for k, v in secs.items() if k not in ("write", "verify", "cluster", "funnel"))
        print("curate time by detector (worker CPU s): " + ", ".join(
            f"{k} {v:.1f} ({v / busy:.0%})" for k, v in secs.items() if k not in ("write", "verify", "cluster", "funnel")))  # fmt: skip
        print(
            "curate main process (s): "
            + ", ".join(f"{k} {secs[k]:.1f}" for k in ("write", "verify", "cluster", "funnel"))
        )
        print(
            f"catalog: {catalog_mb:,.0f} MB = {catalog_mb / (gen['unique_bytes'] / 1e6):.2f}x the unique input; "
            + ", ".join(f"{name} {mb:,.0f}" for name, mb in catalog_tables(catalog)[:10])
            + " MB"
        )

        # Near-duplicates: samdata as users run it vs datasketch, on the same distinct texts.
        texts, index = _unique_texts(data)
        # An original and its near copies are all near each other: every pair within such a group.
        groups: dict[str, set[int]] = {}
        for a, b in gen["truth"]:
            groups.setdefault(a, {index[a]}).add(index[b])
        truth = {(x, y) for g in groups.values() for x in g for y in g if x < y}
        ours = catalog_pairs(catalog, index, data)
        p, r = _score(ours, truth)
        ours_cpu = secs["minhash"] + secs["verify"] + secs["cluster"]
        ds = datasketch_dedup(texts, 20, 6, 0.7)
        dp, dr = _score(ds["pairs"], truth)
        print(
            f"\nnear-dups on {len(texts):,} distinct texts: samdata {len(texts) / ours_cpu:,.0f} docs/CPU-s"
            f" (precision {p:.3f}, recall {r:.3f}); datasketch {len(texts) / ds['cpu']:,.0f} docs/CPU-s"
            f" (precision {dp:.3f}, recall {dr:.3f}): {ds['cpu'] / ours_cpu:.1f}x"
        )
        if not args.skip_datatrove:
            sample = texts[: args.datatrove_docs]
            print(f"datatrove on the first {len(sample):,} of them: {datatrove_dedup(sample, work)}")

        # A second run after 1 % new records.
        grown = generate(data, int(gen["bytes"] * 0.01), seed=2, start=FILES)
        again = {}
        for stage, argv in (("scan", ["scan", "--config", str(cfg)]), ("ingest", ["ingest", "--config", str(cfg)]),
                            ("curate", ["curate", "--config", str(cfg), "--json"])):  # fmt: skip
            again[stage] = measured(_samdata(*argv), work)
        first = sum(stages[s]["wall"] for s in again)
        second = sum(a["wall"] for a in again.values())
        print(
            f"\nafter appending {grown['bytes'] / 1e6:,.1f} MB (1 %): scan + ingest + curate {second:.1f} s"
            f" = {second / first:.1%} of the first run's {first:.1f} s ("
            + ", ".join(f"{k} {v['wall']:.1f} s" for k, v in again.items())
            + ")"
        )
        redo = json.loads(again["curate"]["stdout"])
        print(
            "second curate (s): "
            + ", ".join(f"{k} {redo['seconds'][k]:.2f}" for k in ("write", "verify", "cluster", "funnel"))
            + f"; clusters redone: {redo['reclustered']}"
        )
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


def catalog_tables(catalog: Path) -> list[tuple[str, float]]:
    """MB per table and index of the catalog (SQLite's dbstat), largest first."""
    conn = sqlite3.connect(catalog)
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) / 1e6 FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    finally:
        conn.close()
    return [(name, mb) for name, mb in rows]


def datatrove_dedup(texts: list[str], work: Path) -> str:
    """datatrove's MinHash dedup (signatures, buckets, clusters) on the same texts, one task."""
    try:
        from datatrove.executor import LocalPipelineExecutor
        from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupSignature
        from datatrove.pipeline.dedup.minhash import MinhashConfig
        from datatrove.pipeline.readers import JsonlReader
    except ImportError:
        return "not installed (pip install 'samdata[bench]')"
    from loguru import logger

    logger.remove()  # its per-task logs would bury the figures
    folder = work / "datatrove"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "in").mkdir(parents=True)
    with open(folder / "in" / "docs.jsonl", "wb") as f:
        for i, t in enumerate(texts):
            f.write(orjson.dumps({"id": str(i), "text": t}) + b"\n")
    from datatrove.utils.hashing import HashConfig

    # sha1: datatrove's xxhash path hands str to xxhash, which xxhash 4 refuses.
    config = MinhashConfig(
        num_buckets=20, hashes_per_bucket=6, n_grams=5, hash_config=HashConfig(hash_fc="sha1")
    )
    t0 = time.perf_counter()
    cpu0 = os.times()
    for steps, name in (
        ([JsonlReader(str(folder / "in")), MinhashDedupSignature(output_folder=str(folder / "sigs"), config=config)], "sig"),
        ([MinhashDedupBuckets(input_folder=str(folder / "sigs"), output_folder=str(folder / "buckets"), config=config)], "buckets"),
        ([MinhashDedupCluster(input_folder=str(folder / "buckets"), output_folder=str(folder / "remove_ids"), config=config,
                              save_cluster_id=True)], "cluster"),
    ):  # fmt: skip
        tasks = 20 if name == "buckets" else 1
        LocalPipelineExecutor(
            pipeline=steps, tasks=tasks, workers=1, logging_dir=str(folder / f"logs-{name}")
        ).run()
    cpu1 = os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system) + (cpu1.children_user - cpu0.children_user)
    wall = time.perf_counter() - t0
    return f"{len(texts) / max(cpu, 1e-9):,.0f} docs/CPU-s ({wall:.1f} s wall, 20 bucket tasks, spaCy word tokens)"


if __name__ == "__main__":
    main()
