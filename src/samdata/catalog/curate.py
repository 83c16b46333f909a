"""Catalog SQL for curation: attributes per detector, secret findings, redacted bodies, the funnel."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from samdata.curate.keeper import KeeperFacts


class CurateStore:
    """Mixed into `Catalog`: everything curate reads and writes."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def _unlabelled_where(self, versions: dict[str, int]) -> tuple[str, list[Any]]:
        current = ", ".join("(?, ?)" for _ in versions)
        args: list[Any] = [x for item in versions.items() for x in item]
        # Index lookups per example on attributes' primary key: bodies are read only for what is pending.
        return (
            f"e.forgotten = 0 AND (SELECT count(*) FROM attributes a WHERE a.example_id = e.id"
            f" AND (a.detector, a.version) IN (VALUES {current})) < {len(versions)}",
            args,
        )

    def labels_fingerprint(self) -> list[int]:
        """Moves whenever examples or labels may have changed: the data version (every write
        through samdata), the schema version (a migration may drop labels) and the number of
        label rows (an edit by hand in sqlite3)."""
        n = self.conn.execute("SELECT count(*) FROM attributes").fetchone()[0]
        return [self.data_version(), self.schema_version(), n]  # type: ignore[attr-defined]

    def unlabelled_count(self, versions: dict[str, int], after: int = 0) -> int:
        """Live examples missing a result of some detector at its current version (of those whose
        rowid is above `after`: a run that labelled everything up to there says so)."""
        where, args = self._unlabelled_where(versions)
        return self.conn.execute(
            f"SELECT count(*) FROM examples e WHERE e.rowid > ? AND {where}", [after, *args]
        ).fetchone()[0]

    def unlabelled(self, versions: dict[str, int], limit: int, after: int = 0) -> Iterator[list[Any]]:
        """Batches of the examples `unlabelled_count` counts, as `curate.batch.Row`s: id, kind,
        body, sources, and the detectors each one needs. In id order (labels are keyed by id: their
        B-trees grow at one end instead of everywhere), or for those above rowid `after`, few, in
        rowid order."""
        from samdata.curate.batch import Row  # the catalog owns SQL; the row shape is curate's

        where, args = self._unlabelled_where(versions)
        key, last = ("e.rowid", after) if after else ("e.id", "")
        while True:
            rows = self.conn.execute(
                f"SELECT {key}, e.id, e.kind, body_text(e.body),"
                " (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = e.id),"
                " (SELECT group_concat(a.detector || '=' || a.version) FROM attributes a WHERE a.example_id = e.id)"
                f" FROM examples e WHERE {key} > ? AND {where} ORDER BY {key} LIMIT ?",
                [last, *args, limit],
            ).fetchall()
            if not rows:
                return
            batch = []
            for _key, id_, kind, body, sources, have in rows:
                got = dict(x.rsplit("=", 1) for x in (have or "").split(",") if x)
                needs = frozenset(d for d, v in versions.items() if got.get(d) != str(v))
                batch.append(Row(id_, kind, body, sorted(set((sources or "").split(","))), needs))
            yield batch
            last = rows[-1][0]

    def last_rowid(self) -> int:
        """The highest example rowid (examples are never deleted, so new ones are above it)."""
        return int(self.conn.execute("SELECT coalesce(max(rowid), 0) FROM examples").fetchone()[0])

    def save_labels(
        self,
        values: dict[str, Sequence[tuple[str, Any]]],
        versions: dict[str, int],
        findings: Sequence[tuple[Any, ...]],
        redactions: Sequence[tuple[str, str]],
        bands: Sequence[tuple[int, str]],
        now: str,
    ) -> None:
        """Store a batch's labels of every detector in one transaction; an example's secret findings
        and redaction replace its old ones, and so does its search text."""
        secrets = [i for i, _v in values.get("secrets", ())]
        with self.transaction(data=True) as c:
            self.unindex(secrets)  # type: ignore[attr-defined]  # with the text it was indexed with
            c.executemany(
                "INSERT INTO attributes (example_id, detector, version, value, computed_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (example_id, detector) DO UPDATE SET version = excluded.version,"
                " value = excluded.value, computed_at = excluded.computed_at",
                [
                    (i, d, versions[d], orjson.dumps(v).decode(), now)
                    for d, rows in values.items()
                    for i, v in rows
                ],
            )
            ids = [(i,) for i in secrets]
            c.executemany("DELETE FROM findings WHERE example_id = ?", ids)
            c.executemany("DELETE FROM redactions WHERE example_id = ?", ids)
            c.executemany(
                "INSERT INTO findings (example_id, kind, part, span_start, span_end, hash, preview)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                findings,
            )
            c.executemany("INSERT INTO redactions (example_id, body) VALUES (?, ?)", redactions)
            c.executemany("INSERT INTO lsh_pending (key, example) VALUES (?, ?)", bands)
            # Searchable once its secrets are labelled: the index only ever holds redacted text.
            self.index(secrets)  # type: ignore[attr-defined]

    # -- near-duplicates ----------------------------------------------------------------------

    def reset_neardup(self) -> None:
        """Forget bands, pairs and clusters (the shingling or banding changed)."""
        with self.transaction(data=True) as c:
            c.execute("DELETE FROM lsh_index")
            c.execute("DELETE FROM lsh_pending")
            c.execute("DELETE FROM neardup_pairs")
            c.execute("DELETE FROM attributes WHERE detector IN ('minhash', 'neardup')")

    # Groups of one band key larger than this pair each member with the first members only (a key
    # shared by thousands of tiny documents must not make millions of pairs; union-find still joins them).
    _GROUP_PAIRS = 64

    def pending_candidates(self) -> Iterator[tuple[int, int]]:
        """Candidate pairs (a < b, maybe repeated; short ids, `neardup.short_id`) of the examples
        whose band keys are pending: with each other (one pass over the pending keys in key order)
        and with the index (a primary-key probe per pending key, only when the index holds anything)."""
        group: list[int] = []
        last = None
        cap = self._GROUP_PAIRS
        for key, example in self.conn.execute("SELECT key, example FROM lsh_pending ORDER BY key"):
            if key != last:
                group, last = [], key
            for other in group[:cap]:
                if other != example:
                    yield (other, example) if other < example else (example, other)
            group.append(example)
        if self.conn.execute("SELECT 1 FROM lsh_index LIMIT 1").fetchone() is None:
            return
        for mine, other in self.conn.execute(
            "SELECT p.example, i.example FROM lsh_pending p CROSS JOIN lsh_index i ON i.key = p.key"
        ):
            if mine != other:
                yield (mine, other) if mine < other else (other, mine)

    def distinct_pending_pairs(self, chunk: int) -> Iterator[list[tuple[str, str]]]:
        """`pending_candidates` without repeats (a pair shares up to every band), as example ids
        (a < b), in chunks; the repeats are dropped by SQLite's sort in a temp table, so memory
        stays flat."""
        c = self.conn
        c.execute("CREATE TEMP TABLE IF NOT EXISTS candidate_pairs (a INTEGER NOT NULL, b INTEGER NOT NULL)")
        c.execute("DELETE FROM candidate_pairs")
        pairs = self.pending_candidates()
        while block := list(itertools.islice(pairs, 50_000)):
            c.executemany("INSERT INTO candidate_pairs (a, b) VALUES (?, ?)", block)
        # A short id names every example whose id starts with its 16 hex digits (one, but for a
        # 64-bit collision): a range of the unique index on examples.id.
        out: list[tuple[str, str]] = []
        for a, b in c.execute(
            "SELECT x.id, y.id FROM (SELECT DISTINCT a, b FROM candidate_pairs ORDER BY a, b) p"
            " JOIN examples x ON x.id >= printf('%016x', p.a) AND x.id < printf('%016x', p.a) || 'g'"
            " JOIN examples y ON y.id >= printf('%016x', p.b) AND y.id < printf('%016x', p.b) || 'g'"
        ):
            out.append((a, b) if a < b else (b, a))
            if len(out) >= chunk:
                yield out
                out = []
        if out:
            yield out
        c.execute("DELETE FROM candidate_pairs")

    def raw_bodies(self, ids: Sequence[str]) -> dict[str, str]:
        """id → canonical body JSON (unparsed: a worker parses it)."""
        out: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            out.update(
                self.conn.execute(
                    f"SELECT id, body_text(body) FROM examples WHERE id IN ({marks})", chunk
                ).fetchall()
            )
        return out

    def merge_pending_bands(self) -> int:
        """Move the pending band keys into the index in key order (each leaf page touched once)."""
        with self.transaction() as c:
            n = c.execute(
                "INSERT OR IGNORE INTO lsh_index (key, example) SELECT key, example FROM lsh_pending ORDER BY key"
            ).rowcount
            c.execute("DELETE FROM lsh_pending")
        return max(n, 0)

    def bodies(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            for i, body in self.conn.execute(
                f"SELECT id, body_text(body) FROM examples WHERE id IN ({marks})", chunk
            ):
                out[i] = orjson.loads(body)
        return out

    def save_pairs(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        with self.transaction(data=True) as c:
            c.executemany("INSERT OR REPLACE INTO neardup_pairs (a, b, jaccard) VALUES (?, ?, ?)", pairs)

    def neardup_pairs(self) -> list[tuple[str, str, float]]:
        return self.conn.execute(
            "SELECT p.a, p.b, p.jaccard FROM neardup_pairs p JOIN examples x ON x.id = p.a AND x.forgotten = 0"
            " JOIN examples y ON y.id = p.b AND y.forgotten = 0"
        ).fetchall()

    def keeper_facts(self, ids: Sequence[str]) -> dict[str, KeeperFacts]:
        """id → what the keeper priority reads of it (`samdata.curate.keeper`)."""
        from samdata.curate.keeper import KeeperFacts  # here: the curate package imports the catalog

        out: dict[str, KeeperFacts] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            for i, sources, flags, created, added in self.conn.execute(
                f"SELECT e.id, (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = e.id),"
                f" (SELECT json_array_length(value) FROM attributes a WHERE a.example_id = e.id AND a.detector = 'quality'),"
                f" e.created_at, e.rowid FROM examples e WHERE e.id IN ({marks})",
                chunk,
            ):
                out[i] = KeeperFacts((sources or "").split(","), flags or 0, created, added)
        return out

    def replace_clusters(self, values: Sequence[tuple[str, Any]], version: int, now: str) -> set[str]:
        """The `neardup` attribute of every clustered example (everything else has none), written
        where it changed; returns the examples whose value appeared, changed or went (their
        verdicts need a look)."""
        with self.transaction(data=True) as c:
            old = {
                r[0]: r[1]
                for r in c.execute("SELECT example_id, value FROM attributes WHERE detector = 'neardup'")
            }
            new = {i: orjson.dumps(v).decode() for i, v in values}
            gone = [(i,) for i in old.keys() - new.keys()]
            c.executemany("DELETE FROM attributes WHERE example_id = ? AND detector = 'neardup'", gone)
            c.executemany(
                "INSERT INTO attributes (example_id, detector, version, value, computed_at) VALUES (?, 'neardup', ?, ?, ?)"
                " ON CONFLICT (example_id, detector) DO UPDATE SET version = excluded.version, value = excluded.value,"
                " computed_at = excluded.computed_at",
                [(i, version, value, now) for i, value in new.items() if old.get(i) != value],
            )
        return {i for i in old.keys() | new.keys() if old.get(i) != new.get(i)}

    def clusters(self) -> list[dict[str, Any]]:
        """Near-duplicate clusters, largest first: keeper and members, one member entry per provenance
        row (source, file, locator) with the body its text is shown from (redacted if curate did)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for example_id, value, source, file, locator, body in self.conn.execute(
            "SELECT a.example_id, a.value, p.source, p.file, p.locator, coalesce(r.body, body_text(e.body)) FROM attributes a"
            " JOIN provenance_paths p ON p.example_id = a.example_id JOIN examples e ON e.id = a.example_id"
            " LEFT JOIN redactions r ON r.example_id = a.example_id"
            " WHERE a.detector = 'neardup' ORDER BY a.example_id, p.id"
        ):
            keeper = orjson.loads(value)["keeper_id"]
            groups.setdefault(keeper, []).append(
                {"id": example_id, "source": source, "file": file, "locator": orjson.loads(locator),
                 "body": orjson.loads(body)}
            )  # fmt: skip
        ordered = sorted(groups.items(), key=lambda kv: (-len({m["id"] for m in kv[1]}), kv[0]))
        return [{"keeper": k, "members": m} for k, m in ordered]

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

    def verdict_inputs(self, ids: Sequence[str]) -> dict[str, tuple[Any, set[str], bool]]:
        """id → (near-duplicate value, quality flags, wrong language): what `verdict.not_kept` reads."""
        out: dict[str, tuple[Any, set[str], bool]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            for id_, neardup, quality, mismatch in self.conn.execute(
                "SELECT e.id, n.value, nullif(q.value, '[]'), coalesce(l.value ->> '$.mismatch', 0) FROM examples e"
                " LEFT JOIN attributes q ON q.example_id = e.id AND q.detector = 'quality'"
                " LEFT JOIN attributes l ON l.example_id = e.id AND l.detector = 'language'"
                " LEFT JOIN attributes n ON n.example_id = e.id AND n.detector = 'neardup'"
                f" WHERE e.id IN ({marks})",
                chunk,
            ):
                flags = {f["flag"] for f in orjson.loads(quality)} if quality else set()
                out[id_] = (orjson.loads(neardup) if neardup else None, flags, bool(mismatch))
        return out

    def save_verdicts(self, values: Sequence[tuple[str, Any]], now: str) -> None:
        """The `verdict` attribute (kept or not, and why) of these examples."""
        with self.transaction(data=True) as c:
            c.executemany(
                "INSERT INTO attributes (example_id, detector, version, value, computed_at) VALUES (?, 'verdict', 1, ?, ?)"
                " ON CONFLICT (example_id, detector) DO UPDATE SET value = excluded.value, computed_at = excluded.computed_at",
                [(i, orjson.dumps(v).decode(), now) for i, v in values],
            )

    def kept_count(self) -> int:
        """Live examples whose stored verdict keeps them."""
        return self.conn.execute(
            "SELECT count(*) FROM attributes a JOIN examples e ON e.id = a.example_id AND e.forgotten = 0"
            " WHERE a.detector = 'verdict' AND a.value ->> '$.kept' = 1"
        ).fetchone()[0]

    def funnel_counts(self) -> dict[str, dict[str, int]]:
        """Per source, in SQL: ingested, near-duplicates removed, quality flagged (a flag or the wrong
        language), with secrets, kept (the stored verdict), not curated. The distinct (source,
        example) pairs come first, so each example's labels are read once per source, not once per
        provenance row."""
        sql = (
            "SELECT pairs.source, count(*),"
            " coalesce(sum(n.value ->> '$.keeper' = 0), 0),"
            " coalesce(sum(q.value != '[]' OR coalesce(l.value ->> '$.mismatch', 0) = 1), 0),"
            " coalesce(sum(s.value != '[]'), 0),"
            " coalesce(sum(v.value ->> '$.kept' = 1 AND q.value IS NOT NULL), 0),"
            " coalesce(sum(q.value IS NULL), 0)"
            " FROM example_sources pairs JOIN examples e ON e.id = pairs.example_id AND e.forgotten = 0"
            " LEFT JOIN attributes l ON l.example_id = pairs.example_id AND l.detector = 'language'"
            " LEFT JOIN attributes q ON q.example_id = pairs.example_id AND q.detector = 'quality'"
            " LEFT JOIN attributes s ON s.example_id = pairs.example_id AND s.detector = 'secrets'"
            " LEFT JOIN attributes n ON n.example_id = pairs.example_id AND n.detector = 'neardup'"
            " LEFT JOIN attributes v ON v.example_id = pairs.example_id AND v.detector = 'verdict'"
            " GROUP BY pairs.source ORDER BY pairs.source"
        )
        keys = ("ingested", "near_dup_removed", "quality_flagged", "with_secrets", "kept", "not_curated")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in self.conn.execute(sql)}

    def breakdowns(self) -> dict[str, dict[str, int]]:
        """Live examples by category, language and token length (from the curate attributes)."""
        out: dict[str, dict[str, int]] = {"by_category": {}, "by_language": {}, "by_token_length": {}}
        queries = {
            "by_category": "json_extract(a.value, '$.category')",
            "by_language": "json_extract(a.value, '$.lang')",
            "by_token_length": "CASE WHEN json_extract(a.value, '$.tokens') < 256 THEN '<256'"
            " WHEN json_extract(a.value, '$.tokens') < 1024 THEN '256-1k'"
            " WHEN json_extract(a.value, '$.tokens') < 4096 THEN '1k-4k'"
            " WHEN json_extract(a.value, '$.tokens') < 16384 THEN '4k-16k' ELSE '>=16k' END",
        }
        detectors = {"by_category": "category", "by_language": "language", "by_token_length": "tokens"}
        for key, expr in queries.items():
            for value, n in self.conn.execute(
                f"SELECT {expr}, count(*) FROM attributes a JOIN examples e ON e.id = a.example_id AND e.forgotten = 0"
                f" WHERE a.detector = ? AND a.value != 'null' GROUP BY 1 ORDER BY 2 DESC",
                (detectors[key],),
            ):
                out[key][str(value)] = n
        out["wrong_language"] = {
            "examples": self.conn.execute(
                "SELECT count(*) FROM attributes WHERE detector = 'language' AND json_extract(value, '$.mismatch') = 1"
            ).fetchone()[0]
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
