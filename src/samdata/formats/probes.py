"""Metadata probes for binary formats: SQLite tables, WAV and MP4 durations, zip members.

Each probe reads headers only (or opens SQLite immutable) and never modifies the file.
"""

from __future__ import annotations

import sqlite3
import struct
import urllib.parse
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from samdata.formats.columns import match_columns

SQLITE_MAGIC = b"SQLite format 3\x00"
BINARY_KINDS = frozenset({"sqlite", "wav", "mp4", "zip", "pdf"})


def sniff_binary(head: bytes) -> str | None:
    """Name the binary container `head` starts with, if it is one we probe."""
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    # Readers accept the header anywhere in the first KB (some writers put bytes before it).
    if b"%PDF-" in head[:1024]:
        return "pdf"
    return None


def probe_sqlite(path: Path) -> dict[str, Any]:
    """Tables with row counts and columns; `training_rows` sums tables that look like examples.

    Opened with `immutable=1` so SQLite creates no -wal/-shm files and takes no locks: a scan
    must not touch the owner's stores.
    """
    uri = "file:" + urllib.parse.quote(str(path)) + "?immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    try:
        tables: dict[str, dict[str, Any]] = {}
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        training_rows = 0
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            rows = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
            types = {r[1]: r[2] or "" for r in conn.execute(f"PRAGMA table_info({quoted})")}
            columns = list(types)
            is_training = bool(match_columns(columns, types)) or any(
                w in name.lower() for w in ("training", "example", "sample", "distill")
            )
            tables[name] = {"rows": rows, "columns": columns, "training": is_training}
            if is_training:
                training_rows += rows
        return {
            "tables": tables,
            "training_rows": training_rows,
            "total_rows": sum(t["rows"] for t in tables.values()),
        }
    finally:
        conn.close()


def probe_wav(f: BinaryIO) -> dict[str, Any]:
    """Channels, sample rate, bits and duration from the RIFF `fmt ` and `data` chunks."""
    f.seek(12)
    fmt: dict[str, Any] = {}
    while True:
        header = f.read(8)
        if len(header) < 8:
            break
        cid, size = header[:4], struct.unpack("<I", header[4:])[0]
        if cid == b"fmt ":
            body = f.read(min(size, 40))
            _tag, channels, rate, byte_rate, _align, bits = struct.unpack("<HHIIHH", body[:16])
            fmt = {"channels": channels, "sample_rate": rate, "bits": bits, "byte_rate": byte_rate}
            f.seek(size - len(body) + (size & 1), 1)
        elif cid == b"data":
            if not fmt or not fmt["byte_rate"]:
                raise ValueError("WAV data chunk before a valid fmt chunk")
            # Streams written live often leave the size at 0 or 0xFFFFFFFF: measure the file instead.
            if size in (0, 0xFFFFFFFF):
                here = f.tell()
                f.seek(0, 2)
                size = f.tell() - here
            return {**fmt, "duration_s": round(size / fmt["byte_rate"], 3)}
        else:
            f.seek(size + (size & 1), 1)
    raise ValueError("WAV file has no data chunk")


def probe_mp4(f: BinaryIO, file_size: int) -> dict[str, Any]:
    """Duration from `moov/mvhd`, found by walking top-level boxes with seeks (moov may be last)."""
    pos = 0
    brand = None
    while pos + 8 <= file_size:
        f.seek(pos)
        header = f.read(16)
        size, box = struct.unpack(">I4s", header[:8])
        head_len = 8
        if size == 1:
            size = struct.unpack(">Q", header[8:16])[0]
            head_len = 16
        elif size == 0:
            size = file_size - pos
        if size < head_len:
            raise ValueError(f"MP4 box {box!r} at {pos} has impossible size {size}")
        if box == b"ftyp":
            f.seek(pos + head_len)
            brand = f.read(4).decode("latin-1")
        elif box == b"moov":
            return {"brand": brand, **_find_mvhd(f, pos + head_len, pos + size)}
        pos += size
    raise ValueError("MP4 file has no moov box")


def _find_mvhd(f: BinaryIO, start: int, end: int) -> dict[str, Any]:
    pos = start
    while pos + 8 <= end:
        f.seek(pos)
        size, box = struct.unpack(">I4s", f.read(8))
        if size < 8:
            break
        if box == b"mvhd":
            version = f.read(4)[0]
            if version == 1:
                _c, _m, timescale, duration = struct.unpack(">QQIQ", f.read(28))
            else:
                _c, _m, timescale, duration = struct.unpack(">IIII", f.read(16))
            if not timescale:
                raise ValueError("MP4 mvhd has timescale 0")
            return {"duration_s": round(duration / timescale, 3), "timescale": timescale}
        pos += size
    raise ValueError("MP4 moov box has no mvhd")


def probe_zip(path: Path) -> dict[str, Any]:
    """Member count and whether the archive is a ChatGPT export (holds `conversations.json`)."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    conv = next((n for n in names if n.rsplit("/", 1)[-1] == "conversations.json"), None)
    return {"members": len(names), "conversations_member": conv}
