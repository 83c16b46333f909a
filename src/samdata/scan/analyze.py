"""One streaming pass over one file: content hash, sniffed format, record and bad-record counts.

Memory is bounded by the read chunk and `max_record_bytes`, never by the file's size: JSONL is
split into lines chunk by chunk, JSON arrays are split into elements and parsed one by one, and binary
formats are probed through their headers.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import xxhash

from samdata.config import ScanSettings
from samdata.jsonsplit import json_error, parsed_elements
from samdata.scan import probes
from samdata.scan.dupsketch import DistinctSketch
from samdata.scan.formats import classify_record, vote
from samdata.scan.hashing import CHUNK, HashingReader, ProgressFile, hash_stream, new_hasher

HEAD_BYTES = 64 * 1024
# Bump when sniffing or counting changes: files analysed by an older version are re-read.
ANALYZER_VERSION = 1
_BOM = b"\xef\xbb\xbf"
_REASON_MAX = 200


@dataclass
class FileFacts:
    """What one read of a file found."""

    content_hash: str | None = None
    format: str = "unknown"
    variant: str | None = None
    container: str | None = None  # jsonl | json | text | binary | empty | sqlite | wav | mp4 | zip
    records: int | None = None
    bad_records: int = 0
    details: dict[str, Any] = field(default_factory=dict)


class _Tally:
    """Counts records, keeps the first bad locations and the records used for sniffing."""

    def __init__(self, settings: ScanSettings) -> None:
        self.settings = settings
        self.records = 0
        self.bad = 0
        self.samples: list[dict[str, Any]] = []
        self.classes: list[tuple[str, str] | None] = []

    def good(self, obj: Any) -> None:
        self.records += 1
        if len(self.classes) < self.settings.sniff_records:
            self.classes.append(classify_record(obj))

    def fail(self, reason: str, **where: int) -> None:
        self.bad += 1
        if len(self.samples) < self.settings.bad_record_samples:
            self.samples.append({**where, "reason": reason[:_REASON_MAX]})

    def into(self, facts: FileFacts) -> None:
        facts.records = self.records
        facts.bad_records = self.bad
        if self.samples:
            facts.details["bad_samples"] = self.samples
        facts.format, facts.variant = vote(self.classes)
        if self.records == 0 and self.bad == 0:
            facts.variant = "no_records"


_CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r\f\b")


def analyzer_key(settings: ScanSettings) -> str:
    """What a stored read depends on: the analyzer version and the settings that change a read.

    A file whose stored key differs is re-read even if unchanged on disk, so a new limit or a
    new sniffer never leaves stale figures behind.
    """
    shaping = (settings.max_record_bytes, settings.sniff_records, settings.bad_record_samples)
    return f"{ANALYZER_VERSION}:{xxhash.xxh3_64_hexdigest(repr(shaping).encode())}"


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or more than 5 % undecodable bytes or control characters: not text.

    A few bad bytes (a Latin-1 name in a JSONL) leave a file text, so its lines get counted.
    """
    if b"\x00" in head:
        return True
    text = head.decode("utf-8", "replace")
    bad = text.count("\ufffd") + sum(head.count(c) for c in _CONTROL)
    return bad > 0.05 * len(head)


def _is_jsonl(text_head: bytes) -> bool:
    """Decide JSONL vs one JSON document for content that starts with `{`."""
    lines = text_head.split(b"\n")
    if len(lines) == 1:
        return True  # one line: parse it as a single JSONL record (with the length cap)
    first = lines[0].strip()
    if first == b"{":
        return False  # a pretty-printed document; no JSONL line is a bare brace
    # A damaged first line must not turn a JSONL file into one broken document: look further.
    for ln in lines[:-1][:6]:
        try:
            if isinstance(orjson.loads(ln), dict):
                return True
        except orjson.JSONDecodeError:
            continue
    # Pretty-printed documents end their first line mid-structure.
    return not first.endswith((b"{", b"[", b",", b":"))


def _looks_like_jsonl_text(text_head: bytes) -> bool:
    """Text that does not start with JSON but has JSON objects on its first lines (bad first line)."""
    lines = [ln.strip() for ln in text_head.split(b"\n")[:6] if ln.strip()]
    return any(ln.startswith(b"{") for ln in lines[1:])


def container_of(head: bytes) -> str:
    """What the first bytes of a file say it is: a probed binary kind, or
    `empty`, `binary`, `json` (one document), `jsonl`, `text`."""
    binary_kind = probes.sniff_binary(head)
    if binary_kind:
        return binary_kind
    if not head:
        return "empty"
    if _looks_binary(head):
        return "binary"
    text_head = head.removeprefix(_BOM).lstrip()
    first = text_head[:1]
    if first == b"[" or (first == b"{" and not _is_jsonl(text_head)):
        return "json"
    if first == b"{" or _looks_like_jsonl_text(text_head):
        return "jsonl"
    return "text"


def analyze_file(
    path: Path | str, settings: ScanSettings, on_bytes: Callable[[int], None] | None = None
) -> FileFacts:
    """Read one regular file once and return its facts. Raises OSError if it cannot be read.

    `on_bytes(n)` is called as reading advances, for progress bars on big files.
    """
    facts = FileFacts()
    hasher = new_hasher()
    with open(path, "rb") as raw:
        f: Any = ProgressFile(raw, on_bytes) if on_bytes else raw
        head = f.read(HEAD_BYTES)
        f.seek(0)
        container = container_of(head)
        if container in probes.BINARY_KINDS:
            facts.content_hash = hash_stream(f, hasher)
            _probe_binary(Path(path), container, facts, settings)
            return facts
        facts.container = container
        if container == "json":
            is_array = head.removeprefix(_BOM).lstrip()[:1] == b"["
            facts.content_hash = _read_json_document(f, hasher, is_array, settings, facts)
        elif container == "jsonl":
            facts.content_hash = _read_jsonl(f, hasher, settings, facts)
        else:
            facts.content_hash = hash_stream(f, hasher)
            facts.records = 0 if container == "empty" else None
            facts.variant = {"empty": "empty", "binary": "binary", "text": "text"}.get(
                container, "no_records"
            )
            if container == "text" and not head.removeprefix(_BOM).strip():
                facts.records, facts.variant = 0, "no_records"
    return facts


def _read_jsonl(f: BinaryIO, hasher: Any, settings: ScanSettings, facts: FileFacts) -> str:
    tally = _Tally(settings)
    sketch = DistinctSketch()
    limit = settings.max_record_bytes
    line_no = 0
    offset = 0  # byte offset where the pending line starts
    pending = b""
    skipping = False  # inside a line longer than the limit: drop bytes until its newline
    blank = 0

    def take(line: bytes) -> None:
        nonlocal line_no, offset, blank
        line_no += 1
        start = offset
        offset += len(line) + 1
        s = line.strip()
        if not s:
            blank += 1
            return
        if line_no == 1:
            s = s.removeprefix(_BOM)
        try:
            obj = orjson.loads(s)
        except orjson.JSONDecodeError as e:
            tally.fail(json_error(e), line=line_no, offset=start)
            return
        if not isinstance(obj, dict):
            tally.fail(f"not a JSON object but {type(obj).__name__}", line=line_no, offset=start)
            return
        tally.good(obj)
        sketch.add(s)

    while chunk := f.read(CHUNK):
        hasher.update(chunk)
        if skipping:
            nl = chunk.find(b"\n")
            if nl < 0:
                offset += len(chunk)
                continue
            offset += nl + 1
            chunk = chunk[nl + 1 :]
            skipping = False
        data = pending + chunk if pending else chunk
        lines = data.split(b"\n")
        pending = lines.pop()
        for line in lines:
            take(line)
        if len(pending) > limit:
            line_no += 1
            tally.fail(f"line longer than max_record_bytes ({limit} bytes)", line=line_no, offset=offset)
            offset += len(pending)
            pending = b""
            skipping = True
    if pending and not skipping:
        take(pending)
    tally.into(facts)
    if blank:
        facts.details["blank_lines"] = blank
    if tally.records:
        facts.details["duplicate_rate"] = round(sketch.duplicate_rate(), 4)
        facts.details["distinct_estimate"] = round(sketch.distinct())
    return hasher.hexdigest()


def _read_json_document(
    f: BinaryIO, hasher: Any, is_array: bool, settings: ScanSettings, facts: FileFacts
) -> str:
    tally = _Tally(settings)
    reader = HashingReader(f, hasher)
    if is_array:
        _tally_array(reader, tally, settings)
    else:
        size = f.seek(0, 2)
        f.seek(0)
        if size > settings.max_record_bytes:
            tally.fail(
                f"single JSON object larger than max_record_bytes ({settings.max_record_bytes})", item=0
            )
        else:
            try:
                tally.good(orjson.loads(reader.read().removeprefix(_BOM)))
            except orjson.JSONDecodeError as e:
                tally.fail(json_error(e), item=0)
    tally.into(facts)
    return reader.finish()


def _tally_array(f: Any, tally: _Tally, settings: ScanSettings) -> None:
    for index, value, error in parsed_elements(f, settings.max_record_bytes):
        if error is None:
            tally.good(value)
        else:
            tally.fail(error, item=index)


def _probe_binary(path: Path, kind: str, facts: FileFacts, settings: ScanSettings) -> None:
    facts.container = kind
    facts.format = kind
    try:
        if kind == "sqlite":
            info = probes.probe_sqlite(path)
            facts.records = info["total_rows"]
            facts.details.update(info)
        elif kind == "wav":
            with open(path, "rb") as f:
                facts.details.update(probes.probe_wav(f))
        elif kind == "mp4":
            with open(path, "rb") as f:
                facts.details.update(probes.probe_mp4(f, f.seek(0, 2)))
        elif kind == "zip":
            info = probes.probe_zip(path)
            facts.details.update(info)
            if info["conversations_member"]:
                _count_zipped_chatgpt(path, info["conversations_member"], facts, settings)
    except Exception as e:
        # A damaged header is a finding about the file, not a reason to stop the scan.
        facts.bad_records += 1
        facts.details["probe_error"] = f"{type(e).__name__}: {e}"[:_REASON_MAX]


def _count_zipped_chatgpt(path: Path, member: str, facts: FileFacts, settings: ScanSettings) -> None:
    tally = _Tally(settings)
    with zipfile.ZipFile(path) as z, z.open(member) as m:
        _tally_array(m, tally, settings)
    fmt, _ = vote(tally.classes)
    facts.records, facts.bad_records = tally.records, tally.bad
    if fmt == "chatgpt_export":
        facts.format, facts.variant = "chatgpt_export", "zip"
