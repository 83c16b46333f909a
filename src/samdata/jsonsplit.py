"""Split a top-level JSON array into the bytes of its elements, streaming, in linear time.

A regex jumps from one string or bracket to the next, so the Python loop runs once per token, not
per byte; strings are skipped whole. Each element is then parsed on its own (orjson, with its own
depth limit), so one bad or absurdly nested element is one bad record, not a stuck run. (ijson's
object builder is quadratic on deeply nested input: 100k levels took minutes.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

_POSITION = re.compile(r":? line \d+ column \d+ \(char \d+\)$")


def json_error(e: Exception) -> str:
    """A stable reason for a parse error: orjson's message without its varying position, so that
    quarantine groups the same fault together (the record's own line or index says where)."""
    return "invalid JSON: " + _POSITION.sub("", str(e))


def line_error(line: bytes, e: Exception) -> str:
    """Why a line is not JSON, in words a person acts on: binary bytes and other encodings first."""
    if b"\x00" in line:
        return "binary data (NUL bytes), not JSON"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8 (binary data or another encoding), not JSON"
    return json_error(e)


# A whole string, a lone quote (a string cut by the end of the buffer), or a structural character.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|"|[\[\]{},]')
_BOM = b"\xef\xbb\xbf"
CHUNK = 1 << 20


class ElementTooLarge:
    """Marker yielded in place of an element bigger than the limit (its bytes are not kept)."""

    def __init__(self, size: int) -> None:
        self.size = size


def array_elements(f: BinaryIO, max_element_bytes: int) -> Iterator[bytes | ElementTooLarge | ValueError]:
    """Yield each element's bytes, an `ElementTooLarge`, or finally a `ValueError` if the array is broken.

    `f` must be positioned at the start of the document (a BOM and whitespace are skipped).
    """
    buf = f.read(CHUNK)
    if buf.startswith(_BOM):
        buf = buf[3:]
    buf = buf.lstrip()
    if not buf.startswith(b"["):
        yield ValueError("not a JSON array")
        return
    pos = 1  # scan position in buf
    start = 1  # start of the current element in buf
    depth = 1
    oversize = 0  # bytes of the current element already dropped because it is too large
    eof = False
    while True:
        m = _TOKEN.search(buf, pos)
        if m is None or (m.group() == b'"' and not eof):
            if eof:
                yield ValueError("truncated: the array is not closed")
                return
            more = f.read(CHUNK)
            if not more:
                eof = True
                continue
            # Rescan a cut string once more bytes are here.
            pos = m.start() if m is not None else len(buf)
            # Keep only the current element; drop it too (counting) once it passes the limit.
            if oversize or pos - start > max_element_bytes:
                oversize += pos - start
                buf, pos, start = buf[pos:], 0, 0
            else:
                buf, pos, start = buf[start:], pos - start, 0
            buf += more
            continue
        tok = m.group()
        pos = m.end()
        if tok == b'"':
            yield ValueError("truncated inside a string")
            return
        if tok[0] == 0x22:  # a whole string
            continue
        if tok in (b"[", b"{"):
            depth += 1
        elif tok in (b"]", b"}"):
            depth -= 1
            if depth == 0:  # the array's closing bracket
                yield from _element(buf, start, m.start(), oversize, max_element_bytes, last=True)
                rest = buf[pos:] + f.read()
                if rest.strip():
                    yield ValueError("data after the closing bracket of the array")
                return
        elif depth == 1:  # a comma between elements
            yield from _element(buf, start, m.start(), oversize, max_element_bytes, last=False)
            start, oversize = pos, 0


def _element(
    buf: bytes, start: int, end: int, oversize: int, limit: int, last: bool
) -> Iterator[bytes | ElementTooLarge | ValueError]:
    size = oversize + end - start
    if oversize or size > limit:
        yield ElementTooLarge(size)
        return
    element = buf[start:end].strip()
    if element:
        yield element
    elif not last:
        yield ValueError("empty element (two commas in a row)")


def parsed_elements(f: BinaryIO, max_element_bytes: int) -> Iterator[tuple[int, Any, str | None]]:
    """(index, value, None) per element of a top-level array, or (index, None, reason) if it is bad.

    A broken array ends with one last entry saying where it broke.
    """
    for index, item in enumerate(array_elements(f, max_element_bytes)):
        if isinstance(item, ValueError):
            yield index, None, f"invalid JSON array after item {index - 1}: {item}"
            return
        if isinstance(item, ElementTooLarge):
            yield (
                index,
                None,
                f"element of {item.size} bytes is larger than max_record_bytes ({max_element_bytes})",
            )
        else:
            try:
                yield index, orjson.loads(item), None
            except orjson.JSONDecodeError as e:
                yield index, None, json_error(e)
