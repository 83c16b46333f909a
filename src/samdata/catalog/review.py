"""Catalog SQL for review queues: items waiting for a person, and the decisions taken (with undo)."""

from __future__ import annotations

import sqlite3
from typing import Any

QUEUES = {"secrets": ("confirm", "allow", "skip")}


class ReviewStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def decisions(self, queue: str) -> dict[str, str]:
        """Item → the decision in force (the newest not undone)."""
        return {
            item: decision
            for item, decision in self.conn.execute(
                "SELECT item, decision FROM review_decisions WHERE id IN (SELECT max(id) FROM review_decisions"
                " WHERE queue = ? AND undone = 0 GROUP BY item)",
                (queue,),
            )
        }

    def decide(self, queue: str, item: str, decision: str, now: str, note: str | None = None) -> int:
        """Store a decision; its id (for undo). An allowed secret changes what curate finds, so it
        moves the data version (exports written from the old findings are out of date)."""
        if decision not in QUEUES.get(queue, ()):
            raise ValueError(
                f"{queue!r} takes {', '.join(QUEUES.get(queue, ())) or 'no decisions'}, not {decision!r}"
            )
        with self.transaction(data=decision == "allow") as c:
            cur = c.execute(
                "INSERT INTO review_decisions (queue, item, decision, note, decided_at) VALUES (?, ?, ?, ?, ?)",
                (queue, item, decision, note, now),
            )
        return int(cur.lastrowid or 0)

    def undo_decision(self, decision_id: int) -> dict[str, Any] | None:
        """Undo one decision; the item's earlier decision (if any) is in force again."""
        row = self.conn.execute(
            "SELECT queue, item, decision FROM review_decisions WHERE id = ? AND undone = 0", (decision_id,)
        ).fetchone()
        if row is None:
            return None
        with self.transaction(data=row["decision"] == "allow") as c:
            c.execute("UPDATE review_decisions SET undone = 1 WHERE id = ?", (decision_id,))
        return dict(row)

    def allowed_secret_hashes(self) -> list[str]:
        """Finding hashes a person allowed in the secrets queue (curate adds them to the allow-list)."""
        return sorted(item for item, d in self.decisions("secrets").items() if d == "allow")

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
