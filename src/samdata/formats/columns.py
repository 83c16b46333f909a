"""Which columns of a table hold examples: matched by the role they play, not by fixed names.

Shared by the scan (is this table training data?) and the SQLite adapter (how to read it).
"""

from __future__ import annotations

import re

# Role → column words, best first. A column plays a role if its whole name is one of these, else
# if one of its words is (whole names rank first).
_ROLES: dict[str, tuple[str, ...]] = {
    "messages": ("messages", "conversation", "conversations", "turns", "dialog", "dialogue", "chat"),
    "prompt": ("instruction", "prompt", "question", "query", "usermessage", "user", "userinput", "input",
               "human", "request", "ask"),
    "response": ("response", "output", "answer", "completion", "assistantmessage", "assistant", "reply",
                 "bot", "gpt", "target", "generation", "generated", "result"),
    "chosen": ("chosen", "corrected", "preferred", "better"),
    "rejected": ("rejected", "original", "dispreferred", "worse"),
    "system": ("system", "systemprompt", "systemmessage"),
    "context": ("context", "history", "background"),
}  # fmt: skip
_LABELS = ("source", "createdat", "created", "timestamp", "category", "tags", "quality")
# Words that make a column a property of the text, not the text (`user_id`, `response_tokens`).
_NOT_TEXT = {"id", "uuid", "at", "time", "date", "count", "len", "length", "tokens", "score", "rating",
             "type", "name", "hash", "key", "url", "path", "lang", "language", "num", "number", "ms"}  # fmt: skip
_NUMERIC = re.compile(r"INT|REAL|FLOA|DOUB|NUM|DEC|BOOL", re.I)


def _words(name: str) -> list[str]:
    """`user_Message`, `userMessage` → ["user", "message"]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _flat(name: str) -> str:
    return "".join(_words(name))


def match_columns(columns: list[str], types: dict[str, str] | None = None) -> dict[str, str]:
    """Role → column for one table's columns (empty when the table holds no examples)."""
    by_role: dict[str, list[tuple[int, int, str]]] = {}
    for col in columns:
        flat, words = _flat(col), _words(col)
        if _NOT_TEXT & set(words) or _NUMERIC.search((types or {}).get(col, "")):
            continue
        for role, names in _ROLES.items():
            if flat in names:
                by_role.setdefault(role, []).append((0, names.index(flat), col))
            elif any(w in names for w in words):
                rank = min(names.index(w) for w in words if w in names)
                by_role.setdefault(role, []).append((1, rank, col))
    found: dict[str, str] = {}
    taken: set[str] = set()
    # Pairs first: a column that is the better "response" must not also be taken as a prompt.
    for role in ("messages", "chosen", "rejected", "response", "prompt", "system", "context"):
        for _, _, col in sorted(by_role.get(role, [])):
            if col not in taken:
                found[role] = col
                taken.add(col)
                break
    if found.get("prompt", "").lower() != "input" and "context" not in found:
        extra = _by_flat(columns, "input")
        if extra and extra not in found.values():
            found["context"] = extra  # Alpaca's input beside its instruction
    for col in columns:
        if _flat(col) in _LABELS and col not in found.values():
            found[f"label:{col}"] = col
    if "messages" in found:
        return {k: v for k, v in found.items() if k in ("messages", "system") or k.startswith("label:")}
    if "prompt" in found and "chosen" in found and "rejected" in found:
        return {k: v for k, v in found.items() if k != "response"}
    if "prompt" in found and "response" in found:
        return {k: v for k, v in found.items() if k not in ("chosen", "rejected")}
    return {}


def _by_flat(columns: list[str], flat: str) -> str:
    return next((c for c in columns if _flat(c) == flat), "")
