"""Catalog SQL for the dashboard's Runs pages: runs with their export's recipe and last losses,
new metric rows for a live run, and the examples a run trained on."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from samdata.catalog.train import RUN_COLUMNS, _run

METRIC_COLUMNS = ("step", "train_loss", "valid_loss", "tokens_per_second", "learning_rate", "logged_at")


class RunsViewStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection

    def runs_overview(self, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """Runs (all, or those of `ids`) in id order, each with `recipe` (of its export), `last_step`,
        `metric_rows`, and the last reported `train_loss` and `valid_loss`."""
        where, args = "", ()
        if ids is not None:
            if not ids:
                return []
            where = f"WHERE r.id IN ({', '.join('?' for _ in ids)})"
            args = tuple(ids)
        cols = ", ".join(f"r.{c}" for c in RUN_COLUMNS)
        last = (
            "(SELECT v.{0} FROM validation_log v WHERE v.run_id = r.id AND v.{0} IS NOT NULL"
            " ORDER BY v.step DESC LIMIT 1)"
        )
        rows = self.conn.execute(
            f"SELECT {cols}, x.recipe,"
            " (SELECT max(v.step) FROM validation_log v WHERE v.run_id = r.id),"
            " (SELECT count(*) FROM validation_log v WHERE v.run_id = r.id),"
            f" {last.format('train_loss')}, {last.format('valid_loss')}"
            f" FROM training_runs r LEFT JOIN exports x ON x.id = r.export_id {where} ORDER BY r.id",
            args,
        ).fetchall()
        out = []
        n = len(RUN_COLUMNS)
        for row in rows:
            run = _run(tuple(row[:n]))
            run.update(
                zip(("recipe", "last_step", "metric_rows", "train_loss", "valid_loss"), row[n:], strict=True)
            )
            out.append(run)
        return out

    def metrics_from(self, run_id: int, step: int) -> list[dict[str, Any]]:
        """A run's metric rows at `step` or later, in step order (a live run's newest rows; the row
        at `step` itself may have gained a value since it was last read)."""
        return [
            dict(zip(METRIC_COLUMNS, r, strict=True))
            for r in self.conn.execute(
                f"SELECT {', '.join(METRIC_COLUMNS)} FROM validation_log WHERE run_id = ? AND step >= ?"
                " ORDER BY step",
                (run_id, step),
            )
        ]

    def export_split_examples(self, export_id: int, split: str = "train", limit: int = 50) -> dict[str, Any]:
        """The first `limit` examples (by id) of an export's split, with kind, size and sources, and
        how many the split holds in all."""
        total = self.conn.execute(
            "SELECT count(*) FROM export_members WHERE export_id = ? AND split = ?", (export_id, split)
        ).fetchone()[0]
        rows = self.conn.execute(
            "SELECT e.id, e.kind, e.turns, e.chars,"
            " (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = e.id)"
            " FROM export_members m JOIN examples e ON e.id = m.example_id"
            " WHERE m.export_id = ? AND m.split = ? ORDER BY m.example_id LIMIT ?",
            (export_id, split, limit),
        ).fetchall()
        cols = ("id", "kind", "turns", "chars", "sources")
        return {"total": int(total), "rows": [dict(zip(cols, r, strict=True)) for r in rows]}
