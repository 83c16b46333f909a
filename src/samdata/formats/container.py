"""What a file is made of, from its first bytes: a probed binary kind, a compressed stream, or text
that is one JSON document, JSON lines, or neither. Shared by scan and ingest, never by file name.

Compressed files (gzip, zstd, bz2, xz) are opened as streams of their decompressed bytes; the stream
refuses to expand past `max_expansion` times the compressed bytes read (once past a floor, so small
files never trip it), which stops a decompression bomb without a size limit on honest backups.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from samdata.formats import probes

try:  # Python 3.14 ships the module the backport copies
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd

HEAD_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_CONTROL = bytes(c for c in range(32) if c not in b"\t\n\r\f\b")
# Decompressed bytes below this are never called a bomb, whatever the ratio.
EXPANSION_FLOOR = 256 << 20

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
)
COMPRESSIONS = frozenset(name for _, name in _MAGIC)
_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    lzma.LZMAError,
    zstd.ZstdError,
)


def compression_of(head: bytes) -> str | None:
    """The compression a file's first bytes announce, if any."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


class StreamError(Exception):
    """A compressed stream that cannot be read on: cut short, damaged, or expanding like a bomb."""


class _Counting:
    """The raw file under a decompressor: counts (and optionally hashes) the bytes it hands out."""

    def __init__(self, f: BinaryIO, hasher: Any = None) -> None:
        self.f, self.hasher, self.count = f, hasher, 0

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count += len(data)
        if self.hasher is not None:
            self.hasher.update(data)
        return data

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass  # the opener owns the file

    @property
    def closed(self) -> bool:
        return self.f.closed


class DecompressedStream:
    """Read-only view of a compressed file's content, with the bomb guard and one error type.

    `seek` forward works (it reads and discards), which is how a resumed ingest reaches its offset.
    """

    def __init__(self, raw: _Counting, inner: Any, kind: str, max_expansion: float) -> None:
        self.raw, self.inner, self.kind, self.max_expansion = raw, inner, kind, max_expansion
        self.pos = 0
        self.failed: StreamError | None = None  # raised once the bytes before the break are handed out

    def read(self, n: int = -1) -> bytes:
        if self.failed is not None:
            raise self.failed
        out: list[bytes] = []
        got = 0
        # Small reads, so that a stream breaking mid-way still hands out every byte before the break.
        while n < 0 or got < n:
            try:
                data = self.inner.read1(65536 if n < 0 else min(65536, n - got))
            except _ERRORS as e:
                self.failed = StreamError(
                    f"{self.kind} stream damaged or cut short after {self.pos + got} bytes: {e}"
                )
                break
            if not data:
                break
            out.append(data)
            got += len(data)
            limit = self.max_expansion * self.raw.count
            if self.max_expansion and self.pos + got > EXPANSION_FLOOR and self.pos + got > limit:
                self.failed = StreamError(
                    f"{self.kind} stream expands more than {self.max_expansion:g}x ({self.pos + got} bytes from"
                    f" {self.raw.count}): refused as a possible decompression bomb (raise max_expansion to read it)"
                )
                break
        self.pos += got
        if not out and self.failed is not None:
            raise self.failed
        return b"".join(out)

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset < self.pos:
            raise OSError("a decompressed stream only seeks forward from the start")
        while self.pos < offset:
            if not self.read(min(offset - self.pos, 1 << 20)):
                break
        return self.pos

    def tell(self) -> int:
        return self.pos


_OPENERS: dict[str, Any] = {
    "gzip": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
    "zstd": lambda raw: zstd.ZstdFile(raw, "rb"),
    "bz2": lambda raw: bz2.BZ2File(raw, "rb"),
    "xz": lambda raw: lzma.LZMAFile(raw, "rb"),  # noqa: SIM115 - the stream outlives this table
}


def decompressed(f: BinaryIO, kind: str, max_expansion: float, hasher: Any = None) -> DecompressedStream:
    """The decompressed content of `f` (positioned at its start); `hasher` sees the raw bytes."""
    opener = _OPENERS.get(kind)
    if opener is None:
        raise ValueError(f"unknown compression {kind!r}")
    raw = _Counting(f, hasher)
    inner = opener(raw)
    return DecompressedStream(raw, inner, kind, max_expansion)


@contextlib.contextmanager
def open_content(path: Path | str, compression: str | None, max_expansion: float) -> Iterator[Any]:
    """A binary reader of a file's content: the file itself, or its decompressed stream."""
    with open(path, "rb") as f:
        yield decompressed(f, compression, max_expansion) if compression else f


def content_head(path: Path | str, compression: str | None, max_expansion: float) -> bytes:
    """The first HEAD_BYTES of a file's content (decompressed), or b"" if they cannot be read."""
    with open_content(path, compression, max_expansion) as f:
        try:
            return bytes(f.read(HEAD_BYTES))
        except StreamError:
            return b""


class Prefixed:
    """A reader that hands out `head` first, then the rest of `f` (for streams that cannot seek back)."""

    def __init__(self, head: bytes, f: Any) -> None:
        self.head, self.f = head, f

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.f.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return bytes(self.f.read(n))


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or more than 5 % undecodable bytes or control characters: not text.

    A few bad bytes (a Latin-1 name in a JSONL) leave a file text, so its lines get counted.
    """
    if b"\x00" in head:
        return True
    text = head.decode("utf-8", "replace")
    bad = text.count("\ufffd") + sum(head.count(c) for c in _CONTROL)
    return bad > 0.05 * len(head)


def _json_value(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def _jsonl_lines(head: bytes) -> int:
    """How many whole lines of the head are JSON objects (the last, maybe cut, line not counted)."""
    lines = head.split(b"\n")[:-1]
    return sum(1 for ln in lines[:200] if ln.strip()[:1] == b"{" and isinstance(_json_value(ln), dict))


def _is_jsonl(text_head: bytes) -> bool:
    """Decide JSONL vs one JSON document for content that starts with `{` or `[`."""
    lines = text_head.split(b"\n")
    if len(lines) == 1:
        # One line: an array is a JSON document; an object is parsed as one JSONL record.
        return text_head[:1] == b"{"
    first = lines[0].strip()
    if first in (b"{", b"["):
        return False  # a pretty-printed document; no JSONL line is a bare bracket
    if text_head[:1] == b"[":
        # A stray array on line 1 of a JSONL file: the lines after it are objects of their own.
        return _json_value(first) is not None and _jsonl_lines(b"\n".join(lines[1:])) > 0
    # A damaged first line must not turn a JSONL file into one broken document: look further.
    if _jsonl_lines(text_head):
        return True
    # Pretty-printed documents end their first line mid-structure.
    return not first.endswith((b"{", b"[", b",", b":"))


def tail_says_jsonl(f: BinaryIO) -> bool:
    """For a file whose head looks binary: do its last 64 KB hold JSON lines? (A long binary line
    at the top must not decide for the lines after it.) Leaves `f` where it was."""
    pos = f.tell()
    size = f.seek(0, 2)
    if size <= HEAD_BYTES:
        f.seek(pos)
        return False
    f.seek(size - HEAD_BYTES)
    tail = f.read(HEAD_BYTES)
    f.seek(pos)
    lines = tail.split(b"\n")[1:]  # the first piece may be cut
    return sum(1 for ln in lines if ln.strip()[:1] == b"{" and isinstance(_json_value(ln), dict)) >= 2


@dataclass(frozen=True)
class Container:
    """What a file holds: `kind` is a probed binary kind, or `empty`, `binary`, `json`, `jsonl`,
    `text`; `compression` names the stream it is wrapped in, if any."""

    kind: str
    compression: str | None = None


# A page as browsers save it: optional XML declaration and comments (`<!-- saved from url=... -->`),
# then a doctype or one of the document's first elements.
_HTML = re.compile(
    rb"(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|title)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)


def container_of(head: bytes) -> str:
    """What the first bytes of (decompressed) content say it is: a probed binary kind, or
    `empty`, `binary`, `json` (one document), `jsonl`, `warc`, `html`, `text`.

    Lines win over noise: content whose lines are JSON objects is JSONL even when a line of binary
    bytes or a NUL sits among them, so one bad line is one bad record, not a lost file.
    """
    binary_kind = probes.sniff_binary(head)
    if binary_kind:
        return binary_kind
    if not head:
        return "empty"
    text_head = head.removeprefix(_BOM).lstrip()
    if text_head.startswith(b"WARC/"):
        return "warc"
    if _HTML.match(text_head[:4096]):
        return "html"
    first = text_head[:1]
    if first in (b"[", b"{"):
        return "jsonl" if _is_jsonl(text_head) else "json"
    if _jsonl_lines(text_head):
        return "jsonl"
    if _looks_binary(head):
        return "binary"
    return "text"


DOCUMENT_KINDS = frozenset({"html", "warc", "pdf"})  # containers that are their own format
NOTE_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd", ".txt", ".text"})


MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
_COMPRESSED_SUFFIXES = frozenset({".gz", ".zst", ".bz2", ".xz"})


def document_format(kind: str, path: Path | str) -> str | None:
    """The document format of a file of this container, if it is one: a saved page, a web archive,
    a PDF, or a note (text named .md or .txt, also compressed: notes.md.gz). A Markdown note that
    opens with `[` or `{` (a link, a task list, a template) sniffs as JSON and is a note still; a
    .txt file of JSON lines stays data."""
    if kind in DOCUMENT_KINDS:
        return kind
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED_SUFFIXES:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix in MARKDOWN_SUFFIXES and kind in ("text", "json", "jsonl"):
        return "markdown"
    if kind == "text" and suffix in NOTE_SUFFIXES:
        return "markdown"
    return None


def sniff(path: Path | str, max_expansion: float) -> tuple[Container, bytes]:
    """The container of a file and the head of its (decompressed) content."""
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    compression = compression_of(head)
    if compression is None:
        kind = container_of(head)
        if kind == "binary":
            with open(path, "rb") as f:
                kind = "jsonl" if tail_says_jsonl(f) else kind
        return Container(kind), head
    inner = content_head(path, compression, max_expansion)
    kind = container_of(inner) if inner else "binary"
    if kind in probes.BINARY_KINDS and kind != "pdf":
        kind = "binary"  # a compressed database or archive is not read through (a PDF is, into memory)
    return Container(kind, compression), inner
