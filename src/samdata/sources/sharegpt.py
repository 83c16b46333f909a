"""ShareGPT: `conversations` of from/value (human, gpt, system, function_call, observation), an
optional `system` and `tools` (a JSON string in LLaMA-Factory), and multimodal rows whose media
are recorded as omitted. LLaMA-Factory's `messages` + `images` rows take the OpenAI shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from samdata.model import InvalidExample, Message, ToolCall
from samdata.sources import Adapter, Context, Produced, openai_messages, parse_arguments, require_dict, sft

ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "system": "system",
    "observation": "tool",
    "tool": "tool",
    "function_response": "tool",
}
_MEDIA = ("images", "videos", "audios")


def tool_call(value: str) -> ToolCall:
    """A `function_call` turn: `{"name", "arguments"}` as JSON."""
    try:
        call = orjson.loads(value)
    except orjson.JSONDecodeError as e:
        raise InvalidExample(f"function_call value is not JSON: {e}") from e
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        raise InvalidExample("function_call without a name")
    return ToolCall(call["name"], parse_arguments(call.get("arguments", {})))


def turns(conversation: Any) -> list[Message]:
    """Messages of a from/value list (shared with the ShareGPT-style preference rows)."""
    if not isinstance(conversation, list) or not conversation:
        raise InvalidExample("`conversations` is not a non-empty list")
    out: list[Message] = []
    for t in conversation:
        if not isinstance(t, dict) or "from" not in t:
            raise InvalidExample("turn without `from`")
        value = t.get("value")
        if not isinstance(value, str):
            raise InvalidExample(f"{t['from']} value is {type(value).__name__}, not text")
        if t["from"] in ("function_call", "tool_call"):
            call = tool_call(value)
            # A call right after the assistant's text belongs to that same assistant turn.
            if out and out[-1].role == "assistant" and not out[-1].tool_calls:
                out[-1].tool_calls = [call]
            else:
                out.append(Message("assistant", "", tool_calls=[call]))
            continue
        role = ROLES.get(t["from"])
        if role is None:
            raise InvalidExample(f"unknown role {t['from']!r}")
        out.append(Message(role, value))
    return out


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    media = {k: d[k] for k in _MEDIA if d.get(k)}
    meta: dict[str, Any] = {"omitted_media": media} if media else {}
    messages = turns(d["conversations"]) if "conversations" in d else openai_messages(d.get("messages"))
    system = d.get("system")
    if isinstance(system, str) and system and (not messages or messages[0].role != "system"):
        messages.insert(0, Message("system", system))
    tools = parse_arguments(d["tools"]) if d.get("tools") else None
    ids = {"id": d["id"]} if isinstance(d.get("id"), str | int) else {}
    yield sft(messages, meta, tools=tools, **ids)


ADAPTER = Adapter("sharegpt", 1, "record", convert)
