"""Catalog SQL for the dashboard's Duplicates pages (reads only): near-duplicate clusters as curate
stored them (the `neardup` label of every member: keeper_id, keeper, size, anchor, and the rule
that chose the keeper), a page of them largest first, and one cluster with everything its members
are compared on."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

# One row per cluster: the members with provenance (as `samdata dupes` counts them), their sources.
_CLUSTERS = (
    "SELECT l.neardup ->> '$.keeper_id' AS keeper, min(l.neardup ->> '$.anchor') AS anchor,"
    " count(DISTINCT l.example_id) AS size, group_concat(DISTINCT p.source) AS sources,"
    " max(l.neardup ->> '$.rule') AS rule"
    " FROM labels l JOIN provenance_paths p ON p.example_id = l.example_id"
    " WHERE l.neardup IS NOT NULL GROUP BY 1"
)


class DupesViewStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection

    def cluster_totals(self) -> dict[str, int]:
        """How many clusters, and how many examples they hold (all but one per cluster not kept)."""
        row = self.conn.execute(f"SELECT count(*), coalesce(sum(size), 0) FROM ({_CLUSTERS})").fetchone()
        return {"clusters": row[0], "examples": row[1]}

    def cluster_list(self, limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """A page of clusters in `samdata dupes` order (most members first, then keeper id): keeper,
        anchor, size, sources (sorted), the rule that chose the keeper, and the keeper's body as the
        dashboard may show it from (`redacted`: curate's redacted body or None; `scanned`: curate
        looked for secrets in it: when not, the caller redacts the stored body itself)."""
        rows = [
            dict(r)
            for r in self.conn.execute(
                f"{_CLUSTERS} ORDER BY size DESC, keeper LIMIT ? OFFSET ?", (limit, offset)
            )
        ]
        bodies = self._shown_bodies([r["keeper"] for r in rows])
        for r in rows:
            r["sources"] = sorted(set((r["sources"] or "").split(",")) - {""})
            r.update(bodies.get(r["keeper"], {"redacted": None, "scanned": False}))
        return rows

    def cluster_of(self, example_id: str) -> dict[str, Any] | None:
        """The cluster an example is in (give its anchor, its keeper or any member): anchor, keeper
        and the members, keeper first: id, kind, created_at, sources, provenance rows, quality flags,
        verdict, the stored `neardup` value and the body fields of `cluster_list`. None when the
        example is in no cluster."""
        row = self.conn.execute(
            "SELECT neardup FROM labels WHERE example_id = ? AND neardup IS NOT NULL", (example_id,)
        ).fetchone()
        if row is None:
            return None
        anchor = orjson.loads(row[0])["anchor"]
        members: dict[str, dict[str, Any]] = {}
        for r in self.conn.execute(
            "SELECT l.example_id, l.neardup, e.kind, e.created_at, l.quality, l.verdict FROM labels l"
            " JOIN examples e ON e.id = l.example_id"
            " WHERE l.neardup IS NOT NULL AND l.neardup ->> '$.anchor' = ? ORDER BY l.example_id",
            (anchor,),
        ):
            members[r[0]] = {
                "id": r[0], "neardup": orjson.loads(r[1]), "kind": r[2], "created_at": r[3],
                "flags": sorted({f["flag"] for f in orjson.loads(r[4])}) if r[4] else [],
                "verdict": orjson.loads(r[5]) if r[5] else None, "provenance": [], "sources": [],
            }  # fmt: skip
        ids = list(members)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for example, source, file, locator in self.conn.execute(
                f"SELECT example_id, source, file, locator FROM provenance_paths WHERE example_id IN ({marks})"
                " ORDER BY example_id, id",
                chunk,
            ):
                m = members[example]
                m["provenance"].append({"source": source, "file": file, "locator": orjson.loads(locator)})
                if source not in m["sources"]:
                    m["sources"].append(source)
        for i, fields in self._shown_bodies(ids).items():
            members[i].update(fields)
        keeper = next((m["id"] for m in members.values() if m["neardup"].get("keeper")), None)
        ordered = sorted(members.values(), key=lambda m: (m["id"] != keeper, m["id"]))
        return {"anchor": anchor, "keeper": keeper, "members": ordered}

    def _shown_bodies(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            for i, redacted, scanned in self.conn.execute(
                "SELECT e.id, r.body,"
                " EXISTS (SELECT 1 FROM labels s WHERE s.example_id = e.id AND s.secrets IS NOT NULL)"
                f" FROM examples e LEFT JOIN redactions r ON r.example_id = e.id WHERE e.id IN ({marks})",
                chunk,
            ):
                out[i] = {"redacted": redacted, "scanned": bool(scanned)}
        return out
