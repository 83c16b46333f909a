"""The synthetic estate: every planted problem is found with the right figures, and nothing else."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.demo.estate import Estate, build_estate
from samdata.scan.run import ScanReport
from tests.conftest import config_for, scan

PLANTED_KINDS = {
    "duplicate_tree",
    "duplicate_file",
    "empty_file",
    "missing_input",
    "broken_link",
    "fragile_link",
    "fragmented",
    "high_duplicate_rate",
    "malformed_records",
    "underused_store",
    "offline_root",
}


def _one(report: ScanReport, kind: str):
    found = [p for p in report.problems if p.kind == kind]
    assert len(found) == 1, (kind, found)
    return found[0]


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_each_planted_problem_found_once_and_nothing_else(estate_scan: tuple[Config, ScanReport]) -> None:
    _config, report = estate_scan
    assert Counter(p.kind for p in report.problems) == dict.fromkeys(PLANTED_KINDS, 1)


def test_problem_figures(estate: Estate, estate_scan: tuple[Config, ScanReport]) -> None:
    _config, report = estate_scan
    planted = estate.planted

    frag = _one(report, "fragmented")
    pairs = planted["fragmented"][0]
    sizes = [p.stat().st_size for p in pairs.iterdir()]
    assert frag.paths == [str(pairs)]
    assert frag.figures["files"] == 18 == len(sizes)
    assert frag.figures["bytes"] == sum(sizes)
    assert all(400 <= s <= 700 for s in sizes), sizes  # "~500-byte DPO pairs"
    assert frag.figures["format"] == "dpo"

    assert _one(report, "empty_file").paths == [str(planted["empty_file"][0])]
    missing = _one(report, "missing_input")
    assert missing.paths == [str(planted["missing_input"][0])]
    assert missing.paths[0].endswith("training_data.jsonl")
    assert missing.figures["reader"] == "sam/pipeline/train_sam.py"

    tree = _one(report, "duplicate_tree")
    original, copy = planted["duplicate_tree"]
    assert tree.paths == [str(original), str(copy)]  # internal copy first: the one to keep
    assert tree.figures["files"] == 3
    assert tree.figures["reclaimable_bytes"] == _tree_bytes(copy) == _tree_bytes(original)

    dup = _one(report, "duplicate_file")
    assert dup.paths == [str(p) for p in planted["duplicate_file"]]
    assert dup.figures["reclaimable_bytes"] == planted["duplicate_file"][1].stat().st_size

    rate = _one(report, "high_duplicate_rate")
    assert rate.paths == [str(planted["high_duplicate_rate"][0])]
    assert rate.figures["records"] == 5000
    assert abs(rate.figures["duplicate_rate"] - 0.8) < 0.03  # 1,000 distinct lines + 4,000 repeats

    bad = _one(report, "malformed_records")
    assert bad.paths == [str(planted["malformed_records"][0])]
    assert bad.figures["bad_records"] == 3
    assert [s["line"] for s in bad.figures["first"]] == [17, 88, 150]

    store = _one(report, "underused_store")
    assert store.paths[0] == str(planted["underused_store"][0])
    assert store.figures["store_rows"] == 20
    assert store.figures["flat_records"] == 300 + 40 + 197  # conversations, corrections, good captures

    assert _one(report, "broken_link").paths == [str(planted["broken_link"][0])]
    fragile = _one(report, "fragile_link")
    assert fragile.paths[0] == str(planted["fragile_link"][0])
    assert "another root" in fragile.message

    offline = _one(report, "offline_root")
    assert offline.root == "Archive SSD"
    assert offline.paths == [str(planted["offline_root"][0])]


def _snapshot(base: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for dirpath, _dirs, files in os.walk(base):
        if ".samdata" in dirpath:
            continue
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                out[p] = (0, 0, os.readlink(p))
                continue
            st = os.stat(p)
            out[p] = (st.st_size, st.st_mtime_ns, hashlib.sha256(Path(p).read_bytes()).hexdigest())
    return out


def test_scan_never_modifies_a_root_and_rescans_incrementally(tmp_path: Path) -> None:
    estate = build_estate(tmp_path)
    config = load_config(estate.config_path)
    before = _snapshot(tmp_path)
    first = scan(config)
    assert first.files_read > 40
    second = scan(config)
    assert _snapshot(tmp_path) == before  # no file written, no -wal/-shm beside the SQLite stores
    assert second.files_read == 0
    assert second.files_seen == first.files_seen
    assert Counter(p.kind for p in second.problems) == Counter(p.kind for p in first.problems)

    # A changed file is re-read, and only it; a deleted one is marked gone.
    conv = estate.roots["Internal"] / "sam" / "training" / "sam_conversations.jsonl"
    with open(conv, "a", encoding="utf-8") as f:
        f.write('{"messages": [{"role": "user", "content": "one more"}]}\n')
    (estate.roots["David External"] / "voice" / "clips" / "clip_005.wav").unlink()
    third = scan(config)
    assert third.files_read == 1
    assert third.files_deleted == 1
    with Catalog.open(config.catalog_path) as cat:
        row = next(f for f in cat.files() if f["path"] == str(conv))
    assert row["records"] == 301
    with Catalog.open(config.catalog_path) as cat:
        summary = cat.get_stat("scan.summary")
    chat = next(f for f in summary["formats"] if f["format"] == "chat_jsonl")
    assert chat["records"] == 300 + 1 + 197 + 12 + 25 + 5000
    assert summary["problems"]["fragmented"] == 1


def test_unplugged_drive_is_offline_not_deleted(tmp_path: Path) -> None:
    estate = build_estate(tmp_path)
    config = load_config(estate.config_path)
    scan(config)
    drive = estate.roots["#1"]
    with Catalog.open(config.catalog_path) as cat:
        on_drive = {f["path"] for f in cat.files(roots=["#1"])}
    assert len(on_drive) == 4

    unplugged = drive.with_name("#1-unplugged")
    drive.rename(unplugged)
    report = scan(config)
    assert report.files_deleted == 0
    offline = [p for p in report.problems if p.kind == "offline_root"]
    assert {p.root for p in offline} == {"#1", "Archive SSD"}
    assert next(p for p in offline if p.root == "#1").figures["known_files"] == 4
    # The stray copy on #1 is not reported as a duplicate while #1 is away.
    assert not [p for p in report.problems if p.kind == "duplicate_file"]
    with Catalog.open(config.catalog_path) as cat:
        assert {f["path"] for f in cat.files(roots=["#1"])} == on_drive
        assert not cat.files(roots=["#1"], status="deleted")

    unplugged.rename(drive)
    back = scan(config)
    assert back.files_read == 0  # same sizes and mtimes: nothing re-read
    assert {p.root for p in back.problems if p.kind == "offline_root"} == {"Archive SSD"}


def test_scan_of_given_paths_only_touches_them(tmp_path: Path) -> None:
    estate = build_estate(tmp_path)
    config = load_config(estate.config_path)
    scan(config)
    datasets = estate.roots["David External"] / "datasets"
    shutil.rmtree(datasets / "dolly")
    (estate.roots["Internal"] / "sam" / "logs" / "capture_2025-11-01.jsonl").unlink()
    report = scan(config, [str(datasets)])
    assert report.files_seen == 6  # seven public sets less dolly
    assert report.files_deleted == 1  # only the dolly file below the given path


def test_changed_read_settings_force_a_re_read(tmp_path: Path) -> None:
    estate = build_estate(tmp_path)
    config = load_config(estate.config_path)
    first = scan(config)
    tighter = config.model_copy(update={"scan": config.scan.model_copy(update={"max_record_bytes": 2048})})
    again = scan(tighter)
    assert again.files_read == first.files_read  # a new limit changes what a read finds
    assert scan(tighter).files_read == 0
    # Detector thresholds are applied to stored figures: no re-read needed.
    looser = tighter.model_copy(update={"scan": tighter.scan.model_copy(update={"fragment_min_files": 50})})
    report = scan(looser)
    assert report.files_read == 0
    assert "fragmented" not in {p.kind for p in report.problems}


def test_killed_scan_resumes_without_duplicates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for d in range(40):
        folder = data / f"d{d:02d}"
        folder.mkdir(parents=True)
        for i in range(250):
            (folder / f"f{i:03d}.jsonl").write_text(f'{{"text": "file {d}-{i}"}}\n' * (1 + i % 4))
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(f'[[roots]]\nname = "data"\npath = "{data}"\n')
    catalog = tmp_path / ".samdata" / "catalog.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "samdata", "scan", "--config", str(cfg), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    committed = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if catalog.exists():
            with contextlib.suppress(sqlite3.OperationalError), sqlite3.connect(catalog, timeout=1) as c:
                committed = c.execute("SELECT count(*) FROM files").fetchone()[0]
        if committed >= 1000:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the scan finished before it could be killed"
    assert 1000 <= committed < 10_000

    config = load_config(cfg)
    with Catalog.open(config.catalog_path) as cat:
        before = len(cat.files())
    resumed = scan(config)
    assert resumed.files_read == 10_000 - before  # what was committed is not read again
    with Catalog.open(config.catalog_path) as cat:
        rows = cat.files()
        assert len(rows) == len({r["path"] for r in rows}) == 10_000
        statuses = [r[0] for r in cat.conn.execute("SELECT status FROM scans ORDER BY id")]
    assert statuses == ["running", "done"]  # the killed scan never claims to be done


def test_nested_roots_and_repeated_paths_are_walked_once(tmp_path: Path) -> None:
    outer = tmp_path / "home"
    inner = outer / "Dropbox"
    inner.mkdir(parents=True)
    (outer / "a.jsonl").write_text('{"text": "a"}\n')
    (inner / "b.jsonl").write_text('{"text": "b"}\n')
    config = config_for(
        tmp_path,
        f'[[roots]]\nname = "home"\npath = "{outer}"\n[[roots]]\nname = "dropbox"\npath = "{inner}"\n',
    )
    report = scan(config)
    assert report.files_seen == 2 and not report.problems
    with Catalog.open(config.catalog_path) as cat:
        assert {f["relpath"]: f["root"] for f in cat.files()} == {"a.jsonl": "home", "b.jsonl": "dropbox"}
    assert scan(config, [str(inner), str(inner / ".."), str(inner)]).files_seen == 2
