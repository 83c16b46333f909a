"""Catalog SQL for the dashboard's example search: an FTS5 index over redacted text, and facets."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

# Every 'content' string of a body, in document order: what a person searches for.
_TEXT = (
    "(SELECT group_concat(t.atom, char(10)) FROM json_tree(coalesce(r.body, body_text(e.body))) t"
    " WHERE t.key = 'content' AND t.type = 'text')"
)


def search_text(body: Any) -> str | None:
    """What `_TEXT` makes of a (redacted) body, computed in Python: a worker that has the body parsed
    gives it to the index directly. Keys walked sorted, as the catalog stores bodies (json_tree reads
    them in document order); FTS5 deletes a row by the text it was indexed with, so the two agree."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                item = value[key]
                if key == "content" and isinstance(item, str):
                    out.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)
    return "\n".join(out) if out else None


_SECRETS_DONE = "EXISTS (SELECT 1 FROM labels s WHERE s.example_id = e.id AND s.secrets IS NOT NULL)"


def _label(value: str) -> tuple[str, str]:
    """`value`: an expression of the hit's labels row `l`."""
    return (
        f"EXISTS (SELECT 1 FROM labels l WHERE l.example_id = e.id AND {value} = ?)",
        f"SELECT {value}, count(*) FROM _hits h CROSS JOIN labels l ON l.example_id = h.id"
        f" WHERE {value} IS NOT NULL GROUP BY 1",
    )


# Facet → (a condition on example `e` with one `?` for the value, checked per candidate: cheap while
# the value is common; counts over the hits in `_hits`).
FACETS: dict[str, tuple[str, str]] = {
    "source": (
        "EXISTS (SELECT 1 FROM example_sources es WHERE es.example_id = e.id AND es.source = ?)",
        "SELECT es.source, count(*) FROM _hits h CROSS JOIN example_sources es ON es.example_id = h.id GROUP BY 1",
    ),
    "kind": (
        "e.kind = ?",
        "SELECT e.kind, count(*) FROM _hits h CROSS JOIN examples e ON e.rowid = h.erow GROUP BY 1",
    ),
    "category": _label("l.category ->> '$.category'"),
    "language": _label("l.language ->> '$.lang'"),
    "flag": (
        "EXISTS (SELECT 1 FROM labels l, json_each(l.quality) j WHERE l.example_id = e.id"
        " AND j.value ->> '$.flag' = ?)",
        "SELECT j.value ->> '$.flag', count(DISTINCT h.id) FROM _hits h CROSS JOIN labels l ON l.example_id = h.id,"
        " json_each(l.quality) j GROUP BY 1",
    ),
    "verdict": _label(
        "CASE WHEN l.verdict IS NULL THEN NULL WHEN l.verdict ->> '$.kept' = 1 THEN 'kept' ELSE 'not kept' END"
    ),
}

# A rare value would make the per-candidate check walk every match: for these facets (indexed by
# value, migrations 14 and 21) a value held by fewer than SMALL_SET examples is read as a set instead.
SETS = {
    "language": "SELECT example_id FROM labels WHERE language ->> '$.lang' = ?",
    "category": "SELECT example_id FROM labels WHERE category ->> '$.category' = ?",
}
SMALL_SET = 20_000


HITS_CAP = 2_000  # hits a search orders, pages through and counts facets over


@dataclass
class SearchResult:
    total: int  # exact, or at least this many when `capped`
    capped: bool = False
    facets_of: int = 0  # the facets count this many hits (the first HITS_CAP when there are more)
    rows: list[dict[str, Any]] = field(default_factory=list)
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


# What unicode61 makes tokens of: runs of letters and digits (its categories L*, N*).
_TOKEN = re.compile(r"[^\W_]+")


def fts_query(text: str) -> str:
    """A person's words as an FTS5 query: every token must appear (prefix match on the last one).
    The index keeps no positions (detail=none), so the input is split into tokens the way the
    tokenizer splits it and each is quoted: FTS5 syntax in the input is never interpreted."""
    parts = [f'"{t}"' for t in _TOKEN.findall(text)]
    if parts:
        parts[-1] += "*"
    return " ".join(parts)


class SearchStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    # The index is contentless (migration 15): a row is removed by giving FTS5 the text it was
    # indexed with, so callers unindex an example before its redaction or body changes. Rows go in
    # in rowid order, in one statement: FTS5 flushes its pending segment whenever a rowid is lower
    # than the last one (random order cost 85 instead of ~25 us per example at 67k examples).
    def unindex(self, ids: Sequence[str]) -> None:
        """Take these examples out of the search index (those that are in it)."""
        self.conn.execute(
            f"INSERT INTO examples_fts (examples_fts, rowid, text) SELECT 'delete', e.rowid, {_TEXT}"
            " FROM examples e LEFT JOIN redactions r ON r.example_id = e.id"
            " WHERE e.id IN (SELECT value FROM json_each(?))"
            " AND EXISTS (SELECT 1 FROM examples_fts_docsize d WHERE d.id = e.rowid) ORDER BY e.rowid",
            (orjson.dumps(list(ids)).decode(),),
        )

    def index(self, ids: Sequence[str]) -> None:
        """Index the redacted text of these examples, those whose secrets are labelled and that the
        index lacks."""
        self.conn.execute(
            f"INSERT INTO examples_fts (rowid, text) SELECT e.rowid, {_TEXT} FROM examples e"
            " LEFT JOIN redactions r ON r.example_id = e.id WHERE e.id IN (SELECT value FROM json_each(?))"
            f" AND e.forgotten = 0 AND {_SECRETS_DONE}"
            " AND NOT EXISTS (SELECT 1 FROM examples_fts_docsize d WHERE d.id = e.rowid) ORDER BY e.rowid",
            (orjson.dumps(list(ids)).decode(),),
        )

    def index_texts(self, texts: Sequence[tuple[int, str | None]]) -> None:
        """Index (example rowid, `search_text` of its redacted body) pairs of examples not in the
        index (curate unindexes them first); one forgotten meanwhile stays out."""
        rowids = orjson.dumps([r for r, _t in texts]).decode()
        gone = {r for (r,) in self.conn.execute(
            "SELECT e.rowid FROM json_each(?) j JOIN examples e ON e.rowid = j.value WHERE e.forgotten = 1", (rowids,)
        )}  # fmt: skip
        # One plain INSERT per row: an INSERT ... SELECT opens a statement savepoint, at which FTS5
        # flushes its pending segment (a segment per row: 8x slower, then merges).
        self.conn.executemany(
            "INSERT INTO examples_fts (rowid, text) VALUES (?, ?)",
            sorted((t for t in texts if t[0] not in gone), key=lambda t: t[0]),
        )

    def search_examples(
        self, q: str = "", filters: dict[str, str] | None = None, limit: int = 50, offset: int = 0,
        facets: bool = True,
    ) -> SearchResult:  # fmt: skip
        """Examples matching the words of `q` (all of them) and every facet filter, newest first
        (best match first when they fit in one bounded set of hits), with facet counts.

        Work is bounded at any catalog size: the hits are the first `HITS_CAP` (pages and facets
        come from them) and the total is exact when it is cheap (words or nothing, no filter), else
        counted up to the cap (`capped`)."""
        filters = {k: v for k, v in (filters or {}).items() if k in FACETS and v}
        c = self.conn
        match = fts_query(q)
        # The rarest indexed filter value, when it is rare, drives the search (its few examples are
        # checked against the words); otherwise the words do (the index's rowid order, no sort).
        sizes = {
            name: c.execute(
                f"SELECT count(*) FROM ({SETS[name]} LIMIT ?)", (filters[name], SMALL_SET)
            ).fetchone()[0]
            for name in filters
            if name in SETS
        }
        driver = min((n for n in sizes if sizes[n] < SMALL_SET), key=sizes.__getitem__, default=None)
        where: list[str] = ["e.forgotten = 0"]
        args: list[Any] = []
        if driver is not None:
            source = f"({SETS[driver]}) s JOIN examples e ON e.id = s.example_id"
            args.append(filters[driver])
            order = "e.rowid DESC"
            if match:
                where.append(
                    "EXISTS (SELECT 1 FROM examples_fts f WHERE f.rowid = e.rowid AND examples_fts MATCH ?)"
                )
                args.append(match)
        elif match:
            source = "examples_fts f JOIN examples e ON e.rowid = f.rowid"
            order = "f.rowid DESC"
            where.append("examples_fts MATCH ?")
            args.append(match)
        else:
            source, order = "examples e", "e.rowid DESC"
        for name, value in filters.items():
            if name != driver:
                where.append(FACETS[name][0])
                args.append(value)
        sql_where = " AND ".join(where)
        # The hits in order, numbered: a page is a range of positions, the facets a join.
        c.execute("CREATE TEMP TABLE IF NOT EXISTS _hits (pos INTEGER PRIMARY KEY, erow INTEGER, id TEXT)")

        def collect(order: str) -> int:
            c.execute("DELETE FROM _hits")
            c.execute(
                f"INSERT INTO _hits (pos, erow, id) SELECT row_number() OVER (), erow, id FROM"
                f" (SELECT e.rowid AS erow, e.id AS id FROM {source} WHERE {sql_where} ORDER BY {order} LIMIT ?)",
                [*args, HITS_CAP + 1],
            )
            return int(c.execute("SELECT count(*) FROM _hits").fetchone()[0])

        hits = collect(order)
        capped = hits > HITS_CAP
        if capped:
            c.execute("DELETE FROM _hits WHERE pos > ?", (HITS_CAP,))
        elif match and hits > 1 and driver is None:
            collect("f.rank")  # all of them fit: best match first (bm25)
        total = hits
        if capped and not filters:
            total = (
                c.execute(
                    "SELECT count(*) FROM examples_fts WHERE examples_fts MATCH ?", (match,)
                ).fetchone()[0]
                if match
                else self.live_count()  # type: ignore[attr-defined]
            )
        result = SearchResult(total, capped=capped and bool(filters), facets_of=min(hits, HITS_CAP))
        page = c.execute(
            "SELECT e.id, e.kind, e.turns, e.chars, e.created_at, coalesce(r.body, body_text(e.body)) AS body,"
            " (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = e.id) AS sources"
            " FROM _hits h JOIN examples e ON e.rowid = h.erow LEFT JOIN redactions r ON r.example_id = e.id"
            " WHERE h.pos > ? AND h.pos <= ? ORDER BY h.pos",
            (offset, offset + limit),
        ).fetchall()
        result.rows = [dict(r) for r in page]
        if facets:
            for name, (_value, count) in FACETS.items():
                result.facets[name] = [
                    (str(v), n) for v, n in c.execute(f"{count} ORDER BY 2 DESC, 1 LIMIT 30") if v is not None
                ]
        return result
