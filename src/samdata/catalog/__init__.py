"""The catalog: one SQLite file (WAL, foreign keys on). All of samdata's SQL lives in this package."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from samdata.catalog.bodies import BodyCodec, load_dicts
from samdata.catalog.bodies import connect as connect  # a sqlite3 connection that reads bodies
from samdata.catalog.capture import CaptureStore
from samdata.catalog.curate import CurateStore
from samdata.catalog.dashboard import DashboardStore
from samdata.catalog.dupes_view import DupesViewStore
from samdata.catalog.export import ExportStore
from samdata.catalog.exports_view import ExportsViewStore
from samdata.catalog.ingest import IngestStore
from samdata.catalog.lineage import LineageStore
from samdata.catalog.pipeline import PipelineStore
from samdata.catalog.review import ReviewStore
from samdata.catalog.runs_view import RunsViewStore
from samdata.catalog.schema import MIGRATIONS
from samdata.catalog.search import SearchStore
from samdata.catalog.train import TrainStore
from samdata.catalog.voice import VoiceStore

SCHEMA_VERSION = MIGRATIONS[-1][0]

_FILE_COLUMNS = (
    "path",
    "path_bytes",
    "root",
    "relpath",
    "kind",
    "size",
    "mtime_ns",
    "content_hash",
    "format",
    "variant",
    "container",
    "records",
    "bad_records",
    "details",
    "link_target",
    "error",
    "analyzer",
)


def utcnow() -> str:
    """Timestamps are stored as ISO-8601 UTC text so sqlite3 and humans can read them."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _prefix_clause(column: str, prefixes: Sequence[str]) -> tuple[str, list[str]]:
    """SQL matching `column` equal to or below any of the folder `prefixes` (index-friendly range)."""
    if not prefixes:
        return "(0)", []  # no folder: nothing matches
    parts, args = [], []
    for p in prefixes:
        p = p.rstrip("/") or "/"
        lo = p if p == "/" else p + "/"
        # '0' sorts right after '/', so [lo, hi) is exactly the paths below p.
        hi = lo[:-1] + "0"
        parts.append(f"({column} = ? OR ({column} >= ? AND {column} < ?))")
        args += [p, lo, hi]
    return "(" + " OR ".join(parts) + ")", args


# Figures computed on read-only catalogs (a server), by (catalog path, key): (data version, value).
_MEMO: dict[tuple[str, str], tuple[int, Any]] = {}


_END = object()
_T = TypeVar("_T")


class CatalogError(Exception):
    """The catalog file cannot be opened or is newer than this samdata."""


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration, one at a time (a trigger's body holds `;` of its own)."""
    pending = ""
    for part in script.split(";\n"):
        pending += part + ";\n"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


class Catalog(
    IngestStore,
    CurateStore,
    DashboardStore,
    DupesViewStore,
    ExportStore,
    ExportsViewStore,
    LineageStore,
    TrainStore,
    PipelineStore,
    CaptureStore,
    SearchStore,
    ReviewStore,
    RunsViewStore,
    VoiceStore,
):
    """A handle on the catalog database; create with `Catalog.open(path)`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool = False) -> None:
        self.conn = conn
        self.path = path
        self.readonly = readonly

    @classmethod
    def open(cls, path: Path | str, readonly: bool = False) -> Catalog:
        """Open the catalog at `path` and bring its schema up to date, creating it if needed; with
        `readonly`, open an existing, current catalog for reading only (works on a read-only file).

        Raises CatalogError, with what to do, for a missing catalog (read-only), a file that is not a
        samdata catalog, a read-only file opened for writing, or a schema this samdata cannot use."""
        path = Path(path)
        if readonly:
            return cls._open_readonly(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as e:
            raise CatalogError(f"{path}: cannot open catalog: {e}") from e
        cat = cls(conn, path)
        try:
            cat._check_is_catalog()
            conn.execute("PRAGMA journal_mode = WAL")
            cat._tune()
            cat.migrate()
        except sqlite3.OperationalError as e:
            conn.close()
            writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
            if "readonly" in str(e) or "read-only" in str(e) or not writable:
                raise CatalogError(
                    f"{path}: the catalog is read-only and this command writes to it; commands that only read"
                    " (stats, examples, show, quarantine, inventory, trace) work on it"
                ) from e
            raise CatalogError(f"{path}: cannot open catalog: {e}") from e
        except CatalogError:
            conn.close()
            raise
        return cat

    @classmethod
    def _open_readonly(cls, path: Path) -> Catalog:
        if not path.is_file():
            raise CatalogError(
                f"no catalog at {path}: run `samdata scan` first (or `samdata ingest`), or check --catalog"
            )
        uri = "file:" + urllib.parse.quote(str(path.absolute()))
        conn = None
        # mode=ro reads a live WAL catalog; without write access to its folder SQLite cannot make the
        # -shm file, and then only an immutable read works (nothing can be writing it then anyway).
        for query in ("?mode=ro", "?immutable=1"):
            try:
                conn = sqlite3.connect(uri + query, uri=True, isolation_level=None, timeout=30.0)
                cat = cls(conn, path, readonly=True)
                cat._check_is_catalog()
                break
            except sqlite3.OperationalError as e:
                conn.close()
                error = e
        else:
            raise CatalogError(f"{path}: cannot open catalog for reading: {error}")
        cat._tune()
        current = cat.schema_version()
        if current != SCHEMA_VERSION:
            conn.close()
            newer = current > SCHEMA_VERSION
            raise CatalogError(
                f"{path}: catalog schema {current} is {'newer' if newer else 'older'} than this samdata's"
                f" ({SCHEMA_VERSION}); "
                + ("upgrade samdata" if newer else "run a command that writes (samdata ingest) to upgrade it")
            )
        return cat

    def _check_is_catalog(self) -> None:
        """A SQLite file samdata made (or an empty one): anything else is refused, never written."""
        try:
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError):
                raise
            raise CatalogError(f"{self.path}: not a samdata catalog (not a SQLite database: {e})") from e
        if tables and "schema_migrations" not in tables:
            shown = ", ".join(sorted(tables)[:8])
            raise CatalogError(f"{self.path}: a SQLite database, but not a samdata catalog (tables: {shown})")

    def _tune(self) -> None:
        conn = self.conn
        conn.row_factory = sqlite3.Row
        self.bodies = BodyCodec(str(self.path), load_dicts(conn))
        self.bodies.register(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every 64 MB of WAL instead of 4 MB: bulk ingest spent a third of its time in
        # checkpoint fsyncs. Commits stay durable against a killed process either way.
        conn.execute("PRAGMA wal_autocheckpoint = 16384")
        # Example ids are random hashes: index inserts land all over the B-trees. A 128 MB page cache
        # (allocated only as used) cut ingest time by a third against the 2 MB default.
        conn.execute("PRAGMA cache_size = -131072")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self, data: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception. `data`: the transaction may change
        what exports read; if it changed any row, the data version moves with it. Inside another
        transaction it is part of that one (which commits, rolls back and moves the version)."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        before = self.conn.total_changes
        try:
            yield self.conn
            if data and self.conn.total_changes != before:
                self.conn.execute("UPDATE data_version SET value = value + 1 WHERE id = 1")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def in_transactions(self, items: Iterable[_T], every: int, data: bool = False) -> Iterator[_T]:
        """`items`, with one transaction open around each `every` of them, for a loop whose body
        writes: a commit per item rewrites each B-tree's half-filled last pages every time (and
        checkpoints more often). A loop left by an exception rolls back what is not committed."""
        it = iter(items)
        while True:
            with self.transaction(data=data):
                for _ in range(every):
                    item = next(it, _END)
                    if item is _END:
                        return
                    yield item  # type: ignore[misc]

    def data_version(self) -> int:
        """Moves whenever examples, provenance, labels, clusters or verdicts change."""
        return int(self.conn.execute("SELECT value FROM data_version WHERE id = 1").fetchone()[0])

    def live_count(self) -> int:
        """Examples not forgotten: all of them, counted on the kind index, less the forgotten ones
        on their partial index, so no example row is read (a scan of the bodies took seconds per GB)."""
        return self.conn.execute(
            "SELECT (SELECT count(*) FROM examples)"
            " - (SELECT count(*) FROM examples INDEXED BY examples_forgotten WHERE forgotten = 1)"
        ).fetchone()[0]

    # -- schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        row = self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if row is None:
            return 0
        return self.conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]

    def migrate(self) -> list[int]:
        """Apply pending migrations; return the versions applied."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path}: catalog schema {current} is newer than this samdata ({SCHEMA_VERSION}); upgrade samdata"
            )
        applied = []
        for version, name, sql in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction() as c:
                for statement in _statements(sql):
                    c.execute(statement)
                c.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, utcnow()),
                )
            applied.append(version)
        return applied

    # -- scans --------------------------------------------------------------------------------

    def start_scan(self, config_path: str | None, scope: Sequence[str]) -> int:
        cur = self.conn.execute(
            "INSERT INTO scans (started_at, status, config_path, scope) VALUES (?, 'running', ?, ?)",
            (utcnow(), config_path, _json(list(scope))),
        )
        return int(cur.lastrowid or 0)

    def finish_scan(
        self, scan_id: int, status: str, counts: Mapping[str, int], error: str | None = None
    ) -> None:
        self.conn.execute(
            "UPDATE scans SET finished_at = ?, status = ?, files_seen = ?, files_read = ?, bytes_read = ?,"
            " files_deleted = ?, problem_count = ?, error = ? WHERE id = ?",
            (
                utcnow(),
                status,
                counts.get("files_seen", 0),
                counts.get("files_read", 0),
                counts.get("bytes_read", 0),
                counts.get("files_deleted", 0),
                counts.get("problems", 0),
                error,
                scan_id,
            ),
        )

    def latest_scan(self) -> dict[str, Any] | None:
        """The newest finished scan, or None if no scan has finished."""
        row = self.conn.execute(
            "SELECT * FROM scans WHERE status = 'done' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        scan = dict(row)
        scan["scope"] = orjson.loads(scan["scope"])
        return scan

    # -- roots --------------------------------------------------------------------------------

    def upsert_root(self, name: str, path: str, online: bool, scan_id: int) -> None:
        now = utcnow() if online else None
        self.conn.execute(
            "INSERT INTO roots (name, path, online, last_online_at, last_scan_id) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET path = excluded.path, online = excluded.online,"
            " last_online_at = coalesce(excluded.last_online_at, roots.last_online_at),"
            " last_scan_id = excluded.last_scan_id",
            (name, path, int(online), now, scan_id),
        )

    def roots(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM roots ORDER BY rowid")]

    # -- files --------------------------------------------------------------------------------

    def file_index(
        self, prefixes: Sequence[str]
    ) -> dict[str, tuple[int, int | None, int | None, int | None]]:
        """path → (id, size, mtime_ns, analyzer) for present files below `prefixes`."""
        clause, args = _prefix_clause("path", prefixes)
        rows = self.conn.execute(
            f"SELECT path, id, size, mtime_ns, analyzer FROM files WHERE status = 'present' AND {clause}",
            args,
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def upsert_files(self, rows: Iterable[Mapping[str, Any]], scan_id: int) -> None:
        """Insert or replace what a scan learned about files (one transaction per call)."""
        cols = ", ".join(_FILE_COLUMNS)
        marks = ", ".join("?" for _ in _FILE_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _FILE_COLUMNS if c != "path")
        sql = (
            f"INSERT INTO files ({cols}, status, first_seen_scan, last_read_scan)"
            f" VALUES ({marks}, 'present', ?, ?)"
            f" ON CONFLICT(path) DO UPDATE SET {updates}, status = 'present',"
            " deleted_scan = NULL, last_read_scan = excluded.last_read_scan"
        )
        params = []
        for r in rows:
            values = [r.get(c) for c in _FILE_COLUMNS]
            values[_FILE_COLUMNS.index("details")] = _json(r.get("details") or {})
            values[_FILE_COLUMNS.index("bad_records")] = r.get("bad_records") or 0
            params.append((*values, scan_id, scan_id))
        with self.transaction() as c:
            c.executemany(sql, params)

    def mark_deleted(self, ids: Iterable[int], scan_id: int) -> int:
        """These files are gone from their folders; return how many were marked."""
        with self.transaction() as c:
            cur = c.executemany(
                "UPDATE files SET status = 'deleted', deleted_scan = ? WHERE id = ? AND status = 'present'",
                ((scan_id, i) for i in ids),
            )
        return cur.rowcount

    def files(self, roots: Sequence[str] | None = None, status: str = "present") -> list[dict[str, Any]]:
        """File rows in path order (details decoded), optionally only those of the named roots."""
        sql = "SELECT * FROM files WHERE status = ?"
        args: list[Any] = [status]
        if roots is not None:
            sql += f" AND root IN ({', '.join('?' for _ in roots)})"
            args += list(roots)
        cur = self.conn.cursor()
        cur.row_factory = None  # plain tuples: building dicts from sqlite3.Row is the slow part
        cur.execute(sql + " ORDER BY path", args)
        names = [d[0] for d in cur.description]
        at = names.index("details")
        loads = orjson.loads
        out = []
        for row in cur:
            d = dict(zip(names, row, strict=True))
            d["details"] = {} if row[at] == "{}" else loads(row[at])
            out.append(d)
        return out

    # -- sources ------------------------------------------------------------------------------

    def sync_sources(self, sources: Iterable[Mapping[str, Any]]) -> None:
        """Make the `sources` table mirror the config (removed sources are marked inactive)."""
        now = utcnow()
        rows = list(sources)
        with self.transaction() as c:
            c.execute("UPDATE sources SET active = 0")
            c.executemany(
                "INSERT INTO sources (name, path_glob, format, license, notes, active, updated_at)"
                " VALUES (:name, :path, :format, :license, :notes, :active, :now)"
                " ON CONFLICT(name) DO UPDATE SET path_glob = excluded.path_glob, format = excluded.format,"
                " license = excluded.license, notes = excluded.notes, active = excluded.active,"
                " updated_at = excluded.updated_at",
                [{**r, "active": int(r.get("active", True)), "now": now} for r in rows],
            )

    # -- problems -----------------------------------------------------------------------------

    def save_problems(self, scan_id: int, problems: Iterable[Mapping[str, Any]]) -> int:
        rows = [
            (
                scan_id,
                p["kind"],
                p["severity"],
                p.get("root"),
                _json(list(p["paths"])),
                _json(p.get("figures") or {}),
                p["message"],
                p["action"],
            )
            for p in problems
        ]
        with self.transaction() as c:
            c.execute("DELETE FROM problems WHERE scan_id = ?", (scan_id,))
            c.executemany(
                "INSERT INTO problems (scan_id, kind, severity, root, paths, figures, message, action)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def problems(self, scan_id: int) -> list[dict[str, Any]]:
        out = []
        for r in self.conn.execute("SELECT * FROM problems WHERE scan_id = ? ORDER BY id", (scan_id,)):
            d = dict(r)
            d["paths"] = orjson.loads(d["paths"])
            d["figures"] = orjson.loads(d["figures"])
            out.append(d)
        return out

    # -- stats cache --------------------------------------------------------------------------

    def put_stat(self, key: str, value: Any, scan_id: int | None = None) -> None:
        self.conn.execute(
            "INSERT INTO stats_cache (key, scan_id, value, computed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET scan_id = excluded.scan_id, value = excluded.value,"
            " computed_at = excluded.computed_at",
            (key, scan_id, _json(value), utcnow()),
        )

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()`'s value, kept with the data version it was computed at: in the catalog when
        it is writable, else in this process. Only for figures every write that changes them moves
        the data version of (examples, provenance, labels, verdicts, clusters)."""
        version = self.data_version()
        stored = self.get_stat(key)
        if isinstance(stored, dict) and stored.get("data_version") == version and "value" in stored:
            return stored["value"]
        memo = _MEMO.get((str(self.path), key))
        if memo is not None and memo[0] == version:
            return memo[1]
        value = compute()
        if self.readonly:
            _MEMO[(str(self.path), key)] = (version, value)
        else:
            self.put_stat(key, {"data_version": version, "value": value})
        return value

    def get_stat(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM stats_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else orjson.loads(row[0])
