"""`samdata train` end to end on a tiny local Qwen2: both backends, SFT and DPO, the run and its
metrics and adapter recorded; failures, stops and vanished processes recorded too."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from samdata.catalog import Catalog, utcnow
from samdata.config import load_config
from samdata.curate import run_curate
from samdata.export import run_export
from samdata.ingest import run_ingest
from samdata.train import TrainError, TrainOptions, prepare_run, reconcile
from tests.conftest import real_fixtures
from tests.test_cli import run_cli

FAST = ["--steps", "10", "--batch-size", "2", "--eval-every", "5", "--report-every", "5",
        "--lora-layers", "2", "--max-seq-length", "256", "--learning-rate", "1e-3"]  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config with SFT and DPO recipes in both formats, ingested, curated and exported."""
    root = real_fixtures()
    tmp = tmp_path_factory.mktemp("train")
    body = (
        f'[[sources]]\nname = "oasst"\npath = "{root}/oasst/*.jsonl"\nformat = "auto"\n'
        f'[[sources]]\nname = "alpaca"\npath = "{root}/alpaca/alpaca_en_demo.json"\nformat = "auto"\n'
        f'[[sources]]\nname = "dpo"\npath = "{root}/dpo/dpo_en_demo.json"\nformat = "auto"\n'
    )
    # Preference recipes have no test split: mlx-lm-lora refuses OASST's multi-turn prompts, which
    # leaves too few pairs for three splits of batch_size 2.
    for kind, sources, splits in (
        ("sft", '["oasst", "alpaca"]', "train = 0.8, valid = 0.1, test = 0.1"),
        ("preference", '["dpo", "oasst"]', "train = 0.8, valid = 0.2"),
    ):
        for fmt in ("mlx", "trl"):
            body += (f'[recipes.{kind}-{fmt}]\nsources = {sources}\nkinds = ["{kind}"]\nformat = "{fmt}"\n'
                     f"splits = {{ {splits} }}\nbatch_size = 2\n")  # fmt: skip
    body += ('[recipes.sft-trl-completions]\nsources = ["oasst", "alpaca"]\nformat = "trl"\nrows = "completions"\n'
             "splits = { train = 0.8, valid = 0.1, test = 0.1 }\nbatch_size = 2\n")  # fmt: skip
    cfg_path = tmp / "samdata.toml"
    cfg_path.write_text(body)
    config = load_config(cfg_path)
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        run_curate(config, cat)
        for name in config.recipes:
            run_export(config, cat, name, tmp / "exports" / name)
    return cfg_path


def _catalog(project: Path) -> Catalog:
    return Catalog.open(load_config(project).catalog_path)


@pytest.mark.parametrize(
    ("backend", "recipe"),
    [
        ("mlx", "sft-mlx"),
        ("mlx", "preference-mlx"),
        ("trl", "sft-trl"),
        ("trl", "preference-trl"),
        ("trl", "sft-trl-completions"),
    ],
)
def test_train_records_run_metrics_and_adapter(
    project: Path, tiny_model: Path, backend: str, recipe: str
) -> None:
    export_dir = project.parent / "exports" / recipe
    res = run_cli("train", str(export_dir), "--model", str(tiny_model), "--backend", backend, *FAST,
                  "--config", str(project), "--json")  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    run = json.loads(res.stdout)
    assert run["status"] == "completed" and run["error"] is None
    assert run["backend"] == backend and run["mode"] == ("dpo" if recipe.startswith("preference") else "sft")
    assert run["config"]["steps"] == 10 and run["base_model"] == str(tiny_model)
    steps = [m["step"] for m in run["metrics"]]
    assert max(steps) == 10
    train_losses = [m["train_loss"] for m in run["metrics"] if m["train_loss"] is not None]
    valid_losses = [m["valid_loss"] for m in run["metrics"] if m["valid_loss"] is not None]
    assert (
        len(train_losses) == 2 and valid_losses and all(math.isfinite(x) for x in train_losses + valid_losses)
    )
    assert all(m["tokens_per_second"] > 0 for m in run["metrics"] if m["train_loss"] is not None)
    adapter = Path(run["adapter_path"])
    assert adapter.parent == Path(run["job_dir"]) and (adapter.parent / "job.json").is_file()
    assert (adapter / ("adapters.safetensors" if backend == "mlx" else "adapter_model.safetensors")).is_file()

    with _catalog(project) as cat:
        # The run is part of every trained example's lineage.
        member = next(i for i, s in cat.export_members(run["export_id"]).items() if s == "train")
        trace = cat.trace(member)
        assert trace is not None and run["id"] in [r["run_id"] for r in trace["runs"]]
    res = run_cli("forget", member, "--config", str(project))  # a dry run: lists the runs that saw it
    assert f"seen by run #{run['id']} ({backend}" in res.stdout


def test_adapters_load_in_their_libraries(project: Path, tiny_model: Path) -> None:
    """The adapters are not just files: mlx-lm and peft load them onto the base model."""
    with _catalog(project) as cat:
        done = {r["backend"]: r for r in cat.runs("completed") if r["mode"] == "sft"}
    if len(done) < 2:  # run on its own: train both first
        for backend in ("mlx", "trl"):
            res = run_cli("train", str(project.parent / "exports" / f"sft-{backend}"), "--model",
                          str(tiny_model), "--backend", backend, *FAST, "--config", str(project))  # fmt: skip
            assert res.returncode == 0, res.stdout + res.stderr
        with _catalog(project) as cat:
            done = {r["backend"]: r for r in cat.runs("completed") if r["mode"] == "sft"}
    from mlx_lm import load

    model, _ = load(str(tiny_model), adapter_path=done["mlx"]["adapter_path"])
    assert any("lora" in type(m).__name__.lower() for _, m in model.named_modules())
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    peft_model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model), done["trl"]["adapter_path"]
    )
    assert any("lora_A" in name for name, _ in peft_model.named_parameters())


def test_a_crashing_run_is_marked_failed_with_its_error(
    project: Path, tiny_model: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    res = run_cli("train", str(project.parent / "exports" / "sft-trl"), "--model", str(broken), "--backend", "trl",
                  *FAST, "--config", str(project), "--json")  # fmt: skip
    assert res.returncode == 1
    run = json.loads(res.stdout)
    assert run["status"] == "failed" and run["error"] and run["finished_at"] and run["adapter_path"] is None
    assert "Traceback" in (Path(run["job_dir"]) / "train.log").read_text()


def test_a_run_can_be_stopped(project: Path, tiny_model: Path) -> None:
    res = run_cli("train", str(project.parent / "exports" / "sft-mlx"), "--model", str(tiny_model), "--backend",
                  "mlx", *FAST, "--steps", "100000", "--report-every", "1", "--detach", "--config", str(project))  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = int(res.stdout.split("#")[1].split()[0])
    deadline = time.monotonic() + 120
    with _catalog(project) as cat:
        while time.monotonic() < deadline and not cat.metrics(run_id):
            time.sleep(0.5)
        run = cat.run(run_id)
        assert run is not None and run["status"] == "running" and cat.metrics(run_id), run
    listing = run_cli("runs", "--config", str(project))
    assert "running" in listing.stdout
    res = run_cli("runs", "stop", str(run_id), "--config", str(project))
    assert res.returncode == 0 and "stopped" in res.stdout
    with _catalog(project) as cat:
        run = cat.run(run_id)
    assert run is not None and run["status"] == "stopped" and run["error"] == "stopped by request"
    shown = run_cli("runs", "show", str(run_id), "--config", str(project), "--json")
    assert json.loads(shown.stdout)["status"] == "stopped"


def test_a_vanished_process_is_marked_failed(project: Path, tiny_model: Path) -> None:
    with _catalog(project) as cat:
        job = prepare_run(
            cat, str(project.parent / "exports" / "sft-trl"), tiny_model, "trl", TrainOptions(steps=1)
        )
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        cat.update_run(job.run_id, status="running", pid=dead.pid, started_at=utcnow())
        assert job.run_id in reconcile(cat)
        run = cat.run(job.run_id)
    assert run is not None and run["status"] == "failed" and "without recording" in run["error"]


def test_refusals_say_what_is_wrong(project: Path, tiny_model: Path, tmp_path: Path) -> None:
    exports = project.parent / "exports"
    with _catalog(project) as cat:
        cases = [
            (str(exports / "sft-trl"), tiny_model, "mlx", "backend mlx reads format 'mlx'"),
            (str(exports / "sft-mlx"), tmp_path, "mlx", "not a model folder"),
            (str(tmp_path), tiny_model, "mlx", "no manifest.json"),
            ("999", tiny_model, "mlx", "no export #999"),
        ]
        for export, model, backend, message in cases:
            with pytest.raises(TrainError, match=message):
                prepare_run(cat, export, model, backend)
        copy = tmp_path / "copy"
        copy.mkdir()
        for f in (exports / "sft-mlx").iterdir():
            (copy / f.name).write_bytes(f.read_bytes())
        with pytest.raises(TrainError, match="not an export of this catalog"):
            prepare_run(cat, str(copy), tiny_model, "mlx")
        with open(exports / "sft-mlx" / "valid.jsonl", "ab") as f:
            f.write(b'{"messages": []}\n')
        try:
            with pytest.raises(TrainError, match="changed since it was exported"):
                prepare_run(cat, str(exports / "sft-mlx"), tiny_model, "mlx")
        finally:
            raw = (exports / "sft-mlx" / "valid.jsonl").read_bytes()
            (exports / "sft-mlx" / "valid.jsonl").write_bytes(raw[: -len(b'{"messages": []}\n')])
    res = run_cli("train", "999", "--model", str(tiny_model), "--config", str(project))
    assert res.returncode == 2 and "no export #999" in (res.stdout + res.stderr)


def test_a_worker_that_cannot_start_fails_the_run(project: Path, tiny_model: Path, monkeypatch) -> None:
    import samdata.train as train

    monkeypatch.setattr(train.sys, "executable", str(project.parent / "no-such-python"))
    with _catalog(project) as cat:
        job = prepare_run(
            cat, str(project.parent / "exports" / "sft-trl"), tiny_model, "trl", TrainOptions(steps=1)
        )
        with pytest.raises(TrainError, match="could not start the worker"):
            train.launch(cat, job)
        run = cat.run(job.run_id)
    assert run is not None and run["status"] == "failed" and "could not start" in run["error"]


def test_a_run_stopped_before_its_worker_starts_stays_stopped(project: Path, tiny_model: Path) -> None:
    from samdata.train import stop_run
    from samdata.train.worker import run_job

    with _catalog(project) as cat:
        job = prepare_run(
            cat, str(project.parent / "exports" / "sft-trl"), tiny_model, "trl", TrainOptions(steps=1)
        )
        assert stop_run(cat, job.run_id) == "stopped"
        assert run_job(cat.path, job.job_dir / "job.json") == 3
        run = cat.run(job.run_id)
    assert run is not None and run["status"] == "stopped" and run["started_at"] is None
