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
from typing import Any

import orjson
import xxhash

from samdata.config import ScanSettings
from samdata.formats import classify_record, probes, vote
from samdata.formats.container import (
    HEAD_BYTES,
    Prefixed,
    StreamError,
    compression_of,
    container_of,
    decompressed,
    document_format,
    tail_says_jsonl,
)
from samdata.formats.readers import zip_records
from samdata.jsonsplit import json_error, line_error, parsed_elements
from samdata.scan.dupsketch import DistinctSketch
from samdata.scan.hashing import CHUNK, HashingReader, ProgressFile, hash_stream, new_hasher

# Bump when sniffing or counting changes: files analysed by an older version are re-read.
ANALYZER_VERSION = 2
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


def analyzer_key(settings: ScanSettings) -> str:
    """What a stored read depends on: the analyzer version and the settings that change a read.

    A file whose stored key differs is re-read even if unchanged on disk, so a new limit or a
    new sniffer never leaves stale figures behind.
    """
    shaping = (settings.max_record_bytes, settings.sniff_records, settings.bad_record_samples,
               settings.max_expansion)  # fmt: skip
    return f"{ANALYZER_VERSION}:{xxhash.xxh3_64_hexdigest(repr(shaping).encode())}"


def analyze_file(
    path: Path | str, settings: ScanSettings, on_bytes: Callable[[int], None] | None = None
) -> FileFacts:
    """Read one regular file once and return its facts. Raises OSError if it cannot be read.

    `on_bytes(n)` is called as reading advances, for progress bars on big files. A compressed file
    is hashed as stored and counted as decompressed, in the same pass.
    """
    facts = FileFacts()
    hasher = new_hasher()
    with open(path, "rb") as raw:
        f: Any = ProgressFile(raw, on_bytes) if on_bytes else raw
        head = f.read(HEAD_BYTES)
        f.seek(0)
        compression = compression_of(head)
        if compression:
            _read_compressed(f, compression, hasher, settings, facts)
            _name_document(facts, path)
            return facts
        container = container_of(head)
        if container == "binary" and tail_says_jsonl(raw):
            container = "jsonl"  # binary bytes up front, JSON lines after them
        if container in probes.BINARY_KINDS:
            facts.content_hash = hash_stream(f, hasher)
            _probe_binary(Path(path), container, facts, settings)
            return facts
        reader = HashingReader(f, hasher)
        _read_content(reader, container, head, settings, facts)
        facts.content_hash = reader.finish()
    _name_document(facts, path)
    return facts


def _name_document(facts: FileFacts, path: Path | str) -> None:
    """Pages, web archives and notes get their format; their records (pages, WARC records) are
    counted at ingest."""
    if facts.format == "unknown":
        facts.format = document_format(facts.container or "", path) or "unknown"


def _read_compressed(f: Any, compression: str, hasher: Any, settings: ScanSettings, facts: FileFacts) -> None:
    stream = decompressed(f, compression, settings.max_expansion, hasher)
    facts.details["compression"] = compression
    try:
        head = stream.read(HEAD_BYTES)
    except StreamError as e:
        head = b""
        facts.bad_records += 1
        facts.details["bad_samples"] = [{"line": 1, "reason": str(e)[:_REASON_MAX]}]
    container = container_of(head) if head else ("binary" if facts.bad_records else "empty")
    if container in probes.BINARY_KINDS:
        container = "binary"  # a compressed database or archive is not read through
    _read_content(Prefixed(head, stream), container, head, settings, facts)
    if facts.bad_records and facts.records is None:
        facts.records = 0
    facts.content_hash = hash_stream(f, hasher)  # what the decompressor left unread


def _read_content(f: Any, container: str, head: bytes, settings: ScanSettings, facts: FileFacts) -> None:
    """Count the records of text content (plain or decompressed); binary content is only hashed."""
    facts.container = container
    if container == "json":
        _read_json_document(f, head.removeprefix(_BOM).lstrip()[:1] == b"[", settings, facts)
    elif container == "jsonl":
        _read_jsonl(f, settings, facts)
    else:
        facts.records = 0 if container == "empty" else None
        facts.variant = {
            "empty": "empty",
            "binary": "binary",
            "text": "text",
            "html": "html",
            "warc": "warc",
        }.get(container, "no_records")
        if container == "text" and not head.removeprefix(_BOM).strip():
            facts.records, facts.variant = 0, "no_records"


def _read_jsonl(f: Any, settings: ScanSettings, facts: FileFacts) -> None:
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
            tally.fail(line_error(s, e), line=line_no, offset=start)
            return
        if not isinstance(obj, dict):
            tally.fail(f"not a JSON object but {type(obj).__name__}", line=line_no, offset=start)
            return
        tally.good(obj)
        sketch.add(s)

    while True:
        try:
            chunk = f.read(CHUNK)
        except StreamError as e:
            tally.fail(str(e), line=line_no + 1, offset=offset)
            pending, skipping = b"", True
            break
        if not chunk:
            break
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


def _read_json_document(f: Any, is_array: bool, settings: ScanSettings, facts: FileFacts) -> None:
    tally = _Tally(settings)
    limit = settings.max_record_bytes
    try:
        if is_array:
            _tally_array(f, tally, settings)
        else:
            data = f.read(limit + 1)
            if len(data) > limit:
                tally.fail(f"single JSON object larger than max_record_bytes ({limit})", item=0)
            else:
                try:
                    tally.good(orjson.loads(data.removeprefix(_BOM)))
                except orjson.JSONDecodeError as e:
                    tally.fail(json_error(e), item=0)
    except StreamError as e:
        tally.fail(str(e), item=tally.records + tally.bad)
    tally.into(facts)


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
            else:
                _count_zipped_data(path, facts, settings)
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


def _count_zipped_data(path: Path, facts: FileFacts, settings: ScanSettings) -> None:
    """A zip of JSON/JSONL files (a compressed backup): its records, as ingest will read them."""
    tally = _Tally(settings)
    for raw in zip_records(path, 0, settings):
        if raw.error is not None:
            tally.fail(raw.error, item=raw.consumed - 1)
        elif raw.skip is None and not raw.blank:
            if isinstance(raw.value, dict):
                tally.good(raw.value)
            else:
                tally.fail(f"not a JSON object but {type(raw.value).__name__}", item=raw.consumed - 1)
    fmt, variant = vote(tally.classes)
    if tally.records or tally.bad:
        facts.records, facts.bad_records = tally.records, tally.bad
        if tally.samples:
            facts.details["bad_samples"] = tally.samples
    if fmt != "unknown":
        facts.format, facts.variant = fmt, variant
