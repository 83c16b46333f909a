"""Catalog SQL for curation: labels (one row per example, a column per detector), secret findings,
redacted bodies, the funnel."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from samdata.curate.keeper import KeeperFacts


# The detectors whose value carries the version it was computed by (samdata.curate.plan_for): a
# column each in `labels`, `<name>_version` beside it. neardup and verdict follow from these.
VERSIONED = ("secrets", "quality", "minhash", "category", "language", "tokens")
LABELS = (*VERSIONED, "neardup", "verdict")

# Upsert of some detectors' values: a detector not in the batch is passed as NULL and keeps its value.
_SAVE_LABELS = (
    f"INSERT INTO labels (example_id, {', '.join(c for d in VERSIONED for c in (d, d + '_version'))}, verdict)"
    f" VALUES ({', '.join('?' for _ in range(2 * len(VERSIONED) + 2))}) ON CONFLICT (example_id) DO UPDATE SET "
    + ", ".join(f"{c} = coalesce(excluded.{c}, {c})" for d in VERSIONED for c in (d, d + "_version"))
    + ", verdict = coalesce(excluded.verdict, verdict)"
)


def not_forgotten(column: str) -> str:
    """SQL: the example `column` names is not forgotten. Rows of labels, pairs and sources exist
    only for examples that exist (foreign keys), so this is "live"; the partial index makes it a
    probe of a small index (the planner would read each example's row instead)."""
    return (
        "NOT EXISTS (SELECT 1 FROM examples f INDEXED BY examples_forgotten"
        f" WHERE f.id = {column} AND f.forgotten = 1)"
    )


class CurateStore:
    """Mixed into `Catalog`: everything curate reads and writes."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def _unlabelled_where(self, versions: dict[str, int]) -> tuple[str, list[Any]]:
        # With `labels l` left-joined on the example: one primary-key probe per example, bodies are
        # read only for what is pending.
        assert set(versions) <= set(VERSIONED), versions
        stale = " OR ".join(f"l.{d}_version IS NOT ?" for d in versions)
        return f"e.forgotten = 0 AND (l.example_id IS NULL OR {stale})", list(versions.values())

    def labels_fingerprint(self) -> list[int]:
        """Moves whenever examples or labels may have changed: the data version (every write
        through samdata), the schema version (a migration may drop labels) and the number of
        label values (an edit by hand in sqlite3)."""
        counts = ", ".join(f"count({d})" for d in LABELS)
        n = sum(self.conn.execute(f"SELECT count(*), {counts} FROM labels").fetchone())
        return [self.data_version(), self.schema_version(), n]  # type: ignore[attr-defined]

    def unlabelled_count(self, versions: dict[str, int], after: int = 0) -> int:
        """Live examples missing a result of some detector at its current version (of those whose
        rowid is above `after`: a run that labelled everything up to there says so)."""
        where, args = self._unlabelled_where(versions)
        return self.conn.execute(
            f"SELECT count(*) FROM examples e LEFT JOIN labels l ON l.example_id = e.id WHERE e.rowid > ? AND {where}",
            [after, *args],
        ).fetchone()[0]

    def unlabelled(self, versions: dict[str, int], limit: int, after: int = 0) -> Iterator[list[Any]]:
        """Batches of the examples `unlabelled_count` counts, as `curate.batch.Row`s: id, kind,
        body, sources, and the detectors each one needs. In id order (labels are keyed by id: their
        B-trees grow at one end instead of everywhere), or for those above rowid `after`, few, in
        rowid order."""
        from samdata.curate.batch import Row  # the catalog owns SQL; the row shape is curate's

        where, args = self._unlabelled_where(versions)
        key, last = ("e.rowid", after) if after else ("e.id", "")
        have = ", ".join(f"l.{d}_version" for d in versions)
        while True:
            rows = self.conn.execute(
                f"SELECT {key}, e.id, e.rowid, e.kind, body_text(e.body),"
                " (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = e.id),"
                f" {have} FROM examples e LEFT JOIN labels l ON l.example_id = e.id"
                f" WHERE {key} > ? AND {where} ORDER BY {key} LIMIT ?",
                [last, *args, limit],
            ).fetchall()
            if not rows:
                return
            batch = []
            for _key, id_, rowid, kind, body, sources, *got in rows:
                needs = frozenset(d for (d, v), g in zip(versions.items(), got, strict=True) if g != v)
                batch.append(Row(id_, rowid, kind, body, sorted(set((sources or "").split(","))), needs))
            yield batch
            last = rows[-1][0]

    def labels_of(self, example_id: str) -> dict[str, Any]:
        """detector → its label of this example (the detectors that have one), by name."""
        row = self.conn.execute(
            f"SELECT {', '.join(LABELS)} FROM labels WHERE example_id = ?", (example_id,)
        ).fetchone()
        values = zip(LABELS, row or (), strict=False)
        return {d: orjson.loads(v) for d, v in sorted(values) if v is not None}

    def last_rowid(self) -> int:
        """The highest example rowid (examples are never deleted, so new ones are above it)."""
        return int(self.conn.execute("SELECT coalesce(max(rowid), 0) FROM examples").fetchone()[0])

    def save_labels(
        self,
        values: dict[str, Sequence[tuple[str, Any]]],
        versions: dict[str, int],
        findings: Sequence[tuple[Any, ...]],
        redactions: Sequence[tuple[str, str]],
        bands: Any,  # (key, short id) rows: an int64 numpy array, or a sequence of pairs
        texts: Sequence[tuple[int, str | None]] | None = None,
    ) -> None:
        """Store a batch's labels of every detector in one transaction (one row per example: the
        detectors it was given values of change, the others keep theirs); an example's secret
        findings and redaction replace its old ones, and so does its search text: `texts`, (rowid,
        `search_text`) of the examples with secrets values, or None to have SQLite extract it."""
        secrets = [i for i, _v in values.get("secrets", ())]
        slot = {d: n for n, d in enumerate((*VERSIONED, "verdict"))}
        rows: dict[str, list[Any]] = {}
        dumps = orjson.dumps
        for d, pairs in values.items():
            n = slot[d]
            for i, v in pairs:
                row = rows.get(i)
                if row is None:
                    row = rows[i] = [None] * len(slot)
                row[n] = dumps(v).decode()
        args = []
        for i, row in rows.items():
            flat: list[Any] = [i]
            for d in VERSIONED:
                value = row[slot[d]]
                flat += (value, None if value is None else versions[d])
            flat.append(row[-1])
            args.append(flat)
        with self.transaction(data=True) as c:
            self.unindex(secrets)  # type: ignore[attr-defined]  # with the text it was indexed with
            c.executemany(_SAVE_LABELS, args)
            ids = [(i,) for i in secrets]
            c.executemany("DELETE FROM findings WHERE example_id = ?", ids)
            c.executemany("DELETE FROM redactions WHERE example_id = ?", ids)
            c.executemany(
                "INSERT INTO findings (example_id, kind, part, span_start, span_end, hash, preview)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                findings,
            )
            c.executemany("INSERT INTO redactions (example_id, body) VALUES (?, ?)", redactions)
            if len(bands):  # one JSON array SQLite unpacks: ~20 rows an example, millions a run
                c.execute(
                    "INSERT INTO lsh_pending (key, example) SELECT value ->> 0, value ->> 1 FROM json_each(?)",
                    (orjson.dumps(bands, option=orjson.OPT_SERIALIZE_NUMPY),),
                )
            # Searchable once its secrets are labelled: the index only ever holds redacted text.
            if texts is None:
                self.index(secrets)  # type: ignore[attr-defined]
            else:
                self.index_texts(texts)  # type: ignore[attr-defined]

    # -- near-duplicates ----------------------------------------------------------------------

    def reset_neardup(self) -> None:
        """Forget bands, pairs and clusters (the shingling or banding changed)."""
        with self.transaction(data=True) as c:
            c.execute("DELETE FROM lsh_index")
            c.execute("DELETE FROM lsh_recent")
            c.execute("DELETE FROM lsh_pending")
            self.put_stat("lsh.index_rows", 0)  # type: ignore[attr-defined]
            self.put_stat("lsh.index_unverified", None)  # type: ignore[attr-defined]
            c.execute("DELETE FROM neardup_pairs")
            c.execute("UPDATE labels SET minhash = NULL, minhash_version = NULL, neardup = NULL")

    def pending_band_rows(self) -> int:
        """Band keys signed but not yet verified against the index."""
        return self.conn.execute("SELECT count(*) FROM lsh_pending").fetchone()[0]

    # Groups of one band key larger than this pair each member with the first members only (a key
    # shared by thousands of tiny documents must not make millions of pairs; union-find still joins them).
    _GROUP_PAIRS = 64

    def pending_candidates(self, whole_index: bool = False) -> Iterator[tuple[int, int]]:
        """Candidate pairs (a < b, maybe repeated; short ids, `neardup.short_id`) of the examples
        whose band keys are pending: with each other (one pass over the pending keys in key order)
        and with the verified keys (a primary-key probe per pending key into the index and into its
        recent part, each only when it holds anything). `whole_index`: every key of the index is
        unverified (`index_unverified`): one pass over the index, in its own order."""
        if whole_index:
            yield from self._group_pairs(self.conn.execute("SELECT key, example FROM lsh_index"))
            return
        yield from self._group_pairs(self.conn.execute("SELECT key, example FROM lsh_pending ORDER BY key"))
        for table in ("lsh_index", "lsh_recent"):
            if self.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None:
                continue
            for mine, other in self.conn.execute(
                f"SELECT p.example, i.example FROM lsh_pending p CROSS JOIN {table} i ON i.key = p.key"
            ):
                if mine != other:
                    yield (mine, other) if mine < other else (other, mine)

    def _group_pairs(self, keys: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        """The pairs of examples sharing a key, from (key, example) rows in key order."""
        group: list[int] = []
        last = None
        cap = self._GROUP_PAIRS
        for key, example in keys:
            if key != last:
                group, last = [], key
            for other in group[:cap]:
                if other != example:
                    yield (other, example) if other < example else (example, other)
            group.append(example)

    def index_unverified(self) -> bool:
        """Whether every key of the band index still waits for its candidates to be verified:
        after `index_pending_first`, until `verified_index`; then pending keys join it as well."""
        if not self.get_stat("lsh.index_unverified"):  # type: ignore[attr-defined]
            return False
        self._merge_pending_into_index()
        return True

    def index_pending_first(self) -> bool:
        """When the band index and its recent part are empty (a first run, or the shingling
        changed) and keys are pending: move them into the index first, marked unverified, so the
        candidates are read from the index in its own order. The pending keys would otherwise be
        sorted twice, for the candidates and for the index (5 of 21 s of a 1 GB first curate).
        A run killed before `verified_index` verifies the whole index again."""
        c = self.conn
        for table, present in (("lsh_index", False), ("lsh_recent", False), ("lsh_pending", True)):
            if (c.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None) != present:
                return False
        self._merge_pending_into_index()
        return True

    def _merge_pending_into_index(self) -> None:
        with self.transaction() as c:
            moved = c.execute(
                "INSERT OR IGNORE INTO lsh_index (key, example) SELECT key, example FROM lsh_pending ORDER BY key"
            ).rowcount
            c.execute("DELETE FROM lsh_pending")
            rows = self.get_stat("lsh.index_rows") or 0  # type: ignore[attr-defined]
            self.put_stat("lsh.index_rows", rows + max(moved, 0))  # type: ignore[attr-defined]
            self.put_stat("lsh.index_unverified", True)  # type: ignore[attr-defined]

    def verified_index(self) -> None:
        """Every candidate of the unverified index is verified and saved."""
        self.put_stat("lsh.index_unverified", None)  # type: ignore[attr-defined]

    def distinct_pending_pairs(
        self, chunk: int, whole_index: bool = False
    ) -> Iterator[list[tuple[str, str]]]:
        """`pending_candidates` without repeats (a pair shares up to every band), as example ids
        (a < b), in chunks; the repeats are dropped by SQLite's sort in a temp table, so memory
        stays flat."""
        c = self.conn
        c.execute("CREATE TEMP TABLE IF NOT EXISTS candidate_pairs (a INTEGER NOT NULL, b INTEGER NOT NULL)")
        c.execute("DELETE FROM candidate_pairs")
        pairs = self.pending_candidates(whole_index)
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
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            out.update(
                self.conn.execute(
                    f"SELECT id, body_text(body) FROM examples WHERE id IN ({marks})", chunk
                ).fetchall()
            )
        return out

    # lsh_recent joins the index when it holds this share of the index's rows.
    _RECENT_SHARE = 8

    def merge_pending_bands(self) -> int:
        """Move the verified pending band keys into the index's recent part, or, once that and
        they make an eighth of the index, both into the index (in key order: each leaf page
        touched once). Returns the keys moved."""
        with self.transaction() as c:
            pending = c.execute("SELECT count(*) FROM lsh_pending").fetchone()[0]
            recent = c.execute("SELECT count(*) FROM lsh_recent").fetchone()[0]
            # Counted at merges, so rows forgotten since still count: the next merge comes a little late.
            index = self.get_stat("lsh.index_rows")  # type: ignore[attr-defined]
            if index is None:
                index = c.execute("SELECT count(*) FROM lsh_index").fetchone()[0]
            if (recent + pending) * self._RECENT_SHARE >= index:
                for table in ("lsh_recent", "lsh_pending"):
                    index += max(c.execute(
                        f"INSERT OR IGNORE INTO lsh_index (key, example) SELECT key, example FROM {table} ORDER BY key"
                    ).rowcount, 0)  # fmt: skip
                c.execute("DELETE FROM lsh_recent")
            else:
                c.execute(
                    "INSERT OR IGNORE INTO lsh_recent (key, example) SELECT key, example FROM lsh_pending ORDER BY key"
                )
            c.execute("DELETE FROM lsh_pending")
            self.put_stat("lsh.index_rows", index)  # type: ignore[attr-defined]
        return pending

    def bodies(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            for i, body in self.conn.execute(
                f"SELECT id, body_text(body) FROM examples WHERE id IN ({marks})", chunk
            ):
                out[i] = orjson.loads(body)
        return out

    def save_pairs(self, pairs: Sequence[tuple[str, str, float]]) -> None:
        with self.transaction(data=True) as c:
            c.executemany("INSERT OR REPLACE INTO neardup_pairs (a, b, jaccard) VALUES (?, ?, ?)", pairs)

    _LIVE_PAIRS = f"SELECT p.a, p.b, p.jaccard FROM neardup_pairs p WHERE {not_forgotten('p.a')} AND {not_forgotten('p.b')}"

    def neardup_pairs(self) -> list[tuple[str, str, float]]:
        """Verified pairs of live examples."""
        return self.conn.execute(self._LIVE_PAIRS).fetchall()

    def label_components(self, within: set[str] | None = None) -> None:
        """Label the clusters of the verified pairs of live examples (all, or those `within`, a
        `pair_closure`) in temp tables, by passing the smallest id along the pairs until nothing
        changes (a cluster is a few near copies: a few passes), for `components` to read. Outside
        a transaction: these writes change nothing an export reads."""
        c = self.conn
        c.execute("CREATE TEMP TABLE IF NOT EXISTS cc_edges (a TEXT NOT NULL, b TEXT NOT NULL)")
        c.execute("CREATE TEMP TABLE IF NOT EXISTS cc (id TEXT PRIMARY KEY, c TEXT NOT NULL) WITHOUT ROWID")
        c.execute("CREATE INDEX IF NOT EXISTS temp.cc_by_label ON cc (c)")
        c.execute(
            "CREATE TEMP TABLE IF NOT EXISTS cc_next (id TEXT PRIMARY KEY, c TEXT NOT NULL) WITHOUT ROWID"
        )
        for table in ("cc_edges", "cc", "cc_next"):
            c.execute(f"DELETE FROM {table}")
        edges = f"INSERT INTO cc_edges (a, b) SELECT a, b FROM ({self._LIVE_PAIRS}"
        if within is None:
            c.execute(edges + ")")
        for chunk in _chunks(sorted(within or ())):
            c.execute(f"{edges} AND p.a IN ({', '.join('?' for _ in chunk)}))", chunk)
        c.execute("INSERT OR IGNORE INTO cc (id, c) SELECT a, a FROM cc_edges")
        c.execute("INSERT OR IGNORE INTO cc (id, c) SELECT b, b FROM cc_edges")
        while True:
            c.execute("DELETE FROM cc_next")
            c.execute(
                "INSERT INTO cc_next (id, c) SELECT id, min(c) FROM ("
                " SELECT e.a AS id, o.c AS c FROM cc_edges e JOIN cc o ON o.id = e.b"
                " UNION ALL SELECT e.b, o.c FROM cc_edges e JOIN cc o ON o.id = e.a) GROUP BY id"
            )
            moved = c.execute(
                "UPDATE cc SET c = n.c FROM cc_next n WHERE n.id = cc.id AND n.c < cc.c"
            ).rowcount
            if moved <= 0:
                break

    def components(self, batch: int = 10_000) -> Iterator[list[list[str]]]:
        """The clusters `label_components` found, each a sorted list of ids, `batch` clusters at a
        time: memory holds one batch whatever the catalog's size."""
        c = self.conn
        last = ""
        while labels := [r[0] for r in c.execute(
            "SELECT DISTINCT c FROM cc WHERE c > ? ORDER BY c LIMIT ?", (last, batch)
        )]:  # fmt: skip
            groups: dict[str, list[str]] = {}
            for label, example in c.execute(
                f"SELECT c, id FROM cc WHERE c IN ({', '.join('?' for _ in labels)}) ORDER BY c, id", labels
            ):
                groups.setdefault(label, []).append(example)
            yield list(groups.values())
            last = labels[-1]

    def clustered_not_in(self, within: set[str] | None = None) -> list[str]:
        """Examples with a cluster value that `label_components` (of the same `within`) left out:
        their clusters went."""
        c = self.conn
        sql = "SELECT example_id FROM labels l WHERE neardup IS NOT NULL AND NOT EXISTS (SELECT 1 FROM cc WHERE cc.id = l.example_id)"
        if within is None:
            return [i for (i,) in c.execute(sql)]
        out: list[str] = []
        for chunk in _chunks(sorted(within)):
            out += [
                i for (i,) in c.execute(f"{sql} AND l.example_id IN ({', '.join('?' for _ in chunk)})", chunk)
            ]
        return out

    def cluster_marks(self, limit: int | None = None) -> tuple[int, set[str] | None]:
        """The examples the catalog's triggers marked since clusters were last redone (whose
        cluster may have changed), or None when there are more than `limit`; and the last mark's
        number."""
        c = self.conn
        upto = c.execute("SELECT coalesce(max(seq), 0) FROM cluster_dirty").fetchone()[0]
        if limit is not None:
            many = c.execute(
                "SELECT count(*) FROM (SELECT DISTINCT example_id FROM cluster_dirty WHERE seq <= ? LIMIT ?)",
                (upto, limit + 1),
            ).fetchone()[0]
            if many > limit:
                return upto, None
        return upto, {i for (i,) in c.execute("SELECT example_id FROM cluster_dirty WHERE seq <= ?", (upto,))}

    def clear_cluster_marks(self, upto: int) -> None:
        """Forget the marks read (up to `upto`); one made since stays for the next run."""
        with self.transaction() as c:
            c.execute("DELETE FROM cluster_dirty WHERE seq <= ?", (upto,))

    def pair_closure(self, seeds: set[str]) -> set[str]:
        """`seeds` and every example a chain of stored pairs joins to them, forgotten or not: it
        holds every cluster, before and after the changes, that has a member in `seeds`."""
        seen = set(seeds)
        frontier = sorted(seen)
        while frontier:
            found: set[str] = set()
            for chunk in _chunks(frontier):
                marks = ", ".join("?" for _ in chunk)
                found.update(
                    x
                    for (x,) in self.conn.execute(
                        f"SELECT b FROM neardup_pairs WHERE a IN ({marks})"
                        f" UNION SELECT a FROM neardup_pairs WHERE b IN ({marks})",
                        chunk + chunk,
                    )
                )
            frontier = sorted(found - seen)
            seen |= found
        return seen

    def keeper_facts(self, ids: Sequence[str]) -> dict[str, KeeperFacts]:
        """id → what the keeper priority reads of it (`samdata.curate.keeper`)."""
        from samdata.curate.keeper import KeeperFacts  # here: the curate package imports the catalog

        out: dict[str, KeeperFacts] = {}
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            for i, sources, flags, created, added in self.conn.execute(
                f"SELECT e.id, (SELECT group_concat(es.source) FROM example_sources es WHERE es.example_id = e.id),"
                f" (SELECT json_array_length(quality) FROM labels l WHERE l.example_id = e.id),"
                f" e.created_at, e.rowid FROM examples e WHERE e.id IN ({marks})",
                chunk,
            ):
                out[i] = KeeperFacts((sources or "").split(","), flags or 0, created, added)
        return out

    def cluster_count(self) -> int:
        """Near-duplicate clusters stored: one keeper each."""
        return self.conn.execute(
            "SELECT count(*) FROM labels WHERE neardup IS NOT NULL AND neardup ->> '$.keeper' = 1"
        ).fetchone()[0]

    def replace_clusters(
        self, values: Sequence[tuple[str, Any]], scope: Iterable[str]
    ) -> tuple[set[str], set[str]]:
        """The `neardup` labels of the examples in `scope` (whole clusters, before and after):
        `values` for the clustered ones, none for the others, written where they changed. Returns
        the examples whose value appeared, changed or went (their verdicts need a look), and the
        keepers of the clusters `scope` held before."""
        with self.transaction(data=True) as c:
            old: dict[str, str] = {}
            for chunk in _chunks(sorted(scope)):
                marks = ", ".join("?" for _ in chunk)
                old.update(
                    c.execute(
                        f"SELECT example_id, neardup FROM labels WHERE neardup IS NOT NULL AND example_id IN ({marks})",
                        chunk,
                    )
                )
            new = {i: orjson.dumps(v).decode() for i, v in values}
            gone = [(i,) for i in old.keys() - new.keys()]
            c.executemany("UPDATE labels SET neardup = NULL WHERE example_id = ?", gone)
            c.executemany(
                "UPDATE labels SET neardup = ? WHERE example_id = ?",
                [(value, i) for i, value in new.items() if old.get(i) != value],
            )
        keepers = {orjson.loads(v)["keeper_id"] for v in old.values()}
        return {i for i in old.keys() | new.keys() if old.get(i) != new.get(i)}, keepers

    def clusters(self) -> list[dict[str, Any]]:
        """Near-duplicate clusters, largest first: keeper and members, one member entry per provenance
        row (source, file, locator) with the body its text is shown from (redacted if curate did)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for example_id, value, source, file, locator, body in self.conn.execute(
            "SELECT l.example_id, l.neardup, p.source, p.file, p.locator, coalesce(r.body, body_text(e.body)) FROM labels l"
            " JOIN provenance_paths p ON p.example_id = l.example_id JOIN examples e ON e.id = l.example_id"
            " LEFT JOIN redactions r ON r.example_id = l.example_id"
            " WHERE l.neardup IS NOT NULL ORDER BY l.example_id, p.id"
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
        for chunk in _chunks(ids):
            marks = ", ".join("?" for _ in chunk)
            for id_, neardup, quality, mismatch in self.conn.execute(
                "SELECT e.id, l.neardup, nullif(l.quality, '[]'), coalesce(l.language ->> '$.mismatch', 0)"
                f" FROM examples e LEFT JOIN labels l ON l.example_id = e.id WHERE e.id IN ({marks})",
                chunk,
            ):
                flags = {f["flag"] for f in orjson.loads(quality)} if quality else set()
                out[id_] = (orjson.loads(neardup) if neardup else None, flags, bool(mismatch))
        return out

    def save_verdicts(self, values: Sequence[tuple[str, Any]]) -> None:
        """The `verdict` label (kept or not, and why) of these examples."""
        with self.transaction(data=True) as c:
            c.executemany(
                "INSERT INTO labels (example_id, verdict) VALUES (?, ?)"
                " ON CONFLICT (example_id) DO UPDATE SET verdict = excluded.verdict",
                [(i, orjson.dumps(v).decode()) for i, v in values],
            )

    def kept_count(self) -> int:
        """Live examples whose stored verdict keeps them."""
        return self.conn.execute(
            f"SELECT count(*) FROM labels l WHERE l.verdict ->> '$.kept' = 1 AND {not_forgotten('l.example_id')}"
        ).fetchone()[0]

    def funnel_counts(self) -> dict[str, dict[str, int]]:
        """Per source, in SQL: ingested, near-duplicates removed, quality flagged (a flag or the wrong
        language), with secrets, kept (the stored verdict), not curated. The distinct (source,
        example) pairs come first, so each example's labels are read once per source, not once per
        provenance row."""
        sql = (
            "SELECT pairs.source, count(*),"
            " coalesce(sum(l.neardup ->> '$.keeper' = 0), 0),"
            " coalesce(sum(l.quality != '[]' OR coalesce(l.language ->> '$.mismatch', 0) = 1), 0),"
            " coalesce(sum(l.secrets != '[]'), 0),"
            " coalesce(sum(l.verdict ->> '$.kept' = 1 AND l.quality IS NOT NULL), 0),"
            " coalesce(sum(l.quality IS NULL), 0)"
            " FROM example_sources pairs LEFT JOIN labels l ON l.example_id = pairs.example_id"
            f" WHERE {not_forgotten('pairs.example_id')}"
            " GROUP BY pairs.source ORDER BY pairs.source"
        )
        keys = ("ingested", "near_dup_removed", "quality_flagged", "with_secrets", "kept", "not_curated")
        return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in self.conn.execute(sql)}

    def breakdowns(self) -> dict[str, dict[str, int]]:
        """Live examples by category, language and token length (from curate's labels)."""
        out: dict[str, dict[str, int]] = {"by_category": {}, "by_language": {}, "by_token_length": {}}
        queries = {
            "by_category": ("category", "l.category ->> '$.category'"),
            "by_language": ("language", "l.language ->> '$.lang'"),
            "by_token_length": (
                "tokens",
                "CASE WHEN l.tokens ->> '$.tokens' < 256 THEN '<256'"
                " WHEN l.tokens ->> '$.tokens' < 1024 THEN '256-1k'"
                " WHEN l.tokens ->> '$.tokens' < 4096 THEN '1k-4k'"
                " WHEN l.tokens ->> '$.tokens' < 16384 THEN '4k-16k' ELSE '>=16k' END",
            ),
        }
        for key, (column, expr) in queries.items():
            for value, n in self.conn.execute(
                f"SELECT {expr}, count(*) FROM labels l"
                f" WHERE l.{column} != 'null' AND {not_forgotten('l.example_id')} GROUP BY 1 ORDER BY 2 DESC"
            ):
                out[key][str(value)] = n
        out["wrong_language"] = {
            "examples": self.conn.execute(
                "SELECT count(*) FROM labels WHERE language ->> '$.mismatch' = 1"
            ).fetchone()[0]
        }
        return out

    def quality_flag_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (value,) in self.conn.execute("SELECT quality FROM labels WHERE quality != '[]'"):
            for flag in {f["flag"] for f in orjson.loads(value)}:
                counts[flag] = counts.get(flag, 0) + 1
        return dict(sorted(counts.items()))


def _chunks(ids: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """`ids` in lists of `size`: SQLite binds at most 32,766 parameters per statement."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])
