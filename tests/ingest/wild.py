"""Builders of files in the shapes other tools write today (2025-26), for the wild-inputs matrix.

Each builder returns bytes; the shapes follow what the tools' own transcripts, exports and dataset
dumps hold (see the DESIGN's source quirks), not only what our fixtures happen to have.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from typing import Any

from backports import zstd


def jl(*records: Any) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def chat(q: str, a: str = "an answer") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zst(data: bytes) -> bytes:
    return zstd.compress(data)


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


# -- OpenAssistant --------------------------------------------------------------------------------


def oa(mid: str, role: str, text: str, replies: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    node = {"message_id": mid, "role": role, "text": text, "lang": "en", **extra}
    if replies is not None:
        node["replies"] = replies
    return node


def oa_flat(mid: str, parent: str | None, role: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "message_id": mid,
        "parent_id": parent,
        "role": role,
        "text": text,
        "message_tree_id": "t",
        **extra,
    }


# -- Claude Code ------------------------------------------------------------------------------------

SESSION = "3f1c2a10-9b1e-4c55-8d0e-2f6a1b7c9d42"


def cc_user(uuid: str, parent: str | None, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": "/Users/sam/code",
        "sessionId": SESSION, "version": "2.1.30", "type": "user",
        "message": {"role": "user", "content": content}, "uuid": uuid,
        "timestamp": "2026-03-01T10:00:00.000Z", **extra,
    }  # fmt: skip


def cc_assistant(
    uuid: str, parent: str | None, blocks: list[Any], msg_id: str, **extra: Any
) -> dict[str, Any]:
    return {
        "parentUuid": parent, "isSidechain": False, "userType": "external", "cwd": "/Users/sam/code",
        "sessionId": SESSION, "version": "2.1.30", "type": "assistant",
        "message": {"id": msg_id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": blocks, "stop_reason": None, "usage": {"input_tokens": 3, "output_tokens": 9}},
        "requestId": "req_" + msg_id, "uuid": uuid, "timestamp": "2026-03-01T10:00:01.000Z", **extra,
    }  # fmt: skip


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def tool_use(tid: str, name: str, inp: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tid, "name": name, "input": inp}


def tool_result(tid: str, content: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tid, "content": content, "is_error": False}


def cc_meta(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "sessionId": SESSION, **fields}


def cc_linked(kind: str, uuid: str, parent: str | None, **fields: Any) -> dict[str, Any]:
    """A record of the chain that is not a turn (progress, system, attachment)."""
    return {"type": kind, "uuid": uuid, "parentUuid": parent, "sessionId": SESSION, "isSidechain": False,
            "timestamp": "2026-03-01T10:00:02.000Z", **fields}  # fmt: skip


# -- ChatGPT -------------------------------------------------------------------------------------------


def node(nid: str, parent: str | None, children: list[str], role: str | None, content: Any = None,
         **msg: Any) -> dict[str, Any]:  # fmt: skip
    if role is None:
        return {"id": nid, "message": None, "parent": parent, "children": children}
    message = {
        "id": nid, "author": {"role": role, "name": msg.pop("name", None), "metadata": {}},
        "create_time": msg.pop("create_time", 1.7e9), "content": content, "status": "finished_successfully",
        "end_turn": True, "weight": msg.pop("weight", 1.0), "metadata": msg.pop("metadata", {}),
        "recipient": msg.pop("recipient", "all"), "channel": msg.pop("channel", None), **msg,
    }  # fmt: skip
    return {"id": nid, "message": message, "parent": parent, "children": children}


def parts(*texts: Any) -> dict[str, Any]:
    return {"content_type": "text", "parts": list(texts)}


def conversation(
    mapping_nodes: list[dict[str, Any]], current: str | None, cid: str = "c-1", **extra: Any
) -> dict[str, Any]:
    conv = {
        "title": "t", "create_time": 1.7e9, "update_time": 1.7e9,
        "mapping": {n["id"]: n for n in mapping_nodes}, "conversation_id": cid, "id": cid, **extra,
    }  # fmt: skip
    if current is not None:
        conv["current_node"] = current
    return conv


def simple_conversation(cid: str, q: str, a: str) -> dict[str, Any]:
    return conversation(
        [
            node("root", None, ["u"], None),
            node("u", "root", ["a"], "user", parts(q)),
            node("a", "u", [], "assistant", parts(a)),
        ],
        "a",
        cid,
    )
