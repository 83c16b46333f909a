"""RVC backend: `samdata train --backend rvc --package DIR` runs the external trainer configured in
`[voice.rvc]` on a `samdata voice package` folder, and records it like the text backends' runs.

RVC itself (its HuBERT and pitch models, pretrained generator and a GPU) is not something samdata
ships or downloads, so the trainer is a command the user points at: an argument list with
`{package}`, `{rate}`, `{out}` and `{speaker}` filled in. `prepare` checks the package (its manifest
and every file it lists, filelist.txt, 0_gt_wavs) and the command, and records a `training_runs` row
(mode `voice`, no export, the package as data_dir) with a job folder; `launch` starts the same
worker the text backends use, which calls `train` here: the command runs in a process group of its
own, its output goes line by line to the job's train.log, and loss lines become `validation_log`
rows. A non-zero exit fails the run with the status and the log's last lines; `samdata runs stop`
stops the whole process group.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from samdata.catalog import Catalog, utcnow
from samdata.config import Config
from samdata.paths import write_bytes_atomic
from samdata.train import RunFailed, TrainError, TrainJob, TrainOptions, file_sha256

PLACEHOLDERS = ("package", "rate", "out", "speaker")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
TAIL_LINES = 20  # of the command's output, in a failed run's error
STOP_GRACE_S = 10.0  # between SIGTERM and SIGKILL of the command's process group (stop_run waits 30)
# RVC's own trainer logs the generator's loss terms, not their sum; a line with all four records
# their sum, the loss_gen_all it optimises (as logged: RVC clamps mel at 75 and kl at 9 for display).
_TERMS = ("loss_gen", "loss_fm", "loss_mel", "loss_kl")
_TERM = re.compile(r"\b(loss_gen|loss_fm|loss_mel|loss_kl)\s*=\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")

EXAMPLE = (
    "[voice.rvc]\n"
    'command = ["python", "/path/to/rvc/train.py", "{package}", "--sr", "{rate}", "--out", "{out}"]'
)


def check_package(package: Path) -> tuple[dict[str, Any], str]:
    """A folder written by `samdata voice package` → (its manifest, the manifest's sha256), verified:
    the manifest's schema and rate, filelist.txt and its rows, 0_gt_wavs, and every file the manifest
    lists with the same sha256. TrainError says what is wrong."""
    from samdata.voice import VERSION
    from samdata.voice.package import RATES

    make = "make one with `samdata voice package --speaker NAME --out DIR`"
    if not package.is_dir():
        raise TrainError(f"{package}: no such folder; give a voice package ({make})")
    manifest_path = package / "manifest.json"
    if not manifest_path.is_file():
        raise TrainError(f"{package}: not a samdata voice package (no manifest.json); {make}")
    raw = manifest_path.read_bytes()
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise TrainError(f"{manifest_path}: not JSON ({e}); package again") from e
    schema = manifest.get("schema") if isinstance(manifest, dict) else None
    if not isinstance(schema, str) or not schema.startswith("samdata.voice-package/"):
        raise TrainError(
            f"{package}: not a samdata voice package (manifest schema {schema!r}, not samdata.voice-package/N);"
            f" {make}. A text export trains with --backend mlx or trl"
        )
    if schema != f"samdata.voice-package/{VERSION}":
        raise TrainError(f"{package}: package schema {schema}; this samdata reads "
                         f"samdata.voice-package/{VERSION}: package again")  # fmt: skip
    if manifest.get("rate") not in RATES:
        raise TrainError(f"{manifest_path}: rate {manifest.get('rate')!r} is not one RVC trains at ({RATES})")
    filelist = package / "filelist.txt"
    if not filelist.is_file():
        raise TrainError(f"{package}: no filelist.txt (RVC's training list); package again")
    if not (package / "0_gt_wavs").is_dir() or not any((package / "0_gt_wavs").glob("*.wav")):
        raise TrainError(f"{package}: no clips in 0_gt_wavs; package again")
    for name, sha in (manifest.get("files") or {}).items():
        path = package / name
        if not path.is_file():
            raise TrainError(f"{path}: listed in the manifest but missing; package again")
        if file_sha256(path) != sha:
            raise TrainError(f"{path}: changed since it was packaged (sha256 differs); package again")
    for n, row in enumerate(filelist.read_text(encoding="utf-8").splitlines(), 1):
        gt = row.split("|", 1)[0]
        if row.strip() and not (package / gt).is_file():
            raise TrainError(f"{filelist}:{n}: {gt} is missing; package again")
    return manifest, hashlib.sha256(raw).hexdigest()


def join(args: list[str]) -> str:
    """An argument list as a shell line, placeholders left readable (`{package}`, not `'{package}'`)."""
    return " ".join(a if re.fullmatch(r"[\w@%+=:,./{}-]+", a) else shlex.quote(a) for a in args)


def fill(template: list[str], values: dict[str, str]) -> list[str]:
    """The command with `{package}`, `{rate}`, `{out}` and `{speaker}` replaced; other braces are
    left as written (an argument may be JSON)."""
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in template]


def _program(name: str, cwd: Path, env: dict[str, str], config: str) -> str:
    """The command's program as an absolute path: a path (relative to `cwd`) or a name on PATH."""
    if os.sep in name:
        path = Path(name) if Path(name).is_absolute() else cwd / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        why = "not executable" if path.is_file() else "no such file"
        raise TrainError(f"[voice.rvc] command: {path}: {why}; fix the command in {config}")
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found is None:
        raise TrainError(
            f"[voice.rvc] command: {name!r}: command not found on PATH; fix the command in {config}"
        )
    return found


def prepare(catalog: Catalog, config: Config, package: Path, job_dir: Path | None = None) -> TrainJob:
    """Check the package and the configured command, then record the run as `queued` with a job
    folder holding job.json; `samdata.train.launch` starts it."""
    rvc = config.voice.rvc
    where = str(config.config_path or "samdata.toml")
    if not rvc.command:
        raise TrainError(
            f"no [voice.rvc] command in {where}: add the trainer to run on the package, e.g.\n{EXAMPLE}"
        )
    package = package.expanduser().absolute()
    manifest, manifest_sha = check_package(package)
    cwd = Path(os.path.expanduser(rvc.cwd)) if rvc.cwd else config.base_dir
    cwd = (cwd if cwd.is_absolute() else config.base_dir / cwd).absolute()
    if not cwd.is_dir():
        raise TrainError(f"[voice.rvc] cwd: {cwd}: no such folder; fix it in {where}")
    program = _program(rvc.command[0], cwd, {**os.environ, **rvc.env}, where)
    record: dict[str, Any] = {
        "command": list(rvc.command), "cwd": str(cwd), "env": dict(rvc.env), "loss_pattern": rvc.loss_pattern,
        "step_pattern": rvc.step_pattern, "speaker": manifest["speaker"], "rate": manifest["rate"],
        "clips": len(manifest.get("clips") or []), "clean_seconds": manifest.get("clean_seconds"),
        "package_manifest_sha256": manifest_sha, "consent": manifest.get("consent"),
    }  # fmt: skip
    run_id = catalog.create_run(
        backend="rvc", mode="voice", base_model=join(rvc.command), export_id=None, data_dir=str(package),
        job_dir="", config=record, host=socket.gethostname(), now=utcnow(),
    )  # fmt: skip
    job_dir = (job_dir or catalog.path.parent / "runs" / f"run-{run_id:04d}").absolute()
    job = TrainJob(run_id, "rvc", "voice", Path(program), package, job_dir, TrainOptions())
    job.adapter_dir.mkdir(parents=True, exist_ok=True)
    values = {"package": str(package), "rate": str(manifest["rate"]), "out": str(job.adapter_dir),
              "speaker": str(manifest["speaker"])}  # fmt: skip
    command = [program, *fill(rvc.command[1:], values)]
    job.settings = {"command": command, "cwd": str(cwd), "env": dict(rvc.env),
                    "loss_pattern": rvc.loss_pattern, "step_pattern": rvc.step_pattern}  # fmt: skip
    write_bytes_atomic(job_dir / "job.json", job.dump())
    catalog.update_run(run_id, job_dir=str(job_dir), config={**record, "run_command": command})
    return job


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


class LossReader:
    """Reads a trainer's output lines into (step, metrics) for `validation_log`.

    A line matching `step_pattern` sets the step (and learning rate) of the loss lines after it. A
    line matching `loss_pattern` gives `train_loss` from its `loss` group, `valid_loss` and
    `learning_rate` from `valid_loss` and `lr` groups, and its step from a `step` group, else the
    last step line's, else a count of loss lines. A line with RVC's four generator loss terms records
    their sum. Non-finite losses (a diverged run) are not recorded: the log keeps them."""

    def __init__(self, loss_pattern: str, step_pattern: str) -> None:
        self.loss = re.compile(loss_pattern)
        self.step_line = re.compile(step_pattern)
        self.step: int | None = None
        self.lr: float | None = None
        self.count = 0

    def feed(self, line: str) -> tuple[int, dict[str, float | None]] | None:
        """The metrics a line gives, or None."""
        m = self.step_line.search(line)
        if m:
            self.step = int(m.group("step"))
            self.lr = _number(m.groupdict().get("lr"))
            return None
        step: str | None = None
        m = self.loss.search(line)
        if m:
            groups = m.groupdict()
            loss, valid = _number(groups.get("loss")), _number(groups.get("valid_loss"))
            step, lr = groups.get("step"), _number(groups.get("lr"))
        else:
            terms = dict(_TERM.findall(line))
            if set(terms) != set(_TERMS):
                return None
            total = sum(float(terms[t]) for t in _TERMS)
            loss, valid, lr = (total if math.isfinite(total) else None), None, None
        if loss is None and valid is None:
            return None
        self.count += 1
        at = int(step) if step is not None else self.step if self.step is not None else self.count
        return at, {
            "train_loss": loss,
            "valid_loss": valid,
            "learning_rate": lr if lr is not None else self.lr,
        }


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Stop the command's whole process group (RVC's data loaders and workers too): SIGTERM, then
    SIGKILL after a grace. A second SIGTERM to the worker must not cut this short."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _failure(command: list[str], status: int, tail: deque[str]) -> str:
    how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
    last = "\n".join(tail) if tail else "(it printed nothing)"
    return f"{Path(command[0]).name} {how}; its last lines:\n{last}"


def train(job: TrainJob, report: Callable[..., None]) -> Path:
    """Run the job's command, stream its output to train.log (the worker's stdout) and its losses
    to `report`; return the folder it wrote its model to. RunFailed for a non-zero exit or an empty
    model folder."""
    s = job.settings
    command: list[str] = s["command"]
    out = job.adapter_dir
    out.mkdir(parents=True, exist_ok=True)
    reader = LossReader(s["loss_pattern"], s["step_pattern"])
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    print(f"samdata: running {join(command)} (in {s['cwd']})", flush=True)
    try:
        proc = subprocess.Popen(
            command, cwd=s["cwd"], env={**os.environ, "PYTHONUNBUFFERED": "1", **s["env"]},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            process_group=0,  # its own group, so a stop reaches everything it started
        )  # fmt: skip
    except OSError as e:
        raise RunFailed(f"could not start {command[0]}: {e}") from e
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.flush()
            # Progress bars redraw with \r: each redraw is a line of its own.
            for line in raw.decode("utf-8", "replace").replace("\r", "\n").splitlines():
                line = line.strip()
                if not line:
                    continue
                tail.append(line)
                got = reader.feed(line)
                if got is not None:
                    report(got[0], **got[1])
        status = proc.wait()
    finally:
        if proc.poll() is None:
            _end(proc)
    if status != 0:
        raise RunFailed(_failure(command, status, tail))
    if not any(out.iterdir()):
        raise RunFailed(
            f"{Path(command[0]).name} exited 0 but wrote nothing into {out}: the command must write its "
            "model to {out}"
        )
    return out
