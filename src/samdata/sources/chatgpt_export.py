"""ChatGPT export: `conversations.json` (a list, or one conversation object, or inside a .zip).

The conversation is the visible path from `current_node` up to the root (`mapping` order is not tree
order; without `current_node`, the newest leaf). Hidden system messages are dropped unless they are
the user's custom instructions (kept as system); `weight: 0` turns are kept but not trained; an
assistant message to a recipient other than `all` (code, browsing, canvas, image generation) is a
tool call and what comes back a tool turn (option `tool_turns = "drop"` drops them), while code
addressed to `all` is visible text; thoughts, reasoning recaps and thinking preambles (channel
`commentary`) are dropped; multimodal parts keep their text and record the omitted media; audio
transcriptions become text. Every dropped part is counted. A conversation whose assistant never
says anything trainable (image generation: images come back as tool turns) is skipped.
Regenerated assistant replies (siblings of a reply on the visible path) are kept as alternative
branches, and where `message_feedback.json` beside the export rates one of them up or down, the
siblings also become a preference pair.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from samdata.model import Example, InvalidExample, Message, ToolCall
from samdata.sources import Adapter, Context, Produced, SkipRecord, parse_arguments, require_dict, sft

_TOOL_CONTENT = {
    "execution_output",
    "tether_browsing_display",
    "tether_quote",
    "sonic_webpage",
    "system_error",
    "computer_output",
}
_DROPPED_CONTENT = {"thoughts", "reasoning_recap", "model_editable_context"}
_UP = {"thumbsUp", "thumbs_up", "positive", "up", "good"}
_DOWN = {"thumbsDown", "thumbs_down", "negative", "down", "bad"}


def prepare(ctx: Context) -> None:
    """Load the thumbs up/down of `message_feedback.json` next to the export, if there is one."""
    ratings: dict[str, str] = {}
    try:
        entries = orjson.loads(_feedback_bytes(ctx.path) or b"[]")
    except (OSError, orjson.JSONDecodeError, zipfile.BadZipFile):
        entries = []
    for e in entries if isinstance(entries, list) else []:
        if not isinstance(e, dict):
            continue
        mid = e.get("message_id") or e.get("id")
        rating = e.get("rating")
        if isinstance(mid, str) and rating in _UP | _DOWN:
            ratings[mid] = "up" if rating in _UP else "down"
    ctx.state["ratings"] = ratings


def _feedback_bytes(path: Path) -> bytes | None:
    """`message_feedback.json` beside the export file, or inside the export's zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            member = next((n for n in z.namelist() if n.rsplit("/", 1)[-1] == "message_feedback.json"), None)
            return z.read(member) if member else None
    beside = path.parent / "message_feedback.json"
    return beside.read_bytes() if beside.is_file() else None


def _text(content: dict[str, Any], omitted: list[str]) -> str:
    parts = content.get("parts")
    if parts is None:
        text = content.get("text", content.get("result", ""))
        return text if isinstance(text, str) else ""
    if not isinstance(parts, list):
        raise InvalidExample("message parts is not a list")
    texts = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            if part.get("content_type") == "audio_transcription" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                omitted.append(str(part.get("content_type", "media")))
    return "\n".join(t for t in texts if t)


def _custom_instructions(content: dict[str, Any]) -> str:
    keys = ("user_profile", "user_instructions")
    return "\n\n".join(content[k] for k in keys if isinstance(content.get(k), str) and content[k].strip())


def to_message(
    node: dict[str, Any], tool_turns: bool, omitted: list[str], dropped: list[str]
) -> Message | None:
    """The training message of one mapping node, or None when the node is not part of the text."""
    msg = node.get("message")
    if msg is None:
        return None
    if not isinstance(msg, dict):
        raise InvalidExample("node message is not an object")
    role = (msg.get("author") or {}).get("role")
    meta = msg.get("metadata") or {}
    content = msg.get("content") or {}
    ctype = content.get("content_type", "text")
    train = msg.get("weight", 1) != 0
    if ctype == "user_editable_context" or meta.get("is_user_system_message"):
        text = _custom_instructions(content) or _text(content, omitted)
        return Message("system", text) if text else None
    if meta.get("is_visually_hidden_from_conversation") or ctype in _DROPPED_CONTENT:
        dropped.append(ctype if ctype in _DROPPED_CONTENT else "hidden message")
        return None
    if role == "assistant" and (
        meta.get("is_thinking_preamble_message") or msg.get("channel") == "commentary"
    ):
        dropped.append("thinking preamble")  # shown while the model thinks, not part of the answer
        return None
    recipient = msg.get("recipient") or "all"
    if role == "assistant" and ctype == "code" and recipient == "all":
        # Code the model shows the user is part of its answer.
        lang = content.get("language")
        fence = f"```{lang if isinstance(lang, str) and lang != 'unknown' else ''}"
        body = content.get("text")
        return (
            Message("assistant", f"{fence}\n{body}\n```", train=train)
            if isinstance(body, str) and body.strip()
            else None
        )
    if role == "assistant" and recipient != "all":
        if not tool_turns:
            dropped.append(ctype)
            return None
        body = content.get("text") if ctype == "code" else _text(content, omitted)
        args = {"code": body} if ctype == "code" else parse_arguments(body)
        return Message("assistant", "", tool_calls=[ToolCall(str(recipient), args)], train=train)
    if role == "tool" or ctype in _TOOL_CONTENT:
        if not tool_turns:
            dropped.append(ctype)
            return None
        name = (msg.get("author") or {}).get("name")
        return Message("tool", _text(content, omitted), name=name if isinstance(name, str) else None)
    if role not in ("system", "user", "assistant"):
        raise InvalidExample(f"unknown author role {role!r}")
    text = _text(content, omitted)
    if not text.strip():
        return None
    return Message(role, text, train=train)


def visible_path(mapping: dict[str, Any], leaf: str) -> list[str]:
    """Node ids from the root down to `leaf`; a cycle or a missing parent is a bad record."""
    path, seen = [], set()
    node_id: str | None = leaf
    while node_id is not None:
        if node_id in seen:
            raise InvalidExample(f"mapping has a cycle at node {node_id}")
        seen.add(node_id)
        node = mapping.get(node_id)
        if not isinstance(node, dict):
            raise InvalidExample(f"node {node_id} is referenced but missing from mapping")
        path.append(node_id)
        node_id = node.get("parent")
    return path[::-1]


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    conv = require_dict(record)
    mapping = conv.get("mapping")
    if not isinstance(mapping, dict) or not mapping:
        raise InvalidExample("conversation without a mapping")
    leaf = conv.get("current_node")
    inferred = not isinstance(leaf, str) or leaf not in mapping
    if inferred:
        leaf = _newest_leaf(mapping)
        ctx.drop("chatgpt: no current_node, the newest branch taken")
    tool_turns = ctx.options.get("tool_turns", "keep") != "drop"
    ratings: dict[str, str] = ctx.state.get("ratings", {})
    conv_id = conv.get("conversation_id") or conv.get("id")
    base_meta = {k: conv[k] for k in ("title", "create_time") if conv.get(k) is not None}

    path = visible_path(mapping, leaf)
    omitted: list[str] = []
    dropped: list[str] = []
    messages: list[Message] = []
    position: dict[str, int] = {}  # node id → index in `messages` (of the nodes that became one)
    for node_id in path:
        m = to_message(mapping[node_id], tool_turns, omitted, dropped)
        if m is not None:
            position[node_id] = len(messages)
            messages.append(m)
    meta = dict(base_meta, branch="newest" if inferred else "visible")
    if omitted:
        meta["omitted_media"] = omitted
    if dropped:
        meta["dropped"] = dropped
    for part in dropped:
        ctx.drop(f"chatgpt: {part}")
    answer = _last_answer(messages)
    if answer < 0:
        raise SkipRecord("chatgpt: no trainable assistant text")
    ctx.drop("chatgpt: turn after the last answer", len(messages) - answer - 1)
    messages = messages[: answer + 1]
    yield Produced(Example("sft", messages), meta, {"conversation_id": conv_id, "node_id": leaf})

    # Regenerations: assistant siblings of an assistant reply on the visible path.
    for node_id in path:
        idx = position.get(node_id)
        if idx is None or messages[idx].role != "assistant":
            continue
        parent = mapping[node_id].get("parent")
        siblings = [
            s for s in (mapping.get(parent) or {}).get("children", []) if s != node_id and s in mapping
        ]
        alternatives: dict[str, Message] = {}
        for s in siblings:
            alt = to_message(mapping[s], tool_turns, [], [])
            if alt is not None and alt.role == "assistant" and alt.content.strip() and alt.train:
                alternatives[s] = alt
        prompt = messages[:idx]
        for s, alt in alternatives.items():
            yield sft(
                [*prompt, alt], dict(base_meta, branch="alternative"), conversation_id=conv_id, node_id=s
            )
        pair = _rated_pair(node_id, messages[idx], alternatives, ratings)
        if pair is not None and prompt:
            (chosen_id, chosen), (rejected_id, rejected) = pair
            yield Produced(
                Example("preference", prompt, [chosen], [rejected]),
                dict(base_meta, feedback=True),
                {"conversation_id": conv_id, "chosen_id": chosen_id, "rejected_id": rejected_id},
            )


def _last_answer(messages: list[Message]) -> int:
    """Index of the last assistant turn with text that is trained on, or -1."""
    return max(
        (i for i, m in enumerate(messages) if m.role == "assistant" and m.content.strip() and m.train),
        default=-1,
    )


def _newest_leaf(mapping: dict[str, Any]) -> str:
    """Without `current_node`: the leaf whose message was written last (mapping order breaks ties)."""
    leaves = [k for k, v in mapping.items() if isinstance(v, dict) and not v.get("children")]
    if not leaves:
        raise InvalidExample("no current_node and no leaf")

    def written(k: str) -> float:
        msg = mapping[k].get("message")
        t = msg.get("create_time") if isinstance(msg, dict) else None
        return float(t) if isinstance(t, int | float) else float("-inf")

    return max(reversed(leaves), key=written)


def _rated_pair(
    visible_id: str, visible: Message, alternatives: dict[str, Message], ratings: dict[str, str]
) -> tuple[tuple[str, Message], tuple[str, Message]] | None:
    """(chosen, rejected) among regenerations when feedback rates one of them."""
    group = {visible_id: visible, **alternatives}
    if len(group) < 2:
        return None
    ups = [i for i in group if ratings.get(i) == "up"]
    downs = [i for i in group if ratings.get(i) == "down"]
    if not ups and not downs:
        return None
    chosen = ups[0] if ups else next((i for i in group if i not in downs), None)
    rejected = downs[0] if downs else next((i for i in group if i != chosen and i not in ups), None)
    if chosen is None or rejected is None or chosen == rejected:
        return None
    return (chosen, group[chosen]), (rejected, group[rejected])


ADAPTER = Adapter("chatgpt_export", 2, "record", convert, prepare=prepare)
