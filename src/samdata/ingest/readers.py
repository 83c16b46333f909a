"""Record readers for ingest: JSONL from a byte offset, JSON arrays by index, single documents.

Each yields `Raw` records with the position ingest commits as progress, so a killed run resumes
exactly after the last committed record.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from samdata.jsonsplit import parsed_elements
from samdata.scan.hashing import CHUNK

_BOM = b"\xef\xbb\xbf"
SNIPPET = 200
INCOMPLETE_LAST_LINE = "incomplete last line (no newline)"


@dataclass(slots=True)
class Raw:
    """One record as read: the parsed value, or the reason it does not parse."""

    locator: dict[str, Any]
    value: Any = None
    error: str | None = None
    snippet: str = ""
    end_offset: int = 0  # bytes consumed up to the end of this record (line-based files)
    consumed: int = 0  # records (lines or items) consumed including this one
    blank: bool = False  # a blank line: consumed, but neither a record nor an error
    tentative: bool = False  # an unterminated last line: reported, but not consumed


def _snippet(raw: bytes) -> str:
    return raw[:SNIPPET].decode("utf-8", "replace")


def jsonl_records(path: Path, start_offset: int, start_line: int, max_record_bytes: int) -> Iterator[Raw]:
    """Lines from `start_offset` (line `start_line + 1` on). Blank lines are consumed silently.

    A last line without a newline that does not parse is left unconsumed: a writer may be
    half-way through it, and the next run will read it whole.
    """
    line_no = start_line
    offset = start_offset
    with open(path, "rb") as f:
        f.seek(start_offset)
        pending = b""
        skipping = False
        while chunk := f.read(CHUNK):
            if skipping:
                nl = chunk.find(b"\n")
                if nl < 0:
                    offset += len(chunk)
                    continue
                offset += nl + 1
                chunk = chunk[nl + 1 :]
                skipping = False
                yield Raw(
                    {"line": line_no},
                    error=f"line longer than max_record_bytes ({max_record_bytes})",
                    end_offset=offset,
                    consumed=line_no,
                )
            data = pending + chunk if pending else chunk
            lines = data.split(b"\n")
            pending = lines.pop()
            for line in lines:
                line_no += 1
                offset += len(line) + 1
                yield _parse_line(line, line_no, offset)
            if len(pending) > max_record_bytes:
                line_no += 1
                offset += len(pending)
                pending = b""
                skipping = True
        if skipping:  # the over-long line runs to the end of the file
            yield Raw(
                {"line": line_no},
                error=f"line longer than max_record_bytes ({max_record_bytes})",
                end_offset=offset,
                consumed=line_no,
            )
        elif pending.strip():
            raw = _parse_line(pending, line_no + 1, offset + len(pending))
            if raw.error is not None:
                # No newline and no valid JSON: a writer may be half-way through this line. It is
                # reported but not consumed, so the next run reads it again, whole.
                raw.error = f"{INCOMPLETE_LAST_LINE}: {raw.error}"
                raw.tentative = True
            yield raw


def _parse_line(line: bytes, line_no: int, end_offset: int) -> Raw:
    s = line.strip()
    if not s:
        return Raw({"line": line_no}, end_offset=end_offset, consumed=line_no, blank=True)
    if line_no == 1:
        s = s.removeprefix(_BOM)
    try:
        value = orjson.loads(s)
    except orjson.JSONDecodeError as e:
        return Raw(
            {"line": line_no},
            error=f"invalid JSON: {e}",
            snippet=_snippet(s),
            end_offset=end_offset,
            consumed=line_no,
        )
    return Raw({"line": line_no}, value=value, snippet="", end_offset=end_offset, consumed=line_no)


def json_records(path: Path, start_index: int, max_record_bytes: int) -> Iterator[Raw]:
    """Items of a top-level JSON array (or the one top-level object) from item `start_index` on."""
    with open(path, "rb") as f:
        head = f.read(64).removeprefix(_BOM).lstrip()
        f.seek(0)
        if head[:1] == b"[":
            yield from _array_items(f, start_index, max_record_bytes)
            return
        size = f.seek(0, 2)
        f.seek(0)
        if start_index > 0:
            return
        if size > max_record_bytes:
            yield Raw(
                {"index": 0},
                error=f"JSON document larger than max_record_bytes ({max_record_bytes})",
                consumed=1,
            )
            return
        data = f.read()
    try:
        yield Raw({"index": 0}, value=orjson.loads(data.removeprefix(_BOM)), consumed=1)
    except orjson.JSONDecodeError as e:
        yield Raw({"index": 0}, error=f"invalid JSON: {e}", snippet=_snippet(data), consumed=1)


def _array_items(f: Any, start_index: int, max_record_bytes: int) -> Iterator[Raw]:
    for index, value, error in parsed_elements(f, max_record_bytes):
        if index >= start_index:
            yield Raw({"index": index}, value=value, error=error, consumed=index + 1)


def zip_member_records(path: Path, member: str, start_index: int, max_record_bytes: int) -> Iterator[Raw]:
    """Items of a JSON array inside a zip (a ChatGPT export's conversations.json)."""
    try:
        with zipfile.ZipFile(path) as z, z.open(member) as m:
            yield from _array_items(m, start_index, max_record_bytes)
    except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile, zlib.error) as e:
        yield Raw({"member": member}, error=f"bad zip member: {e}", consumed=start_index + 1)
