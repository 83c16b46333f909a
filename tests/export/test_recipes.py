"""Recipe knobs on the demo estate: LLaMA-Factory and axolotl outputs, weights and caps, max_tokens
truncation, and the split properties checked with hypothesis."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.demo import run_demo
from samdata.export import run_export
from samdata.export.split import SPLITS, split_of
from samdata.export.writers import alpaca_row, sharegpt_row

BASE = (
    'sources = ["sam-conversations", "sam-captures", "dolly", "backup", "sam-logs", "claude-code", "chatgpt-export", "code-alpaca"]\n'
    'system_prompt = "You are SAM, a helpful personal assistant."\n'
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    return run_demo(tmp_path_factory.mktemp("recipes") / "demo", train=False)


def _export(demo, tmp_path: Path, recipe: str) -> tuple[dict, dict[str, list[dict]]]:
    cfg_path = demo.estate.config_path
    original = cfg_path.read_text()
    cfg_path.write_text(original + "\n[recipes.t]\n" + recipe)
    try:
        config = load_config(cfg_path)
        with Catalog.open(config.catalog_path) as cat:
            result = run_export(config, cat, "t", tmp_path / "t")
    finally:
        cfg_path.write_text(original)
    rows = {
        s: [json.loads(x) for x in (tmp_path / "t" / f"{s}.jsonl").read_text().splitlines()] for s in SPLITS
    }
    return result.manifest, rows


def _sharegpt_order_ok(conv: list[dict]) -> bool:
    """LLaMA-Factory's rule: user side (human, observation) at even positions, model side at odd."""
    return bool(conv) and all(
        (t["from"] in ("human", "observation")) == (i % 2 == 0) for i, t in enumerate(conv)
    )


def test_sharegpt_rows_follow_llama_factory_rules(demo, tmp_path: Path) -> None:
    manifest, rows = _export(demo, tmp_path, BASE + 'format = "sharegpt"\nbatch_size = 1\n')
    all_rows = [r for s in SPLITS for r in rows[s]]
    assert all_rows and all(_sharegpt_order_ok(r["conversations"]) for r in all_rows)
    assert all(r["conversations"][-1]["from"] in ("gpt", "function_call") for r in all_rows)
    assert all(isinstance(r["system"], str) and r["system"] for r in all_rows)
    info = json.loads((tmp_path / "t" / "dataset_info.json").read_text())
    assert info["t_train"]["file_name"] == "train.jsonl" and info["t_train"]["formatting"] == "sharegpt"
    assert info["t_train"]["tags"]["assistant_tag"] == "gpt" and not info["t_train"]["ranking"]
    assert set(manifest["files"]) >= {"dataset_info.json", "axolotl.yaml", "train.jsonl"}
    snippet = (tmp_path / "t" / "axolotl.yaml").read_text()
    assert "field_messages: conversations" in snippet and "path: train.jsonl" in snippet


def test_alpaca_rows_and_preference_ranking(demo, tmp_path: Path) -> None:
    _, rows = _export(demo, tmp_path, BASE + 'format = "alpaca"\nbatch_size = 1\n')
    sft = [r for s in SPLITS for r in rows[s]]
    assert sft and all(set(r) == {"instruction", "input", "output", "system", "history"} for r in sft)
    assert all(isinstance(pair, list) and len(pair) == 2 for r in sft for pair in r["history"])
    # tool turns cannot be alpaca: such a body is refused (and counted by the export), not mangled
    tool_body = {"kind": "sft", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"name": "get", "arguments": {"city": "Oslo"}}]},
        {"role": "tool", "content": "rain"}, {"role": "assistant", "content": "Rain."}]}  # fmt: skip
    changed: Counter[str] = Counter()
    assert alpaca_row(tool_body, changed) is None
    conv = json.loads(sharegpt_row(tool_body, changed) or b"")["conversations"]
    assert [t["from"] for t in conv] == ["human", "function_call", "observation", "gpt"]
    assert json.loads(conv[1]["value"]) == {"name": "get", "arguments": {"city": "Oslo"}}
    _, rows = _export(demo, tmp_path, 'sources = ["sam-corrections", "sam-dpo-pairs", "public-sets"]\n'
                             'kinds = ["preference"]\nformat = "alpaca"\nbatch_size = 1\n')  # fmt: skip
    pairs = [r for s in SPLITS for r in rows[s]]
    assert pairs and all(r["chosen"] != r["rejected"] for r in pairs)
    info = json.loads((tmp_path / "t" / "dataset_info.json").read_text())
    assert info["t_train"]["ranking"] and info["t_train"]["columns"]["chosen"] == "chosen"


def test_weights_repeat_and_thin_caps_limit(demo, tmp_path: Path) -> None:
    plain, _ = _export(demo, tmp_path, BASE + "batch_size = 1\n")

    def per_source(manifest: dict, split: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in manifest["breakdown"]:
            if split is None or b["split"] == split:
                out[b["source"]] = out.get(b["source"], 0) + b["examples"]
        return out

    weighted, rows = _export(
        demo,
        tmp_path,
        BASE
        + 'batch_size = 1\nsource_weights = { dolly = 3, backup = 0.5 }\nsource_caps = { "sam-logs" = 2 }\n',
    )
    before, after = per_source(plain, "train"), per_source(weighted, "train")
    assert after["dolly"] == 3 * before["dolly"]
    assert 0 < per_source(weighted)["backup"] < per_source(plain)["backup"]
    assert per_source(weighted)["sam-logs"] == 2
    assert weighted["changed"]["repeated by weight (extra rows)"] == 2 * before["dolly"]
    assert weighted["dropped"]["over the cap for source sam-logs"] == per_source(plain)["sam-logs"] - 2
    assert (
        per_source(weighted, "valid")["dolly"] == per_source(plain, "valid")["dolly"]
    )  # no repeats in valid
    assert len(rows["train"]) == weighted["counts"]["train"]


def test_exclude_secrets_and_catalog_state(demo, tmp_path: Path) -> None:
    redacted, rows = _export(demo, tmp_path, BASE + "batch_size = 1\n")
    text = json.dumps(rows)
    assert "<AWS_ACCESS_KEY>" in text
    excluded, rows = _export(demo, tmp_path, BASE + "batch_size = 1\nexclude_secrets = true\n")
    n = excluded["dropped"]["had secrets (exclude_secrets)"]
    assert n > 0 and sum(excluded["counts"].values()) == sum(redacted["counts"].values()) - n
    assert "<AWS_ACCESS_KEY>" not in json.dumps(rows)
    state = excluded["catalog"]
    assert state["examples"] > 0 and state["last_ingest_run"] >= 1 and state["schema"] >= 6
    assert {"secrets", "quality", "neardup", "tokens", "category"} <= set(state["detectors"])


def test_max_tokens_truncates_whole_turns_and_counts_it(demo, tmp_path: Path) -> None:
    dropped, _ = _export(demo, tmp_path, BASE + "batch_size = 1\nmax_tokens = 120\n")
    truncated, rows = _export(
        demo, tmp_path, BASE + 'batch_size = 1\nmax_tokens = 120\non_long = "truncate"\n'
    )
    assert dropped["dropped"].get("longer than max_tokens (120)", 0) > 0
    n_truncated = truncated["changed"].get("truncated to max_tokens (120)", 0)
    assert n_truncated > 0
    assert sum(truncated["counts"].values()) > sum(dropped["counts"].values())
    assert all(r["messages"][-1]["role"] == "assistant" for s in SPLITS for r in rows[s])
    assert all(s["max"] <= 120 for s in dropped["tokens"].values())


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(st.text(min_size=1, max_size=12), min_size=50, max_size=300, unique=True),
    extra=st.lists(st.text(min_size=1, max_size=12), max_size=200),
    valid=st.floats(0.05, 0.3),
    salt=st.text(max_size=8),
)
def test_split_properties(keys: list[str], extra: list[str], valid: float, salt: str) -> None:
    fractions = {"train": 1 - 2 * valid, "valid": valid, "test": valid}
    before = {k: split_of(k, salt, fractions) for k in keys}
    # Growth never moves an existing group, and a group's key always lands in one split.
    after = {k: split_of(k, salt, fractions) for k in [*extra, *keys]}
    assert all(after[k] == before[k] for k in keys)


@settings(max_examples=25, deadline=None)
@given(valid=st.floats(0.02, 0.3), salt=st.text(max_size=8))
def test_split_fractions_hold(valid: float, salt: str) -> None:
    fractions = {"train": 1 - 2 * valid, "valid": valid, "test": valid}
    got = [split_of(f"group-{i}", salt, fractions) for i in range(20000)]
    for name, f in fractions.items():
        assert abs(got.count(name) / len(got) - f) < 0.02  # > 5 standard deviations


def test_manifest_lists_licences_and_a_recipe_excludes_by_licence(demo, tmp_path: Path) -> None:
    everything, _ = _export(demo, tmp_path, BASE + "batch_size = 1\n")
    by_source: Counter[str] = Counter()
    for b in everything["breakdown"]:
        by_source[b["source"]] += b["examples"]
    # Rows by the licence of their sources, as the config states them.
    assert everything["licenses"]["CC-BY-NC-4.0"] == by_source["code-alpaca"] > 0
    assert everything["licenses"]["CC-BY-SA-3.0"] == by_source["dolly"] > 0
    assert sum(everything["licenses"].values()) == sum(everything["counts"].values())

    manifest, rows = _export(demo, tmp_path, BASE + 'batch_size = 1\nexclude_licenses = ["CC-BY-NC-4.0"]\n')
    assert "CC-BY-NC-4.0" not in manifest["licenses"]
    assert manifest["dropped"]["license excluded (CC-BY-NC-4.0)"] == by_source["code-alpaca"]
    assert not [b for b in manifest["breakdown"] if b["source"] == "code-alpaca"]
    assert sum(len(r) for r in rows.values()) == sum(everything["counts"].values()) - by_source["code-alpaca"]
