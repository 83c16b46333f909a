"""`samdata run`: the stages in one process under a lock, a history, exports only when inputs change,
and a run killed anywhere (SIGKILL) that the next run completes to the same catalog."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.demo.estate import build_estate
from samdata.pipeline import PipelineError, run_pipeline
from samdata.pipeline.lock import RunLock

SAMDATA = [sys.executable, "-m", "samdata"]

# What a completed pipeline leaves in the catalog, without times and run numbers.
STATE = {
    "examples": "SELECT id, kind, body, turns, chars, forgotten FROM examples ORDER BY id",
    "provenance": "SELECT f.source, f.path, p.locator, p.example_id, p.meta FROM provenance p"
    " JOIN ingest_files f ON f.id = p.file_id ORDER BY 1, 2, 3, 4",
    "quarantine": "SELECT source, file, locator, reason, snippet FROM quarantine ORDER BY 1, 2, 3, 4",
    "accounts": "SELECT * FROM ingest_accounts ORDER BY source, file",
    "labels": "SELECT * FROM labels ORDER BY 1",
    "findings": "SELECT example_id, kind, part, span_start, span_end, hash FROM findings ORDER BY 1, 3, 4",
    "neardup_pairs": "SELECT a, b, jaccard FROM neardup_pairs ORDER BY 1, 2",
    "files": "SELECT path, CASE kind WHEN 'symlink' THEN NULL ELSE size END, kind, format, records, bad_records, deleted_scan IS NULL FROM files ORDER BY path",
    "exports": "SELECT recipe, recipe_json, out_dir, counts FROM exports ORDER BY recipe",
    "members": "SELECT e.recipe, m.example_id, m.split FROM export_members m JOIN exports e ON e.id = m.export_id"
    " ORDER BY 1, 2",
}


def _state(config_path: Path) -> dict[str, list[tuple]]:
    """The catalog's content, with the estate's folder (a different temp folder per test) as <base>."""
    config = load_config(config_path)
    base = str(config_path.parent)

    def value(v: object) -> object:
        return v.replace(base, "<base>") if isinstance(v, str) else v

    with Catalog.open(config.catalog_path, readonly=True) as cat:
        state = {name: sorted(tuple(value(v) for v in r) for r in cat.conn.execute(sql))
                 for name, sql in STATE.items()}  # fmt: skip
    exported = sorted(p for p in config.catalog_path.parent.glob("exports/**/*") if p.is_file())
    state["export_files"] = [
        (str(p.relative_to(config.catalog_path.parent)), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in exported
        if p.name != "manifest.json"  # holds the export's time
    ]
    return state


def _samdata(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SAMDATA, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """The catalog after one uninterrupted `samdata run` of the demo estate."""
    estate = build_estate(tmp_path_factory.mktemp("reference"))
    r = _samdata("run", "--config", str(estate.config_path))
    assert r.returncode == 0, r.stderr
    return _state(estate.config_path)


def test_run_runs_every_stage_and_a_second_run_finds_nothing_new(tmp_path: Path) -> None:
    estate = build_estate(tmp_path / "e")
    config = str(estate.config_path)
    first = _samdata("run", "--config", config, "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    stages = {s["stage"]: s["status"] for s in report["stages"]}
    assert stages == {"scan": "ok", "ingest": "ok", "curate": "ok", "export:sam-sft": "ok",
                      "export:sam-sft-trl": "ok", "export:sam-dpo": "ok"}  # fmt: skip
    assert report["changes"]["examples"] > 1000 and report["changes"]["files"] > 10
    assert report["changes"]["exports_written"] == ["sam-sft", "sam-sft-trl", "sam-dpo"]

    second = _samdata("run", "--config", config)
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    assert "skipped: inputs unchanged" in second.stderr
    third = json.loads(_samdata("run", "--config", config, "--json").stdout)
    # nothing new: under 2 s in the process (the goal on the demo estate), interpreter start aside
    assert third["elapsed_s"] < 2.0, third
    assert not any(third["changes"][k] for k in ("files", "examples", "quarantined", "findings"))
    with Catalog.open(load_config(estate.config_path).catalog_path, readonly=True) as cat:
        runs = cat.pipeline_runs(10)
        assert cat.conn.execute("SELECT count(*) FROM exports").fetchone()[0] == 3
    assert [r["status"] for r in runs] == ["ok", "ok", "ok"]
    again = {s["stage"]: s for s in runs[-1]["stages"]}
    assert again["export:sam-sft"]["status"] == "skipped"

    history = _samdata("runs", "--pipeline", "--config", config, env={"COLUMNS": "200"})
    assert history.returncode == 0 and "export:sam-sft" in history.stdout


def test_an_export_is_written_again_when_its_inputs_change(tmp_path: Path) -> None:
    estate = build_estate(tmp_path / "e")
    config = load_config(estate.config_path)
    run_pipeline(config)
    out = config.export_dir("sam-sft")
    (out / "train.jsonl").unlink()  # the folder no longer holds what was recorded
    report = run_pipeline(config, stages=["export"])
    status = {s.stage: s.status for s in report.stages}
    assert status == {"export:sam-sft": "ok", "export:sam-sft-trl": "skipped", "export:sam-dpo": "skipped"}
    assert (out / "train.jsonl").exists()

    from samdata.capture import Capture

    Capture(config.catalog_path).record_conversation(
        [{"role": "user", "content": "A new question?"}, {"role": "assistant", "content": "A new answer."}]
    )
    report = run_pipeline(config, stages=["curate", "export"])
    status = {s.stage: s.status for s in report.stages}
    assert status["export:sam-sft"] == "ok" and status["export:sam-dpo"] == "ok", status
    assert report.changes["examples"] == 1


def test_a_second_run_while_one_holds_the_lock_exits_75_and_changes_nothing(tmp_path: Path) -> None:
    estate = build_estate(tmp_path / "e")
    config = load_config(estate.config_path)
    with RunLock(config.catalog_path).hold():
        r = _samdata("run", "--config", str(estate.config_path))
        assert r.returncode == 75, (r.returncode, r.stderr)
        assert "another samdata run holds" in r.stderr and f"pid {os.getpid()}" in r.stderr
    assert not config.catalog_path.exists() or not Catalog.open(config.catalog_path).pipeline_runs(5)
    assert _samdata("run", "--config", str(estate.config_path), "--stage", "scan").returncode == 0


def test_a_failing_stage_stops_the_run_with_a_one_line_reason(tmp_path: Path) -> None:
    estate = build_estate(tmp_path / "e")
    config = load_config(estate.config_path)
    run_pipeline(config, stages=["scan", "ingest", "curate"])
    out = config.export_dir("sam-sft")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("a file where the export folder should be")
    r = _samdata("run", "--config", str(estate.config_path))
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: export:sam-sft failed:"), r.stderr
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        run = cat.pipeline_runs(1)[-1]
    assert run["status"] == "failed" and run["error"].startswith("export:sam-sft failed")
    stages = {s["stage"]: s["status"] for s in run["stages"]}
    assert stages["export:sam-sft"] == "failed" and "export:sam-dpo" not in stages
    with pytest.raises(PipelineError, match="export:sam-sft failed"):
        run_pipeline(config)
    assert not RunLock(config.catalog_path).path.exists() or _lock_is_free(config.catalog_path)


def _lock_is_free(catalog: Path) -> bool:
    with RunLock(catalog).hold():
        return True


# A run killed with SIGKILL at a stage boundary (after the stage finished) or in the middle of one
# (after its first write to the catalog): a driver process patches the point, then kills itself.
KILL_DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    from samdata.catalog import Catalog
    from samdata.config import load_config
    from samdata.pipeline import run_pipeline

    config, where = load_config(sys.argv[1]), sys.argv[2]
    def die(*_a, **_k):
        os.kill(os.getpid(), signal.SIGKILL)
    def after_first(name):
        original = getattr(Catalog, name)
        def patched(self, *a, **k):
            result = original(self, *a, **k)
            die()
            return result
        setattr(Catalog, name, patched)
    if where.startswith("after:"):
        stage = where.split(":", 1)[1]
        run_pipeline(config, on_stage=lambda r: die() if r.stage == stage else None, workers=1)
    else:
        after_first(where)
        run_pipeline(config, workers=1)
    sys.exit(3)  # not killed: the patched point was never reached
    """
)

KILL_POINTS = ["after:scan", "after:ingest", "after:curate", "after:export:sam-sft",
               "upsert_files", "commit_batch", "save_labels", "record_export"]  # fmt: skip


@pytest.mark.parametrize("where", KILL_POINTS)
def test_a_run_killed_anywhere_is_completed_by_the_next_to_the_same_catalog(
    tmp_path: Path, where: str, reference: dict[str, list[tuple]]
) -> None:
    estate = build_estate(tmp_path / "e")
    killed = subprocess.run([sys.executable, "-c", KILL_DRIVER, str(estate.config_path), where],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert killed.returncode == -9, (killed.returncode, killed.stderr[-2000:])
    r = _samdata("run", "--config", str(estate.config_path))  # would exit 75 if the lock were held
    assert r.returncode == 0, r.stderr
    assert "was killed mid-way" in r.stdout
    assert _state(estate.config_path) == reference
    with Catalog.open(load_config(estate.config_path).catalog_path, readonly=True) as cat:
        runs = cat.pipeline_runs(5)
    assert [run["status"] for run in runs] == ["killed", "ok"]
    assert runs[0]["error"].startswith("the process was killed during")
    last = runs[0]["stages"][-1]
    if where.startswith("after:"):
        assert last["stage"] == where.split(":", 1)[1] and last["status"] == "ok", last
    else:
        assert last["status"] == "interrupted" and last["error"] == "the process was killed", last


def test_an_interrupted_run_is_recorded_and_releases_the_lock(tmp_path: Path) -> None:
    estate = build_estate(tmp_path / "e")
    config = load_config(estate.config_path)

    def stop(result: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(config, on_stage=stop)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        run = cat.pipeline_runs(1)[-1]
    assert run["status"] == "interrupted" and [s["stage"] for s in run["stages"]] == ["scan"]
    assert _lock_is_free(config.catalog_path)
    shutil.rmtree(config.export_dir("sam-sft"), ignore_errors=True)
    assert run_pipeline(config).status == "ok"


def test_a_recipe_with_a_train_table_is_trained_after_each_fresh_export(
    tmp_path: Path, tiny_model: Path
) -> None:
    estate = build_estate(tmp_path / "e")
    with open(estate.config_path, "a") as f:
        f.write(f'\n[recipes.sam-sft-trl.train]\nmodel = "{tiny_model}"\nsteps = 2\nmax_seq_length = 256\n')
    config = load_config(estate.config_path)
    report = run_pipeline(config)
    trained = next(s for s in report.stages if s.stage == "train:sam-sft-trl")
    assert trained.status == "ok", trained
    assert (
        trained.figures["steps"] == 2 and (trained.figures["train_loss"] or trained.figures["valid_loss"]) > 0
    )
    assert report.changes["trained"] == [trained.figures["run_id"]]
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        run = cat.run(trained.figures["run_id"])
        export_id = next(s for s in report.stages if s.stage == "export:sam-sft-trl").figures["export_id"]
    assert run["status"] == "completed" and run["export_id"] == export_id
    again = run_pipeline(config)
    skipped = next(s for s in again.stages if s.stage == "train:sam-sft-trl")
    assert skipped.status == "skipped" and skipped.figures["reason"] == "the export was not written anew"
