"""Every real fixture ingests, with exact example counts worked out from the data, and spot checks."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from samdata.catalog import Catalog
from samdata.ingest import run_ingest
from tests.conftest import config_for, real_fixtures


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, Path]:
    root = real_fixtures()
    tmp = tmp_path_factory.mktemp("fixtures")
    body = "".join(
        f'[[sources]]\nname = "{d.name}"\npath = "{d}/**/*.json*"\nformat = "auto"\n'
        for d in sorted(root.iterdir())
        if d.is_dir()
    )
    config = config_for(tmp, body)
    cat = Catalog.open(config.catalog_path)
    report = run_ingest(config, cat)
    assert all(f.status == "ingested" for f in report.files), [(f.path, f.status) for f in report.files]
    yield cat, root
    cat.close()


def _examples(ingested: tuple[Catalog, Path], rel: str) -> list[dict[str, Any]]:
    cat, root = ingested
    return cat.examples_from(str(root / rel))


def _load(root: Path, rel: str) -> Any:
    p = root / rel
    if p.suffix == ".jsonl":
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return json.loads(p.read_text())


def _roles(example: dict[str, Any], key: str = "messages") -> list[str]:
    return [m["role"] for m in example["body"][key]]


def test_alpaca(ingested: tuple[Catalog, Path]) -> None:
    _cat, root = ingested
    for rel, n in (
        ("alpaca/alpaca_en_demo.json", 100),
        ("alpaca/code_alpaca_2k.json", 100),
        ("alpaca/identity.json", 91),
    ):
        # Every row has a non-empty output, so every row is one SFT example (SOURCES.md: 100, 100, 91 rows).
        rows = _load(root, rel)
        assert len(rows) == n and all(r["output"].strip() for r in rows)
        examples = _examples(ingested, rel)
        assert len(examples) == n
        assert [e["locator"]["index"] for e in examples] == list(range(n))
    rows = _load(root, "alpaca/code_alpaca_2k.json")
    i = next(i for i, r in enumerate(rows) if r["input"])
    e = _examples(ingested, "alpaca/code_alpaca_2k.json")[i]
    assert _roles(e) == ["user", "assistant"]
    assert e["body"]["messages"][0]["content"] == f"{rows[i]['instruction']}\n\n{rows[i]['input']}".rstrip()


def test_dolly_keeps_category_as_label(ingested: tuple[Catalog, Path]) -> None:
    _cat, root = ingested
    rows = _load(root, "dolly/databricks-dolly-15k.jsonl")
    examples = _examples(ingested, "dolly/databricks-dolly-15k.jsonl")
    assert len(examples) == len(rows) == 6  # lines 1-6 of Dolly, all with a response
    assert [e["meta"]["category"] for e in examples] == [r["category"] for r in rows]
    assert [e["locator"] for e in examples] == [{"line": n} for n in range(1, 7)]
    with_context = next(i for i, r in enumerate(rows) if r["context"])
    assert (
        rows[with_context]["context"].strip()[:50] in examples[with_context]["body"]["messages"][0]["content"]
    )


def test_evol_instruct_empty_outputs_are_quarantined(ingested: tuple[Catalog, Path]) -> None:
    cat, root = ingested
    for rel in ("evol_instruct/wizardlm.508e.json", "evol_instruct/wizardlm.c5c5.json"):
        rows = _load(root, rel)
        empty = [i for i, r in enumerate(rows) if not r["output"].strip()]
        # 508e: 8 rows, 3 with an empty output → 5; c5c5: 9 rows, 3 empty → 6.
        assert (
            len(_examples(ingested, rel))
            == len(rows) - len(empty)
            == {"evol_instruct/wizardlm.508e.json": 5}.get(rel, 6)
        )
        q = [r for r in cat.quarantined(source="evol_instruct") if r["file"] == str(root / rel)]
        assert [r["locator"] for r in q] == [{"index": i} for i in empty]
        assert {r["reason"] for r in q} == {"empty assistant turn"}


def test_sharegpt_plain_tools_and_multimodal(ingested: tuple[Catalog, Path]) -> None:
    _cat, root = ingested
    assert len(_examples(ingested, "sharegpt/dummy_conversation.json")) == 20
    # glaive: 30 rows, but two rows are the same conversation: 29 distinct examples, 30 provenance rows.
    rows = _load(root, "sharegpt/glaive_toolcall_en_demo.json")
    distinct = {json.dumps(r, sort_keys=True) for r in rows}
    glaive = _examples(ingested, "sharegpt/glaive_toolcall_en_demo.json")
    assert len(glaive) == 30 and len({e["id"] for e in glaive}) == len(distinct) == 29
    i = next(i for i, r in enumerate(rows) if any(t["from"] == "function_call" for t in r["conversations"]))
    body = glaive[i]["body"]
    call = next(m for m in body["messages"] if m.get("tool_calls"))
    assert isinstance(call["tool_calls"][0]["arguments"], dict)  # parsed, not a JSON string
    assert "tool" in _roles(glaive[i]) and isinstance(body["tools"], list)
    mllm = _examples(ingested, "sharegpt/mllm_demo.json")
    assert len(mllm) == 6
    assert all(e["meta"]["omitted_media"]["images"] for e in mllm)
    assert "<image>" in mllm[0]["body"]["messages"][0]["content"]


def test_preference_variants(ingested: tuple[Catalog, Path]) -> None:
    _cat, root = ingested
    demo = _examples(ingested, "dpo/dpo_en_demo.json")
    rows = _load(root, "dpo/dpo_en_demo.json")
    assert len(demo) == 25 and all(e["kind"] == "preference" for e in demo)
    assert demo[0]["body"]["chosen"] == [
        {"role": "assistant", "content": rows[0]["chosen"]["value"].rstrip()}
    ]

    hh = _examples(ingested, "dpo/hh-rlhf-harmless-base/test.jsonl")
    assert len(hh) == 50  # 50 lines, each a pair whose dialogues share everything but the last answer
    first = _load(root, "dpo/hh-rlhf-harmless-base/test.jsonl")[0]
    assert (
        _roles(hh[0])[-1] == "user"
        and len(hh[0]["body"]["messages"]) == first["chosen"].count("\n\nHuman:") * 2 - 1
    )
    assert hh[0]["body"]["chosen"][0]["role"] == "assistant"

    kto = _examples(ingested, "dpo/kto_en_demo.json")
    labels = [r["label"] for r in _load(root, "dpo/kto_en_demo.json")]
    assert [e["kind"] for e in kto] == ["kto"] * 25
    assert [e["body"]["label"] for e in kto] == labels

    v1 = _examples(ingested, "dpo/v1_dpo_demo.jsonl")
    assert len(v1) == 10
    # chosen_messages = system + user + answer; the shared system/user prefix is the prompt.
    assert _roles(v1[0]) == ["system", "user"]
    assert _roles(v1[0], "chosen") == ["assistant"] and _roles(v1[0], "rejected") == ["assistant"]


def test_oasst_paths_and_ranked_pairs(ingested: tuple[Catalog, Path]) -> None:
    _cat, root = ingested
    trees = _load(root, "oasst/en_100_tree.jsonl")

    # Worked out independently: every root-to-leaf path is a conversation ending on its last assistant
    # reply (19 paths end on a follow-up prompt nobody answered: they end one turn earlier); pairs are
    # 2-combinations of ranked assistant siblings with different ranks. The 15 trees have no deleted or
    # failed-review messages: 55 paths end on an answer, 74 distinct conversations, 83 pairs.
    def count(node: dict[str, Any], last: str | None, ends: set[str]) -> tuple[int, int]:
        kids = node.get("replies", [])
        last = node["message_id"] if node["role"] == "assistant" else last
        paths = int(not kids and node["role"] == "assistant")
        if not kids and last is not None:
            ends.add(last)
        ranked = [k for k in kids if k["role"] == "assistant" and isinstance(k.get("rank"), int)]
        pairs = sum(a["rank"] != b["rank"] for a, b in itertools.combinations(ranked, 2))
        for k in kids:
            p, q = count(k, last, ends)
            paths, pairs = paths + p, pairs + q
        return paths, pairs

    ends: set[str] = set()
    totals = [count(t["prompt"], None, ends) for t in trees]
    paths, pairs = sum(p for p, _ in totals), sum(q for _, q in totals)
    assert (paths, len(ends), pairs) == (55, 74, 83)
    examples = _examples(ingested, "oasst/en_100_tree.jsonl")
    assert sum(e["kind"] == "sft" for e in examples) == 74
    assert sum(e["kind"] == "preference" for e in examples) == 83
    best = [e for e in examples if e["meta"].get("best")]
    assert 1 <= len(best) <= len(trees) and len({e["locator"]["line"] for e in best}) == len(best)
    pair = next(e for e in examples if e["kind"] == "preference")
    assert pair["meta"]["chosen_rank"] < pair["meta"]["rejected_rank"]
    assert {"line", "message_id", "chosen_id", "rejected_id"} <= set(pair["locator"])


def test_chatgpt_export(ingested: tuple[Catalog, Path]) -> None:
    _cat, root = ingested
    # pkuppens: 5 conversations; the fifth has one regenerated answer (two assistant children of
    # one user turn), kept as an alternative branch: 5 + 1 = 6.
    pk = _examples(ingested, "chatgpt_export/pkuppens-my_chat_gpt-2023-06/conversations.json")
    assert [e["meta"]["branch"] for e in pk] == ["visible"] * 5 + ["alternative"]
    assert [e["locator"]["index"] for e in pk] == [0, 1, 2, 3, 4, 4]
    convs = _load(root, "chatgpt_export/pkuppens-my_chat_gpt-2023-06/conversations.json")
    assert pk[0]["locator"]["node_id"] == convs[0]["current_node"]
    browsing = pk[2]["body"]["messages"]
    assert [m["role"] for m in browsing[2:6]] == ["user", "assistant", "tool", "assistant"]
    assert browsing[3]["tool_calls"] and browsing[3]["content"] == ""
    assert len(_examples(ingested, "chatgpt_export/realazthat-chatgpt2graph-2023-09/conversations.json")) == 1
    thinking = _examples(ingested, "chatgpt_export/pionxzh-chatgpt-exporter/thinking-summaries.json")
    assert len(thinking) == 1  # a single conversation object, not a list
    assert (
        "thoughts" in thinking[0]["meta"]["dropped"] and "reasoning_recap" in thinking[0]["meta"]["dropped"]
    )
    texts = [m["content"] for m in thinking[0]["body"]["messages"]]
    assert texts[0] == "question 1" and texts[-1] == "answer 2"


def test_claude_code_sessions(ingested: tuple[Catalog, Path]) -> None:
    _cat, _root = ingested
    for d in (
        "claude-reliability-coverage-test-fix",
        "claude-reliability-hello-world-script",
        "claude-reliability-stop-hook-reflection-first-stop",
    ):
        examples = _examples(ingested, f"claude_code/{d}/transcript.jsonl")
        assert len(examples) == 1  # one main thread per session file, no sidechains in these
        roles = _roles(examples[0])
        assert roles[0] == "user" and roles[-1] == "assistant"
        contents = " ".join(m["content"] for m in examples[0]["body"]["messages"])
        assert "Stop hook feedback" not in contents  # isMeta records are injected text, not the user's
    # hello-world: 1 prompt, 4 assistant messages (distinct message.id), 2 tool results → 7 turns;
    # the queue operation and the isMeta stop-hook record are dropped.
    hello = _examples(ingested, "claude_code/claude-reliability-hello-world-script/transcript.jsonl")[0]
    assert _roles(hello) == ["user", "assistant", "tool", "assistant", "tool", "assistant", "assistant"]
    call = hello["body"]["messages"][1]["tool_calls"][0]
    assert call["name"] == "Write" and call["arguments"]["file_path"].endswith("hello.sh")
    assert hello["body"]["messages"][2]["tool_call_id"] == call["id"]
    # coverage-test-fix: the thread back from the last record holds 21 assistant records carrying
    # 14 message ids, each id in one consecutive run: merged, they are 14 assistant turns.
    cov = _examples(ingested, "claude_code/claude-reliability-coverage-test-fix/transcript.jsonl")[0]
    assert _roles(cov).count("assistant") == 14


def test_every_fixture_file_produced_examples(ingested: tuple[Catalog, Path]) -> None:
    cat, root = ingested
    files = [p for p in root.rglob("*.json*") if p.is_file()]
    assert len(files) == 20
    for p in files:
        assert cat.examples_from(str(p)), p
    stats = cat.ingest_stats()
    assert stats["quarantined"] == 6  # the six empty Evol-Instruct outputs, nothing else


def test_every_record_of_every_fixture_is_accounted_for(ingested: tuple[Catalog, Path]) -> None:
    """read = produced + quarantined + skipped, per file; records read = the file's lines or items."""
    cat, root = ingested
    accounts = {Path(a["file"]): a for a in cat.accounts()}
    assert len(accounts) == 20
    for path, a in accounts.items():
        data = _load(root, str(path.relative_to(root)))
        assert a["records"] == (len(data) if isinstance(data, list) else 1), path
        assert a["balanced"] and a["produced"] > 0, (path, a)
        assert a["records"] == a["produced"] + a["quarantined"] + a["skipped"], (path, a)
    cc = accounts[root / "claude_code/claude-reliability-hello-world-script/transcript.jsonl"]
    # 9 lines: the queue operation and the isMeta stop-hook text are skipped, 7 turn records produced.
    assert (cc["produced"], cc["skipped_by_reason"]) == (
        7,
        {"claude_code: queue-operation record": 1, "claude_code: injected text (isMeta)": 1},
    )
