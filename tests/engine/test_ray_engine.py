"""The Ray engine on a real two-node Ray cluster (`ray.cluster_utils.Cluster`, 1 CPU per node):
ingest and curate leave the catalog exactly as the local engine does (ids, provenance, labels,
clusters, quarantine, accounts), also when a worker is killed mid-task; and the CLI's
`--engine ray` starts a Ray of its own when no address is configured."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
import ray
from bench.scale import generate
from typer.testing import CliRunner

from samdata.catalog import Catalog, connect
from samdata.cli import app
from samdata.curate import run_curate
from samdata.engine import LocalEngine, open_engine
from samdata.ingest import run_ingest
from samdata.pipeline import run_pipeline
from tests.conftest import config_for, real_fixtures

# Every JSONL file goes through the engine, in many chunks.
SETTINGS = "[ingest]\nparallel_min_bytes = 0\nchunk_bytes = 65536\n"
# What a run leaves, without the times and run numbers that differ between any two runs.
SNAPSHOT = {
    "examples": "SELECT id, kind, body_text(body), turns, chars, forgotten FROM examples",
    "provenance": "SELECT example_id, source, file, locator, meta FROM provenance_paths",
    "labels": "SELECT * FROM labels",
    "quarantine": "SELECT source, file, locator, reason, snippet FROM quarantine",
    "findings": "SELECT example_id, kind, part, span_start, span_end, hash, preview FROM findings",
    "redactions": "SELECT example_id, body FROM redactions",
    "pairs": "SELECT a, b, jaccard FROM neardup_pairs",
    "bands": "SELECT key, example FROM lsh_index",
    "accounts": "SELECT * FROM ingest_accounts",
}


def snapshot(catalog: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = connect(catalog)
    try:
        return {name: sorted(conn.execute(sql).fetchall(), key=repr) for name, sql in SNAPSHOT.items()}
    finally:
        conn.close()


def fixtures_toml() -> str:
    return (
        "".join(
            f'[[sources]]\nname = "{d.name}"\npath = "{d}/**/*.json*"\nformat = "auto"\n'
            for d in sorted(real_fixtures().iterdir())
            if d.is_dir()
        )
        + SETTINGS
    )


def fixtures_config(tmp: Path) -> Any:
    return config_for(tmp, fixtures_toml())


def backup_toml(data: Path) -> str:
    return f'[[sources]]\nname = "backup"\npath = "{data}/*.jsonl"\nformat = "auto"\n' + SETTINGS


def backup_config(tmp: Path, data: Path) -> Any:
    return config_for(tmp, backup_toml(data))


def run(config: Any, engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat, engine=engine)
        run_curate(config, cat, engine=engine)
    return snapshot(config.catalog_path)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, logging_level="warning")
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slice shaped like the owner's backup (70 % exact repeats, 5 % near copies): 200 MB."""
    data = tmp_path_factory.mktemp("backup") / "data"
    generate(data, 200 << 20)
    return data


def test_two_nodes_give_the_local_catalog_for_the_real_fixtures(cluster: Any, tmp_path: Path) -> None:
    local = run(fixtures_config(tmp_path / "local"), LocalEngine(2))
    with open_engine("ray") as engine:  # joins the cluster this process is connected to
        assert engine.cpus == 2 and len(ray.nodes()) == 2
        on_ray = run(fixtures_config(tmp_path / "ray"), engine)
    assert on_ray == local
    assert local["examples"] and local["quarantine"] and local["pairs"]


def test_samdata_run_uses_the_configured_engine_for_ingest_and_curate(cluster: Any, tmp_path: Path) -> None:
    """`[engine] kind = "ray"`: the pipeline's ingest and curate run on it (their figures say so)
    and leave what the local engine leaves."""
    local = run(fixtures_config(tmp_path / "local"), LocalEngine(2))
    config = config_for(tmp_path / "ray", fixtures_toml() + '[engine]\nkind = "ray"\n')
    report = run_pipeline(config, stages=("ingest", "curate"))
    figures = {s.stage: s.figures for s in report.stages}
    assert report.status == "ok"
    assert {s: (f["engine"], f["engine_cpus"]) for s, f in figures.items()} == {
        "ingest": ("ray", 2),
        "curate": ("ray", 2),
    }
    assert snapshot(config.catalog_path) == local


def _kill_one_task(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first worker process seen running one of the engine's tasks."""
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if any("ray::_call" in part for part in p.info["cmdline"] or ()):
                os.kill(p.info["pid"], signal.SIGKILL)
                killed.append(p.info["pid"])
                return
        time.sleep(0.02)


@pytest.fixture(scope="module")
def backup_on_local(
    backup: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[tuple[Any, ...]]]:
    """What the local engine makes of the backup: the reference of the Ray runs."""
    return run(backup_config(tmp_path_factory.mktemp("local"), backup), LocalEngine(2))


def test_a_200_mb_backup_on_two_nodes_with_a_worker_killed_mid_task(
    cluster: Any, backup: Path, backup_on_local: dict[str, list[tuple[Any, ...]]], tmp_path: Path
) -> None:
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_task, args=(stop, killed))
    killer.start()
    t0 = time.perf_counter()
    try:
        with open_engine("ray") as engine:
            on_ray = run(backup_config(tmp_path / "ray", backup), engine)
    finally:
        stop.set()
        killer.join()
    print(f"\n200 MB backup: Ray on two nodes {time.perf_counter() - t0:.1f} s (a worker killed: {killed})")
    assert killed, "no task was seen running"
    assert on_ray == backup_on_local
    assert len(backup_on_local["examples"]) > 10_000 and backup_on_local["pairs"]


def _samdata(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "samdata", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )  # fmt: skip


def test_ingest_on_ray_killed_mid_run_resumes_to_the_local_catalog(
    backup: Path, backup_on_local: dict[str, list[tuple[Any, ...]]], tmp_path: Path
) -> None:
    """`samdata ingest --engine ray` SIGKILLed once chunks are committed (its own Ray goes with it),
    then run again and curated: the catalog a local run makes, nothing twice, nothing lost."""
    config = backup_config(tmp_path, backup)
    cfg = str(tmp_path / "samdata.toml")
    (tmp_path / "samdata.toml").write_text(backup_toml(backup))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    first = _samdata("ingest", "--config", cfg, "--engine", "ray", env=env)
    committed = 0
    deadline = time.monotonic() + 300
    while first.poll() is None and time.monotonic() < deadline:
        if config.catalog_path.exists():
            try:
                conn = connect(config.catalog_path)
                committed = conn.execute("SELECT count(*) FROM provenance").fetchone()[0]
                conn.close()
            except Exception:  # the catalog being created or migrated: look again
                committed = 0
        if committed > 20_000:
            first.kill()
            break
        time.sleep(0.05)
    first.wait()
    assert first.returncode == -signal.SIGKILL, (
        f"it ended before it was killed: {first.stderr.read()[-2000:]}"
    )  # type: ignore[union-attr]
    for command in ("ingest", "curate"):
        again = _samdata(command, "--config", cfg, "--engine", "ray", env=env)
        assert again.wait(timeout=600) == 0, again.stderr.read()[-3000:]  # type: ignore[union-attr]
    assert snapshot(config.catalog_path) == backup_on_local


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def _without_times(value: Any) -> Any:
    """stats/dupes JSON less what is a time or a run number."""
    if isinstance(value, dict):
        return {
            k: _without_times(v)
            for k, v in value.items()
            if not (k.endswith(("_at", "_s", "seconds")) or k in ("run_id", "elapsed", "last_ingest_run"))
        }
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _stats_and_dupes_by_cli(tmp_path: Path, runs: dict[str, tuple[list[str], str]]) -> dict[str, Any]:
    """`samdata ingest` and `curate` of the real fixtures, each in a process of its own as a user
    runs them, once per run (its extra arguments and config), then `stats --json` and `dupes --json`
    with times and folders left out."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    outputs = {}
    for name, (extra, toml) in runs.items():
        (tmp_path / name).mkdir()
        cfg = tmp_path / name / "samdata.toml"
        cfg.write_text(fixtures_toml() + toml)
        for command in ("ingest", "curate"):
            done = subprocess.run(
                [sys.executable, "-m", "samdata", command, "--config", str(cfg), *extra],
                capture_output=True, text=True, timeout=600, env=env,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-3000:]
            assert ("engine: ray" in done.stderr) == (name != "local")
        outputs[name] = _paths_relative(
            [_without_times(_cli(cmd, "--config", str(cfg), "--json")) for cmd in ("stats", "dupes")], tmp_path / name
        )  # fmt: skip
    return outputs


def test_the_cli_starts_a_ray_of_its_own_and_stats_and_dupes_match(tmp_path: Path) -> None:
    """`--engine ray` without an address: a Ray on this machine, started for the command."""
    outputs = _stats_and_dupes_by_cli(tmp_path, {"local": ([], ""), "ray": (["--engine", "ray"], "")})
    assert outputs["ray"] == outputs["local"]


@pytest.fixture
def client_server(cluster: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A Ray Client server for the two nodes, as `ray start --head` runs one, but in Ray's one-process
    mode: the head's proxy starts a server process per client, and on the CI machine that start
    failed once with its log out of reach. This one's log goes into the failure's message."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "ray_client_server.err"
    with log.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "ray.util.client.server", "--mode", "legacy",
             "--address", cluster.address, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        assert server.poll() is None, log.read_text()[-3000:]
        yield f"ray://127.0.0.1:{port}", log
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_cli_through_ray_client_on_two_nodes_matches_the_local_run(
    client_server: tuple[str, Path], tmp_path: Path
) -> None:
    """`[engine] address = "ray://..."`, as from a machine outside the cluster: every batch goes
    through Ray Client's connection to the two nodes."""
    address, log = client_server
    client = f'[engine]\nkind = "ray"\naddress = "{address}"\n'
    try:
        outputs = _stats_and_dupes_by_cli(tmp_path, {"local": ([], ""), "client": ([], client)})
    except AssertionError as failed:
        raise AssertionError(f"{failed}\nthe Ray Client server's log:\n{log.read_text()[-3000:]}") from None
    assert outputs["client"] == outputs["local"]


def _paths_relative(value: Any, folder: Path) -> Any:
    return orjson.loads(orjson.dumps(value).decode().replace(str(folder), "<folder>"))


def test_an_unknown_engine_is_refused_with_the_choices(tmp_path: Path) -> None:
    (tmp_path / "samdata.toml").write_text(fixtures_toml())
    result = CliRunner().invoke(
        app, ["curate", "--config", str(tmp_path / "samdata.toml"), "--engine", "spark"]
    )
    assert result.exit_code == 2 and "unknown engine 'spark' (engines: local, ray)" in result.output
    with pytest.raises(ValueError, match="unknown engine"), open_engine("spark"):
        pass
