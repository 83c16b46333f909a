"""Catalog SQL for review queues: items waiting for a person, and the decisions taken (with undo).

Queues and what they decide:
- `secrets`: one item per finding hash; confirm (stays redacted), allow (curate allow-lists it), skip.
- `keepers`: one item per near-duplicate cluster (its anchor); `keep:<example id>` makes that member
  the keeper (curate applies it while the example is still in the cluster).
- `quarantine`: one item per quarantined record (`<row id>:<hash of source, file, locator, reason>`);
  dismiss (seen, nothing to do), retry (the file is read again from its start by the next ingest,
  e.g. after a config change), skip.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import orjson
import xxhash

QUEUES = {
    "secrets": ("confirm", "allow", "skip"),
    "keepers": ("keep:<example id>",),
    "quarantine": ("dismiss", "retry", "skip"),
}
_KEEP = re.compile(r"keep:([0-9a-f]{32})")
RETRY_MARK = "retry:"  # prefixed to a file's ingest_progress.adapter: the next ingest reads it anew


def quarantine_item(source: str, file: str, locator: str, reason: str, row_id: int) -> str:
    """A quarantined record's queue item: its row id (to find it) and a hash of what it is (so a
    row id reused by another record is another item)."""
    digest = xxhash.xxh3_64_hexdigest("\0".join((source, file, locator, reason)).encode())
    return f"{row_id}:{digest}"


class ReviewStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def decisions(self, queue: str) -> dict[str, str]:
        """Item → the decision in force (the newest not undone)."""
        return {item: d["decision"] for item, d in self.decisions_in_force(queue).items()}

    def decisions_in_force(self, queue: str) -> dict[str, dict[str, Any]]:
        """Item → the decision in force: id, decision, note, decided_at (oldest decision first)."""
        return {
            r["item"]: dict(r)
            for r in self.conn.execute(
                "SELECT id, item, decision, note, decided_at FROM review_decisions WHERE id IN"
                " (SELECT max(id) FROM review_decisions WHERE queue = ? AND undone = 0 GROUP BY item) ORDER BY id",
                (queue,),
            )
        }

    def decide(self, queue: str, item: str, decision: str, now: str, note: str | None = None) -> int:
        """Store a decision; its id (for undo). What changes what curate computes moves the data
        version (exports written before are out of date): an allowed secret, a chosen keeper. A
        quarantined record to retry marks its file to be read again by the next ingest."""
        self._check_decision(queue, item, decision)
        with self.transaction(data=_moves_data(queue, decision)) as c:
            if queue == "quarantine" and decision == "retry":
                note = self._mark_retry(c, item) or note
            cur = c.execute(
                "INSERT INTO review_decisions (queue, item, decision, note, decided_at) VALUES (?, ?, ?, ?, ?)",
                (queue, item, decision, note, now),
            )
        return int(cur.lastrowid or 0)

    def _check_decision(self, queue: str, item: str, decision: str) -> None:
        if queue == "keepers":
            found = _KEEP.fullmatch(decision)
            if found is None:
                raise ValueError(f"'keepers' takes keep:<example id>, not {decision!r}")
            value = self.conn.execute(
                "SELECT value ->> '$.anchor' FROM attributes WHERE example_id = ? AND detector = 'neardup'",
                (found.group(1),),
            ).fetchone()
            if value is None or value[0] != item:
                raise ValueError(f"example {found.group(1)} is not in the near-duplicate cluster {item}")
            return
        if decision not in QUEUES.get(queue, ()):
            raise ValueError(
                f"{queue!r} takes {', '.join(QUEUES.get(queue, ())) or 'no decisions'}, not {decision!r}"
            )
        if queue == "quarantine" and self._quarantine_row(item) is None:
            raise ValueError(f"no quarantined record {item}")

    def _quarantine_row(self, item: str) -> sqlite3.Row | None:
        row_id, _, _ = item.partition(":")
        if not row_id.isdigit():
            return None
        row = self.conn.execute(
            "SELECT id, source, file, locator, reason FROM quarantine WHERE id = ?", (int(row_id),)
        ).fetchone()
        if row is None or quarantine_item(row[1], row[2], row[3], row[4], row[0]) != item:
            return None
        return row

    def _mark_retry(self, c: sqlite3.Connection, item: str) -> str:
        """Mark the record's file so that the next ingest reads it from its start (as a changed
        adapter would: a full pass, whose end prunes what it no longer finds); the note says whether
        there was a file to mark and the last ingest run before the mark."""
        row = self._quarantine_row(item)
        assert row is not None  # checked before
        marked = c.execute(
            "UPDATE ingest_progress SET adapter = ? || adapter WHERE source = ? AND file = ?"
            " AND adapter NOT LIKE ? || '%'",
            (RETRY_MARK, row["source"], row["file"], RETRY_MARK),
        ).rowcount
        known = c.execute(
            "SELECT 1 FROM ingest_progress WHERE source = ? AND file = ?", (row["source"], row["file"])
        ).fetchone()
        last_run = c.execute("SELECT coalesce(max(id), 0) FROM ingest_runs").fetchone()[0]
        return orjson.dumps(
            {"file_marked": bool(marked or known), "newly_marked": bool(marked), "after_run": last_run}
        ).decode()

    def undo_decision(self, decision_id: int) -> dict[str, Any] | None:
        """Undo one decision; the item's earlier decision (if any) is in force again. Undoing a
        retry takes its file's mark off when no other retry in force wants it and no ingest has read
        it since."""
        row = self.conn.execute(
            "SELECT queue, item, decision FROM review_decisions WHERE id = ? AND undone = 0", (decision_id,)
        ).fetchone()
        if row is None:
            return None
        with self.transaction(data=_moves_data(row["queue"], row["decision"])) as c:
            c.execute("UPDATE review_decisions SET undone = 1 WHERE id = ?", (decision_id,))
            if row["queue"] == "quarantine" and row["decision"] == "retry":
                self._unmark_retry(c, row["item"])
        return dict(row)

    def _unmark_retry(self, c: sqlite3.Connection, item: str) -> None:
        target = self._quarantine_row(item)
        if target is None:
            return
        for other, d in self.decisions_in_force("quarantine").items():
            row = self._quarantine_row(other) if d["decision"] == "retry" else None
            if row is not None and (row["source"], row["file"]) == (target["source"], target["file"]):
                return  # another record of the file still wants it read again
        c.execute(
            "UPDATE ingest_progress SET adapter = substr(adapter, ?) WHERE source = ? AND file = ?"
            " AND adapter LIKE ? || '%'",
            (len(RETRY_MARK) + 1, target["source"], target["file"], RETRY_MARK),
        )

    def allowed_secret_hashes(self) -> list[str]:
        """Finding hashes a person allowed in the secrets queue (curate adds them to the allow-list)."""
        return sorted(item for item, d in self.decisions("secrets").items() if d == "allow")

    def reviewed_keepers(self) -> list[tuple[str, str, int]]:
        """(cluster anchor, example id chosen as its keeper, decision id), oldest decision first."""
        out = []
        for anchor, d in self.decisions_in_force("keepers").items():
            found = _KEEP.fullmatch(d["decision"])
            if found:
                out.append((anchor, found.group(1), d["id"]))
        return out

    def secrets_queue(self, limit: int = 200, include_decided: bool = False) -> list[dict[str, Any]]:
        """One item per finding hash (the same text found in many examples is one decision), most
        examples first: kind, preview, examples, an example id, and the decision in force."""
        decided = self.decisions("secrets")
        rows = self.conn.execute(
            "SELECT hash, kind, min(preview) AS preview, count(DISTINCT example_id) AS examples,"
            " min(example_id) AS example_id, min(part) AS part FROM findings GROUP BY hash, kind"
            " ORDER BY examples DESC, hash"
        )
        out = []
        for r in rows:
            item = {**dict(r), "decision": decided.get(r["hash"])}
            if include_decided or item["decision"] in (None, "skip"):
                out.append(item)
            if len(out) >= limit:
                break
        return out

    def quarantine_queue(self, limit: int = 200, include_decided: bool = False) -> list[dict[str, Any]]:
        """Quarantined records in the order ingest met them: item, source, file, locator, reason,
        snippet (redacted at ingest), the decision in force, and `retried` (a retry whose file an
        ingest has read again since, finding the record still bad). Waiting: no decision, a skip,
        or a retry that did not help."""
        decided = self.decisions_in_force("quarantine")
        out = []
        for r in self.conn.execute(
            "SELECT id, source, file, locator, reason, snippet, ingest_run FROM quarantine ORDER BY id"
        ):
            item = quarantine_item(r["source"], r["file"], r["locator"], r["reason"], r["id"])
            d = decided.get(item)
            note = orjson.loads(d["note"]) if d and d["note"] and d["note"].startswith("{") else {}
            retried = bool(
                d and d["decision"] == "retry" and (r["ingest_run"] or 0) > note.get("after_run", 1 << 62)
            )
            row = {**dict(r), "locator": orjson.loads(r["locator"]), "item": item,
                   "decision": d["decision"] if d else None, "retried": retried}  # fmt: skip
            if include_decided or row["decision"] in (None, "skip") or retried:
                out.append(row)
            if len(out) >= limit:
                break
        return out

    def quarantine_waiting(self) -> int:
        """Quarantined records waiting for review (see `quarantine_queue`)."""
        return len(self.quarantine_queue(limit=1 << 62))


def _moves_data(queue: str, decision: str) -> bool:
    return (queue == "secrets" and decision == "allow") or queue == "keepers"
