"""The process that runs one training job: `python -m samdata.train.worker CATALOG JOB_JSON`.

It owns the run's row from `running` to its end: metrics go to `validation_log` as the backend
reports them; SIGTERM (from `samdata runs stop`) ends the run `stopped`; any exception ends it
`failed` with the error, and the traceback goes to the job's train.log (a `RunFailed`, whose
message says everything, such as an external trainer's exit status and last lines, has none).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType

from samdata.catalog import Catalog, utcnow
from samdata.train import VOICE_BACKENDS, RunFailed, TrainJob


class StopRequested(BaseException):
    """Raised in the main thread by SIGTERM; a BaseException so trainers' `except Exception` let it by."""


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise StopRequested


def _adapter_or_none(job: TrainJob) -> str | None:
    d = job.adapter_dir
    if not d.is_dir():
        return None
    # A LoRA is its safetensors; an external voice trainer's model is whatever it wrote (.pth for RVC).
    kept = any(d.iterdir()) if job.backend in VOICE_BACKENDS else any(d.glob("*.safetensors"))
    return str(d) if kept else None


def run_job(catalog_path: Path, job_path: Path) -> int:
    """Run the job and record how it ended; the exit status is 0 completed, 1 failed, 3 stopped."""
    job = TrainJob.load(job_path)
    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        with Catalog.open(catalog_path) as catalog:
            if not catalog.start_run(job.run_id, os.getpid(), utcnow()):
                print("samdata: the run was stopped before it started", flush=True)
                return 3
            return _train(catalog, job)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train(catalog: Catalog, job: TrainJob) -> int:
    def report(step: int, **metrics: float | None) -> None:
        catalog.log_metrics(job.run_id, step, utcnow(), **metrics)

    try:
        backend = importlib.import_module(f"samdata.train.{job.backend}_backend")
        adapter = backend.train(job, report)
    except StopRequested:
        print("samdata: stopped by request", flush=True)
        catalog.finish_run(job.run_id, "stopped", utcnow(), error="stopped by request",
                           adapter_path=_adapter_or_none(job))  # fmt: skip
        return 3
    except RunFailed as e:
        print(f"samdata: failed: {e}", flush=True)
        catalog.finish_run(job.run_id, "failed", utcnow(), error=_tail(str(e)),
                           adapter_path=_adapter_or_none(job))  # fmt: skip
        return 1
    except BaseException as e:  # any end but success is recorded as failed
        traceback.print_exc()
        catalog.finish_run(job.run_id, "failed", utcnow(), error=f"{type(e).__name__}: {e}"[:2000])
        return 1
    catalog.finish_run(job.run_id, "completed", utcnow(), adapter_path=str(adapter))
    what = "model" if job.backend in VOICE_BACKENDS else "adapter"
    print(f"samdata: completed; {what} in {adapter}", flush=True)
    return 0


def _tail(message: str, limit: int = 2000) -> str:
    """The message cut to `limit` characters, keeping its first line and its end (where the last
    lines of a log say what went wrong)."""
    if len(message) <= limit:
        return message
    head = message.split("\n", 1)[0][: limit // 4]
    return f"{head}\n…\n{message[-(limit - len(head) - 3) :]}"


if __name__ == "__main__":
    sys.exit(run_job(Path(sys.argv[1]), Path(sys.argv[2])))
