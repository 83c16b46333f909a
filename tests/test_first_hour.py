"""The first hour of a new user, through the CLI as they run it: one test per finding of the issue
"The first hour" (numbered as there), each asserting the fixed behaviour."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import sqlite3
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.ingest.wild import SESSION, cc_assistant, cc_user, conversation, jl, node, parts, text
from tests.test_cli import run_cli

KEY = "AKIAQQQQ7QX3EXAMPLE9"


def _chat(q: str, a: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def _answer(i: int) -> str:
    return (
        f"Here is a careful answer number {i}, with the steps spelled out one by one. First check the setup."
    )


def make_estate(base: Path) -> Path:
    """A new user's files: chat logs (a few with `{{name}}` placeholders), a multimodal ShareGPT set,
    assistant-only rows, DPO pairs with multi-turn prompts, a Claude Code session with reminders, a
    bad line holding a key. Returns the config path (not yet written: tests write their own)."""
    data = base / "data"
    data.mkdir(parents=True)
    (data / "mine.jsonl").write_text(
        "".join(json.dumps(_chat(f"how do I do task {i}?", _answer(i))) + "\n" for i in range(40))
        + "".join(json.dumps(_chat(f"write to {{{{name}}}} about {i}", f"Dear {{{{name}}}}, thanks for {i}.")) + "\n" for i in range(6))
        + json.dumps({"messages": [{"role": "assistant", "content": "a monologue with no prompt at all."}]}) + "\n"
        + '{"messages": [{"role": "user", "content": "my key is ' + KEY + '", "broken\n'
    )  # fmt: skip
    (data / "mm.json").write_text(json.dumps([
        {"messages": [{"role": "user", "content": f"<image>What is in picture {i}?"},
                      {"role": "assistant", "content": f"A cat number {i} sitting on a mat."}], "images": [f"{i}.jpg"]}
        for i in range(3)
    ]))  # fmt: skip
    (data / "pairs.jsonl").write_text(
        "".join(
            json.dumps({"prompt": [{"role": "user", "content": f"plan a trip {i}"},
                                   {"role": "assistant", "content": "Where to?"},
                                   {"role": "user", "content": "Lisbon"}],
                        "chosen": [{"role": "assistant", "content": f"Day one in Lisbon, version {i}."}],
                        "rejected": [{"role": "assistant", "content": "No."}]}) + "\n"
            for i in range(8)
        )
    )  # fmt: skip
    (data / "claude").mkdir()
    (data / "claude" / "s.jsonl").write_text(jl(
        cc_user("u1", None, [text("<system-reminder>\nRemember CLAUDE.md.\n</system-reminder>"), text("fix the test")]),
        cc_assistant("a1", "u1", [text("Fixed the fixture path.")], "m1"),
    ).decode())  # fmt: skip
    return data


def config_text(data: Path, recipe: str = "") -> str:
    return (
        f'[[sources]]\nname = "mine"\npath = "{data}/mine.jsonl"\n'
        f'[[sources]]\nname = "multimodal"\npath = "{data}/mm.json"\n'
        f'[[sources]]\nname = "pairs"\npath = "{data}/pairs.jsonl"\n'
        f'[[sources]]\nname = "claude"\npath = "{data}/claude/*.jsonl"\n' + recipe
    )


def _setup(tmp_path: Path, recipe: str = "", curate: bool = True) -> str:
    data = make_estate(tmp_path)
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(config_text(data, recipe))
    assert run_cli("ingest", "--config", str(cfg)).returncode == 0
    if curate:
        assert run_cli("curate", "--config", str(cfg)).returncode == 0
    return str(cfg)


SFT = '[recipes.sft]\nsources = ["mine", "multimodal", "claude"]\nsplits = { train = 0.8, valid = 0.2 }\nbatch_size = 1\n'


# 1 -------------------------------------------------------------------------------------------------


def test_1_unknown_source_in_a_recipe_and_a_glob_that_matches_nothing(tmp_path: Path) -> None:
    data = make_estate(tmp_path)
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(config_text(data, '[recipes.r]\nsources = ["mine", "claud"]\n'))
    proc = run_cli("export", "r", "--config", str(cfg), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert (
        "recipes.r.sources" in proc.stderr
        and "'claud'" in proc.stderr
        and "did you mean 'claude'" in proc.stderr
    )
    assert not (tmp_path / "out").exists()
    cfg.write_text(config_text(data) + f'[[sources]]\nname = "later"\npath = "{data}/nothing-*.jsonl"\n')
    proc = run_cli("ingest", "--config", str(cfg))
    assert proc.returncode == 0 and "source later matches no file" in proc.stderr
    assert run_cli("ingest", "--config", str(cfg), "--strict").returncode == 1


# 2 -------------------------------------------------------------------------------------------------


def test_2_a_zero_fraction_split_is_not_written_and_mlx_lm_loads_the_folder(
    tmp_path: Path, tiny_model: Path
) -> None:
    cfg = _setup(tmp_path, SFT)
    out = tmp_path / "sft"
    proc = run_cli("export", "sft", "--config", cfg, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "axolotl.yaml",
        "manifest.json",
        "train.jsonl",
        "valid.jsonl",
    ]
    assert "not written (fraction 0 or no rows): test.jsonl" in proc.stdout
    from mlx_lm import load
    from mlx_lm.lora import CONFIG_DEFAULTS
    from mlx_lm.tuner.datasets import load_dataset

    _, tokenizer = load(str(tiny_model))
    args = types.SimpleNamespace(**{**CONFIG_DEFAULTS, "data": str(out), "train": True, "test": False})
    train, valid, test = load_dataset(args, tokenizer)
    assert len(train) > 0 and len(valid) > 0 and len(test) == 0
    # mlx-lm trains with a validation set: a recipe without one is refused before anything is written.
    Path(cfg).write_text(Path(cfg).read_text().replace("valid = 0.2", "valid = 0"))
    proc = run_cli("export", "sft", "--config", cfg, "--out", str(tmp_path / "novalid"))
    assert proc.returncode == 2 and "splits.valid" in proc.stderr and not (tmp_path / "novalid").exists()


# 3 -------------------------------------------------------------------------------------------------


def test_3_the_funnel_and_the_export_agree_on_what_is_kept(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, SFT.replace('["mine", "multimodal", "claude"]', '["mine"]'))
    funnel = orjson.loads(run_cli("stats", "--config", cfg, "--json").stdout)["curation"]["funnel"]["mine"]
    proc = run_cli("export", "sft", "--config", cfg, "--out", str(tmp_path / "o"), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = orjson.loads(proc.stdout)
    assert funnel["quality_flagged"] == 6  # the `{{name}}` rows
    assert sum(summary["counts"].values()) == funnel["kept"] == 40
    assert summary["dropped"] == {"quality flag placeholder": 6}
    rows = (tmp_path / "o" / "train.jsonl").read_text() + (tmp_path / "o" / "valid.jsonl").read_text()
    assert "{{name}}" not in rows


# 4 -------------------------------------------------------------------------------------------------


def _read_only(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with `folder` mounted read-only (a bind mount in a private mount namespace: root
    ignores file modes), or with its modes cleared when not root."""
    cmd = [sys.executable, "-m", "samdata", *args]
    if os.geteuid() != 0:
        for p in [folder, *folder.iterdir()]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        return subprocess.run(cmd, capture_output=True, text=True, check=False)
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], check=False).returncode:
        pytest.skip("needs `unshare -m` to make a read-only mount as root")  # an environment limit
    script = f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *cmd], capture_output=True, text=True, check=False
    )


def test_4_read_only_foreign_and_mistyped_catalogs(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, curate=False)
    catalog = tmp_path / ".samdata"
    run_cli("stats", "--config", cfg)  # leave the catalog as a user leaves it (WAL files checkpointed)
    for name in ("catalog.db-wal", "catalog.db-shm"):
        (catalog / name).unlink(missing_ok=True)
    stats = _read_only(catalog, "stats", "--config", cfg, "--json")
    assert stats.returncode == 0 and "Traceback" not in stats.stderr, stats.stderr
    assert orjson.loads(stats.stdout)["sources"]["mine"]["sft"] > 0
    wrote = _read_only(catalog, "ingest", "--config", cfg)
    assert wrote.returncode == 2 and "read-only" in wrote.stderr and "Traceback" not in wrote.stderr
    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database at all\n" * 100)
    for cmd in ("stats", "ingest"):
        proc = run_cli(cmd, "--config", cfg, "--catalog", str(bogus))
        assert (
            proc.returncode == 2 and "not a samdata catalog" in proc.stderr and "Traceback" not in proc.stderr
        )
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    proc = run_cli("ingest", "--config", cfg, "--catalog", str(other))
    assert proc.returncode == 2 and "not a samdata catalog (tables: t)" in proc.stderr
    typo = tmp_path / "catalgo" / "catalog.db"
    proc = run_cli("stats", "--config", cfg, "--catalog", str(typo))
    assert (
        proc.returncode == 2
        and "no catalog at" in proc.stderr
        and "samdata scan" in proc.stderr
        and not typo.parent.exists()
    )


# 5 -------------------------------------------------------------------------------------------------


def test_5_rows_stay_faithful_to_their_loaders(tmp_path: Path) -> None:
    recipes = (
        SFT
        + '[recipes.dpo]\nsources = ["pairs"]\nkinds = ["preference"]\nsplits = { train = 0.8, valid = 0.2 }\nbatch_size = 1\n'
    )
    recipes += (
        recipes.split("[recipes.dpo]")[1]
        .join(["[recipes.dpo-trl]", ""])
        .replace("batch_size = 1\n", 'batch_size = 1\nformat = "trl"\n')
    )
    cfg = _setup(tmp_path, recipes)
    # An assistant-only conversation is not an SFT example: quarantined at ingest with its reason.
    quarantine = orjson.loads(run_cli("quarantine", "--config", cfg, "--json").stdout)
    assert any("without a user turn" in q["reason"] for q in quarantine)
    sft = orjson.loads(
        run_cli("export", "sft", "--config", cfg, "--out", str(tmp_path / "s"), "--json").stdout
    )
    assert sft["dropped"]["quality flag media_placeholder"] == 3  # <image> rows: text-only export
    rows = (tmp_path / "s" / "train.jsonl").read_text() + (tmp_path / "s" / "valid.jsonl").read_text()
    assert "<image>" not in rows and "<system-reminder>" not in rows and "fix the test" in rows
    # mlx-lm-lora DPO rows hold one prompt string: multi-turn prompts are refused, with the format that can.
    proc = run_cli("export", "dpo", "--config", cfg, "--out", str(tmp_path / "d"))
    assert (
        proc.returncode == 2
        and "no training rows" in proc.stderr
        and 'format = \\"trl\\"' in proc.stderr.replace('"', '\\"')
    )
    trl = orjson.loads(
        run_cli("export", "dpo-trl", "--config", cfg, "--out", str(tmp_path / "t"), "--json").stdout
    )
    assert sum(trl["counts"].values()) == 8
    row = json.loads((tmp_path / "t" / "train.jsonl").read_text().splitlines()[0])
    assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]


# 6 -------------------------------------------------------------------------------------------------


def test_6_every_change_is_printed_and_an_old_export_leaves_nothing_stale(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, SFT + 'format = "sharegpt"\n')
    out = tmp_path / "o"
    first = run_cli("export", "sft", "--config", cfg, "--out", str(out))
    assert first.returncode == 0 and (out / "dataset_info.json").exists()
    assert "rows have no system message" in first.stdout  # nothing added unless configured
    Path(cfg).write_text(
        Path(cfg).read_text().replace('format = "sharegpt"\n', 'system_prompt = "You are SAM."\n')
    )
    second = run_cli("export", "sft", "--config", cfg, "--out", str(out))
    assert second.returncode == 0
    assert "changed 41: system prompt added" in second.stdout
    assert not (out / "dataset_info.json").exists()  # the mlx export replaced the ShareGPT one whole
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert all(r["messages"][0] == {"role": "system", "content": "You are SAM."} for r in rows)
    (out / "my-notes.txt").write_text("mine")
    third = run_cli("export", "sft", "--config", cfg, "--out", str(out))
    assert third.returncode == 2 and "my-notes.txt" in third.stderr
    assert run_cli("export", "sft", "--config", cfg, "--out", str(out), "--force").returncode == 0
    assert (out / "my-notes.txt").read_text() == "mine"


# 7 -------------------------------------------------------------------------------------------------


def test_7_no_secret_in_quarantine_and_forget_reaches_it(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    shown = run_cli("quarantine", "--config", cfg, "--json")
    assert KEY not in shown.stdout and "<AWS_ACCESS_KEY>" in shown.stdout
    with sqlite3.connect(tmp_path / ".samdata" / "catalog.db") as c:
        assert KEY not in str(c.execute("SELECT snippet FROM quarantine").fetchall())  # stored redacted
    dry = run_cli("forget", "--match", "my key is", "--config", cfg)
    assert "substring, case-insensitive" in dry.stdout and "quarantined record" in dry.stdout
    assert run_cli("forget", "--match", "my key is", "--config", cfg, "--yes").returncode == 0
    assert "my key is" not in run_cli("quarantine", "--config", cfg, "--json").stdout
    # A match this broad needs its count confirmed, and shows what it would take.
    broad = run_cli("forget", "--match", "a", "--config", cfg, "--yes")
    assert broad.returncode == 2 and "--expect" in broad.stderr and "would be forgotten" not in broad.stdout
    assert (
        "… and" in broad.stdout
        and orjson.loads(run_cli("stats", "--config", cfg, "--json").stdout)["examples"]["total"] > 40
    )


# 8 -------------------------------------------------------------------------------------------------


def test_8_show_an_example_and_read_dupes_and_secrets(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, SFT)
    listed = run_cli("examples", "--config", cfg, "--flag", "placeholder", "--limit", "2")
    assert listed.returncode == 0 and "2 examples" in listed.stdout and "write to {{name}}" in listed.stdout
    ids = [
        e["id"]
        for e in orjson.loads(run_cli("examples", "--config", cfg, "--source", "mine", "--json").stdout)[
            "examples"
        ]
    ]
    placeholder = orjson.loads(
        run_cli("examples", "--config", cfg, "--flag", "placeholder", "--json").stdout
    )["examples"][0]
    proc = run_cli("show", placeholder["id"][:12], "--config", cfg)
    assert proc.returncode == 0, proc.stderr
    assert "Dear {{name}}" in proc.stdout and "quality flag placeholder" in proc.stdout
    assert "recipe sft: left out: quality flag placeholder" in proc.stdout and "from mine:" in proc.stdout
    kept = run_cli("show", ids[0], "--config", cfg).stdout
    assert "recipe sft: in " in kept and "how do I do task 0?" in kept
    secrets = run_cli("secrets", "--config", cfg).stdout
    assert "no findings" in secrets  # the key sat only in a quarantined line


# 9 -------------------------------------------------------------------------------------------------


def _in_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the CLI with a pseudo-terminal as its stderr (so progress bars draw) and return all output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "samdata", *args], stdout=slave, stderr=slave, cwd=cwd, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    proc.wait()
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_9_progress_a_starter_config_help_and_inventory_names(tmp_path: Path) -> None:
    cfg = _setup(tmp_path, curate=False)
    env = {**os.environ, "COLUMNS": "120"}
    shown = _in_a_terminal(["curate", "--config", cfg], tmp_path, env)
    assert "curate: labelling" in shown and "/58" in shown  # a bar with its count (and ETA)
    home = tmp_path / "home"
    (home / "big-folder-of-photos").mkdir(parents=True)
    (home / "Downloads" / "export").mkdir(parents=True)
    (home / "Downloads" / "export" / "conversations.json").write_text("[]")
    init = subprocess.run([sys.executable, "-m", "samdata", "init"], cwd=tmp_path / "home", capture_output=True,
                          text=True, env={**env, "HOME": str(home)}, check=False)  # fmt: skip
    assert init.returncode == 0 and "found a ChatGPT export" in init.stdout
    starter = (home / "samdata.toml").read_text()
    assert f'path = "{home}"' not in starter and f'path = "{home / "Downloads" / "export"}"' in starter
    assert "[curate]" in starter and "# [recipes.sam-sft]" in starter
    helptext = run_cli("secrets", "--help").stdout
    assert "[curate] allow" in helptext and "<bool>" not in helptext
    assert run_cli("scan", "--config", cfg).returncode == 0
    page = tmp_path / "inventory.html"
    assert run_cli("inventory", "--config", cfg, "-o", str(page)).returncode == 0
    assert page.read_text().lstrip().lower().startswith("<!doctype html")


# The README's walkthrough ------------------------------------------------------------------------


def _walkthrough() -> list[str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## First hour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [
        line.split("  #", 1)[0].strip()
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_readme_walkthrough_runs(tmp_path: Path, tiny_model: Path) -> None:
    """Every command of the README's first-hour walkthrough, in order, on a new user's home."""
    home = tmp_path / "home"
    (home / ".claude" / "projects" / "-Users-me-code").mkdir(parents=True)
    (home / ".claude" / "projects" / "-Users-me-code" / f"{SESSION}.jsonl").write_bytes(jl(
        *(r for i in range(12) for r in (cc_user(f"u{i}", f"a{i - 1}" if i else None, f"question {i} about the code"),
                                          cc_assistant(f"a{i}", f"u{i}", [text(_answer(i))], f"m{i}")))))  # fmt: skip
    (home / "Downloads" / "chatgpt-export").mkdir(parents=True)
    convs = [conversation([node("r", None, ["u"], None), node("u", "r", ["a"], "user", parts(f"chatgpt q{i}")),
                           node("a", "u", [], "assistant", parts(_answer(100 + i)))], "a", f"c{i}") for i in range(12)]  # fmt: skip
    (home / "Downloads" / "chatgpt-export" / "conversations.json").write_text(json.dumps(convs))
    env = {k: v for k, v in os.environ.items() if k != "SAMDATA_CONFIG"}
    env |= {"HOME": str(home), "MODEL": str(tiny_model)}
    commands = _walkthrough()
    assert commands[0] == "samdata init" and any(c.startswith("samdata train") for c in commands)
    for command in commands:
        proc = subprocess.run(command, shell=True, cwd=home, env={**env, "PATH": f"{Path(sys.executable).parent}:{env['PATH']}"},
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert proc.returncode == 0, (command, proc.stdout[-2000:], proc.stderr[-2000:])
        if command == "samdata init":
            # The walkthrough's one edit: uncomment the starter recipe (what the README says to do).
            cfg = home / "samdata.toml"
            lines = cfg.read_text().split("\n")
            start = lines.index("# [recipes.sam-sft]")
            for i in range(start, len(lines)):
                if not lines[i].startswith("# ") or (i > start and lines[i].startswith("# By default")):
                    break
                if lines[i].startswith(
                    ("# [recipes", "# sources", "# kinds", "# splits", "# format", "# system_prompt")
                ):
                    lines[i] = lines[i][2:]
            cfg.write_text("\n".join(lines).replace('splits = { train = 0.9, valid = 0.05, test = 0.05 }',
                                                     'splits = { train = 0.8, valid = 0.2 }\nbatch_size = 2'))  # fmt: skip
    runs = orjson.loads(subprocess.run([sys.executable, "-m", "samdata", "runs", "--json"], cwd=home, env=env,
                                       capture_output=True, text=True, check=True).stdout)["runs"]  # fmt: skip
    assert runs and runs[-1]["status"] == "completed"
