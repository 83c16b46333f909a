"""OpenAssistant: message trees (one tree per JSONL line) and flat message files.

Every root-to-leaf path that ends on an assistant turn is a conversation; the path that follows the
best rank at every step is marked `best`. Sibling assistant replies with different ranks become
preference pairs (lower rank = better = chosen). Deleted messages and messages that failed review
are skipped together with their replies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import combinations
from typing import Any

from samdata.model import Example, InvalidExample, Message
from samdata.sources import Adapter, Context, Produced, Rejected, jsonl_objects, require_dict


def _usable(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and not node.get("deleted")
        and node.get("review_result") is not False
        and isinstance(node.get("text"), str)
        and bool(node["text"].strip())
        and node.get("role") in ("prompter", "assistant")
    )


def _message(node: dict[str, Any]) -> Message:
    return Message("user" if node["role"] == "prompter" else "assistant", node["text"])


def _rank(node: dict[str, Any]) -> float:
    rank = node.get("rank")
    return float(rank) if isinstance(rank, int | float) else float("inf")


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    replies = node.get("replies") or []
    if not isinstance(replies, list):
        raise InvalidExample("`replies` is not a list")
    return [c for c in replies if _usable(c)]


def _best_leaf(root: dict[str, Any]) -> str | None:
    node = root
    while kids := _children(node):
        node = min(kids, key=_rank)
    return node.get("message_id") if node["role"] == "assistant" else None


def tree_examples(root: dict[str, Any]) -> Iterator[Produced]:
    """Conversations and preference pairs of one message tree (nested `replies`)."""
    if not _usable(root):
        raise InvalidExample("the tree's prompt is deleted, failed review or empty")
    best = _best_leaf(root)
    # Iterative depth-first walk: trees can be deep, recursion limits must not decide.
    stack: list[tuple[dict[str, Any], list[Message]]] = [(root, [])]
    while stack:
        node, path = stack.pop()
        path = [*path, _message(node)]
        kids = _children(node)
        if not kids and node["role"] == "assistant":
            meta = {"best": True} if node.get("message_id") == best else {}
            yield Produced(Example("sft", path), meta, {"message_id": node.get("message_id")})
        if node["role"] == "prompter":
            ranked = sorted(
                (k for k in kids if k["role"] == "assistant" and isinstance(k.get("rank"), int)), key=_rank
            )
            for better, worse in combinations(ranked, 2):
                if better["rank"] == worse["rank"] or _message(better).content == _message(worse).content:
                    continue
                yield Produced(
                    Example("preference", path, [_message(better)], [_message(worse)]),
                    {"chosen_rank": better["rank"], "rejected_rank": worse["rank"]},
                    {
                        "message_id": node.get("message_id"),
                        "chosen_id": better.get("message_id"),
                        "rejected_id": worse.get("message_id"),
                    },
                )
        stack.extend((k, path) for k in reversed(kids))


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    if "prompt" in d:
        meta = (
            {"tree_id": d.get("message_tree_id"), "lang": d["prompt"].get("lang")}
            if isinstance(d["prompt"], dict)
            else {}
        )
        for p in tree_examples(require_dict(d["prompt"])):
            p.meta.update({k: v for k, v in meta.items() if v})
            yield p
        return
    raise InvalidExample("an OpenAssistant message row outside a message file")


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Produced | Rejected]]:
    """A flat message file (one message per line, linked by `parent_id`): rebuild trees, then walk."""
    nodes: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    order: list[str] = []
    for line_no, row in jsonl_objects(ctx.path):
        if isinstance(row, Rejected):
            yield {"line": line_no}, row
            continue
        if not isinstance(row.get("message_id"), str):
            yield {"line": line_no}, Rejected("message row without message_id")
            continue
        if row.get("message_tree_id") and "prompt" in row:
            yield {"line": line_no}, Rejected("a message tree inside a message file")
            continue
        nodes[row["message_id"]] = {**row, "replies": []}
        lines[row["message_id"]] = line_no
        order.append(row["message_id"])
    roots = []
    for mid in order:
        node = nodes[mid]
        parent = node.get("parent_id")
        if parent is None:
            roots.append(node)
        elif parent in nodes:
            nodes[parent]["replies"].append(node)
        else:
            yield {"line": lines[mid], "message_id": mid}, Rejected(f"parent {parent} is not in the file")
    for root in roots:
        try:
            for p in tree_examples(root):
                leaf = p.ids.get("message_id")
                yield {"line": lines.get(leaf, lines[root["message_id"]]), **p.ids}, p
        except InvalidExample as e:
            yield {"line": lines[root["message_id"]], "message_id": root["message_id"]}, Rejected(str(e))


ADAPTER = Adapter("oasst", 1, "record", convert)
VARIANTS = {"messages": Adapter("oasst_messages", 1, "file", convert_file=convert_file)}
