"""Bad input never stops a scan: each case becomes a problem with its reason, and the scan finishes."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import orjson
import pytest

from samdata.catalog import Catalog
from samdata.config import ScanSettings
from samdata.scan.analyze import analyze_file
from samdata.scan.inventory import build_inventory, render
from samdata.scan.run import Progress, run_scan
from tests.conftest import config_for, scan

CHAT = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


def _config(tmp: Path):
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    return data, config_for(tmp, f'[[roots]]\nname = "data"\npath = "{data}"\n')


def _kinds(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in report.problems:
        out.setdefault(p.kind, []).append(p)
    return out


def _scan_as_nobody(config) -> dict:
    """Run a real scan in a forked child that dropped root (root reads every file whatever its mode)."""
    # Warm up on another folder: every module the child needs is imported before it loses access.
    warm_dir = Path(tempfile.mkdtemp(prefix="samdata-warm-"))
    warm, warm_config = _config(warm_dir)
    (warm / "w.jsonl").write_bytes(CHAT)
    scan(warm_config)
    shutil.rmtree(warm_dir)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(rfd)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            with Catalog.open(config.catalog_path) as cat:
                report = run_scan(config, cat, workers=1)
            os.write(wfd, orjson.dumps(report.to_dict()))
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        payload = r.read()
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return orjson.loads(payload)


def test_unreadable_file_and_folder_are_reported() -> None:
    base = Path(tempfile.mkdtemp(prefix="samdata-perm-"))
    data = base / "data"
    data.mkdir()
    (data / "ok.jsonl").write_bytes(CHAT)
    secret = data / "secret.jsonl"
    secret.write_bytes(CHAT)
    locked = data / "locked"
    locked.mkdir()
    (locked / "inside.jsonl").write_bytes(CHAT)
    config = config_for(base, f'[[roots]]\nname = "data"\npath = "{data}"\n')
    Catalog.open(config.catalog_path).close()
    for p in (base, data, base / ".samdata"):
        os.chmod(p, 0o777)
    for p in (base / ".samdata").iterdir():
        os.chmod(p, 0o666)
    os.chmod(data / "ok.jsonl", 0o644)
    os.chmod(secret, 0o000)
    os.chmod(locked, 0o000)
    try:
        report = _scan_as_nobody(config)
    finally:
        os.chmod(locked, 0o755)
        os.chmod(secret, 0o644)
        shutil.rmtree(base)
    unreadable = {tuple(p["paths"]) for p in report["problems"] if p["kind"] == "unreadable"}
    assert unreadable == {(str(secret),), (str(locked),)}
    assert report["files_seen"] == 2  # ok.jsonl and secret.jsonl; the locked folder cannot be listed
    assert report["files_read"] == 2


def test_file_vanishing_between_walk_and_read(tmp_path: Path) -> None:
    data, config = _config(tmp_path)
    (data / "stays.jsonl").write_bytes(CHAT)
    doomed = data / "doomed.jsonl"
    doomed.write_bytes(CHAT)

    class DeleteAfterWalk(Progress):
        def reading(self, total_files: int, total_bytes: int) -> None:
            doomed.unlink()

    with Catalog.open(config.catalog_path) as cat:
        report = run_scan(config, cat, progress=DeleteAfterWalk(), workers=1)
        assert [f["path"] for f in cat.files()] == [str(data / "stays.jsonl")]
    changed = _kinds(report)["changed_during_scan"]
    assert changed[0].paths == [str(doomed)]
    assert "vanished" in changed[0].message


def test_file_growing_while_read(tmp_path: Path) -> None:
    data, config = _config(tmp_path)
    growing = data / "live_capture.jsonl"
    growing.write_bytes(CHAT * 100_000)  # ~9 MB: long enough to read that appends land mid-read
    stop = threading.Event()

    def writer() -> None:
        with open(growing, "ab", buffering=0) as f:
            while not stop.is_set():
                f.write(CHAT)
                time.sleep(0.0005)

    t = threading.Thread(target=writer)
    t.start()
    try:
        report = scan(config)
    finally:
        stop.set()
        t.join()
    changed = _kinds(report)["changed_during_scan"]
    assert changed[0].paths == [str(growing)]
    assert "changed while being read" in changed[0].message


def test_symlink_loops_do_not_trap_the_walk(tmp_path: Path) -> None:
    data, config = _config(tmp_path)
    (data / "real.jsonl").write_bytes(CHAT)
    os.symlink(data / "b", data / "a")
    os.symlink(data / "a", data / "b")
    sub = data / "sub"
    sub.mkdir()
    os.symlink("..", sub / "up")  # a folder loop for anything that follows links
    report = scan(config)
    kinds = _kinds(report)
    assert {p.paths[0] for p in kinds["broken_link"]} == {str(data / "a"), str(data / "b")}
    assert all(p.figures["status"] == "loop" for p in kinds["broken_link"])
    assert kinds["fragile_link"][0].paths[0] == str(sub / "up")
    assert "ancestor" in kinds["fragile_link"][0].message


def test_link_through_another_link_is_fragile(tmp_path: Path) -> None:
    data, config = _config(tmp_path)
    (data / "real.jsonl").write_bytes(CHAT)
    os.symlink("real.jsonl", data / "hop1.jsonl")
    os.symlink("hop1.jsonl", data / "hop2.jsonl")
    kinds = _kinds(scan(config))
    assert [p.paths[0] for p in kinds["fragile_link"]] == [str(data / "hop2.jsonl")]
    assert "another link" in kinds["fragile_link"][0].message


def test_non_utf8_name_is_scanned_and_reported(tmp_path: Path) -> None:
    data, config = _config(tmp_path)
    raw = os.fsencode(data) + b"/caf\xe9.jsonl"
    with open(raw, "wb") as f:
        f.write(CHAT * 3)
    report = scan(config)
    names = _kinds(report)["undecodable_name"]
    assert names[0].paths == [str(data) + "/caf\\xe9.jsonl"]
    with Catalog.open(config.catalog_path) as cat:
        row = cat.files()[0]
        assert row["path_bytes"] == raw
        assert row["records"] == 3 and row["format"] == "chat_jsonl"
        assert "caf\\\\xe9" in render(build_inventory(cat, config), "json")


def test_binary_file_named_jsonl(tmp_path: Path) -> None:
    data, config = _config(tmp_path)
    blob = data / "train.jsonl"
    blob.write_bytes(bytes(range(256)) * 64)
    report = scan(config)
    misnamed = _kinds(report)["misnamed_file"]
    assert misnamed[0].paths == [str(blob)]
    assert misnamed[0].figures == {"container": "binary", "format": "unknown"}


def test_200mb_single_line_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "one_line.jsonl"
    with open(big, "wb") as f:
        f.write(b'{"text": "')
        block = b"x" * (1 << 20)
        for _ in range(200):
            f.write(block)
        f.write(b'"}\n')
        f.write(CHAT)
    tracemalloc.start()
    try:
        facts = analyze_file(big, ScanSettings())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert facts.records == 1 and facts.bad_records == 1
    assert facts.details["bad_samples"][0]["line"] == 1
    assert "longer than max_record_bytes" in facts.details["bad_samples"][0]["reason"]
    assert peak < 80 * 2**20, f"peak {peak / 2**20:.0f} MiB for a 200 MB line"


@pytest.mark.parametrize(
    ("content", "records", "bad"),
    [
        (b"\xef\xbb\xbf" + CHAT + b"\n\n" + CHAT, 2, 0),  # BOM and blank lines
        (CHAT + b"[1, 2]\n" + b"not json\n", 1, 2),
        (b'[{"instruction": "a", "input": "", "output": "b"}, {"instruction": "c", "inp', 1, 1),  # cut array
        (b'{\n  "prompt": "p",\n  "chosen": "c",\n  "rejected": "r"\n}\n', 1, 0),  # pretty object
        (b"   \n\n", 0, 0),
        (b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}\n' + CHAT, 1, 1),  # invalid UTF-8 line
        (
            b'[{"text": "a"}, ' + b"[" * 100_000 + b"]" * 100_000 + b"]",
            1,
            1,
        ),  # 100k-deep element: linear, no hang
    ],
)
def test_odd_json_files(tmp_path: Path, content: bytes, records: int, bad: int) -> None:
    p = tmp_path / "f.json"
    p.write_bytes(content)
    facts = analyze_file(p, ScanSettings())
    assert (facts.records, facts.bad_records) == (records, bad), facts


def test_source_matching_no_file_is_a_missing_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "x.jsonl").write_bytes(CHAT)
    config = config_for(
        tmp_path,
        f'[[roots]]\nname = "data"\npath = "{data}"\n'
        f'[[sources]]\nname = "found"\npath = "{data}/**/*.jsonl"\n'
        f'[[sources]]\nname = "typo"\npath = "{data}/sbu/*.jsonl"\n'
        f'[[sources]]\nname = "retired"\npath = "{data}/old/*.jsonl"\nactive = false\n'
        f'[[sources]]\nname = "unplugged"\npath = "{tmp_path}/drive/*.jsonl"\n'
        f'[[roots]]\nname = "drive"\npath = "{tmp_path}/drive"\n',
    )
    missing = [p for p in scan(config).problems if p.kind == "missing_input"]
    assert [(p.figures["source"], p.paths) for p in missing] == [("typo", [f"{data}/sbu/*.jsonl"])]
