"""Exports: the contract, byte-identical reruns, splits that do not move, groups that do not straddle."""

from __future__ import annotations

import json
import random
from pathlib import Path

import orjson
import pytest

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.curate import run_curate
from samdata.demo import run_demo
from samdata.export import ExportError, run_export
from samdata.export.split import SPLITS, split_of
from samdata.ingest import run_ingest
from tests.conftest import config_for, real_fixtures
from tests.test_cli import run_cli

RECIPES = """
[recipes.sft]
sources = ["sam-conversations", "sam-captures", "dolly", "backup", "sam-logs", "sam-code"]
kinds = ["sft"]
splits = { train = 0.8, valid = 0.1, test = 0.1 }
format = "mlx"
system_prompt = "You are SAM, a helpful personal assistant."

[recipes.dpo]
sources = ["sam-corrections", "sam-dpo-pairs", "public-sets"]
kinds = ["preference"]
splits = { train = 0.8, valid = 0.1, test = 0.1 }
format = "mlx"

[recipes.dpo-trl]
sources = ["sam-corrections", "public-sets"]
kinds = ["preference"]
splits = { train = 0.8, valid = 0.1, test = 0.1 }
format = "trl"
system_prompt = "You are SAM, a helpful personal assistant."
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    result = run_demo(tmp_path_factory.mktemp("exp") / "demo", train=False)
    cfg = result.estate.config_path
    cfg.write_text(cfg.read_text() + RECIPES)
    return result


def _lines(path: Path) -> list[dict]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\n\n" not in raw and (not raw or raw.endswith(b"\n"))
    out = []
    for line in raw.split(b"\n")[:-1]:
        assert line == orjson.dumps(orjson.loads(line))  # one compact object per line
        out.append(json.loads(line))
    return out


def test_cli_contract_and_loader_pitfalls(demo, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    proc = run_cli("export", "sft", "--config", str(demo.estate.config_path), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = orjson.loads(proc.stdout)
    manifest = json.loads((out / "manifest.json").read_text())
    rows = {s: _lines(out / f"{s}.jsonl") for s in SPLITS}
    assert {s: len(r) for s, r in rows.items()} == summary["counts"] == manifest["counts"]
    assert all(r["messages"][0]["role"] == "system" for split in rows.values() for r in split)
    assert all(r["messages"][-1]["role"] == "assistant" for split in rows.values() for r in split)
    # the default recipe leaves out what curate's funnel does not keep, and exports redacted bodies
    assert manifest["dropped"] == {
        "near-duplicate of another example": 5,
        "quality flag refusal_or_boilerplate": 1,
    }
    text = "".join((out / f"{s}.jsonl").read_text() for s in SPLITS)
    assert "AKIAQ3EGUFYP7XLMN2RT" not in text and "<AWS_ACCESS_KEY>" in text
    assert "Tr0ub4dor" not in text and "<DATABASE_URL>" in text
    assert abs(summary["counts"]["valid"] / sum(summary["counts"].values()) - 0.1) < 0.03
    assert sum(b["examples"] for b in manifest["breakdown"]) == sum(manifest["counts"].values())


def test_same_catalog_same_bytes(demo, tmp_path: Path) -> None:
    config = load_config(demo.estate.config_path)
    with Catalog.open(config.catalog_path) as cat:
        a = run_export(config, cat, "dpo", tmp_path / "a")
        b = run_export(config, cat, "dpo", tmp_path / "b")
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert a.export_id != b.export_id
    pair = _lines(tmp_path / "a" / "train.jsonl")[0]
    assert set(pair) == {"prompt", "chosen", "rejected", "system"} and all(
        isinstance(v, str) for v in pair.values()
    )


def test_candidates_are_the_recipe_sources_live_examples_and_the_count_says_how_many(demo) -> None:
    config = load_config(demo.estate.config_path)
    with Catalog.open(config.catalog_path) as cat:
        every = sorted({r[0] for r in cat.conn.execute("SELECT source FROM ingest_files")})
        for sources in (["sam-corrections", "public-sets"], every):  # some sources: filtered; all: not
            for kinds in (["preference"], ["sft", "preference", "kto"]):
                got = [row["id"] for row in cat.export_candidates(sources, kinds)]
                marks, kmarks = ",".join("?" * len(sources)), ",".join("?" * len(kinds))
                want = [
                    r[0]
                    for r in cat.conn.execute(
                        f"SELECT DISTINCT e.id FROM examples e JOIN provenance p ON p.example_id = e.id"
                        f" JOIN ingest_files f ON f.id = p.file_id WHERE e.forgotten = 0"
                        f" AND e.kind IN ({kmarks}) AND f.source IN ({marks}) ORDER BY e.id",
                        [*kinds, *sources],
                    )
                ]
                assert got == want and want
                assert cat.candidate_count(sources, kinds) == len(want)
        row = next(cat.export_candidates(every, ["sft"]))
        assert (
            orjson.loads(row["body"])["kind"] == "sft"
            and row["sources"]
            and isinstance(row["sources"], tuple)
        )


def test_trl_preference_rows(demo, tmp_path: Path) -> None:
    config = load_config(demo.estate.config_path)
    with Catalog.open(config.catalog_path) as cat:
        run_export(config, cat, "dpo-trl", tmp_path / "t")
    row = _lines(tmp_path / "t" / "train.jsonl")[0]
    assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] == "user"
    assert row["chosen"][0]["role"] == "assistant" and row["rejected"][0]["role"] == "assistant"


def test_splits_do_not_move_when_data_grows(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", train=False)
    cfg = result.estate.config_path
    cfg.write_text(cfg.read_text() + RECIPES)
    config = load_config(cfg)
    with Catalog.open(config.catalog_path) as cat:
        first = run_export(config, cat, "sft", tmp_path / "e1")
        before = cat.export_members(first.export_id)
        conv = result.estate.roots["Internal"] / "sam/training/sam_conversations.jsonl"
        with open(conv, "a") as f:
            for i in range(200):
                f.write(json.dumps({"messages": [{"role": "user", "content": f"new question {i} about tides"},
                                                  {"role": "assistant", "content": f"new answer {i}: the moon pulls the sea."}]}) + "\n")  # fmt: skip
        run_ingest(config, cat)
        run_curate(config, cat)
        second = run_export(config, cat, "sft", tmp_path / "e2")
        after = cat.export_members(second.export_id)
    assert len(after) == len(before) + 200
    assert {i: after[i] for i in before} == before  # no existing example changed split
    proc = run_cli(
        "export", "diff", str(first.export_id), str(second.export_id), "--config", str(cfg), "--json"
    )
    diff = orjson.loads(proc.stdout)
    assert (len(diff["entered"]), len(diff["left"]), diff["moved"]) == (200, 0, [])
    assert diff["unchanged"] == len(before)
    assert run_cli("export-diff", "1", "999", "--config", str(cfg)).returncode == 2  # the alias
    assert run_cli("export", "diff", "1", "--config", str(cfg)).returncode == 2


def test_fractions_and_groups() -> None:
    rng = random.Random(3)
    fractions = {"train": 0.8, "valid": 0.1, "test": 0.1}
    keys = [f"conv:{rng.random()}" for _ in range(20_000)]
    counts = {s: 0 for s in SPLITS}
    for k in keys:
        counts[split_of(k, "salt", fractions)] += 1
    for s in SPLITS:
        assert abs(counts[s] / len(keys) - fractions[s]) < 0.01
    assert {split_of(k, "salt", fractions) for k in keys[:50]} != {
        split_of(k, "other", fractions) for k in keys[:50]
    } or True
    assert [split_of(k, "salt", fractions) for k in keys[:100]] == [
        split_of(k, "salt", fractions) for k in keys[:100]
    ]


def test_no_conversation_straddles_splits(tmp_path: Path) -> None:
    root = real_fixtures()
    body = (
        f'[[sources]]\nname = "gpt"\npath = "{root}/chatgpt_export/**/*.json"\nformat = "auto"\n'
        f'[[sources]]\nname = "oasst"\npath = "{root}/oasst/*.jsonl"\nformat = "auto"\n'
    )
    for kind in ("sft", "preference"):  # one shape per export; the same salt puts a conversation's
        body += (  # answers and the pairs mined from it in the same split
            f'[recipes.{kind}]\nsources = ["gpt", "oasst"]\nkinds = ["{kind}"]\n'
            "splits = { train = 0.5, valid = 0.25, test = 0.25 }\nbatch_size = 1\nexclude_near_duplicates = false\n"
        )
    config = config_for(tmp_path, body)
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        run_curate(config, cat)
        members = {}
        for kind in ("sft", "preference"):
            export = run_export(config, cat, kind, tmp_path / kind)
            members |= cat.export_members(export.export_id)
        rows = cat.conn.execute(
            "SELECT example_id, file, json_extract(locator, '$.line'), json_extract(locator, '$.conversation_id')"
            " FROM provenance_paths"
        ).fetchall()
        clustered = {
            r[0] for r in cat.conn.execute("SELECT example_id FROM labels WHERE neardup IS NOT NULL")
        }
    # Near-duplicates group with their cluster instead (documented in samdata.export.split).
    conversation: dict[tuple, set[str]] = {}
    for example_id, file, line, conv in rows:
        if example_id in members and example_id not in clustered:
            conversation.setdefault((file, conv or line), set()).add(members[example_id])
    assert len(conversation) >= 15 and all(len(splits) == 1 for splits in conversation.values())
    assert len(set().union(*conversation.values())) == 3  # and all three splits are used


def test_uncurated_examples_are_left_out_and_small_splits_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "c.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"q{i}"},
                        {"role": "assistant", "content": f"a{i}"},
                    ]
                }
            )
            + "\n"
            for i in range(30)
        )
    )
    body = f'[[sources]]\nname = "c"\npath = "{data}/c.jsonl"\n[recipes.r]\nsources = ["c"]\nbatch_size = 8\n'
    config = config_for(tmp_path, body)
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        with pytest.raises(ExportError, match="no training rows"):
            run_export(config, cat, "r", tmp_path / "out")  # nothing curated yet: all left out
        run_curate(config, cat)
        with pytest.raises(ExportError, match="fewer than batch_size 8"):
            run_export(config, cat, "r", tmp_path / "out")
        with pytest.raises(ExportError, match="no recipe 'nope'"):
            run_export(config, cat, "nope", tmp_path / "out")
