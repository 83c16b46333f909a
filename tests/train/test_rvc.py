"""`samdata train --backend rvc --package DIR` on a real voice package (espeak-ng speech through
`samdata voice`), with a stand-in trainer: a script that does the checks RVC's trainer does on a
package (filelist rows, every WAV opened, rates against the manifest), prints loss lines and writes a
model into {out}. RVC itself needs its models and a GPU. The run, its losses and model are recorded;
a failing command, a stop, and the refusals too."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import orjson
import pytest

from samdata.catalog import Catalog, utcnow
from samdata.config import RVC_LOSS_PATTERN, RVC_STEP_PATTERN, load_config
from samdata.process import pid_alive
from samdata.train import TrainError
from samdata.train.rvc_backend import LossReader, check_package, prepare
from tests.conftest import catalog_at
from tests.test_cli import run_cli
from tests.voice.speech import SENTENCES, recording, voice_toml, write_wav

# What RVC's trainer does with a package before it trains (its data loader reads filelist.txt and
# opens each WAV with scipy.io.wavfile, refusing a rate other than the one it trains at), then
# `epoch=N step=M loss=X` lines and a model in --out. FAKE_RVC=fail exits 3 after a few lines;
# FAKE_RVC=hang keeps training (with a child process, as RVC's loaders are) until it is stopped.
FAKE_RVC = r"""
import argparse, json, os, struct, subprocess, sys, time

def wav_rate(path):
    raw = open(path, "rb").read()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", path
    pos, rate, frames = 12, None, None
    while pos < len(raw):
        tag, size = raw[pos:pos + 4], struct.unpack("<I", raw[pos + 4:pos + 8])[0]
        if tag == b"fmt ":
            fmt, channels, rate, _, align, bits = struct.unpack("<HHIIHH", raw[pos + 8:pos + 24])
            assert (fmt, channels, bits) == (3, 1, 32), (path, fmt, channels, bits)
        elif tag == b"data":
            frames = size // 4
        pos += 8 + size + (size & 1)
    assert rate and frames, path
    return rate

p = argparse.ArgumentParser()
p.add_argument("package"); p.add_argument("--sr", type=int); p.add_argument("--out")
p.add_argument("--speaker")
a = p.parse_args()
mode = os.environ.get("FAKE_RVC", "ok")
manifest = json.load(open(os.path.join(a.package, "manifest.json")))
if manifest["rate"] != a.sr:
    sys.exit(f"sampling rate doesn't match: package {manifest['rate']}, --sr {a.sr}")
rows = open(os.path.join(a.package, "filelist.txt")).read().splitlines()
checked = 0
for row in rows:
    gt, feature, f0, f0nsf, speaker_id = row.split("|")
    if wav_rate(os.path.join(a.package, gt)) != a.sr:
        sys.exit(f"{gt}: sampling rate doesn't match {a.sr}")
    at16 = gt.replace("0_gt_wavs", "1_16k_wavs")
    at16 = "mute/1_16k_wavs/mute.wav" if gt.startswith("mute/") else at16
    if wav_rate(os.path.join(a.package, at16)) != 16000:
        sys.exit(f"{at16}: not 16 kHz")
    assert speaker_id == "0" and feature.endswith(".npy"), row
    checked += 1
print(f"checked {checked} rows of {a.speaker} at {a.sr}", flush=True)
if mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    open(os.path.join(a.out, "pids"), "w").write(f"{os.getpid()} {child.pid}")
    step = 0
    while True:
        step += 1
        print(f"epoch=1 step={step} loss={3.0 / step:.4f}", flush=True)
        time.sleep(0.2)
for epoch in (1, 2, 3):
    print(f"Train Epoch: {epoch} [100%]", flush=True)
    print(f"epoch={epoch} step={epoch * 10} loss={4.0 - epoch:.3f}", flush=True)
    if mode == "fail" and epoch == 2:
        print("RuntimeError: CUDA out of memory (stand-in)", flush=True)
        sys.exit(3)
json.dump({"rows": checked}, open(os.path.join(a.out, "checked.json"), "w"))
open(os.path.join(a.out, f"{a.speaker}.pth"), "wb").write(b"stand-in weights")
"""


def _toml(root: Path, rvc: str) -> str:
    return voice_toml([("alice", None, True)], [("alice-sessions", f"{root}/audio/*.wav", "alice")], rvc)


COMMAND = (
    f'command = ["{sys.executable}", "fake_rvc.py", "{{package}}", "--sr", "{{rate}}", "--out", "{{out}}",'
    ' "--speaker", "{speaker}"]'
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Recordings of one consented speaker, run through `samdata voice` and packaged at 40 kHz; one
    config per trainer behaviour, all on the same catalog."""
    from samdata.voice import run_voice
    from samdata.voice.package import package

    root = tmp_path_factory.mktemp("rvc")
    (root / "audio").mkdir()
    take = recording(SENTENCES[:3], pause_s=0.8)
    write_wav(root / "audio" / "session1.wav", take.samples, take.rate)
    (root / "fake_rvc.py").write_text(FAKE_RVC)
    configs = {
        "samdata.toml": f"[voice.rvc]\n{COMMAND}\n",
        "fail.toml": f'[voice.rvc]\n{COMMAND}\nenv = {{ FAKE_RVC = "fail" }}\n',
        "hang.toml": f'[voice.rvc]\n{COMMAND}\nenv = {{ FAKE_RVC = "hang" }}\n',
        "none.toml": "",
        "missing.toml": '[voice.rvc]\ncommand = ["no-such-rvc-trainer", "{package}"]\n',
    }
    for name, rvc in configs.items():
        (root / name).write_text(_toml(root, rvc))
    config = load_config(root / "samdata.toml")
    with Catalog.open(config.catalog_path) as cat:
        assert run_voice(config, cat).passed == 3
        package(config, cat, "alice", root / "alice-pkg", rate=40_000)
    return root


def _run(res_stdout: str) -> dict:
    return json.loads(res_stdout)


def test_a_run_is_recorded_with_its_losses_and_model(project: Path) -> None:
    pkg = project / "alice-pkg"
    res = run_cli("train", "--backend", "rvc", "--package", str(pkg), "--config", str(project / "samdata.toml"),
                  "--json")  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    run = _run(res.stdout)
    assert run["status"] == "completed" and run["error"] is None and run["finished_at"]
    assert (run["backend"], run["mode"], run["export_id"], run["data_dir"]) == (
        "rvc",
        "voice",
        None,
        str(pkg),
    )
    assert [(m["step"], m["train_loss"]) for m in run["metrics"]] == [(10, 3.0), (20, 2.0), (30, 1.0)]
    model = Path(run["adapter_path"])
    assert (
        model == Path(run["job_dir"]) / "model" and (model / "alice.pth").read_bytes() == b"stand-in weights"
    )
    manifest = orjson.loads((pkg / "manifest.json").read_bytes())
    # the stand-in opened every clip and the two mute rows, at the manifest's rate
    assert orjson.loads((model / "checked.json").read_bytes())["rows"] == len(manifest["clips"]) + 2 == 5
    c = run["config"]
    assert c["speaker"] == "alice" and c["rate"] == 40_000 and c["consent"]["by"] == "Alice Example"
    assert c["run_command"][2:] == [str(pkg), "--sr", "40000", "--out", str(model), "--speaker", "alice"]
    log = (Path(run["job_dir"]) / "train.log").read_text()
    assert "checked 5 rows of alice at 40000" in log and "epoch=3 step=30 loss=1.000" in log
    listing = run_cli("runs", "--config", str(project / "samdata.toml"), "--json")
    assert listing.returncode == 0, listing.stderr
    assert run["id"] in [r["id"] for r in json.loads(listing.stdout)["runs"]]
    table = run_cli("runs", "--config", str(project / "samdata.toml"))
    assert table.returncode == 0 and "rvc" in table.stdout, table.stderr
    shown = run_cli("runs", "show", str(run["id"]), "--config", str(project / "samdata.toml"))
    assert shown.returncode == 0 and "voice of alice" in shown.stdout and "fake_rvc.py" in shown.stdout
    with Catalog.open(load_config(project / "samdata.toml").catalog_path) as cat:
        overview = cat.runs_overview([run["id"]])[0]  # what the dashboard's runs page reads
    assert overview["last_step"] == 30 and overview["train_loss"] == 1.0 and overview["recipe"] is None
    from tests.serve.inprocess import client

    with client(load_config(project / "samdata.toml")) as http:
        index, page = http.get("/runs"), http.get(f"/runs/{run['id']}")
    assert index.status_code == 200 and f'href="/runs/{run["id"]}"' in index.text
    assert page.status_code == 200 and "rvc · voice" in page.text and "no export" in page.text
    assert str(model) in page.text and "polyline" in page.text  # the model, and the loss curve


def test_a_failing_command_is_recorded_failed_with_its_last_lines(project: Path) -> None:
    res = run_cli("train", "--package", str(project / "alice-pkg"), "--config", str(project / "fail.toml"),
                  "--json")  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    run = _run(res.stdout)
    assert run["status"] == "failed" and run["finished_at"]
    assert "exited with status 3" in run["error"] and "CUDA out of memory (stand-in)" in run["error"]
    assert [m["step"] for m in run["metrics"]] == [10, 20]  # the losses before it failed are kept
    assert (
        "Traceback" not in (Path(run["job_dir"]) / "train.log").read_text()
    )  # the command's failure, not ours


def test_a_run_can_be_stopped_with_everything_it_started(project: Path) -> None:
    cfg = str(project / "hang.toml")
    res = run_cli(
        "train", "--backend", "rvc", "--package", str(project / "alice-pkg"), "--detach", "--config", cfg
    )
    assert res.returncode == 0, res.stdout + res.stderr
    run_id = int(res.stdout.split("#")[1].split()[0])
    catalog_path = load_config(project / "hang.toml").catalog_path
    deadline = time.monotonic() + 30
    with Catalog.open(catalog_path) as cat:
        while time.monotonic() < deadline and len(cat.metrics(run_id)) < 2:
            time.sleep(0.2)
        run = cat.run(run_id)
        assert run is not None and run["status"] == "running" and len(cat.metrics(run_id)) >= 2, run
    pids = [int(p) for p in (Path(run["job_dir"]) / "model" / "pids").read_text().split()]
    assert all(pid_alive(p) for p in pids)
    res = run_cli("runs", "stop", str(run_id), "--config", cfg)
    assert res.returncode == 0 and "stopped" in res.stdout, res.stdout + res.stderr
    with Catalog.open(catalog_path) as cat:
        run = cat.run(run_id)
    assert run is not None and run["status"] == "stopped" and run["error"] == "stopped by request"
    deadline = time.monotonic() + 5  # the trainer and its child went with the worker
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(pid_alive(p) for p in pids)


def test_refusals_say_what_to_do(project: Path, tmp_path: Path) -> None:
    pkg = str(project / "alice-pkg")
    res = run_cli("train", "--backend", "rvc", "--package", pkg, "--config", str(project / "none.toml"))
    assert res.returncode == 2 and "no [voice.rvc] command" in res.stderr and "command = [" in res.stderr
    res = run_cli("train", "--backend", "rvc", "--package", pkg, "--config", str(project / "missing.toml"))
    assert res.returncode == 2 and "'no-such-rvc-trainer': command not found" in res.stderr, res.stderr
    res = run_cli("train", "--backend", "rvc", "--config", str(project / "samdata.toml"))
    assert res.returncode == 2 and "give --package DIR" in res.stderr
    res = run_cli("train", "--backend", "mlx", "--package", pkg, "--config", str(project / "samdata.toml"))
    assert res.returncode == 2 and "--backend rvc" in res.stderr
    res = run_cli("train", "--package", pkg, "--steps", "5", "--config", str(project / "samdata.toml"))
    assert res.returncode == 2 and "--steps" in res.stderr and "[voice.rvc] command" in res.stderr

    config = load_config(project / "samdata.toml")
    with Catalog.open(config.catalog_path) as cat:
        before = len(cat.runs())
        with pytest.raises(TrainError, match=r"not a samdata voice package \(no manifest\.json"):
            prepare(cat, config, tmp_path)
        (tmp_path / "manifest.json").write_text('{"schema": "samdata.export/1", "files": {}}')
        with pytest.raises(
            TrainError, match=r"not a samdata voice package \(manifest schema 'samdata\.export/1'"
        ):
            prepare(cat, config, tmp_path)
        copy = tmp_path / "copy"
        for f in Path(pkg).rglob("*"):
            if f.is_file():
                (copy / f.relative_to(pkg)).parent.mkdir(parents=True, exist_ok=True)
                (copy / f.relative_to(pkg)).write_bytes(f.read_bytes())
        check_package(copy)
        first = next(iter(sorted((copy / "0_gt_wavs").glob("*.wav"))))
        first.write_bytes(first.read_bytes()[:-4] + b"\0\0\0\0")
        with pytest.raises(TrainError, match="changed since it was packaged"):
            prepare(cat, config, copy)
        (copy / "filelist.txt").unlink()
        with pytest.raises(TrainError, match=r"no filelist\.txt"):
            prepare(cat, config, copy)
        assert len(cat.runs()) == before  # a refused run leaves no row


def test_loss_lines_of_rvc_and_of_simple_trainers() -> None:
    r = LossReader(RVC_LOSS_PATTERN, RVC_STEP_PATTERN)
    # RVC's own trainer: [global_step, lr] on a line, then the generator's loss terms (their sum)
    assert r.feed("2026-01-01 10:00:00,000\talice\tINFO\tTrain Epoch: 4 [52%]") is None
    assert r.feed("2026-01-01 10:00:00,001\talice\tINFO\t[1200, 9.99e-05]") is None
    got = r.feed("INFO\tloss_disc=3.100, loss_gen=2.000, loss_fm=8.000,loss_mel=20.500, loss_kl=1.250")
    assert got == (1200, {"train_loss": 31.75, "valid_loss": None, "learning_rate": 9.99e-05})
    assert r.feed("loss_gen_all=41.2, loss_disc=3.1") == (
        1200, {"train_loss": 41.2, "valid_loss": None, "learning_rate": 9.99e-05}
    )  # fmt: skip
    assert r.feed("epoch=3 step=120 loss=2.314 lr=1e-4")[0:2] == (
        120, {"train_loss": 2.314, "valid_loss": None, "learning_rate": 1e-4}
    )  # fmt: skip
    assert r.feed("step: 7, loss: nan") is None  # a diverged step is left in the log, not recorded
    assert r.feed("lossy=3 epoch done") is None
    plain = LossReader(RVC_LOSS_PATTERN, RVC_STEP_PATTERN)  # no steps printed: loss lines counted
    assert [plain.feed(f"loss={x}")[0] for x in (3, 2, 1)] == [1, 2, 3]
    custom = LossReader(r"it (?P<step>\d+) g=(?P<loss>[\d.]+) v=(?P<valid_loss>[\d.]+)", r"^$(?P<step>x)?")
    assert custom.feed("it 5 g=1.5 v=1.7") == (
        5,
        {"train_loss": 1.5, "valid_loss": 1.7, "learning_rate": None},
    )


def test_a_bad_loss_pattern_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "samdata.toml").write_text('[voice.rvc]\ncommand = ["x"]\nloss_pattern = "loss=([0-9.]+)"\n')
    res = run_cli("train", "--package", str(tmp_path), "--config", str(tmp_path / "samdata.toml"))
    assert res.returncode == 2 and "needs a named group (?P<loss>" in res.stderr


def test_migration_20_keeps_runs_and_their_metrics(tmp_path: Path) -> None:
    """A catalog at schema 19 with a run and metrics: the rebuilt training_runs keeps both, takes
    voice runs, and deleting a run still deletes its metrics."""
    path = tmp_path / "catalog.db"
    conn = catalog_at(path, 19)
    conn.execute("INSERT INTO training_runs (backend, mode, base_model, data_dir, job_dir, config, status,"
                 " created_at) VALUES ('mlx', 'sft', '/m', '/d', '/j', '{\"steps\": 5}', 'completed', 't')")  # fmt: skip
    conn.execute("INSERT INTO validation_log VALUES (1, 5, 1.5, 1.6, 100.0, 1e-5, 't')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO training_runs (backend, mode, base_model, data_dir, job_dir, config, status,"
                     " created_at) VALUES ('rvc', 'voice', 'x', '/p', '/j', '{}', 'queued', 't')")  # fmt: skip
    conn.close()
    with Catalog.open(path) as cat:
        assert cat.schema_version() >= 20
        assert [(r["id"], r["mode"], r["config"]) for r in cat.runs()] == [(1, "sft", {"steps": 5})]
        assert [(m["step"], m["train_loss"], m["valid_loss"]) for m in cat.metrics(1)] == [(5, 1.5, 1.6)]
        voice = cat.create_run(backend="rvc", mode="voice", base_model="x", export_id=None, data_dir="/p",
                               job_dir="", config={}, host="h", now=utcnow())  # fmt: skip
        cat.log_metrics(voice, 1, utcnow(), train_loss=2.0)
        with cat.transaction() as c:
            c.execute("DELETE FROM training_runs WHERE id = 1")
        assert cat.metrics(1) == [] and len(cat.metrics(voice)) == 1
        assert cat.conn.execute("PRAGMA foreign_key_check").fetchall() == []
