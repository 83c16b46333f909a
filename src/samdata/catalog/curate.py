"""Catalog SQL for curation: attributes per detector, secret findings, redacted bodies, the funnel."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson


class CurateStore:
    """Mixed into `Catalog`: everything curate reads and writes."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def pending(self, detector: str, version: int, after: str, limit: int) -> list[tuple[str, str, str]]:
        """(id, kind, body) of live examples after id `after` whose `detector` result is missing or old."""
        return self.conn.execute(
            "SELECT e.id, e.kind, e.body FROM examples e"
            " LEFT JOIN attributes a ON a.example_id = e.id AND a.detector = ?"
            " WHERE e.forgotten = 0 AND e.id > ? AND (a.version IS NULL OR a.version != ?)"
            " ORDER BY e.id LIMIT ?",
            (detector, after, version, limit),
        ).fetchall()

    def save_attributes(
        self,
        detector: str,
        version: int,
        values: Sequence[tuple[str, Any]],
        now: str,
        findings: Sequence[tuple[str, str, str, int, int, str, str]] = (),
        redactions: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Store one batch of a detector's results; secret findings and redactions replace old ones."""
        ids = [(v[0],) for v in values]
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO attributes (example_id, detector, version, value, computed_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (example_id, detector) DO UPDATE SET version = excluded.version,"
                " value = excluded.value, computed_at = excluded.computed_at",
                [(i, detector, version, orjson.dumps(v).decode(), now) for i, v in values],
            )
            if detector == "secrets":
                c.executemany("DELETE FROM findings WHERE example_id = ?", ids)
                c.executemany("DELETE FROM redactions WHERE example_id = ?", ids)
                c.executemany(
                    "INSERT INTO findings (example_id, kind, part, span_start, span_end, hash, preview)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    findings,
                )
                c.executemany("INSERT INTO redactions (example_id, body) VALUES (?, ?)", redactions)

    def redacted_body(self, example_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT body FROM redactions WHERE example_id = ?", (example_id,)).fetchone()
        return None if row is None else orjson.loads(row[0])

    def secret_findings(self) -> list[dict[str, Any]]:
        """One row per finding and provenance row (the `samdata secrets` contract)."""
        rows = self.conn.execute(
            "SELECT f.example_id, f.kind, f.part, f.span_start, f.span_end, f.hash, f.preview, p.source, p.file,"
            " p.locator FROM findings f JOIN provenance_paths p ON p.example_id = f.example_id"
            " ORDER BY f.kind, f.example_id, f.id, p.id"
        )
        keys = ("example_id", "kind", "part", "start", "end", "hash", "preview", "source", "file", "locator")
        out = []
        for r in rows:
            d = dict(zip(keys, r, strict=True))
            d["locator"] = orjson.loads(d["locator"])
            out.append(d)
        return out

    def funnel(self) -> dict[str, dict[str, int]]:
        """Per source: ingested → flagged by quality → with secrets (redacted) → kept (no quality flag)."""
        out: dict[str, dict[str, int]] = {}
        sql = (
            "SELECT p.source, count(DISTINCT p.example_id),"
            " count(DISTINCT CASE WHEN q.value != '[]' THEN p.example_id END),"
            " count(DISTINCT CASE WHEN s.value != '[]' THEN p.example_id END),"
            " count(DISTINCT CASE WHEN q.value IS NULL THEN p.example_id END)"
            " FROM provenance_paths p JOIN examples e ON e.id = p.example_id AND e.forgotten = 0"
            " LEFT JOIN attributes q ON q.example_id = p.example_id AND q.detector = 'quality'"
            " LEFT JOIN attributes s ON s.example_id = p.example_id AND s.detector = 'secrets'"
            " GROUP BY p.source ORDER BY p.source"
        )
        for source, total, flagged, secrets, uncurated in self.conn.execute(sql):
            out[source] = {
                "ingested": total,
                "quality_flagged": flagged,
                "with_secrets": secrets,
                "kept": total - flagged - uncurated,
                "not_curated": uncurated,
            }
        return out

    def quality_flag_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (value,) in self.conn.execute(
            "SELECT value FROM attributes WHERE detector = 'quality' AND value != '[]'"
        ):
            for flag in {f["flag"] for f in orjson.loads(value)}:
                counts[flag] = counts.get(flag, 0) + 1
        return dict(sorted(counts.items()))
