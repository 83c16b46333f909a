"""OpenAssistant: message trees in every shape they are shared in.

- trees with the envelope (`{"message_tree_id", "prompt": {...nested replies}}`, one per line);
- root messages with nested `replies` and no envelope (one per line);
- flat message files (one message per line, linked by `parent_id`), the export's `messages` shape.

A file of trees reads record by record; a file with flat message rows reads whole (rows link to each
other), and a tree or nested root inside such a file is still read on its own.

Every root-to-leaf path is a conversation that ends on its last assistant turn (a follow-up nobody
answered is left out, and counted); the path that follows the best rank at every step is marked `best`. Sibling assistant replies with different ranks become
preference pairs (lower rank = better = chosen). Deleted messages, messages that failed review and
empty ones are left out together with their replies, and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import combinations
from typing import Any

from samdata.model import Example, InvalidExample, Message
from samdata.sources import (
    Adapter,
    Context,
    Outcome,
    Produced,
    Rejected,
    Skipped,
    SkipRecord,
    jsonl_objects,
    require_dict,
)


def _why_not(node: Any) -> str | None:
    """Why a message cannot be part of a conversation, or None."""
    if not isinstance(node, dict):
        return "oasst: message that is not an object"
    if node.get("deleted"):
        return "oasst: deleted message"
    if node.get("review_result") is False:
        return "oasst: message that failed review"
    if not isinstance(node.get("text"), str) or not node["text"].strip():
        return "oasst: message without text"
    if node.get("role") not in ("prompter", "assistant"):
        return f"oasst: message with role {node.get('role')!r}"
    return None


def _message(node: dict[str, Any]) -> Message:
    return Message("user" if node["role"] == "prompter" else "assistant", node["text"])


def _rank(node: dict[str, Any]) -> float:
    rank = node.get("rank")
    return float(rank) if isinstance(rank, int | float) else float("inf")


def _replies(node: dict[str, Any]) -> list[Any]:
    replies = node.get("replies") or []
    if not isinstance(replies, list):
        raise InvalidExample("`replies` is not a list")
    return replies


def _size(node: Any) -> int:
    """Messages in a subtree (iteratively: trees can be deep)."""
    n, stack = 0, [node]
    while stack:
        cur = stack.pop()
        n += 1
        if isinstance(cur, dict) and isinstance(cur.get("replies"), list):
            stack.extend(cur["replies"])
    return n


class _Walk:
    """One tree's conversations and pairs, with what was used and what was left out and why."""

    def __init__(self) -> None:
        self.used: set[int] = set()  # id() of messages on a produced path or pair
        self.left: list[tuple[Any, str]] = []  # (message, reason): the message and all its replies
        self.unanswered = 0  # prompts at the end of a path, with no answer below them

    def children(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for child in _replies(node):
            why = _why_not(child)
            if why is None:
                out.append(child)
            else:
                self.left.append((child, why))
        return out

    def unused(self, root: dict[str, Any]) -> int:
        """Usable messages that are on no example and are not unanswered prompts."""
        return _size(root) - len(self.used) - sum(_size(n) for n, _ in self.left) - self.unanswered

    def examples(self, root: dict[str, Any]) -> Iterator[Produced]:
        """Every path that ends on an answer (a path ending on an unanswered prompt ends at the answer
        before it) and every ranked pair of sibling answers."""
        why = _why_not(root)
        if why is not None:
            raise SkipRecord(f"{why} (the tree's prompt)")
        if root["role"] != "prompter":
            raise InvalidExample("the tree starts with an assistant message, not a prompt")
        kids_of: dict[int, list[dict[str, Any]]] = {}

        def kids(node: dict[str, Any]) -> list[dict[str, Any]]:
            if id(node) not in kids_of:
                kids_of[id(node)] = self.children(node)
            return kids_of[id(node)]

        best_path = [root]
        while kids(best_path[-1]):
            best_path.append(min(kids(best_path[-1]), key=_rank))
        best = next((id(n) for n in reversed(best_path) if n["role"] == "assistant"), None)
        ended: set[int] = set()
        # Iterative depth-first walk: trees can be deep, recursion limits must not decide.
        stack: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [(root, [])]
        while stack:
            node, path = stack.pop()
            path = [*path, node]
            children = kids(node)
            if not children:
                if node["role"] == "prompter":
                    self.unanswered += 1
                end = next((i for i in range(len(path) - 1, -1, -1) if path[i]["role"] == "assistant"), None)
                if end is not None and id(path[end]) not in ended:
                    ended.add(id(path[end]))
                    self.used.update(id(n) for n in path[: end + 1])
                    meta = {"best": True} if id(path[end]) == best else {}
                    messages = [_message(n) for n in path[: end + 1]]
                    yield Produced(
                        Example("sft", messages), meta, {"message_id": path[end].get("message_id")}
                    )
            if node["role"] == "prompter":
                ranked = sorted(
                    (k for k in children if k["role"] == "assistant" and isinstance(k.get("rank"), int)),
                    key=_rank,
                )
                for better, worse in combinations(ranked, 2):
                    if better["rank"] == worse["rank"] or better["text"].strip() == worse["text"].strip():
                        continue
                    self.used.update([*map(id, path), id(better), id(worse)])
                    yield Produced(
                        Example(
                            "preference", [_message(n) for n in path], [_message(better)], [_message(worse)]
                        ),
                        {"chosen_rank": better["rank"], "rejected_rank": worse["rank"]},
                        {
                            "message_id": node.get("message_id"),
                            "chosen_id": better.get("message_id"),
                            "rejected_id": worse.get("message_id"),
                        },
                    )
            stack.extend((k, path) for k in reversed(children))


def _tree_of(d: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(root message, labels) of a tree row: the envelope's prompt, or a root with nested replies."""
    if "prompt" in d:
        root = require_dict(d["prompt"])
        return root, {"tree_id": d.get("message_tree_id"), "lang": root.get("lang")}
    return d, {"tree_id": d.get("message_tree_id") or d.get("message_id"), "lang": d.get("lang")}


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    if "prompt" not in d and not isinstance(d.get("replies"), list):
        raise InvalidExample("an OpenAssistant message row outside a message file")
    if "prompt" not in d and d.get("parent_id"):
        raise InvalidExample("an OpenAssistant reply with nested replies but no root above it")
    root, labels = _tree_of(d)
    walk = _Walk()
    produced = list(walk.examples(root))
    for node, why in walk.left:
        ctx.drop(why, _size(node))
    ctx.drop("oasst: prompt without an answer", walk.unanswered)
    ctx.drop("oasst: message on no path that ends on an answer", walk.unused(root))
    if not produced:
        raise SkipRecord("oasst: tree without an assistant answer")
    for p in produced:
        p.meta.update({k: v for k, v in labels.items() if v})
    return produced


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Outcome]]:
    """A flat message file: rows linked by `parent_id` are rebuilt into trees, then walked; tree rows
    in the same file are read as trees. Every line ends produced, quarantined or skipped."""
    nodes: dict[str, dict[str, Any]] = {}
    lines: dict[str, int] = {}
    order: list[str] = []
    for line_no, row in jsonl_objects(ctx):
        if isinstance(row, Rejected):
            yield {"line": line_no}, row
            continue
        if "prompt" in row or (isinstance(row.get("replies"), list) and row["replies"]):
            yield from _tree_line(row, line_no, ctx)
            continue
        mid = row.get("message_id")
        if not isinstance(mid, str):
            yield {"line": line_no}, Rejected("message row without message_id")
            continue
        if mid in nodes:
            yield {"line": line_no, "message_id": mid}, Skipped("oasst: message repeated in the file")
            continue
        nodes[mid] = {**row, "replies": []}
        lines[mid] = line_no
        order.append(mid)
    roots, orphans = [], []
    for mid in order:
        node = nodes[mid]
        parent = node.get("parent_id")
        if parent is None:
            roots.append(node)
        elif parent in nodes:
            nodes[parent]["replies"].append(node)
        else:
            orphans.append(node)
    left: Counter[str] = Counter()
    for node in orphans:
        mid = node["message_id"]
        yield (
            {"line": lines[mid], "message_id": mid},
            Rejected(f"parent {node['parent_id']} is not in the file"),
        )
        left["oasst: reply to a message that is not in the file"] += _size(node) - 1
    for root in roots:
        walk = _Walk()
        try:
            produced = list(walk.examples(root))
        except SkipRecord as e:
            left[str(e)] += 1
            left["oasst: reply to a message left out"] += _size(root) - 1
            continue
        except InvalidExample as e:
            yield {"line": lines[root["message_id"]], "message_id": root["message_id"]}, Rejected(str(e))
            left["oasst: reply to a message left out"] += _size(root) - 1
            continue
        for node, why in walk.left:
            left[why] += 1
            left["oasst: reply to a message left out"] += _size(node) - 1
        left["oasst: prompt without an answer"] += walk.unanswered
        left["oasst: message on no path that ends on an answer"] += walk.unused(root)
        first = True
        labels = {"tree_id": root.get("message_tree_id") or root["message_id"], "lang": root.get("lang")}
        for p in produced:
            p.meta.update({k: v for k, v in labels.items() if v})
            p.records, first = (len(walk.used) if first else 0), False
            leaf = p.ids.get("message_id")
            yield {"line": lines.get(leaf, lines[root["message_id"]]), **p.ids}, p
    for reason, n in sorted(left.items()):
        if n:
            yield {}, Skipped(reason, n)


def _tree_line(row: dict[str, Any], line_no: int, ctx: Context) -> Iterator[tuple[dict[str, Any], Outcome]]:
    """A tree (or nested root) row of a message file: one record, read as the record-wise adapter would."""
    before = Counter(ctx.dropped)
    try:
        produced = list(convert(row, ctx))
    except (SkipRecord, InvalidExample) as e:
        ctx.dropped = before  # what a record left out counts only if the record is produced
        yield {"line": line_no}, Skipped(str(e)) if isinstance(e, SkipRecord) else Rejected(str(e))
        return
    for i, p in enumerate(produced):
        p.records = int(i == 0)
        yield {"line": line_no, **p.ids}, p


ADAPTER = Adapter("oasst", 2, "record", convert)
VARIANTS = {"messages": Adapter("oasst_messages", 2, "file", convert_file=convert_file)}
