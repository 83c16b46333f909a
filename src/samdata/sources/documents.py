"""Documents (saved pages, notes, PDFs, web archives) as training text: what every document adapter
shares.

A document's prose is cut into chunks by token count on paragraph boundaries (a fenced code block
is one paragraph, never cut); each chunk is a text example (one assistant turn, trained whole:
mlx-lm's and TRL's `{"text"}` rows) whose locator names the chunk and its place in the document.
With the source option `qa = true`, a document with a real question/answer structure (an FAQ, `Q:`
/`A:` notes) becomes question/answer pairs instead; nothing is ever invented to make one.

Source options read here: `chunk_tokens` (default 1024), `min_chunk_tokens` (a document shorter
than this is skipped, default 8), `qa`, `url_prefix` with `url_base` (set by ingest from the
source's settings: a mirrored folder's file is at url_prefix + its path under the folder),
`license`.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from samdata.formats.container import open_content
from samdata.model import Example, InvalidExample, Message
from samdata.sources import Context, Produced, Skipped

DEFAULT_CHUNK_TOKENS = 1024
DEFAULT_MIN_TOKENS = 8

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLANK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+")


def require(module: str, extra: str = "documents") -> Any:
    """Import an optional library, or fail with what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(f"{module} is not installed: pip install 'samdata[{extra}]'") from e


def token_counter(ctx: Context) -> Callable[[str], int]:
    """The tokenizer curate counts with (the bundled Qwen2.5 BPE unless a source says otherwise)."""
    from samdata.curate.tokens import DEFAULT_TOKENIZER, encoder

    return encoder(str(ctx.options.get("tokenizer", DEFAULT_TOKENIZER)))


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph: text between blank lines, a fenced code block whole."""
    spans: list[tuple[int, int]] = []
    pos, n = 0, len(text)
    start: int | None = None
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        end = pos + len(line)
        stripped = line.strip()
        m = _FENCE.match(line)
        if fence is not None:
            if (
                m
                and m.group(1)[0] == fence[0]
                and len(m.group(1)) >= len(fence)
                and not line[m.end() :].strip()
            ):
                fence = None
        elif m:
            fence = m.group(1)
            if start is None:
                start = pos
        elif not stripped:
            if start is not None:
                spans.append((start, pos))
                start = None
            pos = end
            continue
        if start is None:
            start = pos
        pos = end
    if start is not None and start < n:
        spans.append((start, n))
    return [(a, _rstrip_end(text, a, b)) for a, b in spans if text[a:b].strip()]


def _rstrip_end(text: str, a: int, b: int) -> int:
    while b > a and text[b - 1] in " \t\r\n":
        b -= 1
    return b


def _pieces(text: str, a: int, b: int, max_tokens: int, count: Callable[[str], int]) -> list[tuple[int, int]]:
    """A paragraph longer than a chunk, cut at line ends, else sentence ends, else words."""
    for splitter in (re.compile(r"\n"), _SENTENCE_END, re.compile(r"\s+")):
        cuts = [m.end() for m in splitter.finditer(text, a, b) if m.end() < b]
        if cuts:
            return _pack(
                text,
                [(s, e) for s, e in zip([a, *cuts], [*cuts, b], strict=True) if e > s],
                max_tokens,
                count,
                split=False,
            )
    return [(a, b)]


def _pack(
    text: str,
    units: Sequence[tuple[int, int]],
    max_tokens: int,
    count: Callable[[str], int],
    split: bool = True,
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    cur_tokens = 0
    for a, b in units:
        n = count(text[a:b])
        if n > max_tokens and split and not _FENCE.match(text[a : a + 32]):
            if cur is not None:
                out.append(cur)
                cur, cur_tokens = None, 0
            out.extend(_pieces(text, a, b, max_tokens, count))
            continue
        if cur is not None and cur_tokens + n + 1 > max_tokens:
            out.append(cur)
            cur, cur_tokens = None, 0
        cur = (a, b) if cur is None else (cur[0], b)
        cur_tokens += n + (1 if cur_tokens else 0)
    if cur is not None:
        out.append(cur)
    return [(s, _rstrip_end(text, s, e)) for s, e in out if text[s:e].strip()]


def chunk_spans(text: str, max_tokens: int, count: Callable[[str], int]) -> list[tuple[int, int]]:
    """(start, end) of each chunk of `text`: whole paragraphs packed up to `max_tokens` tokens; a
    longer paragraph is cut at line, sentence or word ends; a code block is never cut."""
    return _pack(text, paragraphs(text), max_tokens, count)


def chunks(
    fmt: str,
    text: str,
    ctx: Context,
    ids: dict[str, Any],
    meta: dict[str, Any],
    *,
    first: bool = True,
    offset: int = 0,
) -> Iterator[Produced | Skipped]:
    """Text examples of one document (or one page of it) of format `fmt`. `ids` locate the document; each chunk adds
    `chunk` (its number) and `chars` (its range in the document's text, from `offset`). The first
    chunk accounts for the record (`first=False`: a sibling did). A document too short to train
    on is one `Skipped` record."""
    count = token_counter(ctx)
    max_tokens = int(ctx.options.get("chunk_tokens", DEFAULT_CHUNK_TOKENS))
    min_tokens = int(ctx.options.get("min_chunk_tokens", DEFAULT_MIN_TOKENS))
    spans = chunk_spans(text, max_tokens, count)
    if not spans or count(text[spans[0][0] : spans[-1][1]]) < min_tokens:
        yield Skipped(f"{fmt}: no text to train on (under {min_tokens} tokens)", 1 if first else 0)
        return
    for i, (a, b) in enumerate(spans):
        yield Produced(
            Example("sft", [Message("assistant", text[a:b])]),
            dict(meta),
            {**ids, "chunk": i, "chars": [a + offset, b + offset]},
            records=1 if first and i == 0 else 0,
        )


def qa_examples(
    pairs: Sequence[tuple[str, str]], ids: dict[str, Any], meta: dict[str, Any], *, first: bool = True
) -> Iterator[Produced]:
    """One SFT example per question/answer pair found in a document (never made up)."""
    for i, (q, a) in enumerate(pairs):
        yield Produced(
            Example("sft", [Message("user", q.strip()), Message("assistant", a.strip())]),
            {**meta, "qa": True},
            {**ids, "pair": i},
            records=1 if first and i == 0 else 0,
        )


_QA_LINE = re.compile(r"^\s*(?:[*_]{0,2})(Q|Question|A|Answer)\s*[:.)](?:[*_]{0,2})\s?(.*)$", re.IGNORECASE)


def qa_pairs(text: str) -> list[tuple[str, str]]:
    """Question/answer pairs written as such in notes: `Q:`/`A:` (or `Question:`/`Answer:`) lines,
    each part running until the next marker; Markdown headings that end in `?` with the text under
    them. Fewer than two pairs is not an FAQ: nothing."""
    pairs: list[tuple[str, str]] = []
    role: str | None = None
    q: list[str] = []
    a: list[str] = []

    def flush() -> None:
        if q and a and "".join(q).strip() and "".join(a).strip():
            pairs.append(("\n".join(q).strip(), "\n".join(a).strip()))

    for line in text.splitlines():
        m = _QA_LINE.match(line)
        if m:
            kind = m.group(1)[0].upper()
            if kind == "Q":
                flush()
                q, a, role = [m.group(2)], [], "Q"
            elif role in ("Q", "A"):
                a.append(m.group(2))
                role = "A"
            continue
        if role == "Q":
            q.append(line)
        elif role == "A":
            a.append(line)
    flush()
    if len(pairs) >= 2:
        return pairs
    return heading_questions(text)


_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def heading_questions(text: str) -> list[tuple[str, str]]:
    """Markdown sections whose heading is a question: (heading, the text under it)."""
    heads = list(_HEADING.finditer(text))
    pairs = []
    for i, m in enumerate(heads):
        title = m.group(1).strip()
        body = text[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)].strip()
        if title.endswith("?") and body:
            pairs.append((title, body))
    return pairs if len(pairs) >= 2 else []


def read_whole(ctx: Context, limit: int) -> bytes:
    """A document's content through its compression, at most `limit` + 1 bytes (longer than
    `limit`: the file is over it). A compressed stream cut short raises `StreamError`: one more
    read after its last bytes finds the break."""
    with open_content(ctx.path, ctx.compression, ctx.max_expansion) as f:
        data = bytes(f.read(limit + 1))
        if len(data) <= limit:
            f.read(1)
    return data


def file_url(ctx: Context) -> str | None:
    """Where a file of a mirrored folder was on the web: `url_prefix` + its path under the source's
    folder (URL-quoted), or None without a prefix."""
    prefix = ctx.options.get("url_prefix")
    if not prefix:
        return None
    base = ctx.options.get("url_base")
    rel = ctx.path.name
    if base and ctx.path.is_relative_to(base):
        rel = ctx.path.relative_to(base).as_posix()
    return str(prefix).rstrip("/") + "/" + urllib.parse.quote(rel)


def document_meta(ctx: Context, **found: Any) -> dict[str, Any]:
    """Labels every example of a document carries: what the adapter found (title, url, language,
    dates), none of them empty, and the source's licence."""
    meta = {k: v for k, v in found.items() if v not in (None, "", [])}
    if ctx.options.get("license"):
        meta["license"] = ctx.options["license"]
    return meta


def require_license(ctx: Context, fmt: str) -> None:
    """Web content is read only under a licence the owner stated (exports list it)."""
    if not ctx.options.get("license"):
        raise InvalidExample(
            f'web content ({fmt}) needs the source\'s license setting, e.g. license = "CC-BY-4.0"'
            ' (or "all-rights-reserved" for pages kept for private use)'
        )
