"""Catalog SQL for review queues: items waiting for a person, and the decisions taken (with undo).

Queues and what they decide:
- `secrets`: one item per finding hash; confirm (stays redacted), allow (curate allow-lists it), skip.
- `keepers`: one item per near-duplicate cluster (its anchor); `keep:<example id>` makes that member
  the keeper (curate applies it while the example is still in the cluster).
- `quarantine`: one item per quarantined record (`<row id>:<hash of source, file, locator, reason>`);
  dismiss (seen, nothing to do), retry (the file is read again from its start by the next ingest,
  e.g. after a config change), skip.
- `preferences`: one item per preference example that ingest mined (not one a dataset states):
  ChatGPT regenerations rated by feedback (adapter `chatgpt_export`) and OpenAssistant sibling
  answers ranked (adapter `oasst`). Item: the example id. confirm (the pair is right: nothing
  changes), swap (chosen and rejected are the wrong way round: exports write them exchanged),
  drop (not a real preference: curate's verdict leaves it out, reason "dropped in review").
- `voice`: one item per voice clip (its id in voice_clips); accept (a clip that failed a check goes
  into the package after all), reject (a clip that passed stays out of it), skip (seen, still waiting).

Which adapter produced an example is read per file, not per source: a source with `format =
"auto"` (a folder of public sets) mixes adapters, so the config's `format` cannot tell, and
provenance `meta` labels are the adapter's to change. The file's ingest_progress row names the
adapter that read it ("oasst:2:<options hash>", or "retry:…" while marked for a retry), the one
thing every ingest of a file records.
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
    "preferences": ("confirm", "swap", "drop"),
    "voice": ("accept", "reject", "skip"),
    # item: a regular expression (RE2) a finding's whole text must match; note: the finding kind it
    # is limited to, or none for every kind
    "secret_patterns": ("allow",),
}
# Adapters whose preference pairs are mined (inferred from feedback or ranks), not stated by a dataset.
MINED_ADAPTERS = ("chatgpt_export", "oasst")
# What a preferences decision changes in what curate and export compute (confirm changes nothing).
PREFERENCE_EFFECTS = ("swap", "drop")
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
        moves = _moves_data(queue, decision)
        if queue == "preferences":  # a confirm that replaces a swap or a drop changes exports too
            moves = moves or _effect(self._in_force(queue, item)) != _effect(decision)
        with self.transaction(data=moves) as c:
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
                "SELECT neardup ->> '$.anchor' FROM labels WHERE example_id = ? AND neardup IS NOT NULL",
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
        if queue == "secret_patterns":
            from samdata.curate.secrets import check_allow_pattern

            check_allow_pattern(item)
        if queue == "voice" and not self._is_voice_clip(item):
            raise ValueError(f"no voice clip {item}")
        if queue == "preferences" and not self._is_mined_preference(item):
            raise ValueError(f"{item} is not a preference example mined from {' or '.join(MINED_ADAPTERS)}")

    def _is_voice_clip(self, item: str) -> bool:
        return self.conn.execute("SELECT 1 FROM voice_clips WHERE id = ?", (item,)).fetchone() is not None

    def _in_force(self, queue: str, item: str, excluding: int = 0) -> str | None:
        """The item's decision in force (leaving decision `excluding` out, as if undone)."""
        row = self.conn.execute(
            "SELECT decision FROM review_decisions WHERE queue = ? AND item = ? AND undone = 0 AND id != ?"
            " ORDER BY id DESC LIMIT 1",
            (queue, item, excluding),
        ).fetchone()
        return row[0] if row else None

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
        moves = _moves_data(row["queue"], row["decision"])
        if row["queue"] == "preferences":
            before = self._in_force("preferences", row["item"])
            moves = moves or _effect(before) != _effect(
                self._in_force("preferences", row["item"], decision_id)
            )
        with self.transaction(data=moves) as c:
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

    def allowed_secret_patterns(self) -> list[str]:
        """Patterns a person allowed (`KIND:REGEX`, or `REGEX` for every kind): curate adds them to
        `[curate] allow_patterns`."""
        rows = self.conn.execute(
            "SELECT item, note FROM review_decisions WHERE id IN (SELECT max(id) FROM review_decisions"
            " WHERE queue = 'secret_patterns' AND undone = 0 GROUP BY item, coalesce(note, ''))"
        )
        return sorted(f"{kind}:{item}" if kind else item for item, kind in rows)

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

    # -- preferences -----------------------------------------------------------------------

    def _mined_files(self) -> str:
        """SQL: the ingest_files ids of files a mining adapter read (see the module's docstring)."""
        names = " OR ".join(
            f"g.adapter GLOB '{a}:*' OR g.adapter GLOB '{RETRY_MARK}{a}:*'" for a in MINED_ADAPTERS
        )
        return (
            "SELECT f.id FROM ingest_files f JOIN ingest_progress g ON g.source = f.source AND g.file = f.path"
            f" WHERE {names}"
        )

    def _is_mined_preference(self, example_id: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM examples e WHERE e.id = ? AND e.kind = 'preference' AND e.forgotten = 0"
                f" AND EXISTS (SELECT 1 FROM provenance p WHERE p.example_id = e.id AND p.file_id IN ({self._mined_files()}))",
                (example_id,),
            ).fetchone()
            is not None
        )

    def mined_preference_ids(self) -> list[str]:
        """Live preference examples mined by `MINED_ADAPTERS`, in the order ingest met them."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT p.example_id FROM provenance p JOIN examples e ON e.id = p.example_id"
                f" WHERE e.kind = 'preference' AND e.forgotten = 0 AND p.file_id IN ({self._mined_files()})"
                " GROUP BY p.example_id ORDER BY min(p.id)"
            )
        ]

    def preference_queue(self, limit: int = 500) -> list[dict[str, Any]]:
        """The mined preference examples, undecided first (then the decided, oldest decision
        first): id, redacted body (None if curate redacted nothing), scanned (curate looked for
        secrets), where they came from (source, file, locator, adapter), the decision in force
        (decision, its id and time). Each in the order ingest met them."""
        ids = self.mined_preference_ids()
        decided = self.decisions_in_force("preferences")
        order = {item: n for n, item in enumerate(decided)}
        ids.sort(key=lambda i: (i in decided, order.get(i, 0)))  # stable: ingest order within each part
        out = []
        for example_id in ids[:limit]:
            row = self.conn.execute(
                "SELECT e.id, r.body AS redacted, EXISTS (SELECT 1 FROM labels l WHERE l.example_id = e.id"
                " AND l.secrets IS NOT NULL) AS scanned FROM examples e LEFT JOIN redactions r ON r.example_id = e.id"
                " WHERE e.id = ?",
                (example_id,),
            ).fetchone()
            where = [
                {"source": p[0], "file": p[1], "locator": orjson.loads(p[2]),
                 "adapter": p[3].removeprefix(RETRY_MARK).split(":", 1)[0] if p[3] else None}
                for p in self.conn.execute(
                    "SELECT f.source, f.path, p.locator, g.adapter FROM provenance p JOIN ingest_files f ON f.id = p.file_id"
                    " LEFT JOIN ingest_progress g ON g.source = f.source AND g.file = f.path"
                    " WHERE p.example_id = ? ORDER BY p.id",
                    (example_id,),
                )
            ]  # fmt: skip
            d = decided.get(example_id)
            out.append({**dict(row), "where": where, "decision": d["decision"] if d else None,
                        "decision_id": d["id"] if d else None, "decided_at": d["decided_at"] if d else None})  # fmt: skip
        return out

    def preferences_waiting(self) -> int:
        """Mined preference examples with no decision in force."""
        decided = self.decisions("preferences")
        return sum(1 for i in self.mined_preference_ids() if i not in decided)

    def reviewed_preferences(self) -> dict[str, str]:
        """Example id → "swap" or "drop": the preferences decisions in force that change what curate
        and export compute (a confirm changes nothing)."""
        return {i: d for i, d in self.decisions("preferences").items() if d in PREFERENCE_EFFECTS}

    def preference_reviewed_ids(self) -> list[str]:
        """Every example that ever had a preferences decision, undone ones included (an undone
        drop must be kept again): the examples whose verdict curate checks on every run."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT item FROM review_decisions WHERE queue = 'preferences' ORDER BY item"
            )
        ]

    def stored_verdicts(self, ids: list[str]) -> dict[str, Any]:
        """id → the stored `verdict` value of these examples (those that have one)."""
        out: dict[str, Any] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for id_, value in self.conn.execute(
                f"SELECT example_id, verdict FROM labels WHERE verdict IS NOT NULL AND example_id IN ({marks})",
                chunk,
            ):
                out[id_] = orjson.loads(value)
        return out


def _moves_data(queue: str, decision: str) -> bool:
    return (
        (queue == "secrets" and decision == "allow")
        or queue in ("keepers", "secret_patterns")
        or (queue == "preferences" and decision in PREFERENCE_EFFECTS)
    )


def _effect(decision: str | None) -> str | None:
    """What a preferences decision changes downstream: swap, drop, or nothing (None)."""
    return decision if decision in PREFERENCE_EFFECTS else None
