"""Chat JSONL: `{"messages": [{"role", "content", "tool_calls"?}], "tools"?}` (OpenAI, mlx-lm, TRL)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.sources import Adapter, Context, Produced, openai_messages, parse_arguments, require_dict, sft


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    omitted: list[str] = []
    messages = openai_messages(d.get("messages"), omitted)
    tools = parse_arguments(d.get("tools")) if d.get("tools") else None
    yield sft(messages, {"omitted_media": omitted} if omitted else None, tools=tools)


ADAPTER = Adapter("chat_jsonl", 1, "record", convert)
