"""SQLite training stores: rows of one table become examples through a column mapping.

Options: `table` (default: the first table whose columns look like examples) and `columns`, a map
from fields to column names: `prompt`/`response` (and optional `system`) for SFT, `messages`
(a JSON column) for conversations, `chosen`/`rejected` with `prompt` for preference pairs. Without
a map, common names are tried: prompt/response, instruction/output, question/answer,
prompt/answer, user_message/assistant_message. The store is opened immutable: never written.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson

from samdata.model import Example, InvalidExample, Message
from samdata.sources import Adapter, Context, Produced, Rejected, openai_messages, sft, single_turn

_PAIRS = [
    ("prompt", "response"),
    ("instruction", "output"),
    ("question", "answer"),
    ("prompt", "answer"),
    ("user_message", "assistant_message"),
    ("input", "output"),
]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _mapping(conn: sqlite3.Connection, options: dict[str, Any]) -> tuple[str, dict[str, str]]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    wanted = options.get("table")
    if wanted and wanted not in tables:
        raise InvalidExample(f"table {wanted!r} not in the store (tables: {', '.join(tables)})")
    for table in [wanted] if wanted else tables:
        cols = {r[1].lower(): r[1] for r in conn.execute(f"PRAGMA table_info({_quote(table)})")}
        if options.get("columns"):
            missing = [c for c in options["columns"].values() if c.lower() not in cols]
            if missing:
                raise InvalidExample(f"columns {missing} not in table {table!r}")
            return table, dict(options["columns"])
        if "messages" in cols:
            return table, {"messages": cols["messages"]}
        if {"prompt", "chosen", "rejected"} <= set(cols):
            return table, {f: cols[f] for f in ("prompt", "chosen", "rejected")}
        for p, r in _PAIRS:
            if p in cols and r in cols:
                found = {"prompt": cols[p], "response": cols[r]}
                if "system" in cols:
                    found["system"] = cols["system"]
                return table, found
    raise InvalidExample("no table with example-like columns; set options.table and options.columns")


def _example(row: dict[str, Any]) -> Produced:
    if "messages" in row:
        value = row["messages"]
        messages = orjson.loads(value) if isinstance(value, str | bytes) else value
        return sft(openai_messages(messages))
    prompt = row.get("prompt")
    if not isinstance(prompt, str):
        raise InvalidExample("prompt is not text")
    if "chosen" in row:
        return Produced(
            Example(
                "preference",
                [Message("user", prompt)],
                [Message("assistant", row["chosen"])],
                [Message("assistant", row["rejected"])],
            )
        )
    if not isinstance(row.get("response"), str):
        raise InvalidExample("response is not text")
    return sft(single_turn(prompt, row["response"], row.get("system")))


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Produced | Rejected]]:
    conn = sqlite3.connect("file:" + urllib.parse.quote(str(ctx.path)) + "?immutable=1", uri=True)
    try:
        table, mapping = _mapping(conn, ctx.options)
        fields = list(mapping)
        select = ", ".join(_quote(mapping[f]) for f in fields)
        for rowid, *values in conn.execute(f"SELECT rowid, {select} FROM {_quote(table)} ORDER BY rowid"):
            ids = {"table": table, "rowid": rowid}
            try:
                yield ids, _example(dict(zip(fields, values, strict=True)))
            except (InvalidExample, orjson.JSONDecodeError, TypeError) as e:
                yield ids, Rejected(str(e), snippet=str(values)[:200])
    finally:
        conn.close()


ADAPTER = Adapter("sqlite", 1, "file", convert_file=convert_file)
