"""A synthetic estate shaped like the owner's: three roots, the same folders, every problem planted.

Everything is generated from a seeded RNG (no third-party data is copied), so the demo and the
tests see the same bytes every time. `PLANTED` names what the scan must find and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path

_TOPICS = [
    "python decorators",
    "a sourdough starter",
    "git rebase",
    "the Krebs cycle",
    "SQLite WAL mode",
    "a weekly running plan",
    "tail recursion",
    "LoRA fine-tuning",
    "budgeting for a trip",
    "the French subjunctive",
    "Rust lifetimes",
    "a bike chain that skips",
    "unit testing a CLI",
    "compound interest",
    "a birthday toast",
    "regular expressions",
]
_WORDS = [
    *[
        "the",
        "a",
        "to",
        "of",
        "and",
        "in",
        "is",
        "it",
        "that",
        "for",
        "you",
        "with",
        "this",
        "on",
        "are",
        "be",
        "as",
        "can",
        "your",
        "have",
        "use",
        "more",
        "when",
        "which",
    ],
    *[
        "will",
        "first",
        "then",
        "each",
        "step",
        "file",
        "value",
        "data",
        "model",
        "time",
        "change",
        "check",
        "keep",
        "note",
        "start",
        "small",
        "simple",
    ],
]


def _sentence(rng: random.Random, n: int = 12) -> str:
    words = [rng.choice(_WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def _answer(rng: random.Random, topic: str, sentences: int = 3) -> str:
    return f"Here is how {topic} works. " + " ".join(_sentence(rng) for _ in range(sentences))


def _question(rng: random.Random, i: int) -> str:
    topic = rng.choice(_TOPICS)
    return f"Question {i}: can you explain {topic}? {_sentence(rng, 8)}"


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _json(path: Path, value: object, indent: int | None = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=indent), encoding="utf-8")


@dataclass
class Estate:
    """Where the generated estate lives and what was planted in it."""

    base: Path
    config_path: Path
    roots: dict[str, Path]
    planted: dict[str, list[Path]] = field(default_factory=dict)


def _chat_rows(rng: random.Random, n: int, start: int = 0) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        q = _question(rng, i)
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "You are SAM, a concise personal assistant."},
                    {"role": "user", "content": q},
                    {"role": "assistant", "content": _answer(rng, q.split("explain ")[-1].split("?")[0])},
                ]
            }
        )
    return rows


def _chatgpt_export(rng: random.Random, n: int) -> list[dict]:
    convs = []
    for c in range(n):
        mapping: dict[str, dict] = {
            "client-created-root": {
                "id": "client-created-root",
                "message": None,
                "parent": None,
                "children": [],
            }
        }
        parent = "client-created-root"
        for t in range(4):
            node = f"conv{c}-node{t}"
            role = "user" if t % 2 == 0 else "assistant"
            text = _question(rng, t) if role == "user" else _answer(rng, rng.choice(_TOPICS))
            mapping[node] = {
                "id": node,
                "message": {
                    "id": node,
                    "author": {"role": role},
                    "create_time": 1749000000 + c * 100 + t,
                    "content": {"content_type": "text", "parts": [text]},
                    "weight": 1.0,
                },
                "parent": parent,
                "children": [],
            }
            mapping[parent]["children"].append(node)
            parent = node
        convs.append(
            {
                "title": f"Chat about {rng.choice(_TOPICS)}",
                "create_time": 1749000000 + c * 100,
                "update_time": 1749000000 + c * 100 + 50,
                "mapping": mapping,
                "current_node": parent,
                "id": f"conv-{c:04d}",
            }
        )
    return convs


def _claude_session(rng: random.Random, session: str) -> list[dict]:
    rows: list[dict] = [
        {
            "type": "queue-operation",
            "operation": "dequeue",
            "timestamp": "2025-11-02T10:00:00Z",
            "sessionId": session,
        }
    ]
    parent = None
    for t in range(6):
        uid = f"{session[:8]}-{t:04d}"
        if t % 2 == 0:
            message = {"role": "user", "content": _question(rng, t)}
            kind = "user"
        else:
            message = {
                "id": f"msg_{session[:6]}{t}",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": _answer(rng, rng.choice(_TOPICS))}],
            }
            kind = "assistant"
        rows.append(
            {
                "parentUuid": parent,
                "isSidechain": False,
                "cwd": "/Users/sam/code/sam",
                "sessionId": session,
                "version": "2.0.31",
                "type": kind,
                "message": message,
                "uuid": uid,
                "timestamp": f"2025-11-02T10:0{t}:00Z",
            }
        )
        parent = uid
    return rows


def _wav(path: Path, freq: float, seconds: float = 0.5, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


def mp4_bytes(duration_s: float, timescale: int = 1000, payload: bytes = b"") -> bytes:
    """A minimal ISO BMFF file (ftyp, mdat, moov/mvhd last, as phones write it)."""

    def box(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(body), kind) + body

    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    mdat = box(b"mdat", payload)
    mvhd = box(
        b"mvhd",
        bytes(4) + struct.pack(">IIII", 0, 0, timescale, int(duration_s * timescale)) + bytes(80),
    )
    return ftyp + mdat + box(b"moov", mvhd)


def _sqlite(path: Path, table: str, columns: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {', '.join(columns)})")
        names = [c.split()[0] for c in columns]
        conn.executemany(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})", rows
        )
    conn.close()


def build_estate(base: Path, seed: int = 7) -> Estate:
    """Write the demo estate and its `samdata.toml` under `base`; return where things are."""
    rng = random.Random(seed)
    base = Path(base).absolute()
    internal = base / "Macintosh HD" / "Users" / "sam"
    external = base / "Volumes" / "David External"
    one = base / "Volumes" / "#1"
    archive = base / "Volumes" / "Archive SSD"  # configured, never plugged in: offline
    roots = {"Internal": internal, "David External": external, "#1": one, "Archive SSD": archive}
    planted: dict[str, list[Path]] = {}

    # -- Internal: live captures, corrections, the pipeline, DPO fragments, exports -------------
    training = internal / "sam" / "training"
    _jsonl(training / "sam_conversations.jsonl", _chat_rows(rng, 300))
    _jsonl(
        training / "corrections.jsonl",
        [
            {
                "prompt": _question(rng, i),
                "original": _answer(rng, "it", 1),
                "corrected": _answer(rng, "it", 2),
            }
            for i in range(40)
        ],
    )
    captures = training / "captures_2025.jsonl"
    lines = [json.dumps(r) for r in _chat_rows(rng, 200, start=1000)]
    for ln in (17, 88, 150):  # truncated writes, as a killed process leaves them
        lines[ln - 1] = lines[ln - 1][: len(lines[ln - 1]) // 2]
    captures.write_text("\n".join(lines) + "\n", encoding="utf-8")
    planted["malformed_records"] = [captures]
    store = training / "escalations.db"
    _sqlite(
        store,
        "training_examples",
        ["prompt TEXT", "response TEXT", "source TEXT"],
        [(_question(rng, i), _answer(rng, "it"), "escalation") for i in range(20)],
    )
    planted["underused_store"] = [store]
    latest = training / "latest.jsonl"
    os.symlink("../exports/latest_export.jsonl", latest)
    planted["broken_link"] = [latest]

    pipeline = internal / "sam" / "pipeline"
    pipeline.mkdir(parents=True)
    (pipeline / "train_sam.py").write_text(
        "# reads training_data.jsonl and fine-tunes SAM\nDATA = 'training_data.jsonl'\n", encoding="utf-8"
    )
    planted["missing_input"] = [pipeline / "training_data.jsonl"]

    pairs = internal / "sam" / "dpo_pairs"
    for i in range(1, 19):
        _json(
            pairs / f"pair_{i:03d}.json",
            {
                "prompt": _question(rng, i),
                "chosen": _answer(rng, "it", 4),
                "rejected": "I am not sure. " + _sentence(rng, 14) + " " + _sentence(rng, 14),
            },
            indent=None,
        )
    planted["fragmented"] = [pairs]

    empty = internal / "sam" / "logs" / "capture_2025-11-02.jsonl"
    empty.parent.mkdir(parents=True)
    empty.touch()
    logs = _chat_rows(rng, 12, start=2000)
    # What live captures really hold: secrets pasted into chats, and boilerplate answers.
    logs[0]["messages"][1]["content"] = (
        "My deploy fails. Key is AKIAQ3EGUFYP7XLMN2RT, can you check the policy?"
    )
    logs[1]["messages"][1]["content"] = "Email the report to dana.w@example-family.org and cc me."
    logs[2]["messages"][2]["content"] = "As an AI language model, I cannot browse your files."
    _jsonl(internal / "sam" / "logs" / "capture_2025-11-01.jsonl", logs)
    planted["empty_file"] = [empty]

    exports = internal / "sam" / "exports"
    export_tree = exports / "ChatGPT-2025-06"
    _json(export_tree / "conversations.json", _chatgpt_export(rng, 6), indent=None)
    _json(
        export_tree / "message_feedback.json",
        [{"conversation_id": "conv-0001", "rating": "thumbsUp", "message_id": "conv1-node1"}],
    )
    (export_tree / "chat.html").write_text("<html><body>ChatGPT export</body></html>\n", encoding="utf-8")
    _jsonl(exports / "sam_export_2025-10.jsonl", _chat_rows(rng, 25, start=3000))

    session = "7f3c2a10-9b1e-4c55-8d0e-2f6a1b7c9d42"
    _jsonl(
        internal / ".claude" / "projects" / "-Users-sam-code-sam" / f"{session}.jsonl",
        _claude_session(rng, session),
    )

    # -- David External: public sets, the big backup, the export's copy, voice clips ---------
    datasets = external / "datasets"
    dolly_cats = ["open_qa", "general_qa", "classification", "closed_qa", "brainstorming", "summarization"]
    dolly = [
        {
            "instruction": _question(rng, i),
            "context": _sentence(rng) if i % 3 == 0 else "",
            "response": _answer(rng, "it", 6),
            "category": dolly_cats[i % len(dolly_cats)],
        }
        for i in range(120)
    ]
    # Five near-copies, as pasted answers drift: the same row with its last word changed.
    for i in range(5):
        dolly[115 + i] = {**dolly[i], "response": dolly[i]["response"].rsplit(" ", 1)[0] + " indeed."}
    _jsonl(datasets / "dolly" / "databricks-dolly-15k.jsonl", dolly)
    _json(
        datasets / "alpaca" / "code_alpaca_2k.json",
        [{"instruction": _question(rng, i), "input": "", "output": _answer(rng, "code")} for i in range(80)],
    )
    _json(
        datasets / "evol_instruct" / "evol_instruct_70k.json",
        [{"instruction": _question(rng, i), "output": _answer(rng, "it", 4)} for i in range(40)],
    )
    _jsonl(
        datasets / "ultrachat" / "train_0.jsonl",
        [
            {
                "id": str(i),
                "data": [_question(rng, i), _answer(rng, "it"), _sentence(rng), _answer(rng, "it")],
            }
            for i in range(50)
        ],
    )
    _jsonl(
        datasets / "oasst" / "oasst_ready.trees.jsonl",
        [
            {
                "message_tree_id": f"tree-{i}",
                "tree_state": "ready_for_export",
                "prompt": {
                    "message_id": f"m{i}",
                    "text": _question(rng, i),
                    "role": "prompter",
                    "lang": "en",
                    "replies": [
                        {
                            "message_id": f"m{i}a",
                            "parent_id": f"m{i}",
                            "text": _answer(rng, "it"),
                            "role": "assistant",
                            "rank": 0,
                            "replies": [],
                        },
                        {
                            "message_id": f"m{i}b",
                            "parent_id": f"m{i}",
                            "text": _answer(rng, "it"),
                            "role": "assistant",
                            "rank": 1,
                            "replies": [],
                        },
                    ],
                },
            }
            for i in range(20)
        ],
    )
    _json(
        datasets / "sharegpt" / "glaive_toolcall.json",
        [
            {
                "conversations": [
                    {"from": "human", "value": _question(rng, i)},
                    {
                        "from": "function_call",
                        "value": json.dumps({"name": "lookup", "arguments": {"q": str(i)}}),
                    },
                    {"from": "observation", "value": json.dumps({"result": _sentence(rng)})},
                    {"from": "gpt", "value": _answer(rng, "it")},
                ],
                "tools": json.dumps(
                    [{"name": "lookup", "description": "look something up", "parameters": {}}]
                ),
            }
            for i in range(30)
        ],
    )
    _jsonl(
        datasets / "hh-rlhf" / "harmless-base.jsonl",
        [
            {
                "chosen": f"\n\nHuman: {q}\n\nAssistant: {_answer(rng, 'it')}",
                "rejected": f"\n\nHuman: {q}\n\nAssistant: {_sentence(rng)}",
            }
            for q in [_question(rng, i) for i in range(30)]
        ],
    )

    backups = external / "Backups"
    distinct = [json.dumps(r) for r in _chat_rows(rng, 1000, start=5000)]
    repeated = [distinct[rng.randrange(len(distinct))] for _ in range(4000)]
    rng.shuffle(repeated)
    backup = backups / "sam_backup_full.jsonl"
    backup.parent.mkdir(parents=True)
    backup.write_text("\n".join(distinct + repeated) + "\n", encoding="utf-8")
    planted["high_duplicate_rate"] = [backup]
    copy_tree = backups / "ChatGPT-2025-06"
    copy_tree.mkdir()
    for f in sorted(export_tree.iterdir()):
        (copy_tree / f.name).write_bytes(f.read_bytes())
    planted["duplicate_tree"] = [export_tree, copy_tree]
    for i, freq in enumerate((220.0, 330.0, 440.0, 550.0, 660.0), 1):
        _wav(external / "voice" / "clips" / f"clip_{i:03d}.wav", freq)

    # -- #1: an old distillation store, media from an export, a stray copy --------------------
    _sqlite(
        one / "sam_old" / "distill.db",
        "distillation",
        ["prompt TEXT", "answer TEXT", "teacher TEXT"],
        [(_question(rng, i), _answer(rng, "it"), "gpt-4o") for i in range(150)],
    )
    media = one / "media" / "ChatGPT-2025-06-media"
    media.mkdir(parents=True)
    (media / "intro.mp4").write_bytes(mp4_bytes(12.5, payload=os.urandom(4096)))
    _wav(media / "voice_note.wav", 300.0, seconds=1.5)
    stray = one / "old_datasets" / "code_alpaca_2k.json"
    stray.parent.mkdir(parents=True)
    stray.write_bytes((datasets / "alpaca" / "code_alpaca_2k.json").read_bytes())
    planted["duplicate_file"] = [datasets / "alpaca" / "code_alpaca_2k.json", stray]

    repo = internal / "code" / "sam-assistant"
    has_repo = _git_repo(repo, rng)

    # A link into another drive: dead whenever that drive is unplugged.
    link = internal / "sam" / "public_datasets"
    os.symlink(datasets, link)
    planted["fragile_link"] = [link]
    planted["offline_root"] = [archive]

    config = base / "samdata.toml"
    config.write_text(_config_text(roots, has_repo), encoding="utf-8")
    return Estate(base=base, config_path=config, roots=roots, planted=planted)


def _git_repo(repo: Path, rng: random.Random) -> bool:
    """A small repository with a few commits (skipped where git is not installed)."""
    if shutil.which("git") is None:
        return False
    repo.mkdir(parents=True)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Sam Owner",
        "GIT_AUTHOR_EMAIL": "owner@example.org",
        "GIT_COMMITTER_NAME": "Sam Owner",
        "GIT_COMMITTER_EMAIL": "owner@example.org",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)

    git("init", "-q")
    steps = [
        ("sam/__init__.py", "VERSION = '0.1'\n", "Start the SAM package"),
        ("sam/memory.py", "def remember(note):\n    return note.strip()\n", "Add a tiny memory helper"),
        (
            "sam/memory.py",
            "def remember(note: str) -> str:\n    return note.strip()\n",
            "Type the memory helper",
        ),
        (
            "sam/settings.py",
            'DB_URL = "postgres://sam:Tr0ub4dor-3@db.home.lan:5432/sam"\n',
            "Point SAM at the home database",
        ),
    ]
    for i, (rel, text, message) in enumerate(steps):
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        # Fixed dates: the same seed builds the same commits (and the same example ids).
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"2026-03-0{i + 1}T10:00:00+00:00"
        git("add", ".")
        git("commit", "-q", "-m", f"{message}\n\n{_sentence(rng, 8)}")
    return True


def _config_text(roots: dict[str, Path], has_repo: bool = False) -> str:
    def q(p: Path | str) -> str:
        return json.dumps(str(p))  # a JSON string is a valid TOML basic string

    internal, external = roots["Internal"], roots["David External"]
    parts = ["# Demo estate written by `samdata demo`.", ""]
    for name, path in roots.items():
        parts += ["[[roots]]", f"name = {q(name)}", f"path = {q(path)}", ""]
    sources = [
        ("sam-conversations", internal / "sam/training/sam_conversations.jsonl", "chat_jsonl", "private"),
        ("sam-captures", internal / "sam/training/captures_*.jsonl", "auto", "private"),
        ("sam-corrections", internal / "sam/training/corrections.jsonl", "correction", "private"),
        ("sam-dpo-pairs", internal / "sam/dpo_pairs/*.json", "dpo", "private"),
        (
            "chatgpt-export",
            internal / "sam/exports/ChatGPT-*/conversations.json",
            "chatgpt_export",
            "private",
        ),
        ("claude-code", internal / ".claude/projects/*/*.jsonl", "claude_code", "private"),
        ("dolly", external / "datasets/dolly/*.jsonl", "dolly", "CC-BY-SA-3.0"),
        ("code-alpaca", external / "datasets/alpaca/*.json", "alpaca", "CC-BY-NC-4.0"),
        ("public-sets", external / "datasets/**/*.json*", "auto", "various"),
        ("sam-logs", internal / "sam/logs/*.jsonl", "auto", "private"),
        ("sam-escalations", internal / "sam/training/escalations.db", "sqlite", "private"),
        ("distillation", roots["#1"] / "sam_old/distill.db", "sqlite", "private"),
        ("backup", external / "Backups/sam_backup_full.jsonl", "chat_jsonl", "private"),
    ]
    if has_repo:
        sources.append(("sam-code", internal / "code/sam-assistant", "git", "private"))
    for name, path, fmt, lic in sources:
        parts += [
            "[[sources]]",
            f"name = {q(name)}",
            f"path = {q(path)}",
            f"format = {q(fmt)}",
            f"license = {q(lic)}",
            "",
        ]
    parts += [
        "[[expects]]",
        f"path = {q(internal / 'sam/pipeline/training_data.jsonl')}",
        'reader = "sam/pipeline/train_sam.py"',
        "",
        "[[expects]]",
        f"path = {q(internal / 'sam/training/sam_conversations.jsonl')}",
        'reader = "sam/pipeline/build_training_data.py"',
        "",
    ]
    parts += [
        "[recipes.sam-sft]",
        'sources = ["sam-conversations", "sam-captures", "sam-logs", "claude-code", "chatgpt-export", "dolly", "code-alpaca", "backup"]',
        'kinds = ["sft"]',
        "splits = { train = 0.8, valid = 0.1, test = 0.1 }",
        'format = "mlx"',
        'system_prompt = "You are SAM, a helpful personal assistant."  # added to rows that have none',
        "",
        "# The same examples for TRL (samdata train --backend trl reads this shape).",
        "[recipes.sam-sft-trl]",
        'sources = ["sam-conversations", "sam-captures", "sam-logs", "claude-code", "chatgpt-export", "dolly", "code-alpaca", "backup"]',
        'kinds = ["sft"]',
        "splits = { train = 0.8, valid = 0.1, test = 0.1 }",
        'format = "trl"',
        'system_prompt = "You are SAM, a helpful personal assistant."',
        "",
        "[recipes.sam-dpo]",
        'sources = ["sam-corrections", "sam-dpo-pairs", "public-sets"]',
        'kinds = ["preference"]',
        "splits = { train = 0.8, valid = 0.1, test = 0.1 }",
        'format = "mlx"',
        'system_prompt = "You are SAM, a helpful personal assistant."',
        "",
    ]
    return "\n".join(parts)
