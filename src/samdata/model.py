"""Canonical records: `Message`, `Example`, and the content-addressed example id.

An example's id is the 128-bit xxh3 digest of its canonical JSON: text normalised (Unicode NFC,
CRLF → LF, trailing spaces trimmed per line), keys sorted, optional fields left out when empty. The
same content found in two files is one example with two provenance rows.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import xxhash

Role = Literal["system", "user", "assistant", "tool"]
ROLES = frozenset({"system", "user", "assistant", "tool"})
KINDS = frozenset({"sft", "preference", "kto"})
# What curate's categorizer labels SFT examples with (recipes select and weigh by these).
CATEGORIES = (
    "code_generation", "code_explanation", "code_general", "debugging", "explanation", "planning",
    "reasoning", "roleplay", "coaching", "personality", "general",
)  # fmt: skip
# The sources live capture writes to (a recipe may name them like configured sources).
CAPTURE_SOURCES = {
    "conversation": "capture:conversation",
    "correction": "capture:correction",
    "escalation": "capture:escalation",
}


class InvalidExample(ValueError):
    """A record that cannot become an example; the message is the quarantine reason."""


def normalize_text(text: str) -> str:
    """NFC, LF line ends, no trailing spaces on any line, no trailing blank lines."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if " \n" in text or "\t\n" in text:
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text.rstrip()


@dataclass(slots=True)
class ToolCall:
    """A call the assistant made: `arguments` is kept as parsed JSON when it parses."""

    name: str
    arguments: Any
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "arguments": self.arguments}
        if self.id:
            d["id"] = self.id
        return d


@dataclass(slots=True)
class Message:
    """One turn. `train=False` keeps it as context but masks it from the loss."""

    role: str
    content: str
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    train: bool = True

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidExample(f"unknown role {self.role!r}")
        if not isinstance(self.content, str):
            raise InvalidExample(f"{self.role} content is {type(self.content).__name__}, not text")
        self.content = normalize_text(self.content)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            d["name"] = self.name
        if self.tool_calls:
            d["tool_calls"] = [t.to_dict() for t in self.tool_calls]
        if self.tool_call_id:
            d["tool_call_id"] = self.tool_call_id
        if not self.train:
            d["train"] = False
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        calls = d.get("tool_calls")
        return cls(
            role=d["role"],
            content=d["content"],
            name=d.get("name"),
            tool_calls=[ToolCall(c["name"], c["arguments"], c.get("id")) for c in calls] if calls else None,
            tool_call_id=d.get("tool_call_id"),
            train=d.get("train", True),
        )


@dataclass(slots=True)
class Example:
    """A training example. For `preference`, `messages` is the shared prompt; `kto` carries a label."""

    kind: str
    messages: list[Message]
    chosen: list[Message] | None = None
    rejected: list[Message] | None = None
    label: bool | None = None
    tools: list[Any] | None = None
    _id: str | None = field(default=None, repr=False, compare=False)
    _json: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidExample(f"unknown example kind {self.kind!r}")
        self.validate()

    def validate(self) -> None:
        """Raise InvalidExample unless the example can be trained on."""
        if self.kind == "preference":
            if not self.messages or self.messages[-1].role not in ("user", "tool"):
                raise InvalidExample("preference pair without a prompt ending on a user turn")
            if not self.chosen or not self.rejected:
                raise InvalidExample("preference pair without both chosen and rejected")
            for side, turns in (("chosen", self.chosen), ("rejected", self.rejected)):
                if not any(m.role == "assistant" and (m.content or m.tool_calls) for m in turns):
                    raise InvalidExample(f"empty {side} answer")
            if self.chosen_text() == self.rejected_text():
                raise InvalidExample("chosen and rejected are identical")
            return
        if not self.messages:
            raise InvalidExample("no messages")
        last = self.messages[-1]
        if last.role != "assistant":
            raise InvalidExample(f"conversation ends on a {last.role} turn, not an assistant answer")
        if not last.content and not last.tool_calls:
            raise InvalidExample("empty assistant turn")
        # A lone assistant turn is a plain-text example (mlx-lm's `text` format); else a user must ask.
        if len(self.messages) > 1 and not any(m.role == "user" for m in self.messages):
            raise InvalidExample("no user turn")
        if self.kind == "kto" and self.label is None:
            raise InvalidExample("KTO example without a label")

    def chosen_text(self) -> str:
        return "\n".join(m.content for m in self.chosen or [])

    def rejected_text(self) -> str:
        return "\n".join(m.content for m in self.rejected or [])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "messages": [m.to_dict() for m in self.messages]}
        if self.chosen is not None:
            d["chosen"] = [m.to_dict() for m in self.chosen]
        if self.rejected is not None:
            d["rejected"] = [m.to_dict() for m in self.rejected]
        if self.label is not None:
            d["label"] = self.label
        if self.tools:
            d["tools"] = self.tools
        return d

    def canonical_json(self) -> bytes:
        """Sorted-key JSON of the normalised record: what the id hashes and the catalog stores."""
        if self._json is None:
            self._json = orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)
        return self._json

    @property
    def id(self) -> str:
        """128-bit content address (hex)."""
        if self._id is None:
            # xxh3-128: 20x faster than BLAKE2b on a 1 KB record, and collisions among honest
            # data are as unlikely (2^-64 at 6e9 examples); ids are addresses, not signatures.
            self._id = xxhash.xxh3_128_hexdigest(self.canonical_json())
        return self._id

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Example:
        def turns(key: str) -> list[Message] | None:
            return [Message.from_dict(m) for m in d[key]] if d.get(key) is not None else None

        return cls(
            kind=d["kind"],
            messages=turns("messages") or [],
            chosen=turns("chosen"),
            rejected=turns("rejected"),
            label=d.get("label"),
            tools=d.get("tools"),
        )


def short_id(example_id: str) -> int:
    """The first 64 bits of an example id as a signed SQLite integer: what the band tables hold
    (16 bytes a row less than the hex id). Two examples sharing them (odds ~n^2 / 2^65: 3e-4 at
    1e8 examples) are both candidates of every match, as `printf('%016x', short)` finds every id
    with that prefix and Jaccard decides, but they are not compared with each other."""
    value = int(example_id[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value
