"""Catalog SQL for the dashboard's overview and example pages (reads only)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson


class DashboardStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection

    def latest_problems(self) -> list[dict[str, Any]]:
        """The newest finished scan's problems, errors first, with their suggested actions."""
        rows = self.conn.execute(
            "SELECT kind, severity, message, action, paths FROM problems"
            " WHERE scan_id = (SELECT max(id) FROM scans WHERE status = 'done')"
            " ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, kind, id"
        )
        return [{**dict(r), "paths": orjson.loads(r["paths"])} for r in rows]

    def growth(self) -> list[tuple[str, int]]:
        """Live examples by the month they were first ingested (or captured)."""
        return [
            (m, n)
            for m, n in self.conn.execute(
                "SELECT substr(created_at, 1, 7), count(*) FROM examples WHERE forgotten = 0 GROUP BY 1 ORDER BY 1"
            )
        ]

    def last_capture(self) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT kind, example_id, created_at FROM capture_requests ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
        return dict(row) if row else None

    def example_view(self, example_id: str) -> dict[str, Any] | None:
        """One example as the dashboard shows it: the redacted body (the raw one never leaves the
        catalog), labels, findings (kind, where, placeholder preview) and lineage."""
        c = self.conn
        row = c.execute(
            "SELECT e.id, e.kind, e.turns, e.chars, e.created_at, e.forgotten, r.body AS redacted,"
            " EXISTS (SELECT 1 FROM labels l WHERE l.example_id = e.id AND l.secrets IS NOT NULL) AS scanned"
            " FROM examples e LEFT JOIN redactions r ON r.example_id = e.id WHERE e.id = ?",
            (example_id,),
        ).fetchone()
        if row is None:
            return None
        view = dict(row)
        view["labels"] = self.labels_of(example_id)  # type: ignore[attr-defined]
        view["findings"] = [dict(f) for f in c.execute(
            "SELECT kind, part, hash, preview FROM findings WHERE example_id = ? ORDER BY part, span_start",
            (example_id,),
        )]  # fmt: skip
        view["provenance"] = [dict(p) for p in c.execute(
            "SELECT source, file, locator FROM provenance_paths WHERE example_id = ? ORDER BY source, file, locator",
            (example_id,),
        )]  # fmt: skip
        view["exports"] = [dict(x) for x in c.execute(
            "SELECT x.id, x.recipe, x.created_at, m.split FROM export_members m JOIN exports x ON x.id = m.export_id"
            " WHERE m.example_id = ? ORDER BY x.id DESC",
            (example_id,),
        )]  # fmt: skip
        return view

    def raw_body(self, example_id: str) -> str | None:
        row = self.conn.execute("SELECT body_text(body) FROM examples WHERE id = ?", (example_id,)).fetchone()
        return row[0] if row else None
