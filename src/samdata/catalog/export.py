"""Catalog SQL for exports: the rows a recipe selects, export history and members."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from samdata.catalog.bodies import BodyCodec
from samdata.catalog.curate import LABELS, VERSIONED

# Scalars come out of SQLite's JSON functions; Python parses only what is rare or needed.
_CANDIDATES = (
    # The body is decompressed in Python, not by body_text(): a SQL function call per row costs more.
    "SELECT e.id, e.kind, coalesce(r.body, e.body), p.file_id, p.locator,"
    # No DISTINCT: it costs a temp B-tree per row; Python drops repeats.
    " (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = e.id),"
    " l.secrets IS NOT NULL, l.secrets != '[]', nullif(l.quality, '[]'), l.neardup, l.tokens ->> '$.tokens',"
    " l.category ->> '$.category', coalesce(l.language ->> '$.mismatch', 0)"
    " FROM examples e JOIN provenance p ON p.id = (SELECT min(f.id) FROM provenance f WHERE f.example_id = e.id)"
    " LEFT JOIN redactions r ON r.example_id = e.id LEFT JOIN labels l ON l.example_id = e.id"
)


def _stored(body: str | bytes) -> str | bytes:
    return body


@functools.lru_cache(maxsize=1024)
def _source_tuple(sources: str | None) -> tuple[str, ...]:
    """group_concat's sources as a sorted tuple (shared: a catalog has few distinct sets)."""
    return tuple(sorted(set((sources or "").split(","))))


def _candidate(row: Sequence[Any], body_json: Callable[[Any], str | bytes | None]) -> dict[str, Any]:
    (
        id_,
        kind,
        body,
        file_id,
        locator,
        srcs,
        curated,
        had_secrets,
        quality,
        neardup,
        tokens,
        category,
        wrong,
    ) = row
    loads = orjson.loads
    return {
        "id": id_,
        "kind": kind,
        "body": body_json(body),  # JSON, as bytes or text
        "file_id": file_id,
        "locator": loads(locator) if locator else {},
        "sources": _source_tuple(srcs),
        "curated": bool(curated),
        "had_secrets": bool(had_secrets),
        "quality_flags": {f["flag"] for f in loads(quality)} if quality else set(),
        "neardup": loads(neardup) if neardup else None,
        "tokens": tokens,
        "category": category,
        "wrong_language": bool(wrong),
    }


class ExportStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    bodies: BodyCodec
    transaction: Any  # Catalog.transaction
    cached: Any  # Catalog.cached

    def _source_filter(self, sources: Sequence[str]) -> tuple[str, list[str]]:
        """The SQL that keeps examples found in one of `sources`, and its parameters; nothing when
        they cover every source the catalog has read (an example has a provenance row, so a
        source), which saves a probe per example on the usual one-recipe-takes-all catalog."""
        known = {r[0] for r in self.conn.execute("SELECT DISTINCT source FROM ingest_files")}
        if known <= set(sources):
            return "", []
        marks = ", ".join("?" for _ in sources)
        return (
            f" AND EXISTS (SELECT 1 FROM example_sources es WHERE es.example_id = e.id AND es.source IN ({marks}))",
            list(sources),
        )

    def export_candidates(
        self, sources: Sequence[str], kinds: Sequence[str], stored_bodies: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Live examples of these sources and kinds, in id order, with what export decides on: the
        body (redacted if curate redacted it), first provenance row, its sources, and curate's
        results: `curated`, quality flags, near-duplicate cluster, token count, category, language.
        `stored_bodies`: each body as stored (`bodies.json` gives its JSON), for a reader that
        leaves many out and need not decompress those."""
        kmarks = ", ".join("?" for _ in kinds)
        in_sources, params = self._source_filter(sources)
        # `+e.kind`: walk the id index in order; the kind index would sort every body in a temp B-tree.
        sql = f"{_CANDIDATES} WHERE e.forgotten = 0 AND +e.kind IN ({kmarks}){in_sources} ORDER BY e.id"
        cur = self.conn.cursor()
        cur.row_factory = None  # plain tuples: sqlite3.Row costs a lookup per field on millions of rows
        cur.execute(sql, [*kinds, *params])
        body = _stored if stored_bodies else self.bodies.json
        while rows := cur.fetchmany(1000):
            for row in rows:
                yield _candidate(row, body)

    def candidate_count(self, sources: Sequence[str], kinds: Sequence[str]) -> int:
        """How many rows `export_candidates` will yield (for a progress bar)."""
        kmarks = ", ".join("?" for _ in kinds)
        in_sources, params = self._source_filter(sources)
        if not in_sources:  # the kind index alone, less the few forgotten: no example row is read
            return self.conn.execute(
                f"SELECT (SELECT count(*) FROM examples WHERE kind IN ({kmarks})) - (SELECT count(*)"
                f" FROM examples INDEXED BY examples_forgotten WHERE forgotten = 1 AND kind IN ({kmarks}))",
                [*kinds, *kinds],
            ).fetchone()[0]
        return self.conn.execute(
            f"SELECT count(*) FROM examples e WHERE e.forgotten = 0 AND e.kind IN ({kmarks}){in_sources}",
            [*kinds, *params],
        ).fetchone()[0]

    def export_candidate(self, example_id: str) -> dict[str, Any] | None:
        """One example as `export_candidates` gives it (to explain what a recipe does with it)."""
        row = self.conn.execute(f"{_CANDIDATES} WHERE e.id = ? AND e.forgotten = 0", (example_id,)).fetchone()
        return None if row is None else _candidate(row, self.bodies.json)

    def export_state(self) -> dict[str, Any]:
        """What a manifest records of the catalog it came from: live examples, the last ingest run,
        the schema, and the version of every curate detector (all that decides an export's bytes)."""
        c = self.conn
        return {
            "examples": self.live_count(),  # type: ignore[attr-defined]
            "last_ingest_run": c.execute("SELECT max(id) FROM ingest_runs").fetchone()[0],
            "schema": self.schema_version(),  # type: ignore[attr-defined]
            "detectors": self.cached("export.detectors", self._label_versions),
        }

    def _label_versions(self) -> dict[str, int]:
        """detector → the newest version any label of it has (neardup's is minhash's, verdict's 1)."""
        newest = [f"max({d}_version)" for d in VERSIONED]
        newest += ["max(CASE WHEN neardup IS NOT NULL THEN minhash_version END)", "max(verdict IS NOT NULL)"]
        row = self.conn.execute(f"SELECT {', '.join(newest)} FROM labels").fetchone()
        return {d: v for d, v in sorted(zip(LABELS, row, strict=True)) if v}

    def record_export(
        self, recipe: str, recipe_json: str, out_dir: str, now: str, manifest_sha: str, counts: dict[str, int],
        members: Iterable[bytes],  # JSON arrays of [example_id, split] pairs
        inputs: dict[str, Any] | None = None,
    ) -> int:  # fmt: skip
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO exports (recipe, recipe_json, out_dir, created_at, manifest_sha256, counts, inputs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (recipe, recipe_json, out_dir, now, manifest_sha, orjson.dumps(counts).decode(),
                 orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS).decode() if inputs else None),
            )  # fmt: skip
            export_id = int(cur.lastrowid or 0)
            # Members arrive in chunks of JSON pairs that SQLite unpacks itself: one statement per
            # chunk instead of one Python call per example (exports hold millions).
            for chunk in members:
                c.execute(
                    "INSERT INTO export_members (export_id, example_id, split)"
                    " SELECT ?, value ->> 0, value ->> 1 FROM json_each(?)",
                    (export_id, chunk),
                )
        return export_id

    def export_by_dir(self, out_dir: str, manifest_sha: str) -> int | None:
        """The newest export written to `out_dir` whose manifest still has this hash."""
        row = self.conn.execute(
            "SELECT id FROM exports WHERE out_dir = ? AND manifest_sha256 = ? ORDER BY id DESC LIMIT 1",
            (out_dir, manifest_sha),
        ).fetchone()
        return row[0] if row else None

    def last_export_to(self, out_dir: str) -> dict[str, Any] | None:
        """The newest export written to `out_dir`: id, manifest hash, inputs (None before they
        were recorded), counts."""
        row = self.conn.execute(
            "SELECT id, manifest_sha256, inputs, counts FROM exports WHERE out_dir = ? ORDER BY id DESC LIMIT 1",
            (out_dir,),
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "manifest_sha256": row[1], "inputs": orjson.loads(row[2]) if row[2] else None,
                "counts": orjson.loads(row[3])}  # fmt: skip

    def export_dir(self, export_id: int) -> str | None:
        row = self.conn.execute("SELECT out_dir FROM exports WHERE id = ?", (export_id,)).fetchone()
        return row[0] if row else None

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
