"""`samdata train`: a LoRA run on an export, recorded in the catalog with its metrics and adapter.

A run is prepared here (the export is resolved and verified against its manifest, the model folder
checked, a `training_runs` row and a job folder made), then executed by a worker process
(`python -m samdata.train.worker`) so that it can be stopped, and so that a crash of the trainer
cannot take the catalog handle with it. The worker records every reported step in
`validation_log` and ends the run `completed`, `failed` (with the error) or `stopped`. A run whose
process vanished without a word (killed, machine slept) is marked failed the next time runs are
listed.

Backends: `mlx` (mlx-lm's LoRA trainer for SFT, mlx-lm-lora for DPO) reads `format = "mlx"`
exports; `trl` (transformers + peft + TRL's SFTTrainer / DPOTrainer) reads `format = "trl"`.
`rvc` trains a voice model on a `samdata voice package` folder by running the external command
configured in `[voice.rvc]` (samdata.train.rvc_backend): same job folder, worker, log and records,
mode `voice` and no export.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from samdata.catalog import Catalog, utcnow
from samdata.paths import write_bytes_atomic
from samdata.process import pid_alive

BACKENDS = ("mlx", "trl")  # text backends: they read exports
VOICE_BACKENDS = ("rvc",)  # voice backends: they read `samdata voice package` folders
# What each backend needs importable, and the install line that brings it.
_NEEDS = {
    "mlx": (("mlx_lm",), "pip install 'samdata[mlx]'"),
    "trl": (
        ("torch", "transformers", "peft", "trl"),
        "pip install torch==2.13.0 && pip install 'samdata[trl]'",
    ),
}


class TrainError(Exception):
    """The run cannot start: a bad export, model folder or backend."""


class RunFailed(Exception):
    """A run ended badly for a reason its message says in full (an external trainer's exit status
    and last lines): the worker records it without a traceback."""


class TrainOptions(BaseModel):
    """Settings of one run; every one is written to the job folder and the `training_runs` row."""

    model_config = ConfigDict(extra="forbid")

    steps: Annotated[int, Field(ge=1)] = 200
    batch_size: Annotated[int, Field(ge=1)] | None = None  # default: the recipe's batch_size
    learning_rate: Annotated[float, Field(gt=0)] = 1e-5
    lora_rank: Annotated[int, Field(ge=1)] = 8
    lora_alpha: Annotated[float, Field(gt=0)] = 16.0
    lora_layers: Annotated[int, Field(ge=1)] = 16  # mlx: how many top layers get adapters
    max_seq_length: Annotated[int, Field(ge=16)] = 2048
    report_every: Annotated[int, Field(ge=1)] = 10
    eval_every: Annotated[int, Field(ge=1)] = 50
    val_batches: Annotated[int, Field(ge=1)] = 25
    beta: Annotated[float, Field(gt=0)] = 0.1  # DPO
    mask_prompt: bool = False  # mlx SFT: train on the last assistant turn only
    seed: int = 0


@dataclass
class TrainJob:
    """Everything a backend needs to run, as the worker reads it back from the job folder."""

    run_id: int
    backend: str
    mode: Literal["sft", "dpo", "voice"]
    model: Path
    data_dir: Path
    job_dir: Path
    options: TrainOptions
    settings: dict[str, Any] = field(default_factory=dict)  # a voice backend's: its command, patterns

    @property
    def adapter_dir(self) -> Path:
        """Where the trained weights go: `adapter/` for a LoRA, `model/` for a voice backend's model."""
        return self.job_dir / ("model" if self.backend in VOICE_BACKENDS else "adapter")

    def dump(self) -> bytes:
        return orjson.dumps(
            {"run_id": self.run_id, "backend": self.backend, "mode": self.mode, "model": str(self.model),
             "data_dir": str(self.data_dir), "job_dir": str(self.job_dir), "options": self.options.model_dump(),
             "settings": self.settings},
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> TrainJob:
        d = orjson.loads(path.read_bytes())
        return cls(d["run_id"], d["backend"], d["mode"], Path(d["model"]), Path(d["data_dir"]),
                   Path(d["job_dir"]), TrainOptions(**d["options"]), d.get("settings") or {})  # fmt: skip


def missing_packages(backend: str) -> list[str]:
    """The modules `backend` needs that are not importable here."""
    return [m for m in _NEEDS[backend][0] if importlib.util.find_spec(m) is None]


def default_backend() -> str | None:
    """MLX on Apple silicon, else TRL, else MLX: whichever is installed first in that order."""
    order = ["mlx", "trl"] if (sys.platform == "darwin" and platform.machine() == "arm64") else ["trl", "mlx"]
    return next((b for b in order if not missing_packages(b)), None)


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_export(catalog: Catalog, export: str) -> tuple[int, Path, dict[str, Any]]:
    """An export given as its id (`3` or `#3`) or folder → (export id, folder, manifest), verified:
    the folder holds the files its manifest lists with the same sha256, and the catalog made it."""
    ref = export.removeprefix("#")
    if ref.isdigit() and not Path(export).is_dir():
        folder = catalog.export_dir(int(ref))
        if folder is None:
            raise TrainError(f"no export #{ref} in the catalog (samdata export NAME --out DIR makes one)")
        data_dir = Path(folder)
    else:
        data_dir = Path(export).expanduser().absolute()
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        raise TrainError(f"{data_dir}: no manifest.json; give a folder written by samdata export")
    manifest_bytes = manifest_path.read_bytes()
    manifest = orjson.loads(manifest_bytes)
    for name, sha in manifest.get("files", {}).items():
        path = data_dir / name
        if not path.is_file():
            raise TrainError(f"{path}: listed in the manifest but missing; export again")
        if file_sha256(path) != sha:
            raise TrainError(f"{path}: changed since it was exported (sha256 differs); export again")
    export_id = catalog.export_by_dir(str(data_dir), hashlib.sha256(manifest_bytes).hexdigest())
    if export_id is None:
        raise TrainError(
            f"{data_dir}: not an export of this catalog ({catalog.path}); a run must be traceable to "
            "the examples it saw, so export with this catalog first"
        )
    return export_id, data_dir, manifest


def _mode_of(manifest: dict[str, Any]) -> Literal["sft", "dpo"]:
    kinds = set(manifest["recipe"]["kinds"])
    if kinds == {"sft"}:
        return "sft"
    if kinds == {"preference"}:
        return "dpo"
    raise TrainError(f"export holds kinds {sorted(kinds)}; train reads sft or preference exports")


def _check_model(model: Path) -> None:
    if not (model / "config.json").is_file():
        raise TrainError(
            f"{model}: not a model folder (no config.json); give the local folder of a base model "
            "(samdata never downloads one)"
        )
    if not ((model / "tokenizer.json").is_file() or (model / "tokenizer_config.json").is_file()):
        raise TrainError(f"{model}: no tokenizer files beside the weights")


def prepare_run(
    catalog: Catalog,
    export: str,
    model: Path,
    backend: str | None = None,
    options: TrainOptions | None = None,
    job_dir: Path | None = None,
) -> TrainJob:
    """Check everything a run needs, then record it as `queued` with a job folder holding job.json."""
    options = options or TrainOptions()
    if backend in VOICE_BACKENDS:
        raise TrainError(
            f"backend {backend} trains a voice model on a voice package, not an export: "
            f"samdata train --backend {backend} --package DIR"
        )
    export_id, data_dir, manifest = resolve_export(catalog, export)
    fmt = manifest["recipe"]["format"]
    # Without --backend: the backend that reads the export's format, where it is installed.
    if backend is None:
        backend = fmt if fmt in BACKENDS and not missing_packages(fmt) else default_backend()
    if backend is None:
        raise TrainError(
            "no training backend installed: " + " or ".join(f"`{_NEEDS[b][1]}`" for b in BACKENDS)
        )
    if backend not in BACKENDS:
        raise TrainError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    missing = missing_packages(backend)
    if missing:
        raise TrainError(f"backend {backend} needs {', '.join(missing)}: {_NEEDS[backend][1]}")
    if fmt != backend:  # each backend reads the export format of its own name
        hint = f"use --backend {fmt}, or " if fmt in BACKENDS else ""
        raise TrainError(
            f"export #{export_id} is format {fmt!r}; backend {backend} reads format {backend!r} "
            f'({hint}set format = "{backend}" in the recipe and export again)'
        )
    mode = _mode_of(manifest)
    if backend == "mlx" and mode == "dpo" and importlib.util.find_spec("mlx_lm_lora") is None:
        raise TrainError("mlx DPO needs mlx-lm-lora (mlx-lm has no DPO): pip install 'samdata[mlx]'")
    model = model.expanduser().absolute()
    _check_model(model)
    batch_size = options.batch_size or manifest["recipe"].get("batch_size", 4)
    # mlx-lm refuses more LoRA layers than the model has: the default (16) is capped to a small model's.
    layers = orjson.loads((model / "config.json").read_bytes()).get("num_hidden_layers")
    lora_layers = (
        min(options.lora_layers, layers) if isinstance(layers, int) and layers > 0 else options.lora_layers
    )
    options = options.model_copy(update={"batch_size": batch_size, "lora_layers": lora_layers})
    if manifest["counts"]["train"] < batch_size:
        raise TrainError(f"export #{export_id} has {manifest['counts']['train']} train rows, fewer than "
                         f"batch_size {batch_size}")  # fmt: skip
    run_id = catalog.create_run(
        backend=backend, mode=mode, base_model=str(model), export_id=export_id, data_dir=str(data_dir),
        job_dir="", config=options.model_dump(), host=socket.gethostname(), now=utcnow(),
    )  # fmt: skip
    job_dir = (job_dir or catalog.path.parent / "runs" / f"run-{run_id:04d}").absolute()
    job_dir.mkdir(parents=True, exist_ok=True)
    job = TrainJob(run_id, backend, mode, model, data_dir, job_dir, options)
    write_bytes_atomic(job_dir / "job.json", job.dump())
    catalog.update_run(run_id, job_dir=str(job_dir))
    return job


def launch(catalog: Catalog, job: TrainJob) -> subprocess.Popen[bytes]:
    """Start the worker process for a prepared run (output to `job_dir/train.log`) and record its
    pid; a run whose worker cannot even start is marked failed."""
    try:
        proc = _spawn(catalog.path, job)
    except OSError as e:
        catalog.finish_run(job.run_id, "failed", utcnow(), error=f"could not start the worker: {e}")
        raise TrainError(f"run #{job.run_id}: could not start the worker: {e}") from e
    catalog.update_run(job.run_id, pid=proc.pid)
    return proc


def _spawn(catalog_path: Path, job: TrainJob) -> subprocess.Popen[bytes]:
    with open(job.job_dir / "train.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "samdata.train.worker", str(catalog_path), str(job.job_dir / "job.json")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the shell reaches it only through `stop`
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"},
        )


def vanished(run: dict[str, Any]) -> bool:
    """A running or queued run of this host whose worker process is gone (it ended without recording
    a result). A queued run never launched has no pid: `launch` failing is reported by its caller."""
    return (
        run["status"] in ("running", "queued")
        and run["pid"] is not None
        and run["host"] == socket.gethostname()
        and not pid_alive(int(run["pid"]))
    )


def reconcile(catalog: Catalog) -> list[int]:
    """Mark failed every running or queued run of this host whose process is gone; return their ids."""
    gone = []
    for run in catalog.runs():
        if vanished(run):
            msg = "the training process ended without recording a result (killed, or crashed hard)"
            if catalog.finish_run(run["id"], "failed", utcnow(), error=msg):
                gone.append(run["id"])
    return gone


def stop_run(catalog: Catalog, run_id: int, timeout: float = 30.0) -> str:
    """Ask a run's worker to stop (SIGTERM), wait for it to say so, kill it if it does not; the status."""
    run = catalog.run(run_id)
    if run is None:
        raise TrainError(f"no run #{run_id}")
    if run["status"] not in ("running", "queued"):
        return str(run["status"])
    if run["host"] != socket.gethostname():
        raise TrainError(f"run #{run_id} runs on {run['host']}; stop it there")
    pid = run["pid"]
    if pid is None or not pid_alive(pid):
        catalog.finish_run(run_id, "stopped", utcnow(), error="stopped before its process started")
        return "stopped"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    catalog.finish_run(run_id, "stopped", utcnow(), error=f"stopped by request after {timeout:.0f}s grace")
    latest = catalog.run(run_id)
    assert latest is not None
    return str(latest["status"])
