"""Claude Code sessions (`~/.claude/projects/*/*.jsonl`, subagents in `<session>/subagents/`).

The thread is rebuilt from `parentUuid` links, from the last record back to the root. Records that
share `message.id` (one model message split over several records) are merged; tool_use blocks
become tool calls and tool_result blocks tool turns (capped at option `tool_output_chars`, default
2000); `isMeta` records, queue operations, summaries and replays of an already-seen `uuid` (resumed
sessions) are dropped; sidechains are separate conversations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from samdata.model import InvalidExample, Message, ToolCall
from samdata.sources import Adapter, Context, Produced, Rejected, jsonl_objects, sft

_CONVERSATIONAL = {"user", "assistant"}
DEFAULT_TOOL_OUTPUT_CHARS = 2000


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n…[{len(text) - limit} more characters cut by samdata]"


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return "" if content is None else orjson.dumps(content).decode()


def _messages(record: dict[str, Any], limit: int, omitted: list[str]) -> list[Message]:
    msg = record["message"]
    role = msg.get("role", record.get("type"))
    content = msg.get("content")
    if isinstance(content, str):
        return [Message("user" if role == "user" else "assistant", content)]
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
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(ToolCall(str(block.get("name")), block.get("input", {}), block.get("id")))
        elif kind == "tool_result":
            out.append(
                Message(
                    "tool",
                    _cap(_result_text(block.get("content")), limit),
                    tool_call_id=block.get("tool_use_id"),
                )
            )
        elif kind in ("image", "document"):
            omitted.append(kind)
        # thinking and redacted_thinking blocks are the model's scratchpad: not training text
    if role == "assistant":
        if texts or calls:
            out.append(Message("assistant", "\n\n".join(texts), tool_calls=calls or None))
    elif texts:
        out.append(Message("user", "\n\n".join(texts)))
    return out


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Produced | Rejected]]:
    limit = int(ctx.options.get("tool_output_chars", DEFAULT_TOOL_OUTPUT_CHARS))
    records: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    order: list[str] = []
    for line_no, rec in jsonl_objects(ctx.path):
        if isinstance(rec, Rejected):
            yield {"line": line_no}, rec
            continue
        uuid = rec.get("uuid")
        if rec.get("type") in _CONVERSATIONAL and not isinstance(rec.get("message"), dict):
            yield (
                {"line": line_no, **({"uuid": uuid} if uuid else {})},
                Rejected(f"{rec.get('type')} record without message"),
            )
            continue
        if not isinstance(uuid, str) or uuid in records:
            continue  # queue operations and summaries have no uuid; replays repeat one
        records[uuid] = rec
        lines[uuid] = line_no
        order.append(uuid)

    # One conversation per thread: the main thread and each sidechain, each ending at its last record.
    leaves: dict[tuple[bool, str], str] = {}
    for uuid in order:
        rec = records[uuid]
        if rec.get("type") in _CONVERSATIONAL:
            leaves[(bool(rec.get("isSidechain")), str(rec.get("agentId", "")))] = uuid
    session = next((r.get("sessionId") for r in records.values() if r.get("sessionId")), None)
    for leaf in leaves.values():
        chain, seen = [], set()
        node: str | None = leaf
        while node is not None and node in records and node not in seen:
            seen.add(node)
            chain.append(records[node])
            node = records[node].get("parentUuid")
        chain.reverse()
        omitted: list[str] = []
        messages: list[Message] = []
        last_id = None
        try:
            for rec in chain:
                if rec.get("type") not in _CONVERSATIONAL or rec.get("isMeta"):
                    continue
                msg_id = rec["message"].get("id")
                new = _messages(rec, limit, omitted)
                # Records sharing message.id are one model message split up: merge them.
                if msg_id and msg_id == last_id and messages and new and new[0].role == "assistant":
                    prev = messages[-1]
                    head = new.pop(0)
                    prev.content = "\n\n".join(t for t in (prev.content, head.content) if t)
                    prev.tool_calls = (prev.tool_calls or []) + (head.tool_calls or []) or None
                messages += new
                last_id = msg_id if rec.get("type") == "assistant" else None
            meta: dict[str, Any] = {"session": session, "sidechain": bool(records[leaf].get("isSidechain"))}
            if omitted:
                meta["omitted_media"] = omitted
            produced = sft(messages, meta)
        except InvalidExample as e:
            yield {"line": lines[leaf], "uuid": leaf}, Rejected(f"thread cannot be trained on: {e}")
            continue
        yield {"line": lines[leaf], "uuid": leaf}, produced


ADAPTER = Adapter("claude_code", 1, "file", convert_file=convert_file)
