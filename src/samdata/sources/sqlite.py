"""SQLite training stores: rows of tables become examples, columns matched by the role they play.

Without options every table is tried: a `messages`/`conversation` JSON column is a conversation;
`chosen`/`rejected` (or `original`/`corrected`) beside a prompt-like column is a preference pair; a
prompt-like column (instruction, prompt, question, query, input, user, ...) with an answer-like one
(response, output, answer, completion, assistant, reply, ...) is an SFT pair, with an optional
system column, a context column (or `input` beside `instruction`) folded into the prompt, and
source/created_at/category kept as labels. Names match in any case and in snake or camel case.
Tables with no such columns are skipped with their row counts; a store where no table matches is
one quarantined record whose reason lists the tables and columns seen and the options to set.

Options: `table` (a name or a list) and `columns`, a map from roles (`prompt`, `response`,
`system`, `context`, `messages`, `chosen`, `rejected`) to column names. The store is opened
immutable: never written.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson

from samdata.formats.columns import match_columns
from samdata.model import Example, InvalidExample, Message
from samdata.sources import (
    Adapter,
    Context,
    Outcome,
    Produced,
    Rejected,
    Skipped,
    openai_messages,
    sft,
    sharegpt,
    single_turn,
)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
    """Table → {column: declared type}, in name order."""
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {t: {r[1]: r[2] or "" for r in conn.execute(f"PRAGMA table_info({_quote(t)})")} for t in names}


def _plan(
    conn: sqlite3.Connection, options: dict[str, Any]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(table → role mapping for the tables to read, every table's columns)."""
    tables = _tables(conn)
    wanted = options.get("table")
    names = [wanted] if isinstance(wanted, str) else list(wanted or [])
    missing = [t for t in names if t not in tables]
    if missing:
        raise InvalidExample(f"table {missing[0]!r} not in the store (tables: {', '.join(tables) or 'none'})")
    plan: dict[str, dict[str, str]] = {}
    for table in names or tables:
        cols = list(tables[table])
        if options.get("columns"):
            lower = {c.lower(): c for c in cols}
            absent = [c for c in options["columns"].values() if c.lower() not in lower]
            if absent:
                raise InvalidExample(f"columns {absent} not in table {table!r} (columns: {', '.join(cols)})")
            plan[table] = {role: lower[c.lower()] for role, c in options["columns"].items()}
        elif mapping := match_columns(cols, tables[table]):
            plan[table] = mapping
    if not plan:
        seen = "; ".join(f"{t}({', '.join(c)})" for t, c in tables.items()) or "no tables"
        raise InvalidExample(
            f"no table with example-like columns (seen: {seen}); set options.table and options.columns,"
            ' e.g. columns = {prompt = "question", response = "reply"}'
        )
    return plan, tables


def _text(value: Any, role: str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidExample(f"{role} is empty")
    if not isinstance(value, str):
        raise InvalidExample(f"{role} is {type(value).__name__}, not text")
    return value


def _example(row: dict[str, Any]) -> Produced:
    labels = {k.removeprefix("label:"): v for k, v in row.items() if k.startswith("label:") and v is not None}
    system = row.get("system") if isinstance(row.get("system"), str) and row["system"].strip() else None
    if "messages" in row:
        value = row["messages"]
        turns = orjson.loads(value) if isinstance(value, str | bytes) else value
        if isinstance(turns, dict):
            turns = turns.get("messages", turns.get("conversations"))
        messages = (
            sharegpt.turns(turns)
            if isinstance(turns, list) and turns and isinstance(turns[0], dict) and "from" in turns[0]
            else openai_messages(turns)
        )
        if system and messages[0].role != "system":
            messages.insert(0, Message("system", system))
        return sft(messages, labels)
    prompt = _text(row.get("prompt"), "prompt")
    if row.get("context") is not None and str(row["context"]).strip():
        prompt = f"{prompt}\n\n{_text(row['context'], 'context')}"
    if "chosen" in row:
        turns = [Message("system", system)] if system else []
        return Produced(
            Example(
                "preference",
                [*turns, Message("user", prompt)],
                [Message("assistant", _text(row["chosen"], "chosen"))],
                [Message("assistant", _text(row["rejected"], "rejected"))],
            ),
            labels,
        )
    return sft(single_turn(prompt, _text(row.get("response"), "response"), system), labels)


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Outcome]]:
    conn = sqlite3.connect("file:" + urllib.parse.quote(str(ctx.path)) + "?immutable=1", uri=True)
    try:
        plan, tables = _plan(conn, ctx.options)
        for table in tables:
            if table not in plan:
                rows = conn.execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0]
                if rows:
                    yield (
                        {"table": table},
                        Skipped(f"sqlite: table without example-like columns ({table})", rows),
                    )
        for table, mapping in plan.items():
            roles = list(mapping)
            select = ", ".join(_quote(mapping[r]) for r in roles)
            for rowid, *values in conn.execute(f"SELECT rowid, {select} FROM {_quote(table)} ORDER BY rowid"):
                ids = {"table": table, "rowid": rowid}
                try:
                    yield ids, _example(dict(zip(roles, values, strict=True)))
                except (InvalidExample, orjson.JSONDecodeError, TypeError) as e:
                    reason = str(e) if isinstance(e, InvalidExample) else f"messages column is not JSON: {e}"
                    yield ids, Rejected(reason, snippet=str(values)[:200])
    finally:
        conn.close()


ADAPTER = Adapter("sqlite", 2, "file", convert_file=convert_file)
