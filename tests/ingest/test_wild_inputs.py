"""The wild-inputs matrix: files in the shapes other tools write today, each with its exact account
(records read = produced + quarantined + skipped, by reason), worked out in the case's comment."""

from __future__ import annotations

import bz2
import gzip
import json
import random
import sqlite3
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from samdata.catalog import Catalog
from samdata.export.split import conversation_key
from samdata.ingest import run_ingest
from tests.conftest import config_for
from tests.ingest.wild import (
    SESSION,
    cc_assistant,
    cc_linked,
    cc_meta,
    cc_user,
    chat,
    conversation,
    gz,
    jl,
    node,
    oa,
    oa_flat,
    parts,
    simple_conversation,
    text,
    tool_result,
    tool_use,
    zipped,
    zst,
)

Content = bytes | Callable[[Path], None]


@dataclass
class Case:
    name: str
    files: dict[str, Content]
    records: int
    produced: int
    examples: dict[str, int]
    quarantined: dict[str, int] = field(default_factory=dict)  # reason substring → records
    skipped: dict[str, int] = field(default_factory=dict)  # exact reasons
    dropped: dict[str, int] | None = None  # exact reasons (None: not checked)
    fmt: str = "auto"


GOOD = [chat(f"question {i}", f"answer {i}") for i in range(10)]
RNG = random.Random(9)
BINARY_HEAD = bytes(b for b in RNG.randbytes(100_000) if b != 0x0A)


def _cut_gzip() -> tuple[bytes, int]:
    """A gzip cut at 60 %, and how many whole lines a decompressor recovers from it."""
    data = gz(jl(*(chat(f"q{i} " + "words " * 40, f"a{i}") for i in range(3000))))
    cut = data[: int(len(data) * 0.6)]
    return cut, zlib.decompressobj(31).decompress(cut).count(b"\n")


CUT_GZIP, CUT_LINES = _cut_gzip()


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/good.jsonl", jl(GOOD[0]))
        with z.open("a/big.jsonl", "w") as m:
            for _ in range(300):
                m.write(b"\0" * (1 << 20))  # 300 MiB of zeros: about 0.3 MiB deflated


def _gzip_bomb(path: Path) -> None:
    with gzip.open(path, "wb") as f:
        f.write(jl(GOOD[0]))
        for _ in range(300):
            f.write(b" " * (1 << 20))


def _store(rows: list[tuple[Any, ...]], schema: str, insert: str) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute(schema)
        conn.executemany(insert, rows)
        conn.commit()
        conn.close()

    return write


# Claude Code: a rewind. U1-A1 then U2-A2-U3-A3-U4-A4 (abandoned), then U2b asked again from A1.
CC_REWIND = jl(
    cc_meta("permission-mode", permissionMode="default"),
    cc_user("u1", None, "first question"),
    cc_assistant("a1", "u1", [text("first answer")], "m1"),
    cc_user("u2", "a1", "second question"),
    cc_assistant("a2", "u2", [text("second answer")], "m2"),
    cc_user("u3", "a2", "third question"),
    cc_assistant("a3", "u3", [text("third answer")], "m3"),
    cc_user("u4", "a3", "fourth question"),
    cc_assistant("a4", "u4", [text("fourth answer")], "m4"),
    cc_user("u2b", "a1", "second question, asked again"),
    cc_assistant("a2b", "u2b", [text("a better second answer")], "m5"),
    cc_meta("last-prompt", lastPrompt="second question, asked again", leafUuid="a2b"),
)

# Claude Code 2.1: every newer record type around one conversation.
CC_NEWER = jl(
    cc_meta("permission-mode", permissionMode="default"),
    {"type": "file-history-snapshot", "messageId": "x", "snapshot": {"trackedFileBackups": {}}, "isSnapshotUpdate": False},
    cc_user("u1", None, "Find the right tools and run them"),
    cc_assistant("a1", "u1", [{"type": "thinking", "thinking": "", "signature": "EqQBCkgIBxAB"}], "m1"),
    cc_assistant("a1b", "a1", [tool_use("t1", "ToolSearch", {"query": "select:Read,Grep"})], "m1"),
    cc_user("r1", "a1b", [tool_result("t1", [{"type": "tool_reference", "tool_name": "Read"},
                                             {"type": "tool_reference", "tool_name": "Grep"}])]),
    cc_linked("progress", "p1", "r1", data={"type": "hook_progress"}, toolUseID="t1"),
    cc_assistant("a2", "p1", [tool_use("t2", "Agent", {"description": "check", "prompt": "check the tests"})], "m2"),
    cc_user("r2", "a2", [tool_result("t2", [text("All tests pass.")])]),
    cc_linked("attachment", "at1", "r2", attachment={"type": "todo", "content": []}),
    cc_linked("attachment", "q1", "at1", attachment={"type": "queued_command", "prompt": "also check the README",
                                                     "origin": {"kind": "human"}}),
    cc_assistant("a3", "q1", [text("Done; the README is fine.")], "m3"),
    cc_linked("system", "s1", "a3", subtype="stop_hook_summary", hookCount=1),
    cc_linked("system", "s2", "s1", subtype="turn_duration", durationMs=5000),
    cc_linked("system", "s3", "s2", subtype="away_summary", content="while you were away"),
    cc_meta("last-prompt", lastPrompt="also check the README"),
)  # fmt: skip

# Assistant records written without parentUuid: each follows the record before it.
CC_NO_PARENT = b"".join(
    json.dumps({k: v for k, v in r.items() if not (r["type"] == "assistant" and k == "parentUuid")}).encode() + b"\n"
    for r in (
        cc_user("u1", None, "one"), cc_assistant("a1", None, [text("1")], "m1"),
        cc_user("u2", "a1", "two"), cc_assistant("a2", None, [text("2")], "m2"),
        cc_user("u3", "a2", "three"), cc_assistant("a3", None, [text("3")], "m3"),
    )
)  # fmt: skip

CC_WRAPPERS = jl(
    cc_user("w1", None, "<command-name>/clear</command-name>\n<command-message>clear</command-message>\n<command-args></command-args>"),
    cc_user("w2", "w1", "<local-command-stdout></local-command-stdout>"),
    cc_user("u1", "w2", [text("<system-reminder>\nRemember the CLAUDE.md rules.\n</system-reminder>"),
                         text("Fix the failing test")]),
    cc_assistant("a1", "u1", [text("Fixed: the fixture path was wrong.")], "m1"),
    cc_user("u1", "w2", [text("Fix the failing test")]),  # a resumed session replays a record
    cc_user("meta1", "a1", "Caveat: the messages below were generated by local commands.", isMeta=True),
)  # fmt: skip

CC_SUBAGENT = jl(
    cc_user("s1", None, "check the tests", isSidechain=True, agentId="a1b2"),
    cc_assistant("s2", "s1", [text("All tests pass.")], "m9", isSidechain=True, agentId="a1b2"),
)

PREAMBLE = conversation(
    [
        node("root", None, ["u"], None),
        node("u", "root", ["p"], "user", parts("Which train should I take?")),
        node("p", "u", ["a"], "assistant", parts("Let me look at the timetable first."), channel="commentary",
             metadata={"is_thinking_preamble_message": True}),
        node("a", "p", [], "assistant", parts("Take the 9:15."), channel="final"),
    ],
    "a",
)  # fmt: skip

IMAGE_GEN = conversation(
    [
        node("root", None, ["u"], None),
        node("u", "root", ["c"], "user", parts("draw a cat")),
        node("c", "u", ["t"], "assistant", parts('{"prompt": "a cat", "size": "1024x1024"}'),
             recipient="t2uay3k.sj1i4kz"),
        node("t", "c", ["a"], "tool", {"content_type": "multimodal_text", "parts": [
            {"content_type": "image_asset_pointer", "asset_pointer": "sediment://file_1", "width": 1024}]},
             name="t2uay3k.sj1i4kz"),
        node("a", "t", [], "assistant", parts("")),
    ],
    "a",
)  # fmt: skip

CODE_TO_ALL = conversation(
    [
        node("root", None, ["u"], None),
        node("u", "root", ["a"], "user", parts("show me a loop")),
        node("a", "u", [], "assistant",
             {"content_type": "code", "language": "python", "text": "for i in range(3):\n    print(i)"}),
    ],
    "a",
)  # fmt: skip

ODD_ROOTS = [
    # A root without `message`/`parent` keys.
    conversation([{"id": "r", "children": ["u"]}, node("u", "r", ["a"], "user", parts("hi")),
                  node("a", "u", [], "assistant", parts("hello"))], "a", "c-1"),
    # A root that is itself the first user message.
    conversation([node("u", None, ["a"], "user", parts("hey")), node("a", "u", [], "assistant", parts("hey there"))],
                 "a", "c-2"),
]  # fmt: skip

NO_CURRENT = conversation(
    [
        node("root", None, ["u"], None),
        node("u", "root", ["old", "new"], "user", parts("pick a name")),
        node("old", "u", [], "assistant", parts("Rex"), create_time=1.7e9),
        node("new", "u", [], "assistant", parts("Luna"), create_time=1.8e9),
    ],
    None,
)
SINGLE_WITH_ID = {k: v for k, v in simple_conversation("c-9", "q", "a").items() if k != "conversation_id"}

OA_ENVELOPE = jl(
    # p1 has two ranked answers: 2 paths, 1 pair. p2's first answer is deleted (dropped): 1 path.
    {"message_tree_id": "t1", "tree_state": "ready_for_export",
     "prompt": oa("p1", "prompter", "q1", [oa("a1", "assistant", "x", [], rank=0), oa("a2", "assistant", "y", [], rank=1)])},
    {"message_tree_id": "t2", "tree_state": "ready_for_export",
     "prompt": oa("p2", "prompter", "q2", [oa("a3", "assistant", "z", [], deleted=True), oa("a4", "assistant", "w", [], rank=0)])},
)  # fmt: skip
OA_NESTED = jl(
    *(oa(f"p{i}", "prompter", f"q{i}", [oa(f"a{i}", "assistant", f"answer {i}", [])]) for i in range(5))
)
OA_FLAT = jl(
    # p → a1 (rank 0) → u2 (unanswered follow-up); p → a2 (rank 1); p → a3 (deleted).
    # Paths: p-a1 (u2 trimmed: unanswered), p-a2; pair a1 > a2. Lines used: p, a1, a2.
    oa_flat("p", None, "prompter", "q"),
    oa_flat("a1", "p", "assistant", "x", rank=0),
    oa_flat("a2", "p", "assistant", "y", rank=1),
    oa_flat("a3", "p", "assistant", "z", deleted=True),
    oa_flat("u2", "a1", "prompter", "and then?"),
)
OA_MIXED = jl(
    {"message_tree_id": "t1", "prompt": oa("p1", "prompter", "q1", [oa("a1", "assistant", "x", [])])},
    oa("p2", "prompter", "q2", [oa("a2", "assistant", "y", [])]),
    oa_flat("p3", None, "prompter", "q3"),
    oa_flat("a3", "p3", "assistant", "z"),
)
OA_ORPHAN = jl(
    oa_flat("p", None, "prompter", "q"),
    oa_flat("a", "p", "assistant", "x"),
    oa_flat("x", "gone", "assistant", "orphan"),
    oa_flat("y", "x", "prompter", "reply to the orphan"),
)

CASES = [
    # 10 good chat lines with one line of binary bytes among them: the bad line alone is quarantined.
    Case("chat-binary-line", {"chat.jsonl": jl(*GOOD[:5]) + b"\x00\x01\xff\xfe\x89PNG junk\x00\n" + jl(*GOOD[5:])},
         11, 10, {"sft": 10}, {"binary data": 1}),
    # A NUL byte inside one JSON line: that line is quarantined, the other two ingested.
    Case("chat-nul-byte", {"chat.jsonl": jl(GOOD[0]) + b'{"messages": [{"role": "user", "content": "a\x00b"}]}\n' + jl(GOOD[1])},
         3, 2, {"sft": 2}, {"binary data (NUL bytes)": 1}),
    # A 100 KB binary line first (the whole sniffed head), then 5 good lines: the tail shows JSON lines.
    Case("chat-binary-head", {"chat.jsonl": BINARY_HEAD + b"\n" + jl(*GOOD[:5])}, 6, 5, {"sft": 5}, {"binary data": 1}),
    # A JSON array with one bad element (NaN) among four Alpaca rows.
    Case("alpaca-array-bad-element", {"a.json": b'[{"instruction": "i1", "input": "", "output": "o1"}, {"instruction": "i2", "input": "", "output": NaN},'
         b' {"instruction": "i3", "input": "", "output": "o3"}, {"instruction": "i4", "input": "", "output": "o4"}]'},
         4, 3, {"sft": 3}, {"invalid JSON": 1}),
    # A stray array on line 1 of a JSONL file: one bad record, not a broken document.
    Case("jsonl-stray-array", {"chat.jsonl": b"[1, 2]\n" + jl(*GOOD[:3])}, 4, 3, {"sft": 3}, {"record is list": 1}),
    # OASST trees with the envelope: 2 + 1 paths, 1 pair; the deleted answer is a dropped part.
    Case("oasst-envelope", {"trees.jsonl": OA_ENVELOPE}, 2, 2, {"sft": 3, "preference": 1},
         dropped={"oasst: deleted message": 1}),
    # Root messages with nested replies and no envelope (once read as flat rows, losing every reply).
    Case("oasst-nested-roots", {"oasst.jsonl": OA_NESTED}, 5, 5, {"sft": 5}),
    # A flat message file: 3 lines used, the deleted answer and the unanswered follow-up skipped.
    Case("oasst-flat", {"messages.jsonl": OA_FLAT}, 5, 3, {"sft": 2, "preference": 1},
         skipped={"oasst: deleted message": 1, "oasst: prompt without an answer": 1}),
    # Trees, a nested root and flat rows in one file, each read record by record: 4 lines, 3 examples.
    Case("oasst-mixed", {"mixed.jsonl": OA_MIXED}, 4, 4, {"sft": 3}),
    # A reply whose parent is not in the file is quarantined; the reply below it is skipped with it.
    Case("oasst-orphan", {"messages.jsonl": OA_ORPHAN}, 4, 2, {"sft": 1}, {"is not in the file": 1},
         {"oasst: reply to a message that is not in the file": 1}),
    # Claude Code rewind: both threads are examples (10 turn records, 2 metadata records).
    Case("claude-rewind", {"s.jsonl": CC_REWIND}, 12, 10, {"sft": 2},
         skipped={"claude_code: permission-mode record": 1, "claude_code: last-prompt record": 1}),
    # Newer record types around one conversation: 8 turn records (the thinking-only one merges into
    # its message), 8 records skipped, each with its reason; the empty thinking block is dropped.
    Case("claude-newer-records", {"s.jsonl": CC_NEWER}, 16, 8, {"sft": 1},
         skipped={"claude_code: permission-mode record": 1, "claude_code: file-history-snapshot record": 1,
                  "claude_code: progress record": 1, "claude_code: attachment record (todo)": 1,
                  "claude_code: system record (stop_hook_summary)": 1, "claude_code: system record (turn_duration)": 1,
                  "claude_code: system record (away_summary)": 1, "claude_code: last-prompt record": 1},
         dropped={"claude_code: thinking block": 1}),
    # Assistant records without parentUuid: the three prompts stay, in order, in one example.
    Case("claude-no-parent-uuid", {"s.jsonl": CC_NO_PARENT}, 6, 6, {"sft": 1}),
    # Slash-command wrappers, a replayed record and isMeta text are skipped; the reminder block is cut.
    Case("claude-wrappers", {"s.jsonl": CC_WRAPPERS}, 6, 2, {"sft": 1},
         skipped={"claude_code: slash-command wrapper": 2, "claude_code: replayed record (resumed session)": 1,
                  "claude_code: injected text (isMeta)": 1},
         dropped={"claude_code: <system-reminder> block": 1}),
    # A subagent file reusing the parent's sessionId: one example of its own.
    Case("claude-subagent", {"s/subagents/agent-a1b2.jsonl": CC_SUBAGENT}, 2, 2, {"sft": 1}),
    # ChatGPT: the thinking preamble is dropped, the answer kept.
    Case("chatgpt-preamble", {"conversations.json": json.dumps([PREAMBLE]).encode()}, 1, 1, {"sft": 1},
         dropped={"chatgpt: thinking preamble": 1}),
    # Image generation: nothing the assistant says can be trained on.
    Case("chatgpt-image-generation", {"conversations.json": json.dumps([IMAGE_GEN]).encode()}, 1, 0, {},
         skipped={"chatgpt: no trainable assistant text": 1}),
    # Code addressed to `all` is visible text.
    Case("chatgpt-code-to-all", {"conversations.json": json.dumps([CODE_TO_ALL]).encode()}, 1, 1, {"sft": 1}),
    # A root without message/parent keys, and a root that is the first user message.
    Case("chatgpt-odd-roots", {"conversations.json": json.dumps(ODD_ROOTS).encode()}, 2, 2, {"sft": 2}),
    # No current_node: the newest leaf is the visible branch, the other a regeneration.
    Case("chatgpt-no-current-node", {"conversations.json": json.dumps([NO_CURRENT]).encode()}, 1, 1, {"sft": 2},
         dropped={"chatgpt: no current_node, the newest branch taken": 1}),
    # One conversation object (not a list), with `id` and no `conversation_id`.
    Case("chatgpt-single-object", {"conversation.json": json.dumps(SINGLE_WITH_ID, indent=2).encode()}, 1, 1, {"sft": 1}),
    # The same conversation id in two exports (the later one grown): both read, two examples.
    Case("chatgpt-ids-reused", {
        "2025/conversations.json": json.dumps([simple_conversation("c-shared", "q", "a")]).encode(),
        "2026/conversations.json": json.dumps([simple_conversation("c-shared", "q", "a, and more")]).encode()},
         2, 2, {"sft": 2}),
    # Compressed sources, read streaming.
    Case("chat-jsonl-gz", {"chats.jsonl.gz": gz(jl(*GOOD[:5]))}, 5, 5, {"sft": 5}),
    Case("alpaca-json-gz", {"alpaca.json.gz": gz(json.dumps([{"instruction": f"i{i}", "input": "", "output": f"o{i}"} for i in range(3)]).encode())},
         3, 3, {"sft": 3}),
    Case("chat-jsonl-zst", {"chats.jsonl.zst": zst(jl(*GOOD[:4]))}, 4, 4, {"sft": 4}),
    Case("chat-jsonl-bz2", {"chats.jsonl.bz2": bz2.compress(jl(*GOOD[:3]))}, 3, 3, {"sft": 3}),
    # A zip of JSONL files (and a README, and Finder litter): members read in order, the README skipped.
    Case("zip-of-jsonl", {"backup.zip": zipped({
        "data/chat.jsonl": jl(*GOOD[:3]), "data/pairs.jsonl": jl(*({"prompt": f"p{i}", "chosen": "good", "rejected": "bad"} for i in range(2))),
        "README.txt": b"notes about this backup\n", "__MACOSX/data/._chat.jsonl": b"\x00\x05\x16\x07"})},
         6, 5, {"sft": 3, "preference": 2}, skipped={"zip member holds text, not JSON or JSONL": 1}),
    # A gzip cut short: every whole line before the cut is kept; the rest is one quarantined record.
    Case("gzip-cut-short", {"big.jsonl.gz": CUT_GZIP}, CUT_LINES + 1, CUT_LINES, {"sft": CUT_LINES}, {"cut short": 1}),
    # Decompression bombs are refused by the expansion limit, with the reason; good records stay.
    Case("zip-bomb", {"bomb.zip": _zip_bomb}, 2, 1, {"sft": 1}, {"decompression bomb": 1}),
    Case("gzip-bomb", {"bomb.jsonl.gz": _gzip_bomb}, 2, 1, {"sft": 1}, {"decompression bomb": 1}),
    # The seed's own store: training_examples(instruction, response, source, created_at), one empty answer.
    Case("sqlite-seed-store", {"training_data.db": _store(
        [("q1", "a1", "capture", "2025-10-01"), ("q2", "a2", "manual", "2025-10-02"), ("q3", None, "capture", "2025-10-03"),
         ("q4", "a4", None, None)],
        "CREATE TABLE training_examples (id INTEGER PRIMARY KEY, instruction TEXT, response TEXT, source TEXT, created_at TEXT)",
        "INSERT INTO training_examples (instruction, response, source, created_at) VALUES (?, ?, ?, ?)")},
         4, 3, {"sft": 3}, {"response is empty": 1}),
    # A store with no example-like table: one quarantined record naming what it saw.
    Case("sqlite-no-example-table", {"logs.db": _store([("info", "started")], "CREATE TABLE logs (level TEXT, message TEXT)",
                                                       "INSERT INTO logs VALUES (?, ?)")},
         1, 0, {}, {"seen: logs(level, message)": 1}),
    # The seed's feedback files: instruction/response rows.
    Case("instruction-response", {"f.jsonl": jl({"instruction": "i", "response": "r"}, {"instruction": "j", "response": "s"})},
         2, 2, {"sft": 2}),
    # Plain text rows, one empty.
    Case("text-rows", {"t.jsonl": jl({"text": ""}, {"text": "some prose"})}, 2, 1, {"sft": 1}, {"empty text": 1}, fmt="text"),
]  # fmt: skip


def _ingest(tmp_path: Path, case: Case) -> tuple[list[dict[str, Any]], Catalog]:
    data = tmp_path / "data"
    for rel, content in case.files.items():
        path = data / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
    config = config_for(tmp_path, f'[[sources]]\nname = "s"\npath = "{data}/**/*"\nformat = "{case.fmt}"\n')
    cat = Catalog.open(config.catalog_path)
    report = run_ingest(config, cat)
    assert not report.unaccounted()
    return cat.accounts(), cat


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_wild_input_account(tmp_path: Path, case: Case) -> None:
    accounts, cat = _ingest(tmp_path, case)
    with cat:
        assert len(accounts) == len(case.files) and all(a["balanced"] for a in accounts), accounts
        total = Counter()
        for key in ("records", "produced"):
            total[key] = sum(a[key] for a in accounts)
        examples = sum((Counter(a["examples_by_kind"]) for a in accounts), Counter())
        quarantined = sum((Counter(a["quarantined_by_reason"]) for a in accounts), Counter())
        skipped = sum((Counter(a["skipped_by_reason"]) for a in accounts), Counter())
        dropped = sum((Counter(a["dropped_by_reason"]) for a in accounts), Counter())
        assert (total["records"], total["produced"]) == (case.records, case.produced), accounts
        assert dict(examples) == case.examples, accounts
        assert dict(skipped) == case.skipped, accounts
        if case.dropped is not None:
            assert dict(dropped) == case.dropped, accounts
        # Each expected reason matches its own quarantined records, and nothing else is quarantined.
        assert sum(quarantined.values()) == sum(case.quarantined.values()), quarantined
        for want, n in case.quarantined.items():
            assert sum(v for r, v in quarantined.items() if want in r) == n, quarantined


def _bodies(tmp_path: Path, case_name: str) -> list[dict[str, Any]]:
    case = next(c for c in CASES if c.name == case_name)
    _accounts, cat = _ingest(tmp_path, case)
    with cat:
        return [
            e for f in sorted(r[0] for r in cat.conn.execute("SELECT DISTINCT file FROM provenance_paths"))
            for e in cat.examples_from(f)
        ]  # fmt: skip


def _roles(example: dict[str, Any]) -> list[str]:
    return [m["role"] for m in example["body"]["messages"]]


def test_claude_rewind_keeps_both_threads_in_one_group(tmp_path: Path) -> None:
    branch, main = _bodies(tmp_path, "claude-rewind")
    assert [m["content"] for m in branch["body"]["messages"] if m["role"] == "user"] == [
        "first question", "second question", "third question", "fourth question"]  # fmt: skip
    assert [m["content"] for m in main["body"]["messages"]][-1] == "a better second answer"
    assert (branch["meta"]["thread"], main["meta"]["thread"]) == ("branch", "main")
    assert (
        conversation_key(1, branch["locator"]) == conversation_key(1, main["locator"]) == f"session:{SESSION}"
    )


def test_claude_newer_records_read_as_turns(tmp_path: Path) -> None:
    [example] = _bodies(tmp_path, "claude-newer-records")
    messages = example["body"]["messages"]
    assert _roles(example) == ["user", "assistant", "tool", "assistant", "tool", "user", "assistant"]
    assert messages[1]["tool_calls"][0]["name"] == "ToolSearch"
    assert messages[2]["content"] == "tool loaded: Read\ntool loaded: Grep"
    assert messages[3]["tool_calls"][0]["name"] == "Agent"
    assert messages[5]["content"] == "also check the README"  # a prompt queued while the model worked


def test_claude_prompts_without_parent_links_stay_in_order(tmp_path: Path) -> None:
    [example] = _bodies(tmp_path, "claude-no-parent-uuid")
    assert [m["content"] for m in example["body"]["messages"]] == ["one", "1", "two", "2", "three", "3"]


def test_claude_wrappers_and_reminders_never_reach_the_text(tmp_path: Path) -> None:
    [example] = _bodies(tmp_path, "claude-wrappers")
    assert [m["content"] for m in example["body"]["messages"]] == [
        "Fix the failing test", "Fixed: the fixture path was wrong."]  # fmt: skip


def test_claude_subagent_groups_with_its_parent_session(tmp_path: Path) -> None:
    [example] = _bodies(tmp_path, "claude-subagent")
    assert example["meta"]["sidechain"] is True and example["meta"]["agent"] == "a1b2"
    assert conversation_key(7, example["locator"]) == f"session:{SESSION}"


def test_chatgpt_shapes(tmp_path: Path) -> None:
    [preamble] = _bodies(tmp_path / "p", "chatgpt-preamble")
    assert [m["content"] for m in preamble["body"]["messages"]] == [
        "Which train should I take?",
        "Take the 9:15.",
    ]
    [code] = _bodies(tmp_path / "c", "chatgpt-code-to-all")
    answer = code["body"]["messages"][-1]
    assert (
        answer["content"] == "```python\nfor i in range(3):\n    print(i)\n```" and "tool_calls" not in answer
    )
    newest, older = _bodies(tmp_path / "n", "chatgpt-no-current-node")
    assert newest["body"]["messages"][-1]["content"] == "Luna" and newest["meta"]["branch"] == "newest"
    assert older["meta"]["branch"] == "alternative"
    [single] = _bodies(tmp_path / "s", "chatgpt-single-object")
    assert single["locator"]["conversation_id"] == "c-9"
    a, b = _bodies(tmp_path / "r", "chatgpt-ids-reused")
    assert a["id"] != b["id"] and conversation_key(1, a["locator"]) == conversation_key(2, b["locator"])


def test_oasst_nested_roots_keep_their_replies(tmp_path: Path) -> None:
    examples = _bodies(tmp_path, "oasst-nested-roots")
    assert [[m["content"] for m in e["body"]["messages"]] for e in examples] == [
        [f"q{i}", f"answer {i}"] for i in range(5)]  # fmt: skip


def test_sqlite_seed_store_keeps_its_labels(tmp_path: Path) -> None:
    examples = _bodies(tmp_path, "sqlite-seed-store")
    assert [e["meta"] for e in examples] == [
        {"source": "capture", "created_at": "2025-10-01"}, {"source": "manual", "created_at": "2025-10-02"}, {}]  # fmt: skip
    assert examples[0]["locator"] == {"table": "training_examples", "rowid": 1}
