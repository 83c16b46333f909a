"""Catalog SQL for lineage: where an example came from and went, and forgetting it."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from samdata.model import short_id

FORGOTTEN_BODY = '{"forgotten":true}'


class LineageStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def resolve_ids(self, prefix: str) -> list[str]:
        """Example ids starting with `prefix` (people paste short ids)."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM examples WHERE id >= ? AND id < ? || 'g' ORDER BY id LIMIT 11",
                (prefix, prefix),
            )
        ]

    def trace(self, example_id: str) -> dict[str, Any] | None:
        """Every file and locator an example came from, every export and split it went into."""
        row = self.conn.execute(
            "SELECT id, kind, forgotten, created_at FROM examples WHERE id = ?", (example_id,)
        ).fetchone()
        if row is None:
            return None
        provenance = [
            {"source": s, "file": f, "locator": orjson.loads(loc), "meta": orjson.loads(meta)}
            for s, f, loc, meta in self.conn.execute(
                "SELECT source, file, locator, meta FROM provenance_paths WHERE example_id = ? ORDER BY id",
                (example_id,),
            )
        ]
        exports = [
            {"export_id": i, "recipe": r, "split": sp, "out_dir": d, "created_at": c}
            for i, r, sp, d, c in self.conn.execute(
                "SELECT x.id, x.recipe, m.split, x.out_dir, x.created_at FROM export_members m"
                " JOIN exports x ON x.id = m.export_id WHERE m.example_id = ? ORDER BY x.id",
                (example_id,),
            )
        ]
        return {
            "id": row[0],
            "kind": row[1],
            "forgotten": bool(row[2]),
            "created_at": row[3],
            "provenance": provenance,
            "exports": exports,
            "runs": self.runs_of_examples([example_id]),  # type: ignore[attr-defined]
            "attributes": self.labels_of(example_id),  # type: ignore[attr-defined]
        }

    def match_ids(self, text: str) -> list[str]:
        """Live examples whose body contains `text` (case-insensitive)."""
        return [r[0] for r in self.conn.execute(
            "SELECT id FROM examples WHERE forgotten = 0 AND instr(lower(body_text(body)), lower(?)) > 0 ORDER BY id", (text,)
        )]  # fmt: skip

    def match_quarantine(self, text: str) -> list[dict[str, Any]]:
        """Quarantined records whose snippet or reason contains `text` (case-insensitive)."""
        return [{"id": r[0], "snippet": r[1]} for r in self.conn.execute(
            "SELECT id, snippet || ' ' || reason FROM quarantine"
            " WHERE instr(lower(snippet), lower(?)) > 0 OR instr(lower(reason), lower(?)) > 0 ORDER BY id",
            (text, text),
        )]  # fmt: skip

    def wipe_snippets(self, quarantine_ids: Sequence[int]) -> int:
        """Blank the snippets (and value-bearing reasons) of quarantined records; the records stay
        counted, so every file's account still balances."""
        with self.transaction() as c:
            n = c.executemany(
                "UPDATE quarantine SET snippet = '', reason = 'forgotten (' || id || ')' WHERE id = ?",
                [(i,) for i in quarantine_ids],
            ).rowcount
        return max(n, 0)

    def forget(self, ids: Sequence[str]) -> int:
        """Wipe the bodies and everything derived from them; keep the ids so re-ingest skips them."""
        rows = [(i,) for i in ids]
        with self.transaction(data=True) as c:
            self.drop_derived(ids)
            n = c.executemany(
                f"UPDATE examples SET forgotten = 1, body = '{FORGOTTEN_BODY}', chars = 0 WHERE id = ? AND forgotten = 0",
                rows,
            ).rowcount
            # Provenance labels (a conversation's title) may hold the text too; locators are ids.
            c.executemany("UPDATE provenance SET meta = '{}' WHERE example_id = ?", rows)
        return max(n, 0)

    def drop_derived(self, ids: Sequence[str]) -> None:
        """Delete what curate and search derived from these examples' bodies (index entries,
        labels, findings, redactions, band keys, pairs), inside the caller's transaction."""
        c = self.conn
        rows = [(i,) for i in ids]
        self.unindex(ids)  # type: ignore[attr-defined]
        for table, column in (("redactions", "example_id"), ("findings", "example_id"), ("labels", "example_id"),
                              ("neardup_pairs", "a"), ("neardup_pairs", "b")):  # fmt: skip
            c.executemany(f"DELETE FROM {table} WHERE {column} = ?", rows)
        # The band tables have no index by example (it would double the cost of writing them): one scan.
        shorts = orjson.dumps([short_id(i) for i in ids]).decode()
        for table in ("lsh_index", "lsh_recent", "lsh_pending"):
            c.execute(f"DELETE FROM {table} WHERE example IN (SELECT value FROM json_each(?))", (shorts,))
