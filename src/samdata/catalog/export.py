"""Catalog SQL for exports: the rows a recipe selects, export history and members."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson


class ExportStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def export_candidates(self, sources: Sequence[str], kinds: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Live examples of these sources and kinds, in id order, with what export decides on:
        redacted body (if any), first provenance row, its sources, and curate's attributes."""
        smarks, kmarks = ", ".join("?" for _ in sources), ", ".join("?" for _ in kinds)
        sql = (
            "SELECT e.id, e.kind, e.body, r.body,"
            " (SELECT p.file_id FROM provenance p WHERE p.example_id = e.id ORDER BY p.id LIMIT 1),"
            " (SELECT p.locator FROM provenance p WHERE p.example_id = e.id ORDER BY p.id LIMIT 1),"
            " (SELECT group_concat(DISTINCT pp.source) FROM provenance_paths pp WHERE pp.example_id = e.id),"
            " s.value, q.value, n.value, t.value, c.value"
            " FROM examples e LEFT JOIN redactions r ON r.example_id = e.id"
            " LEFT JOIN attributes s ON s.example_id = e.id AND s.detector = 'secrets'"
            " LEFT JOIN attributes q ON q.example_id = e.id AND q.detector = 'quality'"
            " LEFT JOIN attributes n ON n.example_id = e.id AND n.detector = 'neardup'"
            " LEFT JOIN attributes t ON t.example_id = e.id AND t.detector = 'tokens'"
            " LEFT JOIN attributes c ON c.example_id = e.id AND c.detector = 'category'"
            f" WHERE e.forgotten = 0 AND e.kind IN ({kmarks}) AND EXISTS (SELECT 1 FROM provenance_paths pp"
            f" WHERE pp.example_id = e.id AND pp.source IN ({smarks})) ORDER BY e.id"
        )
        keys = (
            "id",
            "kind",
            "body",
            "redacted",
            "file_id",
            "locator",
            "sources",
            "secrets",
            "quality",
            "neardup",
            "tokens",
            "category",
        )
        for row in self.conn.execute(sql, [*kinds, *sources]):
            d = dict(zip(keys, row, strict=True))
            for k in ("locator", "secrets", "quality", "neardup", "tokens", "category"):
                d[k] = orjson.loads(d[k]) if d[k] is not None else None
            d["sources"] = sorted((d["sources"] or "").split(","))
            yield d

    def record_export(
        self, recipe: str, recipe_json: str, out_dir: str, now: str, manifest_sha: str, counts: dict[str, int],
        members: Iterable[tuple[str, str]],
    ) -> int:  # fmt: skip
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO exports (recipe, recipe_json, out_dir, created_at, manifest_sha256, counts)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (recipe, recipe_json, out_dir, now, manifest_sha, orjson.dumps(counts).decode()),
            )
            export_id = int(cur.lastrowid or 0)
            c.executemany(
                "INSERT INTO export_members (export_id, example_id, split) VALUES (?, ?, ?)",
                ((export_id, i, split) for i, split in members),
            )
        return export_id

    def export_members(self, export_id: int) -> dict[str, str]:
        return dict(
            self.conn.execute(
                "SELECT example_id, split FROM export_members WHERE export_id = ?", (export_id,)
            )
        )

    def export_diff(self, a: int, b: int) -> dict[str, Any]:
        """What entered, left, or changed split between export `a` and export `b`."""
        old, new = self.export_members(a), self.export_members(b)
        if not old and not self.conn.execute("SELECT 1 FROM exports WHERE id = ?", (a,)).fetchone():
            raise KeyError(a)
        if not new and not self.conn.execute("SELECT 1 FROM exports WHERE id = ?", (b,)).fetchone():
            raise KeyError(b)
        entered = sorted(set(new) - set(old))
        left = sorted(set(old) - set(new))
        moved = sorted(i for i in set(old) & set(new) if old[i] != new[i])
        return {
            "from": a,
            "to": b,
            "entered": [{"id": i, "split": new[i]} for i in entered],
            "left": [{"id": i, "split": old[i]} for i in left],
            "moved": [{"id": i, "from": old[i], "to": new[i]} for i in moved],
            "unchanged": len(set(old) & set(new)) - len(moved),
        }
