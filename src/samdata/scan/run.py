"""`samdata scan`: walk the roots, read what changed, record it, and find the problems."""

from __future__ import annotations

import errno
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from samdata.catalog import Catalog
from samdata.config import Config, ScanSettings
from samdata.paths import display_path, is_below
from samdata.progress import ScanProgress
from samdata.scan.analyze import analyze_file, analyzer_key
from samdata.scan.expiry import expiring_transcripts
from samdata.scan.inventory import format_summary
from samdata.scan.problems import CHANGED_WHILE_READ, Problem, detect_problems
from samdata.scan.walk import Entry, WalkIssue, walk

# Below this many files to read, a process pool costs more than it saves.
_POOL_MIN_FILES = 64
_BATCH_ROWS = 1000
_BIG_FILE_BYTES = 64 << 20


@dataclass
class ScanReport:
    """What one scan did and found."""

    scan_id: int
    roots: list[dict[str, Any]]
    files_seen: int = 0
    files_read: int = 0
    bytes_read: int = 0
    files_deleted: int = 0
    elapsed_s: float = 0.0
    problems: list[Problem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "files_seen": self.files_seen,
            "files_read": self.files_read,
            "bytes_read": self.bytes_read,
            "files_deleted": self.files_deleted,
            "problems": len(self.problems),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_id": self.scan_id,
            "roots": self.roots,
            **self.counts(),
            "elapsed_s": round(self.elapsed_s, 3),
            "problems": [p.to_dict() for p in self.problems],
        }


Progress = ScanProgress  # the name callers of run_scan know it by


def inspect_symlink(path: str, config: Config) -> dict[str, Any]:
    """Where a link leads and whether it is dangling, a loop, chained, or crosses roots."""
    target = os.readlink(path)
    info: dict[str, Any] = {"target": display_path(target)[0]}
    try:
        os.stat(path)
        info["status"] = "ok"
    except FileNotFoundError:
        info["status"] = "dangling"
    except OSError as e:
        info["status"] = "loop" if e.errno == errno.ELOOP else "unreadable"
        info["reason"] = e.strerror
    if info["status"] != "ok":
        return info
    parent_real = os.path.realpath(os.path.dirname(path))
    resolved = os.path.realpath(path)
    info["resolved"] = display_path(resolved)[0]
    # A chain (the target is itself a link) breaks when any link in it moves. System links
    # above the roots (macOS /tmp → /private/tmp) are not the owner's and do not count.
    info["via_link"] = os.path.islink(os.path.normpath(os.path.join(os.path.dirname(path), target)))
    here = config.root_for(os.path.abspath(path))
    there = None
    for r in config.roots:
        if is_below(resolved, os.path.realpath(r.path)):
            there = r
            break
    info["target_root"] = there.name if there else None
    info["other_root"] = there is not None and here is not None and there.name != here.name
    info["ancestor_loop"] = os.path.isdir(resolved) and is_below(parent_real, resolved)
    return info


def _read_file(
    path: str, settings: ScanSettings, on_bytes: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Analyse one file, re-reading once if it changed while being read. Runs in pool workers."""
    for _attempt in range(2):
        try:
            before = os.stat(path)
            facts = analyze_file(path, settings, on_bytes)
            after = os.stat(path)
        except FileNotFoundError:
            return {"vanished": True}
        except OSError as e:
            return {"error": f"cannot read: {e.strerror or e}"}
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            return {
                "size": after.st_size,
                "mtime_ns": after.st_mtime_ns,
                "content_hash": facts.content_hash,
                "format": facts.format,
                "variant": facts.variant,
                "container": facts.container,
                "records": facts.records,
                "bad_records": facts.bad_records,
                "details": facts.details,
            }
    return {"size": after.st_size, "mtime_ns": after.st_mtime_ns, "error": CHANGED_WHILE_READ}


def run_scan(
    config: Config,
    catalog: Catalog,
    paths: Sequence[str] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ScanReport:
    """Scan every root (or only `paths`), update the catalog and return what was found.

    Unchanged files (same size and mtime, read by the current analyzer) are not re-read. A root
    whose path is missing is offline: its files stay in the catalog as they were.
    """
    t0 = time.perf_counter()
    progress = progress or Progress()
    settings = config.scan
    scan_id = catalog.start_scan(str(config.config_path) if config.config_path else None, list(paths or []))
    report = ScanReport(scan_id=scan_id, roots=[])
    try:
        catalog.sync_sources(s.model_dump() for s in config.sources)
        online: dict[str, bool] = {}
        for r in config.roots:
            online[r.name] = os.path.isdir(r.path)
            catalog.upsert_root(r.name, str(r.path), online[r.name], scan_id)
            report.roots.append({"name": r.name, "path": str(r.path), "online": online[r.name]})
        wanted = (
            [os.path.abspath(p) for p in paths]
            if paths
            else [str(r.path) for r in config.roots if online[r.name]]
        )
        # A root nested in another (or a path given twice) is walked once, as part of the outer one;
        # its files still belong to the innermost root.
        targets = [t for t in sorted(set(wanted)) if not any(o != t and is_below(t, o) for o in wanted)]

        entries: list[Entry] = []
        issues: list[WalkIssue] = []
        for top in targets:
            for item in walk(top, settings.exclude):
                if isinstance(item, WalkIssue):
                    issues.append(item)
                else:
                    entries.append(item)
                    if len(entries) % 1000 == 0:
                        progress.walking(len(entries))
        progress.walking(len(entries))
        report.files_seen = len(entries)

        known = catalog.file_index(targets)
        analyzer = analyzer_key(settings)
        to_read: list[Entry] = []
        link_rows: list[dict[str, Any]] = []
        for e in entries:
            shown, _raw = display_path(e.path)
            prev = known.pop(shown, None)
            if e.kind == "symlink":
                link_rows.append(_symlink_row(e, config, targets))
            elif prev is None or prev[1:] != (e.size, e.mtime_ns, analyzer):
                to_read.append(e)
        if link_rows:
            catalog.upsert_files(link_rows, scan_id)
        # What is left in `known` was not found by the walk: it is gone.
        report.files_deleted = catalog.mark_deleted((v[0] for v in known.values()), scan_id)

        _read_all(to_read, config, catalog, scan_id, report, issues, progress, workers, targets)

        files = catalog.files()
        report.problems = detect_problems(config, files, online, issues)
        report.problems += expiring_transcripts(config, files, catalog.ingested_files())
        catalog.save_problems(scan_id, (p.to_dict() for p in report.problems))
        # Cheap figures for later readers (stats, dashboard) without walking the files table.
        catalog.put_stat(
            "scan.summary",
            {
                "formats": format_summary(files),
                "problems": dict(Counter(p.kind for p in report.problems)),
                "roots": report.roots,
            },
            scan_id,
        )
        report.elapsed_s = time.perf_counter() - t0
        catalog.finish_scan(scan_id, "done", report.counts())
    except BaseException as e:
        status = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        catalog.finish_scan(scan_id, status, report.counts(), error=f"{type(e).__name__}: {e}")
        raise
    finally:
        progress.done()
    return report


def _base_row(e: Entry, config: Config, targets: Sequence[str]) -> dict[str, Any]:
    shown, raw = display_path(e.path)
    root = config.root_for(e.path)
    if root is not None:
        rel = os.path.relpath(e.path, root.path)
    else:
        top = next((t for t in targets if is_below(e.path, t)), os.path.dirname(e.path))
        rel = os.path.relpath(e.path, os.path.dirname(top))
    return {
        "path": shown,
        "path_bytes": raw,
        "root": root.name if root else None,
        "relpath": display_path(rel)[0],
        "kind": e.kind,
        "size": e.size,
        "mtime_ns": e.mtime_ns,
        "details": {},
    }


def _symlink_row(e: Entry, config: Config, targets: Sequence[str]) -> dict[str, Any]:
    row = _base_row(e, config, targets)
    try:
        info = inspect_symlink(e.path, config)
    except OSError as err:
        info = {"status": "unreadable", "reason": err.strerror or str(err)}
    row.update(
        link_target=info.get("target"),
        details=info,
        format=None,
    )
    return row


def _read_all(
    to_read: list[Entry],
    config: Config,
    catalog: Catalog,
    scan_id: int,
    report: ScanReport,
    issues: list[WalkIssue],
    progress: Progress,
    workers: int | None,
    targets: Sequence[str],
) -> None:
    progress.reading(len(to_read), sum(e.size for e in to_read))
    workers = workers if workers is not None else (os.cpu_count() or 1)
    settings = config.scan
    analyzer = analyzer_key(settings)
    batch: list[dict[str, Any]] = []

    def collect(e: Entry, result: dict[str, Any], bytes_reported: bool = False) -> None:
        progress.advance(1, 0 if bytes_reported else e.size)
        if result.get("vanished"):
            issues.append(WalkIssue("changed_during_scan", e.path, "vanished before it could be read"))
            shown = display_path(e.path)[0]
            report.files_deleted += catalog.mark_deleted(
                (v[0] for v in catalog.file_index([shown]).values()), scan_id
            )
            return
        row = _base_row(e, config, targets)
        row.update(result)
        row["analyzer"] = analyzer if "error" not in result else None
        report.files_read += 1
        report.bytes_read += row["size"] or 0
        batch.append(row)
        if len(batch) >= _BATCH_ROWS:
            catalog.upsert_files(batch, scan_id)
            batch.clear()

    # Big files are read here, one at a time, with byte-level progress (they are disk-bound);
    # small ones go to a pool, where per-file parsing is the cost.
    big = [e for e in to_read if e.size >= _BIG_FILE_BYTES]
    small = [e for e in to_read if e.size < _BIG_FILE_BYTES]
    if workers > 1 and len(small) >= _POOL_MIN_FILES:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_read_file, [e.path for e in small], [settings] * len(small), chunksize=8)
            for e, result in zip(small, results, strict=True):
                collect(e, result)
    else:
        for e in small:
            collect(e, _read_file(e.path, settings))
    for e in big:
        collect(e, _read_file(e.path, settings, lambda n: progress.advance(0, n)), bytes_reported=True)
    if batch:
        catalog.upsert_files(batch, scan_id)
