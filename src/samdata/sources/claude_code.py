"""Claude Code sessions (`~/.claude/projects/*/*.jsonl`, subagents in `<session>/subagents/`).

Records link to their parent by `parentUuid`; a record without one follows the record before it in
the file (some writers leave it out), so prompts keep their order. Every root-to-leaf thread that
ends on an assistant answer is an example: a rewind ("ask again from here") makes a second child of
an earlier record, a branch, like a ChatGPT regeneration. The thread that holds the session's last
turn is marked `thread: main`, the others `branch`; all carry the session id in their locator, so
they (and subagent files, which reuse it) land in one split.

Records that share `message.id` (one model message split over several records) are merged;
tool_use blocks become tool calls and tool_result blocks tool turns (capped at option
`tool_output_chars`, default 2000; `tool_reference` blocks name the tools they load). Everything
else is skipped with its reason: metadata records of every version (`permission-mode`,
`last-prompt`, `file-history-snapshot`, `progress`, `system` by subtype, attachments other than a
prompt queued by the user, ...), `isMeta` and compaction summaries (text the tool injected),
slash-command wrappers, replays of an already-seen `uuid` (resumed sessions). `<system-reminder>`
blocks are cut out of the text that remains, and `thinking` blocks are left out (both counted).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from samdata.model import InvalidExample, Message, ToolCall
from samdata.sources import Adapter, Context, Outcome, Produced, Rejected, Skipped, jsonl_objects, sft

DEFAULT_TOOL_OUTPUT_CHARS = 2000
_TURNS = {"user", "assistant"}
_REMINDER = re.compile(r"\s*<system-reminder>.*?</system-reminder>\s*", re.S)
# Slash commands and their local output: what the CLI wrote for itself, not what the user asked.
_WRAPPER = re.compile(
    r"^\s*(?:<(command-name|command-message|command-args|local-command-stdout|local-command-stderr"
    r"|local-command-caveat|bash-input|bash-stdout|bash-stderr)>.*?</\1>\s*)+$",
    re.S,
)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n…[{len(text) - limit} more characters cut by samdata]"


def _clean(text: str, ctx: Context) -> str:
    """Text without the `<system-reminder>` blocks Claude Code injects into turns and tool results."""
    if "<system-reminder>" not in text:
        return text
    cleaned, n = _REMINDER.subn("\n\n", text)
    ctx.drop("claude_code: <system-reminder> block", n)
    return cleaned.strip()


def _result_text(content: Any, ctx: Context) -> str:
    if isinstance(content, str):
        return _clean(content, ctx)
    if isinstance(content, list):
        parts = []
        for b in content:
            if not isinstance(b, dict):
                continue
            if b.get("type") == "text" and isinstance(b.get("text"), str):
                parts.append(_clean(b["text"], ctx))
            elif b.get("type") == "tool_reference":
                parts.append(f"tool loaded: {b.get('tool_name')}")
            elif b.get("type") in ("image", "document"):
                ctx.drop(f"claude_code: {b['type']} in a tool result")
        return "\n".join(p for p in parts if p)
    return "" if content is None else orjson.dumps(content).decode()


def _messages(record: dict[str, Any], limit: int, ctx: Context) -> list[Message]:
    """The turns one record adds (none for a thinking-only record)."""
    if record.get("type") == "attachment":
        return [Message("user", _clean(record["attachment"]["prompt"], ctx))]
    msg = record["message"]
    role = msg.get("role", record.get("type"))
    content = msg.get("content")
    if isinstance(content, str):
        text = _clean(content, ctx)
        return [Message("user" if role == "user" else "assistant", text)] if text else []
    if not isinstance(content, list):
        raise InvalidExample(f"message content is {type(content).__name__}")
    out: list[Message] = []
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            text = _clean(block["text"], ctx)
            if text:
                texts.append(text)
        elif kind == "tool_use":
            calls.append(ToolCall(str(block.get("name")), block.get("input", {}), block.get("id")))
        elif kind == "tool_result":
            out.append(
                Message(
                    "tool",
                    _cap(_result_text(block.get("content"), ctx), limit),
                    tool_call_id=block.get("tool_use_id"),
                )
            )
        elif kind in ("thinking", "redacted_thinking"):
            ctx.drop("claude_code: thinking block")  # the model's scratchpad, not training text
        elif kind in ("image", "document"):
            ctx.drop(f"claude_code: {kind} in a turn")
    if role == "assistant":
        if texts or calls:
            out.append(Message("assistant", "\n\n".join(texts), tool_calls=calls or None))
    elif texts:
        out.append(Message("user", "\n\n".join(texts)))
    return out


def _skip_reason(rec: dict[str, Any]) -> str | None:
    """Why a record is not a turn of the conversation, or None if it is one."""
    kind = rec.get("type")
    if kind == "attachment":
        att = rec.get("attachment")
        if (
            isinstance(att, dict)
            and att.get("type") == "queued_command"
            and isinstance(att.get("prompt"), str)
        ):
            origin = att.get("origin")
            if isinstance(origin, dict) and origin.get("kind") not in (None, "human"):
                return "claude_code: queued command not typed by the user"
            return None  # a prompt typed while the model was busy: a user turn
        sub = att.get("type") if isinstance(att, dict) else None
        return f"claude_code: attachment record ({sub or 'untyped'})"
    if kind not in _TURNS:
        sub = rec.get("subtype")
        return f"claude_code: {kind or 'untyped'} record" + (f" ({sub})" if isinstance(sub, str) else "")
    if rec.get("isMeta"):
        return "claude_code: injected text (isMeta)"
    if rec.get("isCompactSummary") or rec.get("isVisibleInTranscriptOnly"):
        return "claude_code: compaction summary"
    content = rec["message"].get("content")
    text = content if isinstance(content, str) else None
    if (
        isinstance(content, list)
        and content
        and all(isinstance(b, dict) and b.get("type") == "text" for b in content)
    ):
        text = "".join(str(b.get("text", "")) for b in content)
    if kind == "user" and text is not None and _WRAPPER.match(text):
        return "claude_code: slash-command wrapper"
    return None


@dataclass
class _Node:
    rec: dict[str, Any]
    line: int
    parent: str | None
    turn: bool  # a conversational record (else kept only as a link in the chain)
    children: list[str] = field(default_factory=list)


def _graph(ctx: Context) -> Iterator[tuple[dict[str, Any], Outcome] | tuple[str, dict[str, _Node]]]:
    """Read the file: yields quarantined and skipped records as they come, then ("graph", nodes)."""
    nodes: dict[str, _Node] = {}
    previous: str | None = None
    for line_no, rec in jsonl_objects(ctx):
        if isinstance(rec, Rejected):
            yield {"line": line_no}, rec
            continue
        uuid = rec.get("uuid")
        where = {"line": line_no, **({"uuid": uuid} if isinstance(uuid, str) else {})}
        if rec.get("type") in _TURNS and not isinstance(rec.get("message"), dict):
            yield where, Rejected(f"{rec.get('type')} record without message")
            continue
        reason = _skip_reason(rec)
        if not isinstance(uuid, str):
            yield where, Skipped(reason or "claude_code: turn without a uuid")
            continue
        if uuid in nodes:
            yield where, Skipped("claude_code: replayed record (resumed session)")
            continue
        parent = rec.get("parentUuid")
        # An assistant never starts a thread: a missing (or null) link means "after the record before".
        if "parentUuid" not in rec or (parent is None and rec.get("type") == "assistant"):
            parent = previous
        nodes[uuid] = _Node(rec, line_no, parent if isinstance(parent, str) else None, reason is None)
        previous = uuid
        if reason is not None:
            yield where, Skipped(reason)
    yield "graph", nodes


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Outcome]]:
    limit = int(ctx.options.get("tool_output_chars", DEFAULT_TOOL_OUTPUT_CHARS))
    nodes: dict[str, _Node] = {}
    for item in _graph(ctx):
        if item[0] == "graph":
            nodes = item[1]  # type: ignore[assignment]
        else:
            yield item  # type: ignore[misc]
    turns = [u for u, n in nodes.items() if n.turn]
    above = _turn_above(nodes)
    has_below = {a for a in above.values() if a is not None}
    session = next(
        (n.rec["sessionId"] for n in nodes.values() if isinstance(n.rec.get("sessionId"), str)), None
    )
    last_turn = max(turns, key=lambda u: nodes[u].line, default=None)

    per_record: dict[str, list[Message]] = {}  # each record read once, its drops counted once
    made: list[tuple[list[str], Produced]] = []
    rejected: set[str] = set()  # turns of threads that cannot be trained on
    quarantined: set[str] = set()  # their leaves: each such thread is one quarantined record
    for leaf in sorted((u for u in turns if u not in has_below), key=lambda u: nodes[u].line):
        chain: list[str] = []
        node: str | None = leaf
        while node is not None and node not in chain:
            chain.append(node)
            node = above.get(node)
        chain.reverse()
        try:
            kept, messages = _thread(chain, nodes, per_record, limit, ctx)
            if not kept:
                continue  # no answer on this thread: its turns are counted below
            end = nodes[kept[-1]]
            meta: dict[str, Any] = {"session": session, "sidechain": bool(end.rec.get("isSidechain"))}
            if isinstance(end.rec.get("agentId"), str):
                meta["agent"] = end.rec["agentId"]
            made.append((kept, sft(messages, meta)))
        except InvalidExample as e:
            yield ({"line": nodes[leaf].line, "uuid": leaf, "session": session},
                   Rejected(f"thread cannot be trained on: {e}"))  # fmt: skip
            rejected.update(chain)
            quarantined.add(leaf)
    # A thread cut back to its last answer may be the start of another: one example, not two.
    made = [(k, p) for k, p in made if not any(len(o) > len(k) and o[: len(k)] == k for o, _ in made)]
    covered: set[str] = set()
    for kept, produced in made:
        produced.meta["thread"] = "main" if last_turn in kept else "branch"
        produced.records = len(set(kept) - covered)  # each record counted once, by its first thread
        covered.update(kept)
        end = kept[-1]
        yield {"line": nodes[end].line, "uuid": end, "session": session}, produced
    # Turns on no example: why each was left out.
    left: dict[str, int] = {}
    for u in turns:
        if u in covered or u in quarantined:
            continue
        if u in rejected:
            reason = "claude_code: turn of a thread that cannot be trained on"
        elif nodes[u].rec.get("type") == "assistant":
            reason = "claude_code: assistant record without text (thinking only)"
        else:
            reason = "claude_code: turn after the last answer of its thread"
        left[reason] = left.get(reason, 0) + 1
    for reason, n in sorted(left.items()):
        yield {}, Skipped(reason, n)


def _turn_above(nodes: dict[str, _Node]) -> dict[str, str | None]:
    """For each turn, the nearest turn above it (links through metadata records are followed)."""
    memo: dict[str, str | None] = {}
    out: dict[str, str | None] = {}
    for uuid, n in nodes.items():
        if not n.turn:
            continue
        path: list[str] = []
        node = n.parent
        while node is not None and node in nodes and not nodes[node].turn and node not in memo:
            if node in path:
                node = None  # a cycle of links: the thread starts here
                break
            path.append(node)
            node = nodes[node].parent
        if node is None or node not in nodes:
            found = None
        elif nodes[node].turn:
            found = node
        else:
            found = memo[node]
        for p in path:
            memo[p] = found
        out[uuid] = found if found != uuid else None
    return out


def _thread(
    chain: list[str], nodes: dict[str, _Node], per_record: dict[str, list[Message]], limit: int, ctx: Context
) -> tuple[list[str], list[Message]]:
    """The records and messages of one thread, cut after its last assistant answer (none: ([], []))."""
    messages: list[Message] = []
    ends: list[int] = []  # messages after each record
    last_id = None
    for uuid in chain:
        rec = nodes[uuid].rec
        if uuid not in per_record:
            per_record[uuid] = _messages(rec, limit, ctx)
        new = list(per_record[uuid])
        msg_id = rec["message"].get("id") if rec.get("type") == "assistant" else None
        # Records sharing message.id are one model message split up: merge them (into a new turn:
        # the parts are shared with other threads).
        if (
            msg_id
            and msg_id == last_id
            and messages
            and messages[-1].role == "assistant"
            and new
            and new[0].role == "assistant"
        ):
            prev, head = messages[-1], new.pop(0)
            messages[-1] = Message(
                "assistant",
                "\n\n".join(t for t in (prev.content, head.content) if t),
                tool_calls=(prev.tool_calls or []) + (head.tool_calls or []) or None,
            )
        messages += new
        ends.append(len(messages))
        last_id = msg_id
    answer = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=-1)
    if answer < 0:
        return [], []
    cut = next(i for i, e in enumerate(ends) if e > answer)
    return chain[: cut + 1], messages[: answer + 1]


ADAPTER = Adapter("claude_code", 2, "file", convert_file=convert_file)
