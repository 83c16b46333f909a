"""Record readers shared by scan and ingest: JSONL from a byte offset, JSON arrays by index, single documents, and
the JSON and JSONL members of a zip, each plain or through its compression.

Each yields `Raw` records with the position ingest commits as progress, so a killed run resumes
exactly after the last committed record. A stream that breaks (a gzip cut short, a decompression
bomb) ends with one error record saying where; every record before it is kept.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import xxhash

from samdata.formats.archive import data_members, member_compression, refusal
from samdata.formats.container import (
    HEAD_BYTES,
    Prefixed,
    StreamError,
    container_of,
    decompressed,
    open_content,
)
from samdata.jsonsplit import CHUNK, json_error, line_error, parsed_elements

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
    skip: str | None = None  # a record the reader leaves out on purpose, with the reason
    digest: int | None = None  # the line's seeded digest, when the caller asked for digests
    repeat: Any = None  # what an earlier identical line produced (then `value` was never parsed)
    tentative: bool = False  # an unterminated last line: reported, but not consumed


def _snippet(raw: bytes) -> str:
    return raw[:SNIPPET].decode("utf-8", "replace")


@dataclass(slots=True)
class Chunk:
    """Whole lines of a JSONL file: `data` ends at a newline, or is one unterminated last line
    (`final`), or is None for one line longer than the limit (`oversize` bytes, skipped unread) or
    for the point where the stream broke (`error`)."""

    data: bytes | None
    base_line: int  # lines before this chunk
    base_offset: int  # byte offset of its first byte
    final: bool = False
    oversize: int = 0
    error: str | None = None


def jsonl_chunks(
    f: BinaryIO, start_offset: int, start_line: int, chunk_bytes: int, max_record_bytes: int
) -> Iterator[Chunk]:
    """Cut JSONL content into chunks of whole lines from `start_offset`; memory stays bounded by
    `chunk_bytes` + `max_record_bytes` whatever the file or line size."""
    base_off, base_line = start_offset, start_line
    pending = b""
    skipping = 0  # bytes of an over-long line skipped so far (0: not skipping)
    if start_offset:
        try:
            f.seek(start_offset)
        except StreamError as e:
            yield Chunk(None, base_line, base_off, error=str(e))
            return
    while True:
        try:
            data = f.read(chunk_bytes)
        except StreamError as e:
            # The lines before the break were yielded; the cut line is part of the error record.
            yield Chunk(None, base_line, base_off, error=str(e))
            return
        eof = not data
        if skipping:
            nl = data.find(b"\n")
            if nl < 0 and not eof:
                skipping += len(data)
                continue
            skipping += len(data) if nl < 0 else nl + 1
            yield Chunk(None, base_line, base_off, oversize=skipping)
            base_line, base_off, skipping = base_line + 1, base_off + skipping, 0
            data = b"" if nl < 0 else data[nl + 1 :]
        if eof:
            if pending.strip():
                yield Chunk(pending, base_line, base_off, final=True)
            return
        buf = pending + data if pending else data
        nl = buf.rfind(b"\n")
        if nl >= 0:
            complete, pending = buf[: nl + 1], buf[nl + 1 :]
            yield Chunk(complete, base_line, base_off)
            base_line += complete.count(b"\n")
            base_off += len(complete)
        else:
            pending = buf
        if len(pending) > max_record_bytes:
            skipping, pending = len(pending), b""


def line_digests(chunk: Chunk, seed: int) -> list[int]:
    """The seeded digests of a chunk's non-blank lines (what `chunk_records` computes with `seed`)."""
    if chunk.data is None or chunk.final:
        return []
    return [digest(line, seed) for line in chunk.data.split(b"\n")[:-1] if line.strip()]


def digest(line: bytes, seed: int) -> int:
    """A line's digest as a SQLite integer (signed 64-bit): the same bytes, the same digest."""
    d = xxhash.xxh3_64_intdigest(line.strip(), seed)
    return d - (1 << 64) if d >= 1 << 63 else d


def chunk_records(
    chunk: Chunk, max_record_bytes: int, seed: int | None = None, known: dict[int, Any] | None = None
) -> Iterator[Raw]:
    """The records of one chunk, with absolute line numbers and end offsets. With `seed`, each line
    gets its digest, and a line whose digest is in `known` comes as a repeat, unparsed."""
    if chunk.error is not None:
        yield Raw(
            {"line": chunk.base_line + 1},
            error=chunk.error,
            end_offset=chunk.base_offset,
            consumed=chunk.base_line + 1,
        )
        return
    if chunk.data is None:
        end = chunk.base_offset + chunk.oversize
        yield Raw(
            {"line": chunk.base_line + 1},
            error=f"line longer than max_record_bytes ({max_record_bytes})",
            end_offset=end,
            consumed=chunk.base_line + 1,
        )
        return
    if chunk.final:
        raw = _parse_line(chunk.data, chunk.base_line + 1, chunk.base_offset + len(chunk.data))
        if raw.error is not None:
            # No newline and no valid JSON: a writer may be half-way through this line. It is
            # reported but not consumed, so the next run reads it again, whole.
            raw.error = f"{INCOMPLETE_LAST_LINE}: {raw.error}"
            raw.tentative = True
        yield raw
        return
    line_no, offset = chunk.base_line, chunk.base_offset
    lines = chunk.data.split(b"\n")
    lines.pop()  # the empty tail after the final newline
    for line in lines:
        line_no += 1
        offset += len(line) + 1
        if seed is None or not line.strip():
            yield _parse_line(line, line_no, offset)
            continue
        d = digest(line, seed)
        if known is not None and d in known:
            yield Raw({"line": line_no}, end_offset=offset, consumed=line_no, digest=d, repeat=known[d])
            continue
        raw = _parse_line(line, line_no, offset)
        raw.digest = d
        yield raw


def jsonl_records(f: BinaryIO, start_offset: int, start_line: int, max_record_bytes: int) -> Iterator[Raw]:
    """Records of JSONL content from `start_offset` (line `start_line + 1` on)."""
    for chunk in jsonl_chunks(f, start_offset, start_line, CHUNK, max_record_bytes):
        yield from chunk_records(chunk, max_record_bytes)


def content_lines(
    path: Path, compression: str | None, max_expansion: float, max_record_bytes: int
) -> Iterator[Raw]:
    """Every line of a (maybe compressed) JSONL file as a record, for adapters that read it whole."""
    with open_content(path, compression, max_expansion) as f:
        yield from jsonl_records(f, 0, 0, max_record_bytes)


def _parse_line(line: bytes, line_no: int, end_offset: int) -> Raw:
    """Blank lines are consumed silently; a BOM on line 1 is ignored."""
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
            error=line_error(s, e),
            snippet=_snippet(s),
            end_offset=end_offset,
            consumed=line_no,
        )
    return Raw({"line": line_no}, value=value, snippet="", end_offset=end_offset, consumed=line_no)


def json_records(f: BinaryIO, start_index: int, max_record_bytes: int) -> Iterator[Raw]:
    """Items of a top-level JSON array (or the one top-level object) from item `start_index` on."""
    try:
        head = f.read(64)
    except StreamError as e:
        yield Raw({"index": 0}, error=str(e), consumed=1)
        return
    lead = head.removeprefix(_BOM).lstrip()
    if lead[:1] == b"[":
        yield from _array_items(Prefixed(head, f), start_index, max_record_bytes)
        return
    if start_index > 0:
        return
    try:
        data = head + f.read(max_record_bytes + 1 - len(head))
    except StreamError as e:
        yield Raw({"index": 0}, error=str(e), consumed=1)
        return
    if len(data) > max_record_bytes:
        yield Raw(
            {"index": 0},
            error=f"JSON document larger than max_record_bytes ({max_record_bytes})",
            consumed=1,
        )
        return
    try:
        yield Raw({"index": 0}, value=orjson.loads(data.removeprefix(_BOM)), consumed=1)
    except orjson.JSONDecodeError as e:
        yield Raw({"index": 0}, error=json_error(e), snippet=_snippet(data), consumed=1)


def _array_items(f: Any, start_index: int, max_record_bytes: int) -> Iterator[Raw]:
    index = -1
    try:
        for index, value, error in parsed_elements(f, max_record_bytes):
            if index >= start_index:
                yield Raw({"index": index}, value=value, error=error, consumed=index + 1)
    except StreamError as e:
        at = max(index + 1, start_index)
        yield Raw({"index": at}, error=str(e), consumed=at + 1)


def file_records(
    path: Path, kind: str, compression: str | None, start_offset: int, start_index: int, limits: Any
) -> Iterator[Raw]:
    """Records of a JSON or JSONL file (maybe compressed) from a resume point, streaming."""
    with open_content(path, compression, limits.max_expansion) as f:
        if kind == "jsonl":
            yield from jsonl_records(f, start_offset, start_index, limits.max_record_bytes)
        elif kind == "json":
            yield from json_records(f, start_index, limits.max_record_bytes)


def zip_member_records(path: Path, member: str, start_index: int, max_record_bytes: int) -> Iterator[Raw]:
    """Items of a JSON array inside a zip (a ChatGPT export's conversations.json)."""
    try:
        with zipfile.ZipFile(path) as z, z.open(member) as m:
            yield from _array_items(m, start_index, max_record_bytes)
    except (zipfile.BadZipFile, OSError, EOFError, zipfile.LargeZipFile, zlib.error) as e:
        yield Raw({"member": member}, error=f"bad zip member: {e}", consumed=start_index + 1)


def zip_records(path: Path, start_index: int, limits: Any) -> Iterator[Raw]:
    """The records of every JSON and JSONL member of a zip, in member order, each locator naming its
    member; resumable by record index (`consumed` counts records across members, blank lines too).

    A member that would expand like a bomb, or cannot be read, is one error record."""
    done = 0  # records consumed in members before this one
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        yield Raw({}, error=f"bad zip file: {e}", consumed=1)
        return
    with z:
        for info in data_members(z):
            name = info.filename
            why = refusal(info, limits.max_expansion)
            if why:
                done += 1
                if done > start_index:
                    yield Raw({"member": name}, error=why, consumed=done)
                continue
            try:
                with z.open(info) as raw:
                    compression = member_compression(raw)
                    stream: Any = decompressed(raw, compression, limits.max_expansion) if compression else raw
                    head = stream.read(HEAD_BYTES)
                    kind = container_of(head)
                    body = Prefixed(head, stream)
                    if kind == "jsonl":
                        records = jsonl_records(body, 0, 0, limits.max_record_bytes)  # type: ignore[arg-type]
                    elif kind == "json":
                        records = json_records(body, 0, limits.max_record_bytes)  # type: ignore[arg-type]
                    else:
                        done += 1
                        if done > start_index:
                            yield Raw({"member": name}, skip=f"zip member holds {kind}, not JSON or JSONL",
                                      consumed=done)  # fmt: skip
                        continue
                    last = 0
                    for r in records:
                        last = r.consumed
                        if done + r.consumed > start_index:
                            r.locator = {"member": name, **r.locator}
                            r.consumed, r.tentative = done + r.consumed, False
                            yield r
                    done += last
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, StreamError) as e:
                done += 1
                if done > start_index:
                    yield Raw({"member": name}, error=f"bad zip member: {e}", consumed=done)
