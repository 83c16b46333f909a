"""Catalog SQL for `samdata run`: the history of pipeline runs and their stages."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson
import xxhash


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class PipelineStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def start_pipeline(self, trigger: str, pid: int, now: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO pipeline_runs (trigger, started_at, status, pid) VALUES (?, ?, 'running', ?)",
            (trigger, now, pid),
        )
        return int(cur.lastrowid or 0)

    def mark_killed_pipelines(self, now: str) -> list[int]:
        """Runs still 'running' when the caller holds the run lock: their process died without a
        word (killed, power cut). They and their running stages are marked; returns their ids."""
        with self.transaction() as c:
            ids = [r[0] for r in c.execute("SELECT id FROM pipeline_runs WHERE status = 'running'")]
            for run_id in ids:
                c.execute(
                    "UPDATE pipeline_stages SET status = 'interrupted', ended_at = ?,"
                    " error = 'the process was killed' WHERE run_id = ? AND status = 'running'",
                    (now, run_id),
                )
                c.execute(
                    "UPDATE pipeline_runs SET status = 'killed', ended_at = ?,"
                    " error = coalesce(error, 'the process was killed during ' || coalesce("
                    "(SELECT stage FROM pipeline_stages WHERE run_id = ? ORDER BY seq DESC LIMIT 1), 'start'))"
                    " WHERE id = ?",
                    (now, run_id, run_id),
                )
        return ids

    def start_stage(self, run_id: int, seq: int, stage: str, now: str) -> None:
        self.conn.execute(
            "INSERT INTO pipeline_stages (run_id, seq, stage, started_at, status) VALUES (?, ?, ?, ?, 'running')",
            (run_id, seq, stage, now),
        )

    def finish_stage(
        self, run_id: int, seq: int, status: str, figures: dict[str, Any], now: str, error: str | None = None
    ) -> None:
        self.conn.execute(
            "UPDATE pipeline_stages SET status = ?, figures = ?, ended_at = ?, error = ? WHERE run_id = ? AND seq = ?",
            (status, _json(figures), now, error, run_id, seq),
        )

    def finish_pipeline(
        self, run_id: int, status: str, changes: dict[str, Any], snapshot: dict[str, Any] | None, now: str,
        error: str | None = None,
    ) -> None:  # fmt: skip
        self.conn.execute(
            "UPDATE pipeline_runs SET status = ?, changes = ?, snapshot = ?, ended_at = ?, error = ? WHERE id = ?",
            (status, _json(changes), _json(snapshot) if snapshot else None, now, error, run_id),
        )

    def last_snapshot(self) -> dict[str, Any] | None:
        """The totals the newest run that recorded them ended with."""
        row = self.conn.execute(
            "SELECT snapshot FROM pipeline_runs WHERE snapshot IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return orjson.loads(row[0]) if row else None

    def snapshot(self) -> dict[str, Any]:
        """Totals cheap to read at any size, and the problems of the newest scan: what a run
        compares with the last one to say what changed."""
        c = self.conn
        latest = c.execute("SELECT max(id) FROM scans WHERE status = 'done'").fetchone()[0]
        # A problem is the same problem while its kind and paths are (its figures may move).
        problems = {
            f"{kind}:{xxhash.xxh3_64_hexdigest(paths.encode())}": f"{kind}: {message}"
            for kind, paths, message in c.execute(
                "SELECT kind, paths, message FROM problems WHERE scan_id = ?", (latest,)
            )
        }
        return {
            "files": c.execute("SELECT count(*) FROM files WHERE deleted_scan IS NULL").fetchone()[0],
            "examples": self.live_count(),  # type: ignore[attr-defined]
            "quarantined": c.execute("SELECT count(*) FROM quarantine").fetchone()[0],
            "findings": c.execute("SELECT count(*) FROM findings").fetchone()[0],
            "problems": problems,
        }

    def pipeline_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest `limit` runs, oldest first, each with its stages in order."""
        return self._runs("1 = 1", (), limit)[::-1]

    def last_pipeline(self, trigger: str | None = None) -> dict[str, Any] | None:
        """The newest finished run (of `trigger`, if given)."""
        if trigger:
            found = self._runs("status != 'running' AND trigger = ?", (trigger,), 1)
        else:
            found = self._runs("status != 'running'", (), 1)
        return found[0] if found else None

    def _runs(self, where: str, args: tuple[Any, ...], limit: int) -> list[dict[str, Any]]:
        runs = [
            dict(r)
            for r in self.conn.execute(
                "SELECT id, trigger, started_at, ended_at, status, pid, error, changes FROM pipeline_runs"
                f" WHERE {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
        ]
        for run in runs:
            run["changes"] = orjson.loads(run["changes"])
            run["stages"] = [
                {**dict(s), "figures": orjson.loads(s["figures"])}
                for s in self.conn.execute(
                    "SELECT seq, stage, started_at, ended_at, status, figures, error FROM pipeline_stages"
                    " WHERE run_id = ? ORDER BY seq",
                    (run["id"],),
                )
            ]
        return runs
