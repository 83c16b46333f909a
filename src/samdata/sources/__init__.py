"""Source adapters: one module per format, each turning records into canonical examples.

An adapter is either record-wise (`unit="record"`: called once per JSONL line or JSON-array item,
so ingest can stream, batch and resume anywhere) or file-wise (`unit="file"`: formats whose
examples need the whole file, such as a Claude Code session rebuilt from `parentUuid` links).

Every record read ends in exactly one account: produced (it became at least one example),
quarantined (`InvalidExample` or `Rejected`, with the reason) or skipped on purpose (`SkipRecord` or
`Skipped`, with the reason). Parts of a produced record left out on purpose (a hidden system message,
a thinking preamble) are counted with `Context.drop`. File-wise adapters say how many records each
outcome covers, since one line may feed several examples.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from samdata.formats.readers import content_lines
from samdata.model import Example, InvalidExample, Message, ToolCall

__all__ = [
    "ADAPTERS",
    "Adapter",
    "Context",
    "Produced",
    "Rejected",
    "SkipRecord",
    "Skipped",
    "adapter_for",
]


class SkipRecord(Exception):
    """Raised by a record-wise adapter: the record is left out on purpose; the message is the reason."""


@dataclass(slots=True)
class Produced:
    """One example from a record, with labels and locator ids beyond the line or index.

    `records`: for file-wise adapters, how many records of the file this example newly accounts for
    as produced (0 when a sibling example already counted them); record-wise adapters leave it.
    """

    example: Example
    meta: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)
    records: int = 1


@dataclass(slots=True)
class Rejected:
    """A record of a file-wise source that cannot become an example (one quarantined record)."""

    reason: str
    ids: dict[str, Any] = field(default_factory=dict)
    snippet: str = ""


@dataclass(slots=True)
class Skipped:
    """Records of a file-wise source left out on purpose, with the reason."""

    reason: str
    records: int = 1


@dataclass
class Context:
    """What an adapter may need besides the record: the file and the source's options."""

    path: Path
    options: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # filled by an adapter's `prepare`
    dropped: Counter[str] = field(default_factory=Counter)  # parts left out on purpose, by reason
    compression: str | None = None  # the stream the file's content is wrapped in
    max_record_bytes: int = 32 << 20
    max_expansion: float = 0.0

    lines_read: int | None = None  # records handed out by `lines()`: what the account must cover

    def lines(self) -> Iterator[Any]:
        """The file's lines as `samdata.formats.readers.Raw` records, for file-wise adapters; ingest
        checks that the adapter accounts for every non-blank one."""
        self.lines_read = 0
        for raw in content_lines(self.path, self.compression, self.max_expansion, self.max_record_bytes):
            if not raw.blank:
                self.lines_read += 1
            yield raw

    def drop(self, reason: str, n: int = 1) -> None:
        """Count `n` parts of a record left out on purpose (the record itself is still produced)."""
        if n:
            self.dropped[reason] += n


RecordFn = Callable[[Any, Context], Iterable[Produced]]
Outcome = Produced | Rejected | Skipped
FileFn = Callable[[Context], Iterator[tuple[dict[str, Any], Outcome]]]


@dataclass(frozen=True)
class Adapter:
    """A registered format. Bump `version` when its output changes: files are then re-ingested."""

    name: str
    version: int
    unit: str  # "record" | "file"
    convert: RecordFn | None = None
    convert_file: FileFn | None = None
    prepare: Callable[[Context], None] | None = None


_MODULES = {
    "chat_jsonl": "chat_jsonl",
    "prompt_completion": "prompt_completion",
    "text": "text",
    "alpaca": "alpaca",
    "evol_instruct": "evol_instruct",
    "dolly": "dolly",
    "ultrachat": "ultrachat",
    "sharegpt": "sharegpt",
    "oasst": "oasst",
    "dpo": "dpo",
    "correction": "correction",
    "chatgpt_export": "chatgpt_export",
    "claude_code": "claude_code",
    "git": "git",
    "sqlite": "sqlite",
    "html": "html",
    "markdown": "markdown",
    "pdf": "pdf",
    "warc": "warc",
}
ADAPTERS = frozenset(_MODULES)


def adapter_for(fmt: str, variant: str | None = None) -> Adapter | None:
    """The adapter of a format (and variant, where a variant reads differently), or None."""
    name = _MODULES.get(fmt)
    if name is None:
        return None
    module = importlib.import_module(f"samdata.sources.{name}")
    return getattr(module, "VARIANTS", {}).get(variant, module.ADAPTER)


# -- helpers shared by adapters ---------------------------------------------------------------


def jsonl_objects(ctx: Context) -> Iterator[tuple[int, dict[str, Any] | Rejected]]:
    """(line number, object) per non-blank line of a JSONL file that file-wise adapters read whole
    (through its compression, lines bounded by max_record_bytes); a line that is not a JSON object
    comes as a `Rejected` with the reason."""
    for raw in ctx.lines():
        if raw.blank:
            continue
        line_no = raw.locator.get("line", 0)
        if raw.error is not None:
            yield line_no, Rejected(raw.error, snippet=raw.snippet)
        elif not isinstance(raw.value, dict):
            yield line_no, Rejected(f"record is {type(raw.value).__name__}, not an object")
        else:
            yield line_no, raw.value


def text_of(content: Any, omitted: list[str] | None = None) -> str:
    """Text of a message content: a string, or a list of parts whose text parts are joined.

    Non-text parts (images, audio) are named in `omitted` so the loss of media is recorded.
    """
    if isinstance(content, str):
        return content
    if content is None:
        raise InvalidExample("null content")
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type", "text")
                if kind in ("text", "input_text", "output_text"):
                    value = part.get("text", part.get("value"))
                    if not isinstance(value, str):
                        raise InvalidExample(f"text part without text: {str(part)[:80]}")
                    texts.append(value)
                elif omitted is not None:
                    omitted.append(str(kind))
            else:
                raise InvalidExample(f"content part is {type(part).__name__}")
        return "\n".join(texts)
    raise InvalidExample(f"content is {type(content).__name__}, not text")


def parse_arguments(value: Any) -> Any:
    """Tool-call arguments as JSON (a dict renders cleanly in chat templates), else as given."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def require_str(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    if value is None:
        raise InvalidExample(f"missing {key!r}")
    if not isinstance(value, str):
        raise InvalidExample(f"{key!r} is {type(value).__name__}, not text")
    return value


def require_dict(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise InvalidExample(f"record is {type(record).__name__}, not an object")
    return record


def single_turn(prompt: str, answer: str, system: str | None = None) -> list[Message]:
    turns = [Message("system", system)] if system else []
    return [*turns, Message("user", prompt), Message("assistant", answer)]


def trim_to_last_answer(messages: list[Message]) -> tuple[list[Message], int]:
    """Drop trailing non-assistant turns (an unanswered question trains nothing); return how many."""
    end = len(messages)
    while end and messages[end - 1].role != "assistant":
        end -= 1
    return messages[:end], len(messages) - end


_OPENAI_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
    "function": "tool",
}


def openai_messages(raw: Any, omitted: list[str] | None = None) -> list[Message]:
    """Messages in the OpenAI chat shape (role/content, tool_calls, tool_call_id, weight)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidExample("`messages` is not a non-empty list")
    out = []
    for m in raw:
        if not isinstance(m, dict):
            raise InvalidExample(f"message is {type(m).__name__}, not an object")
        role = _OPENAI_ROLES.get(m.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise InvalidExample(f"unknown role {m.get('role')!r}")
        calls = None
        if m.get("tool_calls"):
            if not isinstance(m["tool_calls"], list):
                raise InvalidExample("tool_calls is not a list")
            calls = []
            for c in m["tool_calls"]:
                fn = c.get("function", c) if isinstance(c, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise InvalidExample("tool call without a function name")
                calls.append(ToolCall(fn["name"], parse_arguments(fn.get("arguments", {})), c.get("id")))
        content = m.get("content")
        if content is None and calls:
            content = ""
        weight = m.get("weight", m.get("loss_weight"))
        out.append(
            Message(
                role,
                text_of(content, omitted),
                name=m.get("name") if isinstance(m.get("name"), str) else None,
                tool_calls=calls,
                tool_call_id=m.get("tool_call_id"),
                train=not (weight is not None and weight == 0 and role == "assistant"),
            )
        )
    return out


def sft(
    messages: list[Message], meta: dict[str, Any] | None = None, tools: Any = None, **ids: Any
) -> Produced:
    """An SFT example from messages, trailing unanswered turns trimmed (and counted in meta). A
    conversation without a user turn has no prompt to learn an answer to: it is not an example."""
    kept, dropped = trim_to_last_answer(messages)
    if kept and not any(m.role == "user" for m in kept):
        raise InvalidExample("conversation without a user turn (nothing prompts the answer)")
    meta = dict(meta or {})
    if dropped and kept:
        meta["trimmed_turns"] = dropped
    return Produced(Example("sft", kept, tools=tools or None), meta, ids)


def split_shared_prefix(
    chosen: list[Message], rejected: list[Message]
) -> tuple[list[Message], list[Message], list[Message]]:
    """(prompt, chosen answer, rejected answer) from two full conversations that share a prefix."""
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n].to_dict() == rejected[n].to_dict():
        n += 1
    if n == 0:
        raise InvalidExample("chosen and rejected share no prompt")
    return chosen[:n], chosen[n:], rejected[n:]
