"""Ingest behaviour: idempotent, incremental on appends, rewrites replace, kill -9 safe, stats contract."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.curate import run_curate
from samdata.demo.estate import build_estate
from samdata.export import run_export
from samdata.ingest import IngestProgress, run_ingest
from tests.conftest import config_for
from tests.test_cli import run_cli


def chat_line(i: int, answer: str = "an answer") -> str:
    return (
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"question {i}"},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
        + "\n"
    )


def _source(tmp: Path, *names: str) -> tuple[Path, Config]:
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    body = "".join(f'[[sources]]\nname = "{n}"\npath = "{data}/{n}*.jsonl"\nformat = "auto"\n' for n in names)
    (tmp / "samdata.toml").write_text(body)  # for the CLI runs
    return data, config_for(tmp, body)


def _snapshot(cat: Catalog) -> tuple[list, list, list, list]:
    c = cat.conn
    return (
        c.execute("SELECT id, kind, body_text(body) FROM examples ORDER BY id").fetchall(),
        c.execute(
            "SELECT example_id, source, file, locator, meta FROM provenance_paths ORDER BY 1, 2, 3, 4"
        ).fetchall(),
        c.execute("SELECT source, file, locator, reason FROM quarantine ORDER BY 1, 2, 3, 4").fetchall(),
        c.execute(
            "SELECT source, file, records, produced, skipped, dropped, examples FROM ingest_accounts"
        ).fetchall(),
    )


def test_second_run_adds_nothing(tmp_path: Path) -> None:
    estate = build_estate(tmp_path)
    config = load_config(estate.config_path)
    with Catalog.open(config.catalog_path) as cat:
        first = run_ingest(config, cat)
        before = _snapshot(cat)
        second = run_ingest(config, cat)
        assert _snapshot(cat) == before
    assert first.totals()["examples_new"] > 600
    assert second.totals()["examples_new"] == 0 and second.totals()["records"] == 0
    assert second.totals()["files_unchanged"] == second.totals()["files"]


def test_appended_lines_are_the_only_ones_read(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "chat")
    f = data / "chat.jsonl"
    f.write_text("".join(chat_line(i) for i in range(100)))
    with Catalog.open(config.catalog_path) as cat:
        assert run_ingest(config, cat).totals()["examples_new"] == 100
        with open(f, "a") as out:
            out.write("".join(chat_line(i) for i in range(100, 110)))
        report = run_ingest(config, cat)
        assert [x.status for x in report.files] == ["resumed"]
        assert report.totals()["records"] == 10 and report.totals()["examples_new"] == 10
        lines = sorted(e["locator"]["line"] for e in cat.examples_from(str(f)))
    assert lines == list(range(1, 111))


def test_rewritten_file_replaces_what_it_contributed(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "chat", "keep")
    f = data / "chat.jsonl"
    f.write_text(chat_line(1) + chat_line(2) + chat_line(3))
    (data / "keep.jsonl").write_text(chat_line(2))  # the same example in another source
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        assert cat.ingest_stats()["examples"]["total"] == 3
        f.write_text(chat_line(9, "a new answer"))
        report = run_ingest(config, cat)
        assert {x.path: x.status for x in report.files}[str(f)] == "ingested"
        assert [e["body"]["messages"][0]["content"] for e in cat.examples_from(str(f))] == ["question 9"]
        # 1 and 3 only came from the old chat.jsonl: gone; 2 is still held by keep.jsonl.
        assert cat.ingest_stats()["examples"]["total"] == 2
        # the (example, source) pairs the triggers keep are provenance's, after the prune too
        kept = cat.conn.execute("SELECT example_id, source FROM example_sources ORDER BY 1, 2").fetchall()
        truth = cat.conn.execute(
            "SELECT DISTINCT example_id, source FROM provenance_paths ORDER BY 1, 2"
        ).fetchall()
        assert [tuple(r) for r in kept] == [tuple(r) for r in truth] and len(truth) == 2
        assert {r["source"] for r in kept} == {"chat", "keep"}


def test_a_file_rewritten_after_curate_and_export_drops_what_nothing_holds(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "chat")
    config = config_for(
        tmp_path,
        f'[[sources]]\nname = "chat"\npath = "{data}/chat*.jsonl"\nformat = "auto"\n'
        '[recipes.t]\nsources = ["chat"]\nsplits = { train = 0.5, valid = 0.5 }\nbatch_size = 1\n',
    )
    f = data / "chat.jsonl"
    answers = [f"answer {i} is a whole sentence, and it ends as it should." for i in range(4)]
    f.write_text(chat_line(0, answers[0]) + chat_line(1, answers[1]))
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        run_curate(config, cat)
        export = run_export(config, cat, "t", tmp_path / "t").export_id
        c = cat.conn
        exported = {
            r[0] for r in c.execute("SELECT example_id FROM export_members WHERE export_id = ?", (export,))
        }
        assert len(exported) == 2
        f.write_text(chat_line(2, answers[2]) + chat_line(3, answers[3]))
        run_ingest(config, cat)  # it crashed here on the labels the old examples had
        run_curate(config, cat)
        f.write_text(chat_line(3, answers[3]))
        report = run_ingest(config, cat)
        assert [x.status for x in report.files] == ["ingested"]
        left = {r[0] for r in c.execute("SELECT id FROM examples")}
        # The exported examples stay for the export's lineage; the unexported one that went is gone
        # with its labels, and curate runs on.
        assert exported < left and len(left) == 3
        assert (
            c.execute(
                "SELECT count(*) FROM labels WHERE example_id NOT IN (SELECT id FROM examples)"
            ).fetchone()[0]
            == 0
        )
        assert run_curate(config, cat).labelled["quality"] == 0
        assert c.execute("PRAGMA foreign_key_check").fetchall() == []


def test_half_written_last_line_waits_for_its_writer(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "live")
    f = data / "live.jsonl"
    whole = chat_line(2)
    f.write_text(chat_line(1) + whole[:20])
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        assert cat.ingest_stats()["examples"]["total"] == 1
        [q] = cat.quarantined()
        assert q["locator"] == {"line": 2} and q["reason"].startswith("incomplete last line")
        with open(f, "a") as out:
            out.write(whole[20:])
        run_ingest(config, cat)
        assert cat.ingest_stats()["examples"]["total"] == 2
        assert cat.quarantined() == []


def test_stats_contract_counts_an_example_in_every_source(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "a", "b")
    (data / "a.jsonl").write_text(chat_line(1) + chat_line(2) + '{"broken\n')
    (data / "b.jsonl").write_text(
        chat_line(2) + json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n"
    )
    cfg = str(config.config_path)
    config.config_path.write_text(
        f'[[sources]]\nname = "a"\npath = "{data}/a.jsonl"\nformat = "chat_jsonl"\n'
        f'[[sources]]\nname = "b"\npath = "{data}/b.jsonl"\nformat = "auto"\n'
    )
    proc = run_cli("ingest", "--config", cfg)
    assert proc.returncode == 0, proc.stderr
    assert (
        run_cli("ingest", "--config", cfg, "--strict").returncode == 0
    )  # nothing new quarantined: unchanged
    stats = orjson.loads(run_cli("stats", "--config", cfg, "--json").stdout)
    assert stats["examples"] == {"total": 3, "by_kind": {"sft": 2, "preference": 0, "kto": 0}} or stats[
        "examples"
    ]["by_kind"] == {"sft": 2, "preference": 1, "kto": 0}
    assert stats["examples"]["total"] == 3
    assert stats["sources"]["a"]["sft"] == 2 and stats["sources"]["a"]["quarantined"] == 1
    assert (
        stats["sources"]["b"]["sft"] == 1 and stats["sources"]["b"]["preference"] == 1
    )  # question 2 counts in both
    assert stats["quarantined"] == 1
    quarantine = run_cli("quarantine", "--config", cfg, "--json")
    [q] = orjson.loads(quarantine.stdout)
    assert q["locator"] == {"line": 3} and q["reason"].startswith("invalid JSON")
    assert "invalid JSON" in run_cli("quarantine", "--config", cfg).stdout
    assert run_cli("ingest", "nope", "--config", cfg).returncode == 2


def _big_jsonl(path: Path, lines: int) -> None:
    rng = random.Random(5)
    with open(path, "w") as f:
        for i in range(lines):
            if i % 997 == 0:
                f.write('{"broken": \n')
            f.write(chat_line(rng.randrange(lines // 2), "x" * rng.randrange(50, 400)))


def _committed_offset(config: Config) -> int:
    import sqlite3

    try:
        with sqlite3.connect(config.catalog_path, timeout=1) as c:
            row = c.execute("SELECT max(offset) FROM ingest_progress").fetchone()
    except sqlite3.OperationalError:
        return 0
    return (row and row[0]) or 0


def test_killed_five_times_then_finished_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "big")
    _big_jsonl(data / "big.jsonl", 100_000)
    # The killed runs read 256 KB chunks, committed eight at a time: about a dozen commits to be
    # killed between (4 MB chunks would commit this 25 MB file once). Chunking changes no result.
    with open(tmp_path / "samdata.toml", "a") as f:
        f.write("[ingest]\nchunk_bytes = 262144\n")
    # The uninterrupted run reads the same file into another catalog.
    clean_config = config.model_copy(update={"catalog": tmp_path / "clean.db"})
    with Catalog.open(clean_config.catalog_path) as cat:
        run_ingest(clean_config, cat)
        expected = _snapshot(cat)

    # Kill at five random points of the file, in order, each once its committed offset passes it.
    size = (data / "big.jsonl").stat().st_size
    targets = sorted(random.Random(11).uniform(0.05, 0.95) * size for _ in range(5))
    cmd = [sys.executable, "-m", "samdata", "ingest", "--config", str(config.config_path)]
    killed_mid_run = 0
    for target in targets:
        before = _committed_offset(config)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            # Kill once this run has committed work of its own and passed the target.
            if _committed_offset(config) > max(target, before):
                os.kill(proc.pid, signal.SIGKILL)
                killed_mid_run += 1
                break
            time.sleep(0.002)
        proc.wait()
    assert killed_mid_run == 5
    assert run_cli("ingest", "--config", str(config.config_path)).returncode == 0
    with Catalog.open(config.catalog_path) as cat:
        got = _snapshot(cat)
        runs = [r[0] for r in cat.conn.execute("SELECT status FROM ingest_runs")]
    assert got[0] == expected[0]  # same example ids and bodies
    assert got[1] == expected[1]  # same provenance rows
    assert got[2] == expected[2]  # same quarantine
    assert got[3] == expected[3]  # the same account of every record
    assert runs == ["running"] * 5 + ["done"]  # five killed runs, then one that finished


def _committed(config: Config, column: str) -> int:
    import sqlite3

    try:
        with sqlite3.connect(config.catalog_path, timeout=1) as c:
            row = c.execute(f"SELECT max({column}) FROM ingest_progress").fetchone()
    except sqlite3.OperationalError:
        return 0
    return (row and row[0]) or 0


@pytest.mark.parametrize("container", ["gzip", "zip"])
def test_compressed_source_killed_three_times_equals_an_uninterrupted_run(
    tmp_path: Path, container: str
) -> None:
    """Compressed JSONL resumes at its decompressed offset, a zip of JSONL files by record index."""
    import gzip
    import zipfile

    data, config = _source(tmp_path, "big")
    plain = tmp_path / "plain.jsonl"
    _big_jsonl(plain, 60_000)
    if container == "gzip":
        # Named .jsonl (the source's glob): the content says gzip, not the name.
        (data / "big.jsonl").write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
        column, total = "offset", plain.stat().st_size
    else:
        lines = plain.read_bytes().splitlines(keepends=True)
        with zipfile.ZipFile(data / "big.jsonl", "w", zipfile.ZIP_DEFLATED) as z:
            for i in range(3):
                z.writestr(f"part{i}.jsonl", b"".join(lines[i::3]))
        column, total = "records", len(lines)
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"batch_records": 500})})
    (tmp_path / "samdata.toml").write_text(
        (tmp_path / "samdata.toml").read_text() + "[ingest]\nbatch_records = 500\nchunk_bytes = 262144\n"
    )
    clean_config = config.model_copy(update={"catalog": tmp_path / "clean.db"})
    with Catalog.open(clean_config.catalog_path) as cat:
        run_ingest(clean_config, cat)
        expected = _snapshot(cat)
    cmd = [sys.executable, "-m", "samdata", "ingest", "--config", str(config.config_path)]
    killed = 0
    for target in (0.2 * total, 0.5 * total, 0.8 * total):
        before = _committed(config, column)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _committed(config, column) > max(target, before):
                os.kill(proc.pid, signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.002)
        proc.wait()
    assert killed == 3
    assert run_cli("ingest", "--config", str(config.config_path)).returncode == 0
    with Catalog.open(config.catalog_path) as cat:
        got = _snapshot(cat)
        done = [r[0] for r in cat.conn.execute("SELECT done FROM ingest_progress")]
    assert got == expected and done == [1]


def test_parallel_chunks_equal_a_sequential_read(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "big")
    _big_jsonl(data / "big.jsonl", 20_000)
    with open(data / "big.jsonl", "a") as f:
        f.write(
            '{"messages": [{"role": "user", "content": "' + "y" * 300_000 + '"}]}\n'
        )  # over the limit below
        f.write(chat_line(1, "after the long line") + chat_line(2)[:30])  # and a half-written last line
    ingest = config.ingest.model_copy(update={"max_record_bytes": 100_000, "chunk_bytes": 65_536})
    sequential = config.model_copy(
        update={"ingest": ingest.model_copy(update={"workers": 1}), "catalog": tmp_path / "seq.db"}
    )
    parallel = config.model_copy(
        update={
            "ingest": ingest.model_copy(update={"workers": 2, "parallel_min_bytes": 0}),
            "catalog": tmp_path / "par.db",
        }
    )

    class Bytes(IngestProgress):
        total = 0

        def bytes_done(self, nbytes: int) -> None:
            self.total += nbytes

    snapshots, seen = [], []
    for cfg in (sequential, parallel):
        hooks = Bytes()
        with Catalog.open(cfg.catalog_path) as cat:
            run_ingest(cfg, cat, progress=hooks)
            snapshots.append(_snapshot(cat))
            progress = cat.progress("big", str(data / "big.jsonl"))
        seen.append(hooks.total)
    assert snapshots[0] == snapshots[1]
    assert seen == [(data / "big.jsonl").stat().st_size] * 2  # progress bars reach 100 % in both modes
    reasons = [q[3] for q in snapshots[0][2]]
    assert any("longer than max_record_bytes" in r for r in reasons)
    assert any(r.startswith("incomplete last line") for r in reasons)
    size = (data / "big.jsonl").stat().st_size
    assert progress.offset == size - 30  # everything but the half-written line is consumed


def test_contract_accounts_in_stats_examples_and_exit_codes(tmp_path: Path) -> None:
    data, config = _source(tmp_path, "mine")
    good = [chat_line(i) for i in range(10)]
    (data / "mine.jsonl").write_bytes(
        "".join(good[:4]).encode() + b"\x00\x9f\x92\x96 bin\n" + "".join(good[4:]).encode()
    )
    cfg = str(config.config_path)
    proc = run_cli("ingest", "--config", cfg)
    assert proc.returncode == 0, proc.stderr  # a quarantined record is accounted for
    assert "1 quarantined" in proc.stdout
    mine = orjson.loads(run_cli("stats", "--config", cfg, "--json").stdout)["sources"]["mine"]
    assert (mine["records"], mine["sft"], mine["quarantined"], mine["skipped"], mine["skipped_by_reason"]) == (
        11, 10, 1, 0, {})  # fmt: skip
    shown = orjson.loads(run_cli("examples", "--config", cfg, "--source", "mine", "--json").stdout)[
        "examples"
    ]
    assert [e["messages"][0]["content"] for e in shown] == [f"question {i}" for i in range(10)]
    assert all({"id", "kind", "messages", "chosen", "rejected"} <= set(e) for e in shown)
    assert shown[0]["messages"][1] == {"role": "assistant", "content": "an answer"}
    assert run_cli("examples", "--config", cfg, "--source", "nope").returncode == 2


def test_a_file_with_records_and_no_outcome_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An adapter that loses records (here: one that forgets its skipped ones) makes ingest exit 1."""
    from typer.testing import CliRunner

    from samdata.cli import app
    from samdata.sources import Adapter, Skipped, claude_code

    def forgetful(ctx):  # type: ignore[no-untyped-def]
        return ((ids, out) for ids, out in claude_code.convert_file(ctx) if not isinstance(out, Skipped))

    monkeypatch.setattr(claude_code, "ADAPTER", Adapter("claude_code", 99, "file", convert_file=forgetful))
    data = tmp_path / "data"
    data.mkdir()
    (data / "s.jsonl").write_text(
        json.dumps({"type": "queue-operation", "operation": "dequeue", "sessionId": "s"}) + "\n"
        + json.dumps({"type": "user", "uuid": "u", "parentUuid": None, "sessionId": "s",
                      "message": {"role": "user", "content": "hi"}}) + "\n"
        + json.dumps({"type": "assistant", "uuid": "a", "parentUuid": "u", "sessionId": "s",
                      "message": {"role": "assistant", "id": "m", "content": [{"type": "text", "text": "hello"}]}}) + "\n"
    )  # fmt: skip
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(f'[[sources]]\nname = "cc"\npath = "{data}/*.jsonl"\n')
    result = CliRunner().invoke(app, ["ingest", "--config", str(cfg)])
    assert result.exit_code == 1, result.output
    assert "records read without an outcome" in result.output
    assert (
        "records read without an outcome"
        not in CliRunner().invoke(app, ["stats", "--config", str(cfg)]).output
    )
    stats = CliRunner().invoke(app, ["stats", "--config", str(cfg), "--json"])
    assert orjson.loads(stats.stdout)["sources"]["cc"]["unaccounted_files"] == [str(data / "s.jsonl")]


def test_repeated_records_are_converted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A line seen before (in this file, another file, or an earlier run) costs a hash and a lookup:
    it is not parsed or converted again, yet gets its provenance row and its place in the account."""
    from samdata.sources import Adapter, chat_jsonl

    calls = []

    def counting(record, ctx):  # type: ignore[no-untyped-def]
        calls.append(1)
        return chat_jsonl.convert(record, ctx)

    monkeypatch.setattr(chat_jsonl, "ADAPTER", Adapter("chat_jsonl", 1, "record", counting))
    data, config = _source(tmp_path, "a", "b")
    lines = [chat_line(i) for i in range(100)]
    rng = random.Random(3)
    (data / "a.jsonl").write_text("".join(rng.sample(lines * 3, 300)))
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat, ["a"])
        assert len(calls) == 100
        (data / "b.jsonl").write_text("".join(lines))
        run_ingest(config, cat, ["b"])  # a new run: the catalog knows these lines
        assert len(calls) == 100
        stats = cat.ingest_stats()
        accounts = {Path(a["file"]).name: a for a in cat.accounts()}
    assert stats["examples"]["total"] == 100 and stats["provenance_rows"] == 400
    assert (accounts["a.jsonl"]["records"], accounts["a.jsonl"]["produced"]) == (300, 300)
    assert accounts["b.jsonl"]["examples_by_kind"] == {"sft": 100} and accounts["b.jsonl"]["balanced"]
