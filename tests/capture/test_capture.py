"""The capture API: durable on return, safe under concurrent writers, retries are not duplicates."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from samdata.capture import Capture, InvalidExample, record_conversation
from samdata.catalog import Catalog


def _writer(catalog: str, worker: int, n: int) -> None:
    cap = Capture(catalog)
    for i in range(n):
        cap.record_conversation(
            [{"role": "user", "content": f"w{worker} q{i}"}, {"role": "assistant", "content": f"a{i}"}],
            {"worker": worker},
        )
        # Every worker also retries one shared capture (same id): it must be stored once.
        cap.record_correction("shared prompt", "wrong", "right", capture_id="shared-1")
        cap.record_escalation(f"w{worker} hard {i}", "the strong model's answer")


def test_concurrent_writers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    catalog = str(tmp_path / "catalog.db")
    Catalog.open(catalog).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(catalog, w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with Catalog.open(catalog) as cat:
        stats = cat.ingest_stats()
        per_source = {k: v for k, v in stats["sources"].items()}
        shared = cat.conn.execute(
            "SELECT count(*) FROM provenance_paths WHERE source = 'capture:correction'"
        ).fetchone()[0]
    assert per_source["capture:conversation"]["sft"] == 160
    assert per_source["capture:escalation"]["sft"] == 160
    assert per_source["capture:correction"]["preference"] == 1 and shared == 1
    assert stats["examples"]["total"] == 321


def test_acknowledged_means_committed_and_bad_input_raises(tmp_path: Path) -> None:
    cap = Capture(tmp_path / "c.db")
    example_id = cap.record_conversation(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    )
    with Catalog.open(tmp_path / "c.db") as other:  # another connection sees it at once
        assert other.example(example_id)["body"]["messages"][1]["content"] == "hello"
    with pytest.raises(InvalidExample, match="unknown role"):
        cap.record_conversation([{"role": "robot", "content": "x"}])
    with pytest.raises(InvalidExample, match="identical"):
        cap.record_correction("p", "same", "same")


def test_module_functions_use_the_default_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "samdata.toml").write_text("")
    monkeypatch.setenv("SAMDATA_CONFIG", str(tmp_path / "samdata.toml"))
    eid = record_conversation([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
    with Catalog.open(tmp_path / ".samdata" / "catalog.db") as cat:
        assert cat.example(eid) is not None
