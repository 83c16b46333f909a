"""Catalog SQL for the dashboard's Exports pages: export history, one export, its members by split."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

_EXPORT_COLUMNS = (
    "x.id, x.recipe, x.recipe_json, x.out_dir, x.created_at, x.manifest_sha256, x.counts, x.inputs"
)


def _export(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    d["counts"] = orjson.loads(d["counts"])
    d["recipe_json"] = orjson.loads(d["recipe_json"])
    d["inputs"] = orjson.loads(d["inputs"]) if d["inputs"] else None
    return d


class ExportsViewStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection

    def exports_list(self) -> list[dict[str, Any]]:
        """Every export, newest first, with `previous`: the id of the export of the same recipe
        before it (None for a recipe's first)."""
        rows = self.conn.execute(
            f"SELECT {_EXPORT_COLUMNS}, lag(x.id) OVER (PARTITION BY x.recipe ORDER BY x.id) AS previous"
            " FROM exports x ORDER BY x.id DESC"
        )
        return [_export(r) for r in rows]

    def export_row(self, export_id: int) -> dict[str, Any] | None:
        """One export (counts, recipe_json and inputs decoded), or None."""
        row = self.conn.execute(
            f"SELECT {_EXPORT_COLUMNS} FROM exports x WHERE x.id = ?", (export_id,)
        ).fetchone()
        return None if row is None else _export(row)

    def export_split_sizes(self, export_id: int) -> dict[str, int]:
        """Distinct examples per split (the `counts` column counts rows: weights can repeat one)."""
        return dict(
            self.conn.execute(
                "SELECT split, count(*) FROM export_members WHERE export_id = ? GROUP BY split", (export_id,)
            ).fetchall()
        )

    def export_members_page(
        self, export_id: int, split: str, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """A window of one split's members in id order: id, kind, sources, forgotten."""
        rows = self.conn.execute(
            "SELECT m.example_id AS id, e.kind, e.forgotten,"
            " (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = m.example_id)"
            " AS sources"
            " FROM export_members m JOIN examples e ON e.id = m.example_id"
            " WHERE m.export_id = ? AND m.split = ? ORDER BY m.example_id LIMIT ? OFFSET ?",
            (export_id, split, limit, offset),
        )
        return [dict(r) for r in rows]

    def export_member_splits(self, export_id: int, example_ids: Sequence[str]) -> dict[str, str]:
        """example id → split, for those of `example_ids` that are members of the export."""
        if not example_ids:
            return {}
        marks = ", ".join("?" for _ in example_ids)
        return dict(
            self.conn.execute(
                f"SELECT example_id, split FROM export_members WHERE export_id = ? AND example_id IN ({marks})",
                (export_id, *example_ids),
            ).fetchall()
        )

    def export_neighbours(self, export_id: int) -> tuple[int | None, int | None]:
        """The exports of the same recipe just before and just after this one (None where none)."""
        row = self.conn.execute(
            "SELECT (SELECT max(o.id) FROM exports o WHERE o.recipe = x.recipe AND o.id < x.id),"
            " (SELECT min(n.id) FROM exports n WHERE n.recipe = x.recipe AND n.id > x.id)"
            " FROM exports x WHERE x.id = ?",
            (export_id,),
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)
