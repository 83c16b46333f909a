"""Catalog SQL for training runs and their per-step metrics."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

RUN_COLUMNS = (
    "id",
    "backend",
    "mode",
    "base_model",
    "export_id",
    "data_dir",
    "job_dir",
    "config",
    "status",
    "pid",
    "host",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "adapter_path",
)
FINISHED = ("completed", "failed", "stopped")


def _run(row: Sequence[Any]) -> dict[str, Any]:
    run = dict(zip(RUN_COLUMNS, row, strict=True))
    run["config"] = orjson.loads(run["config"])
    return run


class TrainStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def create_run(
        self, *, backend: str, mode: str, base_model: str, export_id: int | None, data_dir: str,
        job_dir: str, config: dict[str, Any], host: str, now: str,
    ) -> int:  # fmt: skip
        with self.transaction() as c:
            cur = c.execute(
                "INSERT INTO training_runs (backend, mode, base_model, export_id, data_dir, job_dir, config,"
                " status, host, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (backend, mode, base_model, export_id, data_dir, job_dir,
                 orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode(), host, now),
            )  # fmt: skip
            return int(cur.lastrowid or 0)

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set columns of a run (status, pid, started_at, finished_at, error, adapter_path, job_dir,
        config: a dict, stored as JSON like `create_run` stores it)."""
        unknown = set(fields) - set(RUN_COLUMNS)
        if unknown:
            raise KeyError(sorted(unknown))
        if isinstance(fields.get("config"), dict):
            fields["config"] = orjson.dumps(fields["config"], option=orjson.OPT_SORT_KEYS).decode()
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as c:
            c.execute(f"UPDATE training_runs SET {sets} WHERE id = ?", (*fields.values(), run_id))

    def start_run(self, run_id: int, pid: int, now: str) -> bool:
        """queued → running for this pid; False if the run was stopped (or ended) before it started."""
        with self.transaction() as c:
            n = c.execute(
                "UPDATE training_runs SET status = 'running', pid = ?, started_at = ?"
                " WHERE id = ? AND status = 'queued'",
                (pid, now, run_id),
            ).rowcount
        return n > 0

    def finish_run(self, run_id: int, status: str, now: str, error: str | None = None,
                   adapter_path: str | None = None) -> bool:  # fmt: skip
        """Mark a run finished unless it already is (the first word wins: a stop beats a late crash)."""
        with self.transaction() as c:
            n = c.execute(
                "UPDATE training_runs SET status = ?, finished_at = ?, error = coalesce(?, error),"
                " adapter_path = coalesce(?, adapter_path), pid = NULL"
                f" WHERE id = ? AND status NOT IN {FINISHED}",
                (status, now, error, adapter_path, run_id),
            ).rowcount
        return n > 0

    def log_metrics(self, run_id: int, step: int, now: str, **metrics: float | None) -> None:
        """Upsert one step's metrics; a value that is None keeps what the step already has."""
        cols = ("train_loss", "valid_loss", "tokens_per_second", "learning_rate")
        values = [metrics.get(k) for k in cols]
        with self.transaction() as c:
            c.execute(
                "INSERT INTO validation_log (run_id, step, train_loss, valid_loss, tokens_per_second,"
                " learning_rate, logged_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, step) DO UPDATE SET"
                + ", ".join(f" {k} = coalesce(excluded.{k}, {k})" for k in cols)
                + ", logged_at = excluded.logged_at",
                (run_id, step, *values, now),
            )

    def run(self, run_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM training_runs WHERE id = ?", (run_id,)
        ).fetchone()
        return _run(row) if row else None

    def runs(self, status: str | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        return [
            _run(r)
            for r in self.conn.execute(
                f"SELECT {', '.join(RUN_COLUMNS)} FROM training_runs {where} ORDER BY id", args
            )
        ]

    def metrics(self, run_id: int) -> list[dict[str, Any]]:
        cols = ("step", "train_loss", "valid_loss", "tokens_per_second", "learning_rate", "logged_at")
        return [
            dict(zip(cols, r, strict=True))
            for r in self.conn.execute(
                f"SELECT {', '.join(cols)} FROM validation_log WHERE run_id = ? ORDER BY step", (run_id,)
            )
        ]

    def runs_of_examples(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Runs that trained on any of these examples (through their export's train or valid split),
        with how many of the examples each saw."""
        if not ids:
            return []
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _ids (id TEXT PRIMARY KEY)")
        self.conn.execute("DELETE FROM _ids")
        self.conn.executemany("INSERT OR IGNORE INTO _ids VALUES (?)", [(i,) for i in ids])
        rows = self.conn.execute(
            "SELECT r.id, r.backend, r.mode, r.status, r.adapter_path, r.export_id, count(DISTINCT m.example_id)"
            " FROM _ids JOIN export_members m ON m.example_id = _ids.id AND m.split IN ('train', 'valid')"
            " JOIN training_runs r ON r.export_id = m.export_id GROUP BY r.id ORDER BY r.id"
        ).fetchall()
        self.conn.execute("DELETE FROM _ids")
        cols = ("run_id", "backend", "mode", "status", "adapter_path", "export_id", "examples")
        return [dict(zip(cols, r, strict=True)) for r in rows]
