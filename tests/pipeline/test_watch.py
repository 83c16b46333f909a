"""`samdata watch`: new and grown files are ingested and curated as they settle; a drive that is
unplugged (its folder gone) and plugged back is picked up again; samdata's own writes never wake it."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.pipeline.watch import watch, watched_folders


def _chat(i: int) -> str:
    return json.dumps({"messages": [{"role": "user", "content": f"Question number {i} about the weather?"},
                                    {"role": "assistant", "content": f"Answer {i}: it will rain."}]}) + "\n"  # fmt: skip


def _estate(tmp: Path) -> Path:
    drive = tmp / "Volumes" / "David External"
    (drive / "chats").mkdir(parents=True)
    (drive / "chats" / "a.jsonl").write_text(_chat(0))
    config = tmp / "samdata.toml"
    config.write_text(
        f'catalog = "{tmp / "state" / "catalog.db"}"\n'
        f'[[roots]]\nname = "David External"\npath = "{drive}"\n'
        f'[[sources]]\nname = "chats"\npath = "{drive}/chats/*.jsonl"\nformat = "chat_jsonl"\nlicense = "private"\n'
        "[pipeline]\ndebounce_ms = 300\n"
    )
    return config


def _examples(config_path: Path) -> int:
    with Catalog.open(load_config(config_path).catalog_path, readonly=True) as cat:
        return int(cat.conn.execute("SELECT count(*) FROM examples").fetchone()[0])


class Watcher:
    """`watch()` in a thread; its events in a queue."""

    def __init__(self, config_path: Path) -> None:
        self.config = load_config(config_path)
        self.events: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch,
            args=(self.config,),
            kwargs={"on_event": lambda k, d: self.events.put((k, d)), "stop": self.stop, "check_s": 0.3},
        )

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()

    def next(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                k, detail = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if k == kind:
                return detail
            assert k != "error", detail
        raise AssertionError(f"no {kind!r} event within {timeout} s")

    def quiet(self, seconds: float) -> list[tuple[str, dict[str, Any]]]:
        time.sleep(seconds)
        seen = []
        while not self.events.empty():
            seen.append(self.events.get())
        return seen


def test_new_and_grown_files_are_ingested_and_curated(tmp_path: Path) -> None:
    config_path = _estate(tmp_path)
    chats = tmp_path / "Volumes" / "David External" / "chats"
    with Watcher(config_path) as w:
        first = w.next("pass")
        assert first["reason"] == "start" and first["changes"]["examples"] == 1
        (chats / "b.jsonl").write_text(_chat(1) + _chat(2))
        assert w.next("pass")["changes"]["examples"] == 2
        with open(chats / "a.jsonl", "a") as f:  # a file that grows
            f.write(_chat(3))
        assert w.next("pass")["changes"]["examples"] == 1
        (chats / "notes.txt").write_text("not a source file")  # matches no glob: no pass
        assert [k for k, _ in w.quiet(1.5) if k == "pass"] == []
    assert _examples(config_path) == 4
    with Catalog.open(load_config(config_path).catalog_path, readonly=True) as cat:
        runs = cat.pipeline_runs(10)
        labelled = cat.conn.execute("SELECT count(*) FROM labels").fetchone()[0]
    assert {r["trigger"] for r in runs} == {"watch"} and all(r["status"] == "ok" for r in runs)
    assert [s["stage"] for s in runs[-1]["stages"]] == ["ingest", "curate"]
    assert labelled == 4  # curated, not only ingested


def test_a_drive_unplugged_and_plugged_back_is_picked_up_again(tmp_path: Path) -> None:
    config_path = _estate(tmp_path)
    drive = tmp_path / "Volumes" / "David External"
    parked = tmp_path / "parked"
    with Watcher(config_path) as w:
        w.next("pass")
        drive.rename(parked)  # unplugged: the mount point's folder is gone
        assert w.next("offline")["paths"] == [str(drive)]
        (parked / "chats" / "written-elsewhere.jsonl").write_text(_chat(10) + _chat(11))
        parked.rename(drive)  # plugged back, with files written on another machine
        assert w.next("online")["paths"] == [str(drive)]
        assert w.next("pass")["changes"]["examples"] == 2
        (drive / "chats" / "after.jsonl").write_text(_chat(12))  # and it is watched again
        assert w.next("pass")["changes"]["examples"] == 1
    assert _examples(config_path) == 4


def test_a_drive_missing_at_start_is_waited_for(tmp_path: Path) -> None:
    config_path = _estate(tmp_path)
    drive = tmp_path / "Volumes" / "David External"
    shutil.move(drive, tmp_path / "parked")
    with Watcher(config_path) as w:
        assert w.next("offline")["paths"] == [str(drive)]
        assert w.next("pass")["changes"]["examples"] == 0
        shutil.move(tmp_path / "parked", drive)
        w.next("online")
        assert w.next("pass")["changes"]["examples"] == 1


def test_the_watched_folders_exclude_nested_ones(tmp_path: Path) -> None:
    config = load_config(_estate(tmp_path))
    assert watched_folders(config) == [str(tmp_path / "Volumes" / "David External")]


def test_samdata_watch_runs_until_sigterm(tmp_path: Path) -> None:
    config_path = _estate(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "samdata", "watch", "--config", str(config_path)],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(line.startswith("start:") for line in lines):
        lines.append(proc.stderr.readline())
    (tmp_path / "Volumes" / "David External" / "chats" / "new.jsonl").write_text(_chat(5))
    while time.monotonic() < deadline and not any("change(s)" in line for line in lines):
        lines.append(proc.stderr.readline())
    os.kill(proc.pid, signal.SIGTERM)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, (lines, rest)
    assert any("change(s): +1 examples" in line for line in lines), lines
    assert _examples(config_path) == 2
