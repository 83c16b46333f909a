"""`samdata ingest`: every configured source (or every scanned file of a known format) into the
catalog as canonical, content-addressed examples with provenance; bad records to quarantine.

Idempotent (a second run adds nothing), incremental (a grown JSONL ingests only its new lines) and
resumable: each batch of examples is committed in the same transaction as the byte offset or
record index it reaches, so a run killed at any point and run again ends with exactly the rows of
an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import xxhash

from samdata.catalog import Catalog, utcnow
from samdata.catalog.ingest import Account, ExampleRow, Progress, QuarantineRow
from samdata.config import Config, IngestSettings, SourceConfig
from samdata.curate.secrets import scanner_for
from samdata.engine import Engine, LocalEngine, default_workers
from samdata.formats import classify_record, vote
from samdata.formats.container import (
    Container,
    DecompressedStream,
    StreamError,
    document_format,
    open_content,
    sniff,
)
from samdata.formats.probes import probe_zip
from samdata.formats.readers import (
    INCOMPLETE_LAST_LINE,
    Chunk,
    Raw,
    chunk_records,
    file_records,
    jsonl_chunks,
    line_digests,
    zip_member_records,
    zip_records,
)
from samdata.model import InvalidExample
from samdata.progress import IngestProgress as IngestProgress
from samdata.sources import Adapter, Context, Produced, Rejected, Skipped, SkipRecord, adapter_for
from samdata.sources.git import head as git_head

_SNIFF_RECORDS = 50
# Chunks a transaction: each commit rewrote every index page its random ids touched (a page shared
# by eight chunks is now written once); a killed run reads at most that many chunks again.
COMMIT_EVERY = 8


@dataclass
class FileReport:
    """What one run did with one file; `account` is this run's, `total` the file's whole account."""

    source: str
    path: str
    format: str | None
    status: str  # ingested | resumed | unchanged | empty | unsupported | failed
    records: int = 0
    examples: int = 0
    examples_new: int = 0
    quarantined: int = 0
    account: Account = field(default_factory=Account)
    total: dict[str, Any] | None = None  # the catalog's account after this run (None: unchanged)

    @property
    def balanced(self) -> bool:
        """Every record read has one outcome: produced, quarantined or skipped."""
        return self.total is None or bool(self.total["balanced"])


@dataclass
class IngestReport:
    """What one ingest run did."""

    run_id: int
    files: list[FileReport] = field(default_factory=list)
    elapsed_s: float = 0.0
    empty_sources: list[str] = field(default_factory=list)  # configured sources that match no file

    def unaccounted(self) -> list[FileReport]:
        """Files whose records do not all have an outcome: always a bug, never a quiet zero."""
        return [f for f in self.files if not f.balanced]

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.files),
            "files_unchanged": sum(f.status == "unchanged" for f in self.files),
            "records": sum(f.records for f in self.files),
            "produced": sum(f.account.produced for f in self.files),
            "examples": sum(f.examples for f in self.files),
            "examples_new": sum(f.examples_new for f in self.files),
            "quarantined": sum(f.quarantined for f in self.files),
            "skipped": sum(f.account.skipped.total() for f in self.files),
        }

    def to_dict(self) -> dict[str, Any]:
        by_source: dict[str, dict[str, Any]] = {}
        for f in self.files:
            s = by_source.setdefault(
                f.source,
                {"files": 0, "records": 0, "produced": 0, "examples": 0, "examples_new": 0,
                 "quarantined": 0, "skipped": 0, "skipped_by_reason": Counter(), "unaccounted": []},
            )  # fmt: skip
            s["files"] += 1
            s["records"] += f.records
            s["produced"] += f.account.produced
            s["examples"] += f.examples
            s["examples_new"] += f.examples_new
            s["quarantined"] += f.quarantined
            s["skipped"] += f.account.skipped.total()
            s["skipped_by_reason"].update(f.account.skipped)
            if not f.balanced:
                s["unaccounted"].append(f.path)
        for s in by_source.values():
            s["skipped_by_reason"] = dict(sorted(s["skipped_by_reason"].items()))
        return {
            "run_id": self.run_id,
            **self.totals(),
            "elapsed_s": round(self.elapsed_s, 3),
            "sources": by_source,
            "empty_sources": self.empty_sources,
            "unaccounted": [f.path for f in self.unaccounted()],
            "files_detail": [
                {"source": f.source, "path": f.path, "format": f.format, "status": f.status,
                 "records": f.records, "produced": f.account.produced, "examples": f.examples,
                 "examples_new": f.examples_new, "quarantined": f.quarantined,
                 "skipped_by_reason": dict(sorted(f.account.skipped.items())),
                 "dropped_by_reason": dict(sorted(f.account.dropped.items())),
                 "balanced": f.balanced}
                for f in self.files
                if f.status != "unchanged"
            ],
        }  # fmt: skip


@dataclass(frozen=True)
class WorkItem:
    source: str
    path: Path
    format: str  # a format name or "auto"
    options: dict[str, Any]


class IngestError(Exception):
    """Ingest cannot start (no such source)."""


def plan(config: Config, catalog: Catalog, names: list[str] | None = None) -> list[WorkItem]:
    """The files to ingest: every configured source (or the named ones), else the last scan's files."""
    if names:
        known = {s.name for s in config.sources}
        missing = [n for n in names if n not in known]
        if missing:
            raise IngestError(
                f"no such source: {', '.join(missing)} (configured: {', '.join(sorted(known)) or 'none'})"
            )
    sources = [s for s in config.sources if s.active and (not names or s.name in names)]
    if sources:
        return [item for s in sources for item in _source_files(s, config)]
    items = []
    for f in catalog.files():
        # Files of an unplugged drive stay in the catalog but cannot be read now.
        if f["kind"] == "file" and adapter_for(f["format"] or "") is not None and os.path.isfile(f["path"]):
            items.append(WorkItem(f"scan:{f['format']}", Path(f["path"]), f["format"], {}))
    return items


def _options(source: SourceConfig) -> dict[str, Any]:
    """The adapter's options: the source's own, with the source settings document adapters read
    (its licence, and where a mirrored folder was on the web)."""
    options = dict(source.options)
    if source.license:
        options["license"] = source.license
    if source.url_prefix:
        options["url_prefix"] = source.url_prefix
        options["url_base"] = _glob_base(source.path)
    return options


def _glob_base(pattern: str) -> str:
    """The folder a glob's matches lie under (its parts before the first wildcard)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if re.search(r"[*?[]", part):
            break
        fixed.append(part)
    base = Path(*fixed) if fixed else Path(".")
    return str(base if len(fixed) < len(parts) or base.is_dir() else base.parent)


def _source_files(source: SourceConfig, config: Config) -> Iterator[WorkItem]:
    seen: set[str] = set()
    excluded = config.scan.exclude
    options = _options(source)
    for match in sorted(glob.iglob(source.path, recursive=True, include_hidden=True)):
        paths = [match]
        if source.format == "git":
            if os.path.isdir(match) and match not in seen:
                seen.add(match)
                yield WorkItem(source.name, Path(match), "git", dict(options))
            continue
        if os.path.isdir(match) and source.format == "chatgpt_export":
            # An export folder also holds HTML, images and audio: the data is conversations.json.
            paths = [os.path.join(match, "conversations.json")]
        elif os.path.isdir(match):
            paths = sorted(
                os.path.join(d, n)
                for d, dirs, files in os.walk(match)
                for n in files
                if not any(Path(n).match(p) for p in excluded)
            )
        for p in paths:
            if p not in seen and os.path.isfile(p):
                seen.add(p)
                yield WorkItem(source.name, Path(p), source.format, dict(options))


def run_ingest(
    config: Config,
    catalog: Catalog,
    names: list[str] | None = None,
    progress: IngestProgress | None = None,
    engine: Engine | None = None,
) -> IngestReport:
    """Ingest every planned file; return per-file figures. Bad records never stop the run. Big JSONL
    files are converted on `[ingest] workers` processes, or on `engine` (a Ray cluster)."""
    t0 = time.perf_counter()
    progress = progress or IngestProgress()
    items = plan(config, catalog, names)
    run_id = catalog.start_ingest(sorted({i.source for i in items}), utcnow())
    report = IngestReport(run_id)
    found = {i.source for i in items}
    report.empty_sources = [
        s.name for s in config.sources if s.active and (not names or s.name in names) and s.name not in found
    ]
    sizes = {i.path: _size(i.path) for i in items}
    progress.start(len(items), sum(sizes.values()))
    try:
        scanner = scanner_for(config.curate)
        recent = _Recent()  # repeats are met across files too: a backup copies whole files
        for item in items:
            fr = _ingest_file(item, config, catalog, run_id, progress, scanner.redact_text, recent, engine)
            if fr.status != "unchanged":
                [fr.total] = catalog.accounts(item.source, str(item.path)) or [None]
            report.files.append(fr)
            progress.file_done(fr, sizes[item.path])
        report.elapsed_s = time.perf_counter() - t0
        catalog.finish_ingest(run_id, "done", report.totals(), utcnow())
    except BaseException as e:
        status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        catalog.finish_ingest(run_id, status, report.totals(), utcnow(), error=f"{type(e).__name__}: {e}")
        raise
    finally:
        progress.done()
    return report


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _head_hash(path: Path, length: int) -> str:
    with open(path, "rb") as f:
        head = f.read(length)
    return f"{len(head)}:{xxhash.xxh3_64_hexdigest(head)}"


@dataclass
class _Rows:
    """Examples and quarantined records from some records, their account, and how far they reach
    in the file. Built in the main process or in a worker (it pickles), committed by the main one."""

    examples: list[ExampleRow] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    account: Account = field(default_factory=Account)
    consumed: int = 0  # lines or items consumed (absolute), 0 if none
    end_offset: int = 0
    repeats: list[tuple[str, str, str]] = field(default_factory=list)  # (example id, locator, meta)
    raw: list[tuple[int, str]] = field(default_factory=list)  # (digest, what it produced) of new records

    def repeat(self, locator: dict[str, Any], value: dict[str, Any]) -> None:
        """A record identical to one converted before: its examples, from the stored result."""
        for example_id, kind, ids, meta in value["e"]:
            self.repeats.append((example_id, _canonical({**locator, **ids}), meta))
            self.account.examples[kind] += 1
        self.account.records += 1
        self.account.produced += 1
        self.account.dropped.update(value["d"])

    def add(self, produced: Produced, locator: dict[str, Any]) -> None:
        self.examples.append(ExampleRow.of(produced.example, {**locator, **produced.ids}, produced.meta))
        self.account.examples[produced.example.kind] += 1

    def reject(self, locator: dict[str, Any], reason: str, snippet: str = "") -> None:
        """One record quarantined with its reason."""
        self.quarantine.append(QuarantineRow.of(locator, reason, snippet))
        self.account.records += 1

    def skip(self, reason: str, records: int = 1) -> None:
        """Records left out on purpose, with the reason."""
        self.account.records += records
        self.account.skipped[reason] += records

    def __len__(self) -> int:
        return len(self.examples) + len(self.quarantine) + len(self.repeats)


class _Recent(OrderedDict[int, Any]):
    """What the most recently converted distinct records produced, by digest: a repeat of one of
    them needs no catalog lookup. Bounded, so memory does not grow with the input."""

    def __init__(self, size: int = 200_000) -> None:
        super().__init__()
        self.size = size

    def put(self, digest: int, value: Any) -> None:
        self[digest] = value
        if len(self) > self.size:
            self.popitem(last=False)


def _canonical(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class _Batch(_Rows):
    """Rows waiting for the next commit of one file, which carries the file's progress with it."""

    def __init__(
        self, catalog: Catalog, run_id: int, item: WorkItem, fr: FileReport, progress: Progress,
        redact: Callable[[str], str], recent: _Recent | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.catalog, self.run_id, self.item, self.fr, self.progress = catalog, run_id, item, fr, progress
        self.redact = redact
        self.recent = recent if recent is not None else _Recent()

    def take(self, rows: _Rows) -> None:
        """Absorb a chunk's rows and move the progress to where the chunk ends."""
        self.examples += rows.examples
        self.quarantine += rows.quarantine
        self.repeats += rows.repeats
        self.raw += rows.raw
        self.account.add(rows.account)
        if rows.consumed:
            self.progress.records, self.progress.offset = rows.consumed, rows.end_offset

    def finish(self) -> None:
        """Commit the last batch with the file marked done, then prune what this pass did not find."""
        self.progress.done = True
        self.commit()
        if self.progress.pass_run is not None:
            self.catalog.prune_file(self.item.source, str(self.item.path), self.progress.pass_run)

    def commit(self) -> None:
        fr = self.fr
        fr.records += self.account.records
        fr.examples += len(self.examples)
        fr.quarantined += len(self.quarantine)
        fr.account.add(self.account)
        # A bad record's snippet is raw input: it is stored redacted, like every other text shown.
        quarantine = [
            QuarantineRow(q.locator, self.redact(q.reason), self.redact(q.snippet)) for q in self.quarantine
        ]
        fr.examples_new += self.catalog.commit_batch(
            self.run_id,
            self.item.source,
            str(self.item.path),
            self.examples,
            quarantine,
            self.progress,
            utcnow(),
            self.account,
            self.repeats,
            self.raw,
        )
        self.examples.clear()
        self.quarantine.clear()
        self.repeats.clear()
        self.raw.clear()
        self.account.clear()


def _take_raw(raw: Raw, adapter: Adapter, ctx: Context, rows: _Rows, per_record: Any) -> None:
    """The one outcome of one record read: quarantined, skipped by the reader, a repeat of one
    converted before, or converted (and then, with its digest, remembered)."""
    if raw.error is not None:
        rows.reject(raw.locator, raw.error, raw.snippet)
    elif raw.skip is not None:
        rows.skip(raw.skip)
    elif raw.repeat is not None:
        rows.repeat(raw.locator, raw.repeat)
    else:
        before, produced = len(rows.examples), rows.account.produced
        _convert(adapter, raw, ctx, rows, per_record)
        if raw.digest is not None and rows.account.produced > produced:
            made = []
            for row in rows.examples[before:]:
                ids = {k: v for k, v in orjson.loads(row.locator).items() if k not in raw.locator}
                made.append([row.id, row.kind, ids, row.meta])
            rows.raw.append((raw.digest, _canonical({"e": made, "d": dict(ctx.dropped)})))


def _chunk_job(
    chunk: Chunk, adapter: Adapter, ctx: Context, auto: bool, limit: int, seed: int | None = None,
    known: dict[int, Any] | None = None,
) -> _Rows:  # fmt: skip
    """Convert the records of one JSONL chunk (in a worker process for big files); with `seed`,
    lines whose digest is in `known` are repeats, taken from what their first copy produced."""
    rows = _Rows()
    per_record = _dispatcher(adapter) if auto else None
    known = dict(known or {})  # grows with this chunk's own first copies
    for raw in chunk_records(chunk, limit, seed, known):
        if not raw.blank:
            _take_raw(raw, adapter, ctx, rows, per_record)
            if (
                raw.digest is not None
                and rows.raw
                and rows.raw[-1][0] == raw.digest
                and raw.digest not in known
            ):
                known[raw.digest] = orjson.loads(rows.raw[-1][1])
        if not raw.tentative:
            rows.consumed, rows.end_offset = raw.consumed, raw.end_offset
    return rows


def _ingest_jsonl(
    adapter: Adapter,
    ctx: Context,
    item: WorkItem,
    batch: _Batch,
    config: Config,
    start_offset: int,
    start_line: int,
    hooks: IngestProgress,
    engine: Engine | None = None,
) -> None:
    """JSONL in chunks of whole lines, one commit per chunk; a big file's chunks go to worker
    processes or to `engine` (in order, a bounded number in flight, so memory stays flat)."""
    settings = config.ingest
    size = _size(item.path)
    workers = settings.workers or default_workers()
    left = size if ctx.compression else size - start_offset
    parallel = (engine is not None or workers > 1) and left >= settings.parallel_min_bytes
    auto, limit = item.format == "auto", settings.max_record_bytes

    with open_content(item.path, ctx.compression, settings.max_expansion) as f:
        # Progress is in bytes of the file on disk: a compressed file's come from its raw reader.
        raw = f.raw if isinstance(f, DecompressedStream) else None
        seen = [raw.count if raw else 0]

        def commit(rows: _Rows, chunk_len: int) -> None:
            batch.take(rows)
            batch.commit()
            if raw is not None:
                chunk_len, seen[0] = raw.count - seen[0], raw.count
            hooks.bytes_done(chunk_len)

        chunks = jsonl_chunks(f, start_offset, start_line, settings.chunk_bytes, limit)
        # The repeat path: record-wise adapters whose output depends on the line alone.
        seed = xxhash.xxh3_64_intdigest(batch.progress.adapter.encode()) if adapter.prepare is None else None
        recent = batch.recent

        def job(chunk: Chunk) -> tuple[Any, ...]:
            known = None
            if seed is not None:
                digests = line_digests(chunk, seed)
                known = {d: recent[d] for d in digests if d in recent}
                missing = [d for d in digests if d not in known]
                if missing:
                    known.update(batch.catalog.known_records(missing))
            return chunk, adapter, ctx, auto, limit, seed, known

        def remember(rows: _Rows) -> None:
            for d, value in rows.raw:
                recent.put(d, orjson.loads(value))

        if not parallel:
            with contextlib.closing(
                batch.catalog.in_transactions(chunks, COMMIT_EVERY, data=True)
            ) as grouped:
                for chunk in grouped:
                    rows = _chunk_job(*job(chunk))
                    remember(rows)
                    commit(rows, _chunk_len(chunk))
            return
        lengths: deque[int] = deque()  # of the chunks in flight, in order

        def jobs() -> Iterator[tuple[Any, ...]]:
            for chunk in chunks:
                lengths.append(_chunk_len(chunk))
                yield job(chunk)

        run_on = engine or LocalEngine(workers)
        done = run_on.map(_chunk_job_of, jobs(), window=run_on.cpus + 1)
        with contextlib.closing(batch.catalog.in_transactions(done, COMMIT_EVERY, data=True)) as grouped:
            for rows in grouped:
                remember(rows)
                commit(rows, lengths.popleft())


def _chunk_job_of(args: tuple[Any, ...]) -> _Rows:
    return _chunk_job(*args)


def _chunk_len(chunk: Chunk) -> int:
    if chunk.data is None:
        return chunk.oversize
    return len(chunk.data)


def _ingest_file(
    item: WorkItem, config: Config, catalog: Catalog, run_id: int, hooks: IngestProgress | None = None,
    redact: Callable[[str], str] = str, recent: _Recent | None = None, engine: Engine | None = None,
) -> FileReport:  # fmt: skip
    path = item.path
    settings = config.ingest
    fr = FileReport(item.source, str(path), None, "ingested")
    try:
        if path.is_dir():  # a git repository: its fingerprint is HEAD
            size = mtime = 0
            container, head = Container("git"), b""
            fingerprint = f"git:{git_head(str(path))}"
        else:
            st = path.stat()
            size, mtime = st.st_size, st.st_mtime_ns
            container, head = sniff(path, settings.max_expansion)
            fingerprint = _head_hash(path, min(size, 65536))
    except (OSError, InvalidExample) as e:
        fr.status = "failed"
        batch = _Batch(catalog, run_id, item, fr, Progress("-", 0, 0, "-", done=True, fresh=True), redact)
        batch.reject({}, f"cannot read: {getattr(e, 'strerror', None) or e}")
        batch.commit()
        return fr
    fmt, variant, records = _resolve_format(item, container, path, settings)
    fr.format = fmt
    adapter = adapter_for(fmt, variant) if fmt else None
    options_key = xxhash.xxh3_64_hexdigest(orjson.dumps(item.options, option=orjson.OPT_SORT_KEYS))
    adapter_key = f"{adapter.name}:{adapter.version}:{options_key}" if adapter else f"none:{fmt}"
    prev = catalog.progress(item.source, str(path))
    if (
        prev
        and prev.done
        and (prev.adapter, prev.size, prev.mtime_ns) == (adapter_key, size, mtime)
        and (container.kind != "git" or prev.head_hash == fingerprint)
    ):
        fr.status = "unchanged"
        return fr

    # A read from the start is a new pass: at its end, rows it did not find again are pruned, and
    # the file's account starts over.
    start_offset = start_records = 0
    pass_run = run_id
    if prev is not None:
        resumable = (
            container.kind != "git"
            and (adapter is None or adapter.unit == "record")  # a file-wise adapter reads it whole
            and prev.adapter == adapter_key
            and size >= prev.offset
            and prev.head_hash == _head_hash(path, int(prev.head_hash.split(":")[0]))
            # A plain JSONL file may have grown; anything else must be as it was.
            and ((container.kind == "jsonl" and not container.compression) or (size, mtime) == (prev.size, prev.mtime_ns))
        )  # fmt: skip
        if resumable:
            start_offset, start_records = prev.offset, prev.records
            pass_run = prev.pass_run or run_id
            fr.status = "resumed"
            catalog.clear_incomplete_line(item.source, str(path), INCOMPLETE_LAST_LINE)
    progress = Progress(
        adapter_key, size, mtime, fingerprint, start_offset, start_records, pass_run=pass_run,
        fresh=fr.status != "resumed",
    )  # fmt: skip
    batch = _Batch(catalog, run_id, item, fr, progress, redact, recent)
    if container.kind == "empty" or (container.kind == "text" and not head.strip()):
        batch.finish()  # nothing to read and nothing lost: the scan reports empty files
        fr.status = "empty"
        return fr
    if adapter is None:
        what = (
            f"{container.compression}-compressed {container.kind}"
            if container.compression
            else container.kind
        )
        batch.reject({}, f"format {fmt or what!r} cannot be ingested", head[:200].decode("utf-8", "replace"))
        batch.finish()
        fr.status = "unsupported"
        return fr

    ctx = Context(
        path, item.options, compression=container.compression,
        max_record_bytes=settings.max_record_bytes, max_expansion=settings.max_expansion,
    )  # fmt: skip
    if adapter.prepare:
        adapter.prepare(ctx)
    if adapter.unit == "file":
        _ingest_whole(adapter, ctx, batch, fmt or "", settings.batch_records)
        batch.finish()
        return fr
    if container.kind == "jsonl":
        _ingest_jsonl(
            adapter, ctx, item, batch, config, start_offset, start_records, hooks or IngestProgress(), engine
        )
        batch.finish()
        return fr
    if start_records:
        records = _records(path, container, settings, start_offset, start_records)
    per_record = _dispatcher(adapter) if item.format == "auto" else None
    for raw in records:
        if not raw.blank:
            rows = _Rows(consumed=raw.consumed)
            _take_raw(raw, adapter, ctx, rows, per_record)
            batch.take(rows)
        if len(batch) >= settings.batch_records:
            batch.commit()
    batch.finish()
    return fr


def _ingest_whole(adapter: Adapter, ctx: Context, batch: _Batch, fmt: str, batch_size: int) -> None:
    """A file-wise adapter: each outcome it yields says how many of the file's records it covers."""
    assert adapter.convert_file is not None
    counted = 0  # records the adapter's outcomes cover
    try:
        for ids, out in adapter.convert_file(ctx):
            counted += 1 if isinstance(out, Rejected) else out.records
            if isinstance(out, Rejected):
                batch.reject(ids, out.reason, out.snippet)
            elif isinstance(out, Skipped):
                batch.skip(out.reason, out.records)
            else:
                batch.add(out, ids)
                batch.account.records += out.records
                batch.account.produced += out.records
            if len(batch) >= batch_size:
                batch.commit()
    except (InvalidExample, OSError, ValueError, StreamError) as e:
        batch.reject({}, f"file cannot be read as {fmt}: {e}")
        return
    batch.account.dropped.update(ctx.dropped)
    if ctx.lines_read is not None:
        # Lines the adapter read but gave no outcome stay in the count: the file is then unbalanced.
        batch.account.records += ctx.lines_read - counted


def _dispatcher(default: Adapter) -> Callable[[Any], Adapter]:
    """For `auto` sources: each record goes to the adapter of its own shape (a capture file may mix
    conversations and corrections), falling back to the file's voted format."""
    cache: dict[str, Adapter] = {}

    def pick(value: Any) -> Adapter:
        cls = classify_record(value)
        if cls is None or cls[0] == default.name:
            return default
        key = f"{cls[0]}/{cls[1]}"
        found = cache.get(key)
        if found is None:
            found = adapter_for(cls[0], cls[1])
            if found is None or found.unit != "record":
                found = default
            cache[key] = found
        return found

    return pick


def _convert(
    adapter: Adapter,
    raw: Raw,
    ctx: Context,
    rows: _Rows,
    per_record: Callable[[Any], Adapter] | None = None,
) -> None:
    """Convert one record; it ends produced, skipped (with the adapter's reason) or quarantined."""
    assert adapter.convert is not None
    ctx.dropped.clear()
    try:
        produced = list(adapter.convert(raw.value, ctx))
    except SkipRecord as e:
        rows.skip(str(e))
        return
    except InvalidExample as e:
        # In an `auto` source a record of another shape (a correction among conversations) goes to
        # its own adapter; classifying only on failure keeps uniform files fast.
        other = per_record(raw.value) if per_record else adapter
        if other is not adapter:
            _convert(other, raw, ctx, rows)
            return
        rows.reject(raw.locator, str(e), _snippet(raw.value))
        return
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError) as e:
        # An adapter tripping over a shape it did not expect is a bad record, not a crash.
        rows.reject(raw.locator, f"unexpected shape: {type(e).__name__}: {e}", _snippet(raw.value))
        return
    if not produced:
        rows.reject(raw.locator, "record holds no trainable example", _snippet(raw.value))
        return
    rows.account.records += 1
    rows.account.produced += 1
    rows.account.dropped.update(ctx.dropped)
    for p in produced:
        rows.add(p, raw.locator)


def _snippet(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()[:200]
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)[:200]


def _records(
    path: Path, container: Container, settings: IngestSettings, offset: int, index: int
) -> Iterator[Raw]:
    if container.kind in ("jsonl", "json"):
        return file_records(path, container.kind, container.compression, offset, index, settings)
    if container.kind == "zip":
        member = probe_zip(path)["conversations_member"]
        if member:
            return zip_member_records(path, member, index, settings.max_record_bytes)
        return zip_records(path, index, settings)
    return iter(())


def _resolve_format(
    item: WorkItem, container: Container, path: Path, settings: IngestSettings
) -> tuple[str | None, str | None, Iterator[Raw]]:
    """Format and variant: the vote of the first records (kept for reading), the configured format
    overriding the family. A variant matters where it reads differently (OASST message files)."""
    kind = container.kind
    document = document_format(kind, path)
    if document or kind in ("sqlite", "git") or (kind == "zip" and probe_zip(path)["conversations_member"]):
        fmt = document or ("chatgpt_export" if kind == "zip" else kind)
        return (
            (item.format if item.format != "auto" else fmt),
            kind,
            _records(path, container, settings, 0, 0),
        )
    records = _records(path, container, settings, 0, 0)
    peeked: list[Raw] = []
    for raw in records:
        peeked.append(raw)
        if len(peeked) >= _SNIFF_RECORDS:
            break
    usable = (r.value for r in peeked if r.error is None and r.skip is None and not r.blank)
    fmt, variant = vote(classify_record(v) for v in usable)
    if item.format != "auto":
        if fmt != item.format:
            variant = None
        fmt = item.format
    return (None if fmt == "unknown" else fmt), variant, _chain(peeked, records)


def _chain(first: list[Raw], rest: Iterator[Raw]) -> Iterator[Raw]:
    yield from first
    yield from rest
