"""Notes (Markdown, and plain-text `.txt` notes) as training text: one record per file.

The note's body is cut into text chunks on paragraph boundaries (`documents.chunks`; a fenced code
block stays whole, blank lines and all). Each chunk's locator gives its place twice: `chars`, the
range in the note's text (decoded, byte order mark left out, line ends as `\\n`), and `bytes`, the
range in the file's content as stored, for tools that seek.

Front matter, as static-site generators and Obsidian read it: YAML between `---` lines or TOML
between `+++` lines at the very top. Its `title`, `author`, `date`, `tags`, `url`, `license` and
`language` (or `lang`) become labels, values made JSON-safe (dates as ISO strings); the rest of it is
not text to train on and is left out. A block that does not begin with a `key:` (or `key =`) line is
not front matter but a thematic break and stays text; one that does but does not parse as a
mapping is left out all the same and counted ("markdown: front matter not YAML" / "... not TOML"),
so a typo costs the labels, never the note. Without a front-matter title, the first `# ` heading
is the title; without a url, a mirrored folder's (`url_prefix`).

With the source option `qa = true`, a note written as questions and answers (`Q:`/`A:` lines,
question headings: `documents.qa_pairs`) becomes one question/answer pair per pair instead; a
note without that structure stays text and is counted
("markdown: qa asked, no question/answer structure").

The file is read whole (through its compression), up to the ingest setting `max_record_bytes`: a
note is one record. Bytes that are not UTF-8 are replaced (U+FFFD) and counted
("markdown: invalid UTF-8 bytes replaced").

Source options read here: `qa`, and those of `samdata.sources.documents` (`chunk_tokens`,
`min_chunk_tokens`, `tokenizer`, `url_prefix`, `license`).
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
import tomllib
from collections.abc import Iterator
from typing import Any

from samdata.formats.container import StreamError
from samdata.model import InvalidExample
from samdata.sources import Adapter, Context, Produced, Skipped
from samdata.sources import documents as docs

_BOM = b"\xef\xbb\xbf"
_ESCAPED = re.compile(r"[\udc80-\udcff]")  # bytes surrogateescape kept from invalid UTF-8
_FRONT = {"---": ("yaml", ("---", "...")), "+++": ("toml", ("+++",))}
_YAML_KEY = re.compile(r"^[A-Za-z_][\w .-]*:(?:\s|$)")
_TOML_KEY = re.compile(r"""^(?:[A-Za-z0-9_."'-]+\s*=|\[)""")
_LABELS = {
    "title": "title",
    "author": "author",
    "date": "date",
    "tags": "tags",
    "url": "url",
    "license": "license",
    "language": "language",
    "lang": "language",
}
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")

NOT_QA = "markdown: qa asked, no question/answer structure"
INVALID_UTF8 = "markdown: invalid UTF-8 bytes replaced"


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Produced | Skipped]]:
    """The note's chunks (or question/answer pairs), one record for the file."""
    data = _read(ctx)
    note = Note(data)
    if note.replaced:
        ctx.drop(INVALID_UTF8, note.replaced)
    start, labels = front_matter(note.text, ctx)
    body = note.text[start:]
    meta = docs.document_meta(
        ctx,
        **{
            **labels,
            "title": labels.get("title") or first_heading(body),
            "url": labels.get("url") or docs.file_url(ctx),
        },
    )
    if _wants_qa(ctx):
        pairs = docs.qa_pairs(body)
        if pairs:
            for out in docs.qa_examples(pairs, {}, meta):
                yield {}, out
            return
        ctx.drop(NOT_QA)
    for out in docs.chunks("markdown", body, ctx, {}, meta, offset=start):
        if isinstance(out, Produced):
            a, b = out.ids["chars"]
            out.ids["bytes"] = [note.byte_offset(a), note.byte_offset(b)]
        yield {}, out


def _read(ctx: Context) -> bytes:
    limit = ctx.max_record_bytes
    try:
        data = docs.read_whole(ctx, limit)
    except StreamError as e:
        raise InvalidExample(str(e)) from e
    if len(data) > limit:
        raise InvalidExample(f"a note over {limit} bytes (the ingest setting max_record_bytes)")
    return bytes(data)


def _wants_qa(ctx: Context) -> bool:
    value = ctx.options.get("qa", False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


class Note:
    """A note's text (BOM off, line ends `\\n`, invalid bytes as U+FFFD) and the way back from a
    char offset in it to a byte offset in the file."""

    def __init__(self, data: bytes) -> None:
        self.bom = len(_BOM) if data.startswith(_BOM) else 0
        try:
            text, invalid = data[self.bom :].decode("utf-8"), False
        except UnicodeDecodeError:
            text, invalid = data[self.bom :].decode("utf-8", "surrogateescape"), True
        # Each "\r\n" becomes "\n": the char at the pair's place in the text had one byte before it.
        self._crs = [m.start() - i for i, m in enumerate(re.finditer("\r\n", text))]
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        # An invalid byte is one char (surrogateescape); as U+FFFD it would count as three bytes.
        self._replaced = [m.start() for m in _ESCAPED.finditer(text)] if invalid else []
        self.text = _ESCAPED.sub("\ufffd", text) if self._replaced else text
        self._cursor = (0, 0)  # (char offset, UTF-8 length of the text before it)

    @property
    def replaced(self) -> int:
        """Bytes that were not UTF-8."""
        return len(self._replaced)

    def byte_offset(self, char: int) -> int:
        """Where the text's char offset `char` is in the file's content, in bytes."""
        pos, length = self._cursor
        if char < pos:
            pos, length = 0, 0
        length += len(self.text[pos:char].encode("utf-8"))
        self._cursor = (char, length)
        crs = bisect.bisect_left(self._crs, char)
        replaced = bisect.bisect_left(self._replaced, char)
        return self.bom + length + crs - 2 * replaced


def front_matter(text: str, ctx: Context) -> tuple[int, dict[str, Any]]:
    """Where the body starts (after any front matter) and the labels the front matter gives."""
    fence = text[:3]
    if fence not in _FRONT or text[3:].split("\n", 1)[0].strip():
        return 0, {}
    kind, closers = _FRONT[fence]
    first_line = text.find("\n")
    if first_line < 0:
        return 0, {}
    pos = first_line + 1
    block_start = pos
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if text[pos:end].rstrip() in closers:
            block = text[block_start:pos]
            if not _looks_like_metadata(kind, block):
                return 0, {}
            return _body_start(text, end), _labels(kind, block, ctx)
        pos = end + 1
    return 0, {}  # never closed: a thematic break, not front matter


def _body_start(text: str, closer_end: int) -> int:
    start = min(closer_end + 1, len(text))
    while start < len(text) and text[start] == "\n":
        start += 1
    return start


def _looks_like_metadata(kind: str, block: str) -> bool:
    """Whether a fenced block at the top is front matter: empty, or its first line a key (or a
    comment); prose between two `---` lines is text between thematic breaks."""
    first = next((line.strip() for line in block.splitlines() if line.strip()), "")
    if not first or first.startswith("#"):
        return True
    return bool((_YAML_KEY if kind == "yaml" else _TOML_KEY).match(first))


def _labels(kind: str, block: str, ctx: Context) -> dict[str, Any]:
    parsed = _parse(kind, block)
    if parsed is None:
        ctx.drop(f"markdown: front matter not {kind.upper()}")
        return {}
    labels: dict[str, Any] = {}
    for key, label in _LABELS.items():
        value = _json_safe(parsed.get(key))
        if label == "tags" and isinstance(value, str):
            value = [t.strip() for t in value.split(",") if t.strip()]
        if value not in (None, "", []) and label not in labels:
            labels[label] = value
    return labels


def _parse(kind: str, block: str) -> dict[str, Any] | None:
    if not block.strip():
        return {}
    if kind == "toml":
        try:
            return tomllib.loads(block)
        except (tomllib.TOMLDecodeError, RecursionError):
            return None
    yaml = docs.require("yaml")
    try:
        value = yaml.safe_load(block)
    except (yaml.YAMLError, ValueError, RecursionError):  # a date like 2024-13-45 fails as ValueError
        return None
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


def _json_safe(value: Any) -> Any:
    """A front-matter value as a label: scalars and lists of scalars, dates as ISO strings."""
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        items = [_json_safe(v) for v in value]
        return [v for v in items if isinstance(v, str | int | float | bool) and v != ""]
    return None


def first_heading(body: str) -> str | None:
    """The text of the first level-1 ATX heading outside code blocks."""
    fence: str | None = None
    for line in body.splitlines():
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        h = _H1.match(line)
        if h:
            return h.group(1).strip()
    return None


ADAPTER = Adapter("markdown", 1, "file", convert_file=convert_file)
