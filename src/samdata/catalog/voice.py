"""Catalog SQL for `samdata voice`: recordings, their clips and what the segmenter dropped."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass
class ClipRow:
    id: str
    start_s: float
    end_s: float
    figures: dict[str, Any]
    failed: list[str]
    fingerprint: bytes | None


class VoiceStore:
    """Mixed into `Catalog`."""

    conn: sqlite3.Connection
    transaction: Any  # Catalog.transaction

    def voice_file(self, source: str, path: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT * FROM voice_files WHERE source = ? AND path = ?", (source, path)
        ).fetchone()
        return dict(row) if row else None

    def save_voice_file(
        self, source: str, path: str, speaker: str, info: dict[str, Any], status: str, reason: str | None,
        pipeline: str, now: str, clips: Sequence[ClipRow] = (), dropped: Sequence[tuple[float, float, str]] = (),
    ) -> int:  # fmt: skip
        """Record one recording as processed, replacing what an earlier pass cut from it, in one
        transaction (a killed run leaves the file as it was)."""
        with self.transaction() as c:
            c.execute(
                "INSERT INTO voice_files (source, path, speaker, content_hash, codec, rate, channels, duration_s,"
                " status, reason, pipeline, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source, path) DO UPDATE SET speaker = excluded.speaker,"
                " content_hash = excluded.content_hash, codec = excluded.codec, rate = excluded.rate,"
                " channels = excluded.channels, duration_s = excluded.duration_s, status = excluded.status,"
                " reason = excluded.reason, pipeline = excluded.pipeline, processed_at = excluded.processed_at",
                (source, path, speaker, info.get("content_hash"), info.get("codec"), info.get("rate"),
                 info.get("channels"), info.get("duration_s"), status, reason, pipeline, now),
            )  # fmt: skip
            file_id = int(
                c.execute(
                    "SELECT id FROM voice_files WHERE source = ? AND path = ?", (source, path)
                ).fetchone()[0]
            )
            c.execute("DELETE FROM voice_clips WHERE file_id = ?", (file_id,))
            c.execute("DELETE FROM voice_dropped WHERE file_id = ?", (file_id,))
            c.executemany(
                "INSERT OR REPLACE INTO voice_clips (id, file_id, speaker, start_s, end_s, figures, failed, passed,"
                " fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (k.id, file_id, speaker, k.start_s, k.end_s, orjson.dumps(k.figures).decode(),
                     orjson.dumps(k.failed).decode(), int(not k.failed), k.fingerprint)
                    for k in clips
                ],
            )  # fmt: skip
            c.executemany(
                "INSERT INTO voice_dropped (file_id, start_s, end_s, reason) VALUES (?, ?, ?, ?)",
                [(file_id, a, b, r) for a, b, r in dropped],
            )
        return file_id

    def voice_clips(self, speaker: str | None = None) -> list[dict[str, Any]]:
        """Every clip (of `speaker`), in recording order: id, source_file, offsets, passed, failed,
        figures, and the review decision in force (accept | reject | None)."""
        sql = (
            "SELECT k.id, f.path AS source_file, f.source, k.speaker, k.start_s, k.end_s, k.passed, k.failed,"
            " k.figures, (SELECT d.decision FROM review_decisions d WHERE d.queue = 'voice' AND d.item = k.id"
            " AND d.undone = 0 ORDER BY d.id DESC LIMIT 1) AS decision"
            " FROM voice_clips k JOIN voice_files f ON f.id = k.file_id"
        )
        args: list[Any] = []
        if speaker is not None:
            sql += " WHERE k.speaker = ?"
            args.append(speaker)
        out = []
        for r in self.conn.execute(sql + " ORDER BY f.path, k.start_s", args):
            d = dict(r)
            d["passed"], d["failed"], d["figures"] = (
                bool(d["passed"]),
                orjson.loads(d["failed"]),
                orjson.loads(d["figures"]),
            )
            out.append(d)
        return out

    def voice_fingerprints(self, speaker: str, except_file: int | None = None) -> list[tuple[str, bytes]]:
        """(clip id, fingerprint) of the speaker's clips in other recordings (the duplicate check)."""
        return [
            (r[0], bytes(r[1]))
            for r in self.conn.execute(
                "SELECT id, fingerprint FROM voice_clips WHERE speaker = ? AND fingerprint IS NOT NULL"
                " AND file_id IS NOT ? ORDER BY file_id, start_s",
                (speaker, except_file),
            )
        ]

    def voice_files(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM voice_files ORDER BY source, path")]

    def voice_dropped(self) -> list[dict[str, Any]]:
        return [
            dict(r)
            for r in self.conn.execute(
                "SELECT f.path AS source_file, d.start_s, d.end_s, d.reason FROM voice_dropped d"
                " JOIN voice_files f ON f.id = d.file_id ORDER BY f.path, d.start_s"
            )
        ]
