"""Catalog SQL for ingest: examples, provenance, quarantine, runs and per-file progress."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from samdata.catalog.bodies import TRAIN_AT, TRAIN_SAMPLES, BodyCodec, dict_id_of, train
from samdata.model import Example


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(slots=True)
class ExampleRow:
    """An example ready to store: id, kind, canonical body, and where it was found."""

    id: str
    kind: str
    body: str
    turns: int
    chars: int
    locator: str  # canonical JSON
    meta: str  # canonical JSON

    @classmethod
    def of(cls, example: Example, locator: dict[str, Any], meta: dict[str, Any]) -> ExampleRow:
        body = example.canonical_json()
        turns = len(example.messages) + len(example.chosen or ()) + len(example.rejected or ())
        return cls(example.id, example.kind, body.decode(), turns, len(body), _json(locator), _json(meta))


@dataclass(slots=True)
class QuarantineRow:
    locator: str  # canonical JSON
    reason: str
    snippet: str

    @classmethod
    def of(cls, locator: dict[str, Any], reason: str, snippet: str = "") -> QuarantineRow:
        return cls(_json(locator), reason[:300], snippet[:200])


@dataclass(slots=True)
class Account:
    """What became of the records of one file (or a batch of them): read = produced + quarantined
    + skipped. Quarantined records are the quarantine rows themselves, counted by reason."""

    records: int = 0
    produced: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    examples: Counter[str] = field(default_factory=Counter)

    def add(self, other: Account) -> None:
        self.records += other.records
        self.produced += other.produced
        self.skipped.update(other.skipped)
        self.dropped.update(other.dropped)
        self.examples.update(other.examples)

    def clear(self) -> None:
        self.records = self.produced = 0
        self.skipped.clear()
        self.dropped.clear()
        self.examples.clear()

    def __bool__(self) -> bool:
        return bool(self.records or self.produced or self.skipped or self.dropped or self.examples)


def account_dict(
    records: int, produced: int, skipped: dict[str, int], dropped: dict[str, int],
    examples: dict[str, int], quarantined: dict[str, int],
) -> dict[str, Any]:  # fmt: skip
    """The account as scripts read it, with `balanced`: every record read has one outcome."""
    q, k = sum(quarantined.values()), sum(skipped.values())
    return {
        "records": records,
        "produced": produced,
        "quarantined": q,
        "quarantined_by_reason": dict(sorted(quarantined.items())),
        "skipped": k,
        "skipped_by_reason": dict(sorted(skipped.items())),
        "dropped_by_reason": dict(sorted(dropped.items())),
        "examples_by_kind": dict(sorted(examples.items())),
        "balanced": records == produced + q + k,
    }


@dataclass(slots=True)
class Progress:
    """How far ingest got in one file of one source, as committed."""

    adapter: str
    size: int
    mtime_ns: int
    head_hash: str
    offset: int = 0
    records: int = 0
    done: bool = False
    pass_run: int | None = None
    fresh: bool = False  # the first commit of a read from the start: the file's account starts over


class IngestStore:
    """Mixed into `Catalog`: everything ingest writes goes through here."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def start_ingest(self, sources: Sequence[str], now: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO ingest_runs (started_at, status, sources) VALUES (?, 'running', ?)",
            (now, _json(list(sources))),
        )
        return int(cur.lastrowid or 0)

    def finish_ingest(
        self, run_id: int, status: str, counts: dict[str, int], now: str, error: str | None = None
    ) -> None:
        self.conn.execute(
            "UPDATE ingest_runs SET finished_at = ?, status = ?, files = ?, records = ?, examples_new = ?,"
            " quarantined = ?, error = ? WHERE id = ?",
            (
                now,
                status,
                counts.get("files", 0),
                counts.get("records", 0),
                counts.get("examples_new", 0),
                counts.get("quarantined", 0),
                error,
                run_id,
            ),
        )

    def progress(self, source: str, file: str) -> Progress | None:
        row = self.conn.execute(
            "SELECT adapter, size, mtime_ns, head_hash, offset, records, done, pass_run FROM ingest_progress"
            " WHERE source = ? AND file = ?",
            (source, file),
        ).fetchone()
        if row is None:
            return None
        return Progress(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7])

    def commit_batch(
        self,
        run_id: int,
        source: str,
        file: str,
        examples: Sequence[ExampleRow],
        quarantined: Sequence[QuarantineRow],
        progress: Progress | None,
        now: str,
        account: Account | None = None,
        repeats: Sequence[tuple[str, str, str]] = (),
        raw: Sequence[tuple[int, str]] = (),
    ) -> int:
        """Store a batch, its account and the progress that covers it in one transaction; return
        new examples. `repeats`: (example id, locator, meta) of records seen before (provenance
        only); `raw`: (digest, what it produced) of records converted here."""
        self.train_bodies_if_due(now)
        with self.transaction(data=True) as c:
            file_id = self._file_id(c, source, file)
            if account is not None or (progress is not None and progress.fresh):
                self._add_account(
                    c, source, file, account or Account(), progress is not None and progress.fresh
                )
            new = c.executemany(
                "INSERT OR IGNORE INTO examples (id, kind, body, turns, chars, first_run, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(e.id, e.kind, self.bodies.encode(e.body), e.turns, e.chars, run_id, now) for e in examples],
            ).rowcount
            # A row found again is stamped with this run, so a re-read can prune what it no longer finds.
            c.executemany(
                "INSERT INTO provenance (example_id, file_id, locator, meta, ingest_run)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (file_id, locator, example_id)"
                " DO UPDATE SET ingest_run = excluded.ingest_run, meta = excluded.meta",
                [(e.id, file_id, e.locator, e.meta, run_id) for e in examples],
            )
            if repeats:
                c.executemany(
                    "INSERT INTO provenance (example_id, file_id, locator, meta, ingest_run)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (file_id, locator, example_id)"
                    " DO UPDATE SET ingest_run = excluded.ingest_run, meta = excluded.meta",
                    [(e, file_id, loc, meta, run_id) for e, loc, meta in repeats],
                )
            if raw:
                c.executemany("INSERT OR REPLACE INTO raw_records (digest, value) VALUES (?, ?)", raw)
            c.executemany(
                "INSERT INTO quarantine (source, file, locator, reason, snippet, ingest_run)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, file, locator, reason)"
                " DO UPDATE SET ingest_run = excluded.ingest_run",
                [(source, file, q.locator, q.reason, q.snippet, run_id) for q in quarantined],
            )
            if progress is None:
                return max(new, 0)
            c.execute(
                "INSERT INTO ingest_progress"
                " (source, file, adapter, size, mtime_ns, head_hash, offset, records, done, pass_run)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(source, file) DO UPDATE SET"
                " adapter = excluded.adapter, size = excluded.size, mtime_ns = excluded.mtime_ns,"
                " head_hash = excluded.head_hash, offset = excluded.offset, records = excluded.records,"
                " done = excluded.done, pass_run = excluded.pass_run",
                (
                    source,
                    file,
                    progress.adapter,
                    progress.size,
                    progress.mtime_ns,
                    progress.head_hash,
                    progress.offset,
                    progress.records,
                    int(progress.done),
                    progress.pass_run,
                ),
            )
            progress.fresh = False
        return max(new, 0)

    def train_bodies_if_due(self, now: str) -> None:
        """Train the catalog's body dictionary once it holds `TRAIN_AT` bodies, on the first
        `TRAIN_SAMPLES` of them. Bodies written before stay as they are (compressed without one)."""
        codec: BodyCodec = self.bodies  # type: ignore[attr-defined]
        if codec.dict_id or codec.training_tried:
            return
        if (self.conn.execute("SELECT max(rowid) FROM examples").fetchone()[0] or 0) < TRAIN_AT:
            return
        codec.training_tried = True
        samples = [
            r[0]
            for r in self.conn.execute(
                "SELECT body_text(body) FROM examples WHERE forgotten = 0 ORDER BY rowid LIMIT ?",
                (TRAIN_SAMPLES,),
            )
        ]
        data = train(samples)
        if data is None:
            return
        # Stored before any body uses it: a frame must never name a dictionary the catalog lacks.
        with self.transaction() as c:
            c.execute(
                "INSERT OR IGNORE INTO body_dicts (id, dict, samples, trained_at) VALUES (?, ?, ?, ?)",
                (dict_id_of(data), data, len(samples), now),
            )
        codec.add(data)

    def _add_account(
        self, c: sqlite3.Connection, source: str, file: str, delta: Account, reset: bool
    ) -> None:
        row = None if reset else c.execute(
            "SELECT records, produced, skipped, dropped, examples FROM ingest_accounts WHERE source = ? AND file = ?",
            (source, file),
        ).fetchone()  # fmt: skip
        total = Account()
        if row is not None:
            total = Account(row[0], row[1], Counter(orjson.loads(row[2])), Counter(orjson.loads(row[3])),
                            Counter(orjson.loads(row[4])))  # fmt: skip
        total.add(delta)
        c.execute(
            "INSERT INTO ingest_accounts (source, file, records, produced, skipped, dropped, examples)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, file) DO UPDATE SET records = excluded.records,"
            " produced = excluded.produced, skipped = excluded.skipped, dropped = excluded.dropped,"
            " examples = excluded.examples",
            (source, file, total.records, total.produced, _json(dict(total.skipped)), _json(dict(total.dropped)),
             _json(dict(total.examples))),
        )  # fmt: skip

    def accounts(self, source: str | None = None, file: str | None = None) -> list[dict[str, Any]]:
        """The account of every ingested file (or one source's, or one file's), with its quarantine by reason."""
        where, args = "WHERE 1 = 1", []
        for col, value in (("source", source), ("file", file)):
            if value is not None:
                where += f" AND {col} = ?"
                args.append(value)
        quarantined: dict[tuple[str, str], dict[str, int]] = {}
        for src, f, reason, n in self.conn.execute(
            f"SELECT source, file, reason, count(*) FROM quarantine {where} GROUP BY source, file, reason",
            args,
        ):
            quarantined.setdefault((src, f), {})[reason] = n
        rows = self.conn.execute(
            "SELECT source, file, records, produced, skipped, dropped, examples FROM ingest_accounts"
            f" {where} ORDER BY source, file",
            args,
        )
        return [
            {"source": r[0], "file": r[1],
             **account_dict(r[2], r[3], orjson.loads(r[4]), orjson.loads(r[5]), orjson.loads(r[6]),
                            quarantined.get((r[0], r[1]), {}))}
            for r in rows
        ]  # fmt: skip

    def ingested_files(self) -> dict[str, tuple[int, int]]:
        """Files read to their end by ingest: path → (size, mtime_ns) as read."""
        return {r[0]: (r[1], r[2]) for r in self.conn.execute(
            "SELECT file, size, mtime_ns FROM ingest_progress WHERE done = 1")}  # fmt: skip

    def _file_id(self, c: sqlite3.Connection, source: str, file: str) -> int:
        c.execute("INSERT OR IGNORE INTO ingest_files (source, path) VALUES (?, ?)", (source, file))
        return c.execute(
            "SELECT id FROM ingest_files WHERE source = ? AND path = ?", (source, file)
        ).fetchone()[0]

    def prune_file(self, source: str, file: str, pass_run: int) -> int:
        """After a full read of a file that began in `pass_run`: drop the provenance and quarantine rows
        the read did not find again (the file was rewritten), and examples nothing else holds.

        Forgotten examples stay (their hash keeps them from coming back), and so do examples an
        export holds (its lineage names them); what curate derived from a dropped example goes with
        it. Returns rows dropped.
        """
        with self.transaction(data=True) as c:
            file_id = self._file_id(c, source, file)
            gone = [
                r[0]
                for r in c.execute(
                    "SELECT example_id FROM provenance WHERE file_id = ? AND ingest_run < ?",
                    (file_id, pass_run),
                )
            ]
            c.execute("DELETE FROM provenance WHERE file_id = ? AND ingest_run < ?", (file_id, pass_run))
            c.execute(
                "DELETE FROM quarantine WHERE source = ? AND file = ? AND ingest_run < ?",
                (source, file, pass_run),
            )
            drop = [
                i
                for (i,) in c.execute(
                    "SELECT e.id FROM examples e WHERE e.id IN (SELECT value FROM json_each(?)) AND e.forgotten = 0"
                    " AND NOT EXISTS (SELECT 1 FROM provenance p WHERE p.example_id = e.id)"
                    " AND NOT EXISTS (SELECT 1 FROM export_members m WHERE m.example_id = e.id)",
                    (orjson.dumps(sorted(set(gone))).decode(),),
                )
            ]
            if drop:
                self.drop_derived(drop)  # type: ignore[attr-defined]
                c.executemany("DELETE FROM examples WHERE id = ?", ((i,) for i in drop))
        return len(gone)

    def clear_incomplete_line(self, source: str, file: str, reason_prefix: str) -> None:
        """Drop the report of an unterminated last line: the resumed run reads that line again
        (and counts it again, so the account gives the record back)."""
        with self.transaction() as c:
            n = c.execute(
                "DELETE FROM quarantine WHERE source = ? AND file = ? AND reason LIKE ? || '%'",
                (source, file, reason_prefix),
            ).rowcount
            if n > 0:
                c.execute(
                    "UPDATE ingest_accounts SET records = records - ? WHERE source = ? AND file = ?",
                    (n, source, file),
                )

    # -- reading ------------------------------------------------------------------------------

    def example(self, example_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, kind, body_text(body), forgotten FROM examples WHERE id = ?", (example_id,)
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "kind": row[1], "body": orjson.loads(row[2]), "forgotten": bool(row[3])}

    def examples_from(self, file: str, source: str | None = None) -> list[dict[str, Any]]:
        """Examples found in `file` (in locator order of first appearance), with their locators and meta."""
        sql = (
            "SELECT p.example_id, e.kind, body_text(e.body), p.locator, p.meta, p.source FROM provenance_paths p"
            " JOIN examples e ON e.id = p.example_id WHERE p.file = ?"
        )
        args: list[Any] = [file]
        if source is not None:
            sql += " AND p.source = ?"
            args.append(source)
        out = []
        for r in self.conn.execute(sql + " ORDER BY p.id", args):
            out.append(
                {
                    "id": r[0],
                    "kind": r[1],
                    "body": orjson.loads(r[2]),
                    "locator": orjson.loads(r[3]),
                    "meta": orjson.loads(r[4]),
                    "source": r[5],
                }
            )
        return out

    def quarantined(self, reason: str | None = None, source: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT source, file, locator, reason, snippet FROM quarantine WHERE 1 = 1"
        args: list[Any] = []
        if reason:
            sql += " AND reason LIKE ?"
            args.append(f"%{reason}%")
        if source:
            sql += " AND source = ?"
            args.append(source)
        return [
            {"source": r[0], "file": r[1], "locator": orjson.loads(r[2]), "reason": r[3], "snippet": r[4]}
            for r in self.conn.execute(sql + " ORDER BY id", args)
        ]

    def quarantine_by_reason(self) -> list[tuple[str, int]]:
        return [
            (r[0], r[1])
            for r in self.conn.execute(
                "SELECT reason, count(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC, 1"
            )
        ]

    def ingest_stats(self) -> dict[str, Any]:
        """Examples by kind; per source: distinct examples by kind, files, and the account of its records
        (read, produced, quarantined and skipped by reason); and the account of every file."""
        by_kind = dict.fromkeys(("sft", "preference", "kto"), 0)
        for kind, n in self.conn.execute(
            "SELECT kind, count(*) FROM examples WHERE forgotten = 0 GROUP BY kind"
        ):
            by_kind[kind] = n
        sources: dict[str, dict[str, Any]] = {}

        def entry(name: str) -> dict[str, Any]:
            return sources.setdefault(
                name,
                {"sft": 0, "preference": 0, "kto": 0, "quarantined": 0, "files": 0, "records": 0, "produced": 0,
                 "skipped": 0, "skipped_by_reason": Counter(), "quarantined_by_reason": Counter(),
                 "dropped_by_reason": Counter(), "unaccounted_files": []},
            )  # fmt: skip

        for source, kind, n in self.conn.execute(
            "SELECT es.source, e.kind, count(*) FROM example_sources es"
            " JOIN examples e ON e.id = es.example_id WHERE e.forgotten = 0 GROUP BY es.source, e.kind"
        ):
            entry(source)[kind] = n
        for source, n in self.conn.execute("SELECT source, count(*) FROM quarantine GROUP BY source"):
            entry(source)["quarantined"] = n
        for source, n in self.conn.execute("SELECT source, count(*) FROM ingest_progress GROUP BY source"):
            entry(source)["files"] = n
        accounts = self.accounts()
        for a in accounts:
            s = entry(a["source"])
            s["records"] += a["records"]
            s["produced"] += a["produced"]
            s["skipped"] += a["skipped"]
            for key in ("skipped_by_reason", "quarantined_by_reason", "dropped_by_reason"):
                s[key].update(a[key])
            if not a["balanced"]:
                s["unaccounted_files"].append(a["file"])
        for s in sources.values():
            for key in ("skipped_by_reason", "quarantined_by_reason", "dropped_by_reason"):
                s[key] = dict(sorted(s[key].items()))
        quarantined = self.conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        provenance = self.conn.execute("SELECT count(*) FROM provenance").fetchone()[0]
        return {
            "examples": {"total": sum(by_kind.values()), "by_kind": by_kind},
            "sources": dict(sorted(sources.items())),
            "quarantined": quarantined,
            "provenance_rows": provenance,
            "accounts": accounts,
        }

    def known_records(self, digests: Sequence[int]) -> dict[int, Any]:
        """What the records with these digests produced, for those whose examples all still exist."""
        found: dict[int, Any] = {}
        for start in range(0, len(digests), 500):
            chunk = list(digests[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            for digest, value in self.conn.execute(
                f"SELECT digest, value FROM raw_records WHERE digest IN ({marks})", chunk
            ):
                found[digest] = orjson.loads(value)
        ids = sorted({e[0] for v in found.values() for e in v["e"]})
        alive: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            alive |= {
                r[0] for r in self.conn.execute(f"SELECT id FROM examples WHERE id IN ({marks})", chunk)
            }
        return {d: v for d, v in found.items() if all(e[0] in alive for e in v["e"])}

    def live_examples(
        self, source: str | None = None, kind: str | None = None, limit: int | None = None,
        flag: str | None = None,
    ) -> Iterator[tuple[str, str, str]]:  # fmt: skip
        """(id, kind, canonical body) of live examples, in the order they were first ingested; with
        `source`, those with a provenance row in it; with `flag`, those curate gave that quality flag."""
        sql, args = "SELECT e.id, e.kind, body_text(e.body) FROM examples e WHERE e.forgotten = 0", []
        if source is not None:
            sql += (
                " AND EXISTS (SELECT 1 FROM example_sources es WHERE es.example_id = e.id AND es.source = ?)"
            )
            args.append(source)
        if kind is not None:
            sql += " AND e.kind = ?"
            args.append(kind)
        if flag is not None:
            sql += (
                " AND EXISTS (SELECT 1 FROM labels l, json_each(l.quality) j WHERE l.example_id = e.id"
                " AND j.value ->> '$.flag' = ?)"
            )
            args.append(flag)
        sql += " ORDER BY e.rowid"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        yield from self.conn.execute(sql, args)

    def source_names(self) -> list[str]:
        """Every source that has ingested a file or captured a record."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT source FROM ingest_files ORDER BY 1")]

    def ingested_ids(self) -> Iterable[str]:
        return (r[0] for r in self.conn.execute("SELECT id FROM examples ORDER BY id"))
