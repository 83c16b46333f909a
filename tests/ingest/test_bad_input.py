"""A matrix of malformed inputs: none crashes a run, each ends quarantined with a reason, and every
good record beside it is ingested."""

from __future__ import annotations

import gzip
import io
import json
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from samdata.catalog import Catalog
from samdata.ingest import run_ingest
from tests.conftest import config_for


def chat(q: str, a: str = "an answer") -> dict:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


GOOD_A, GOOD_B = line(chat("first question")), line(chat("second question"))


def around(bad: bytes) -> bytes:
    """A good record before and after the bad one."""
    return GOOD_A + bad + GOOD_B


def pairs_around(bad: bytes) -> bytes:
    """A good preference pair before and after the bad one."""
    return (
        line({"prompt": "p1", "chosen": "good", "rejected": "bad"})
        + bad
        + line({"prompt": "p2", "chosen": "yes", "rejected": "no"})
    )


def chatgpt(mapping: dict, current: str) -> bytes:
    good = {
        "title": "ok",
        "current_node": "b",
        "mapping": {
            "r": {"id": "r", "message": None, "parent": None, "children": ["a"]},
            "a": {
                "id": "a",
                "parent": "r",
                "children": ["b"],
                "message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}},
            },
            "b": {
                "id": "b",
                "parent": "a",
                "children": [],
                "message": {
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": ["hello"]},
                },
            },
        },
    }
    return json.dumps([good, {"title": "bad", "current_node": current, "mapping": mapping}]).encode()


def zipped(name: str, data: bytes, corrupt: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    raw = bytearray(buf.getvalue())
    if corrupt:
        start = raw.index(b"PK\x03\x04") + 30 + len(name)
        for i in range(start + 5, start + 25):
            raw[i] ^= 0xFF
    return bytes(raw)


NODE = {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["x"]}}
# (case id, source format, file name, content, good examples expected, reason expected in quarantine)
CASES = [
    ("truncated-line", "chat_jsonl", "a.jsonl", around(line(chat("cut"))[:25] + b"\n"), 2, "invalid JSON"),
    (
        "truncated-array",
        "alpaca",
        "a.json",
        b'[{"instruction": "i", "input": "", "output": "o"}, {"instruction": "j", "inp',
        1,
        "invalid JSON array after item 0",
    ),
    ("truncated-document", "dpo", "a.json", b'{"prompt": "p", "chosen": "c", "rejec', 0, "invalid JSON"),
    (
        "invalid-utf8",
        "chat_jsonl",
        "a.jsonl",
        around(b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}\n'),
        2,
        "not valid UTF-8",
    ),
    (
        "nested-100k",
        "chat_jsonl",
        "a.jsonl",
        around(b"[" * 100_000 + b"]" * 100_000 + b"\n"),
        2,
        "invalid JSON",
    ),
    (
        "nested-100k-array",
        "alpaca",
        "a.json",
        b'[{"instruction": "i", "input": "", "output": "o"}, ' + b"[" * 100_000 + b"]" * 100_000 + b"]",
        1,
        "invalid JSON",
    ),
    (
        "nan",
        "chat_jsonl",
        "a.jsonl",
        around(b'{"messages": [{"role": "user", "content": "q"}], "score": NaN}\n'),
        2,
        "invalid JSON",
    ),
    ("infinity", "chat_jsonl", "a.jsonl", around(b'{"messages": [], "x": Infinity}\n'), 2, "invalid JSON"),
    (
        "content-number",
        "chat_jsonl",
        "a.jsonl",
        around(line({"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "a"}]})),
        2,
        "content is int",
    ),
    (
        "content-null",
        "chat_jsonl",
        "a.jsonl",
        around(
            line({"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "a"}]})
        ),
        2,
        "null content",
    ),
    (
        "messages-not-list",
        "chat_jsonl",
        "a.jsonl",
        around(line({"messages": "hello"})),
        2,
        "not a non-empty list",
    ),
    ("array-line-in-jsonl", "chat_jsonl", "a.jsonl", around(b"[1, 2, 3]\n"), 2, "record is list"),
    ("string-line", "chat_jsonl", "a.jsonl", around(b'"just a string"\n'), 2, "record is str"),
    (
        "unknown-role",
        "chat_jsonl",
        "a.jsonl",
        around(
            line({"messages": [{"role": "wizard", "content": "x"}, {"role": "assistant", "content": "a"}]})
        ),
        2,
        "unknown role",
    ),
    ("empty-answer", "chat_jsonl", "a.jsonl", around(line(chat("q", "   "))), 2, "empty assistant turn"),
    (
        "no-answer",
        "chat_jsonl",
        "a.jsonl",
        around(line({"messages": [{"role": "user", "content": "q"}]})),
        2,
        "no messages",
    ),
    (
        "tool-call-no-name",
        "chat_jsonl",
        "a.jsonl",
        around(
            line(
                {
                    "messages": [
                        {"role": "user", "content": "q"},
                        {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [{"function": {"arguments": "{}"}}],
                        },
                    ]
                }
            )
        ),
        2,
        "without a function name",
    ),
    (
        "pair-identical",
        "dpo",
        "a.jsonl",
        pairs_around(line({"prompt": "p", "chosen": "same", "rejected": "same"})),
        2,
        "identical",
    ),
    (
        "pair-no-rejected",
        "dpo",
        "a.jsonl",
        pairs_around(line({"prompt": "p", "chosen": "c"})),
        2,
        "no chosen/rejected",
    ),
    (
        "hh-no-markers",
        "dpo",
        "a.jsonl",
        pairs_around(line({"chosen": "no markers here", "rejected": "none"})),
        2,
        "share no prompt",
    ),
    (
        "correction-no-prompt",
        "correction",
        "a.jsonl",
        line({"prompt": "p", "original": "o", "corrected": "c"}) + line({"original": "o", "corrected": "c"}),
        1,
        "without a prompt",
    ),
    (
        "sharegpt-unknown-from",
        "sharegpt",
        "a.json",
        json.dumps(
            [
                {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
                {"conversations": [{"from": "alien", "value": "q"}]},
            ]
        ).encode(),
        1,
        "unknown role",
    ),
    (
        "ultrachat-not-list",
        "ultrachat",
        "a.jsonl",
        line({"id": "1", "data": ["q", "a"]}) + line({"id": "2", "data": "qa"}),
        1,
        "not a non-empty list",
    ),
    (
        "oasst-deleted-prompt",
        "oasst",
        "a.jsonl",
        line(
            {
                "message_tree_id": "t",
                "prompt": {
                    "message_id": "m",
                    "text": "q",
                    "role": "prompter",
                    "deleted": True,
                    "replies": [],
                },
            }
        )
        + line(
            {
                "message_tree_id": "u",
                "prompt": {
                    "message_id": "n",
                    "text": "q",
                    "role": "prompter",
                    "replies": [{"message_id": "o", "text": "a", "role": "assistant", "replies": []}],
                },
            }
        ),
        1,
        "deleted",
    ),
    (
        "chatgpt-cycle",
        "chatgpt_export",
        "conversations.json",
        chatgpt(
            {
                "x": {"id": "x", "parent": "y", "children": [], "message": NODE},
                "y": {"id": "y", "parent": "x", "children": ["x"], "message": NODE},
            },
            "x",
        ),
        1,
        "cycle",
    ),
    (
        "chatgpt-missing-parent",
        "chatgpt_export",
        "conversations.json",
        chatgpt({"x": {"id": "x", "parent": "gone", "children": [], "message": NODE}}, "x"),
        1,
        "missing from mapping",
    ),
    (
        "chatgpt-no-mapping",
        "chatgpt_export",
        "conversations.json",
        json.dumps([{"title": "t", "mapping": None, "current_node": "x"}]).encode(),
        0,
        "without a mapping",
    ),
    (
        "zip-bad-member",
        "chatgpt_export",
        "export.zip",
        zipped("conversations.json", chatgpt({}, "x") * 50, corrupt=True),
        0,
        "bad zip member",
    ),
    (
        "claude-no-message",
        "claude_code",
        "s.jsonl",
        line(
            {
                "type": "user",
                "uuid": "u1",
                "sessionId": "s",
                "parentUuid": None,
                "message": {"role": "user", "content": "hi"},
            }
        )
        + line(
            {
                "type": "assistant",
                "uuid": "u2",
                "sessionId": "s",
                "parentUuid": "u1",
                "message": {"role": "assistant", "id": "m", "content": [{"type": "text", "text": "hello"}]},
            }
        )
        + line({"type": "user", "uuid": "u3", "sessionId": "s", "parentUuid": "u2"}),
        1,
        "without message",
    ),
    ("binary-in-source", "auto", "blob.jsonl", bytes(range(256)) * 8, 0, "cannot be ingested"),
    ("unknown-json-shape", "auto", "odd.jsonl", line({"foo": 1}) + line({"bar": 2}), 0, "cannot be ingested"),
]


@pytest.mark.parametrize(
    ("name", "fmt", "filename", "content", "good", "reason"), CASES, ids=[c[0] for c in CASES]
)
def test_malformed_input(
    tmp_path: Path, name: str, fmt: str, filename: str, content: bytes, good: int, reason: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / filename).write_bytes(content)
    config = config_for(tmp_path, f'[[sources]]\nname = "s"\npath = "{data}/*"\nformat = "{fmt}"\n')
    with Catalog.open(config.catalog_path) as cat:
        report = run_ingest(config, cat)
        stats = cat.ingest_stats()
        quarantined = cat.quarantined()
        [account] = cat.accounts()
    assert stats["examples"]["total"] == good, quarantined
    # The bad record is quarantined with its reason, or (a deleted OASST prompt) skipped on purpose.
    reasons = [q["reason"] for q in quarantined] + list(account["skipped_by_reason"])
    assert any(reason in r for r in reasons), reasons
    assert all(q["file"] == str(data / filename) and q["locator"] is not None for q in quarantined)
    assert report.totals()["quarantined"] == len(quarantined)
    assert len(quarantined) + account["skipped"] >= 1 and account["balanced"], account


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(
    ("content", "good"),
    [
        (b"\xef\xbb\xbf" + GOOD_A + GOOD_B, 2),  # BOM
        (GOOD_A.replace(b"\n", b"\r\n") + GOOD_B.replace(b"\n", b"\r\n"), 2),  # CRLF
        (b"\n\n" + GOOD_A + b"\n   \n" + GOOD_B + b"\n", 2),  # blank lines
        (b"[" + GOOD_A.strip() + b", " + GOOD_B.strip() + b"]", 2),  # a JSON array where JSONL is expected
        (
            b'{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}], "messages": '
            + json.dumps(chat("dup", "last wins")["messages"]).encode()
            + b"}\n",
            1,
        ),  # duplicate keys: last wins
    ],
    ids=["bom", "crlf", "blank-lines", "array-for-jsonl", "duplicate-keys"],
)
def test_tolerated_quirks_ingest_cleanly(tmp_path: Path, content: bytes, good: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_bytes(content)
    config = config_for(tmp_path, f'[[sources]]\nname = "s"\npath = "{data}/*"\nformat = "chat_jsonl"\n')
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        assert cat.ingest_stats()["examples"]["total"] == good
        assert cat.quarantined() == []
        bodies = [e["body"] for e in cat.examples_from(str(data / "a.jsonl"))]
    assert all("\r" not in m["content"] for b in bodies for m in b["messages"])


def test_100mb_line_is_quarantined_and_neighbours_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with open(data / "big.jsonl", "wb") as f:
        f.write(GOOD_A)
        f.write(b'{"messages": [{"role": "user", "content": "' + b"x" * (100 << 20) + b'"}]}\n')
        f.write(GOOD_B)
    config = config_for(tmp_path, f'[[sources]]\nname = "s"\npath = "{data}/*"\nformat = "chat_jsonl"\n')
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        assert cat.ingest_stats()["examples"]["total"] == 2
        [q] = cat.quarantined()
    assert q["locator"] == {"line": 2} and "longer than max_record_bytes" in q["reason"]


def _big_gzip(path: Path, decompressed_bytes: int) -> int:
    """A gzip of one short record, then ~1 MB conversations to `decompressed_bytes` (concatenated
    members, ~76x smaller on disk, so under the expansion limit); returns the records written."""
    rng = random.Random(1)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    block = [rng.choice(words) for _ in range(1000)]
    text = []
    for i in range(170):
        b = list(block)
        b[rng.randrange(1000)] = f"w{i}"  # near repeats: compressible, never one long run
        text += b
    member = gzip.compress(line(chat("summarise this", " ".join(text))), mtime=0)
    size = len(line(chat("summarise this", " ".join(text))))
    n = decompressed_bytes // size + 1
    with open(path, "wb") as f:
        f.write(gzip.compress(GOOD_A, mtime=0))
        for _ in range(n):
            f.write(member)
    return n + 1


# Peak RSS of the CLI process itself: VmHWM of its own memory map (getrusage's ru_maxrss would carry
# over the forking test process's size across exec).
_PEAK_RSS = (
    "import sys\n"
    "from samdata.cli import main\n"
    "sys.argv = ['samdata', *sys.argv[1:]]\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "hwm = next(ln for ln in open('/proc/self/status') if ln.startswith('VmHWM'))\n"
    "print('PEAK_KB', hwm.split()[1], file=sys.stderr)\n"
)


def _peak_kb(*args: str) -> int:
    out = subprocess.run([sys.executable, "-c", _PEAK_RSS, *args], capture_output=True, text=True, check=True)
    return int(out.stderr.rsplit("PEAK_KB", 1)[1].split()[0])


def test_2gb_gzip_streams_with_flat_memory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    small, big = data / "small.jsonl.gz", data / "big.jsonl.gz"
    n_small = _big_gzip(small, 64 << 20)
    n_big = _big_gzip(big, 2 << 30)
    assert big.stat().st_size < 40 << 20  # 2 GiB of content, ~28 MiB on disk
    toml = tmp_path / "samdata.toml"
    toml.write_text(
        f'[[roots]]\nname = "r"\npath = "{data}"\n'
        f'[[sources]]\nname = "small"\npath = "{small}"\n[[sources]]\nname = "big"\npath = "{big}"\n'
    )
    scan_small = _peak_kb("scan", "--config", str(toml), str(small))
    scan_big = _peak_kb("scan", "--config", str(toml), str(big))
    ingest_small = _peak_kb("ingest", "small", "--config", str(toml))
    ingest_big = _peak_kb("ingest", "big", "--config", str(toml))
    # 32x the input, the same memory (within 64 MiB of the small run's, and far below the input).
    assert scan_big < scan_small + 65536 and ingest_big < ingest_small + 65536, (
        scan_small, scan_big, ingest_small, ingest_big)  # fmt: skip
    assert ingest_big < 400 * 1024, (scan_small, scan_big, ingest_small, ingest_big)
    with Catalog.open(tmp_path / ".samdata" / "catalog.db") as cat:
        accounts = {Path(a["file"]).name: a for a in cat.accounts()}
        files = {Path(f["path"]).name: f for f in cat.files()}
    assert accounts["big.jsonl.gz"]["records"] == accounts["big.jsonl.gz"]["produced"] == n_big
    assert accounts["small.jsonl.gz"]["produced"] == n_small
    assert files["big.jsonl.gz"]["records"] == n_big and files["big.jsonl.gz"]["container"] == "jsonl"
