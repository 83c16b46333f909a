"""Catalog SQL for live capture: many captures in one transaction, each at most once per key."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from samdata.catalog.ingest import ExampleRow


@dataclass(slots=True)
class CaptureItem:
    """One capture to store: its kind and source, the idempotency key (None: always new), a hash
    of the request (a reused key with another request is refused), and the example row."""

    kind: str
    source: str
    key: str | None
    request_hash: str
    row: ExampleRow


@dataclass(slots=True)
class CaptureResult:
    example_id: str
    replayed: bool = False  # the key was seen with this request: nothing new was stored
    conflict: bool = False  # the key was seen with another request: nothing was stored


class CaptureStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def commit_captures(self, items: Sequence[CaptureItem], now: str) -> list[CaptureResult]:
        """Store `items` in one transaction (a retry of a key answers with the first answer); when
        this returns, every stored capture is committed."""
        results: list[CaptureResult] = []
        file_ids: dict[str, int] = {}
        with self.transaction(data=True) as c:
            for item in items:
                if item.key is not None:
                    seen = c.execute(
                        "SELECT request_hash, example_id FROM capture_requests WHERE key = ?", (item.key,)
                    ).fetchone()
                    if seen is not None:
                        same = seen[0] == item.request_hash
                        results.append(CaptureResult(seen[1], replayed=same, conflict=not same))
                        continue
                file = f"capture://{item.kind}"
                if file not in file_ids:
                    c.execute(
                        "INSERT OR IGNORE INTO ingest_files (source, path) VALUES (?, ?)", (item.source, file)
                    )
                    file_ids[file] = c.execute(
                        "SELECT id FROM ingest_files WHERE source = ? AND path = ?", (item.source, file)
                    ).fetchone()[0]
                e = item.row
                c.execute(
                    "INSERT OR IGNORE INTO examples (id, kind, body, turns, chars, first_run, created_at)"
                    " VALUES (?, ?, ?, ?, ?, NULL, ?)",
                    (e.id, e.kind, self.bodies.encode(e.body), e.turns, e.chars, now),  # type: ignore[attr-defined]
                )
                c.execute(
                    "INSERT INTO provenance (example_id, file_id, locator, meta, ingest_run) VALUES (?, ?, ?, ?, NULL)"
                    " ON CONFLICT (file_id, locator, example_id) DO UPDATE SET meta = excluded.meta",
                    (e.id, file_ids[file], e.locator, e.meta),
                )
                if item.key is not None:
                    c.execute(
                        "INSERT INTO capture_requests (key, kind, request_hash, example_id, created_at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (item.key, item.kind, item.request_hash, e.id, now),
                    )
                results.append(CaptureResult(e.id))
        return results
