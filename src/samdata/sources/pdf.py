"""PDFs (papers, manuals, exported documents) as training text, read page by page with PDFium.

Each page is one record of the file's account, so a 300-page manual accounts for 300 records: a
page with text becomes one or more text chunks (`documents.chunks`, located by
`{"page": n, "chunk": i, "chars": [a, b]}`, pages numbered from 1 as viewers show them); a page
whose only content is images or drawings (a scan without OCR) is skipped as
"pdf: page without a text layer", an empty page as "pdf: blank page"; a page PDFium cannot load is
one quarantined page. A file that cannot be opened at all (encrypted with a user password,
damaged, not a PDF) is quarantined whole, with the reason.

Chunks never span pages. Merging short pages into document-level chunks would save a few short
examples but cost what the account promises: one page, one record, one locator that points at
the page. Pages are rarely longer than a chunk (an A4 page of prose is ~500-800 tokens) and a page
under `min_chunk_tokens` (a title page, "This page intentionally left blank") is reported as
skipped, never silently merged away; the price is that a paragraph running over a page break is
cut there.

The text is what the page shows, as PDFium lays it out: its lines in reading order, a blank line
where the layout leaves more vertical space than between the lines of a block (between paragraphs,
after a heading, at a column change), so chunks break between paragraphs. PDFium itself joins a
word hyphenated at a line end and marks the hyphen; it is dropped only where the joined word also
appears whole in the document so far (so "exam-/ple" becomes "example" where "example" occurs),
else the hyphen and line break stay as printed ("well-/known" may be a compound). Running heads
and feet are not text of the page: a line at a page's top or bottom that is a page number
("12", "Page 3/10", "- iv -"), or that the pages around repeat in the same place, is left out
and counted ("pdf: page number", "pdf: running header or footer"); the rule is in
`_without_running_lines`.

Memory stays flat: PDFium loads one page at a time (an uncompressed file is read from disk as
needed; a gzip-compressed one is decompressed into memory, up to `max_pdf_bytes`), and the text
of five pages is held to compare their running lines.

Labels of every chunk: the PDF's Title and Author (its document information), `pages` (the page
count), `url` for a folder mirrored from a site (`url_prefix`), and the source's `license` if it
has one (a licence is not required: a PDF is not web content as such).

Source options read here: `password` (for PDFs encrypted with a user password), `max_pdf_bytes`
(a compressed PDF decompressed beyond this is quarantined; default 512 MB), and those of
`samdata.sources.documents` (`chunk_tokens`, `min_chunk_tokens`, `tokenizer`).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from samdata.model import InvalidExample
from samdata.sources import Adapter, Context, Produced, Rejected, Skipped
from samdata.sources import documents as docs

NO_TEXT_LAYER = "pdf: page without a text layer"
BLANK_PAGE = "pdf: blank page"
DEFAULT_MAX_PDF_BYTES = 512 << 20
MAX_VOCABULARY = 200_000  # words kept to decide hyphen joins: bounds memory on huge documents

# Vertical space between two lines, beyond the page's usual space between lines, that makes the
# second one start a new block, as a share of the usual line height. LibreOffice's default body
# text leaves ~0.5 line heights after a paragraph; a wrapped line leaves none.
_BLOCK_GAP = 0.4
_HYPHEN = "\x02"  # PDFium's mark for a hyphen it took off a line end, joining the word
_JOINED = re.compile(r"(\w+)\x02(\w+)")
_WORD = re.compile(r"\w+")
_CONTROL = re.compile(r"[\x00-\x01\x03-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EDGE = 2  # lines at the top and at the bottom of a page that may be running ones
_NEIGHBOURS = 2  # pages on either side compared (books alternate left and right running heads)
_MAX_RUNNING = 100  # a longer line is text, not a running head
_MIN_RUNNING_ONCE = 16  # a line repeated on one page around only is running from this length
_PAGE_NUMBER = re.compile(
    r"^(?:page\s+|p\.\s*|[-–—]\s*)?(?:\d{1,5}|[ivxlcdm]{1,7})(?:\s*(?:/|of)\s*\d{1,5})?(?:\s*[-–—])?$",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d+")
Box = tuple[float, float, float, float]  # left, bottom, right, top in PDF units (y grows upwards)


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Produced | Rejected | Skipped]]:
    """One outcome (or a page's chunks) per page of the PDF."""
    pdfium = docs.require("pypdfium2")
    doc = _open(pdfium, ctx)
    try:
        meta = docs.document_meta(
            ctx,
            title=_info(doc, "Title"),
            author=_info(doc, "Author"),
            pages=len(doc),
            url=docs.file_url(ctx),
        )
        for page in _without_running_lines(_pages(pdfium, doc), ctx):
            ids = {"page": page.number}
            if page.outcome is not None:
                yield ids, page.outcome
            elif not page.text.strip():
                yield ids, Skipped(NO_TEXT_LAYER if page.draws else BLANK_PAGE)
            else:
                for out in docs.chunks("pdf", page.text, ctx, ids, meta):
                    yield ids, out
    finally:
        doc.close()


@dataclass(slots=True)
class Page:
    """One page as read: its text, or the outcome that stands for it (a page that failed)."""

    number: int  # from 1, as viewers number pages
    text: str = ""
    outcome: Rejected | None = None
    draws: bool = False  # images or drawings besides text (on a page with little or no text)
    top: tuple[str, ...] = ()  # its first and last lines as read, to recognise running ones
    bottom: tuple[str, ...] = ()


def _open(pdfium: Any, ctx: Context) -> Any:
    """The opened document, or InvalidExample saying why the file cannot be read at all."""
    password = ctx.options.get("password")
    source: Any = ctx.path
    if ctx.compression:
        source = _decompressed(ctx)
    try:
        return pdfium.PdfDocument(source, password=str(password) if password else None)
    except pdfium.PdfiumError as e:
        raise InvalidExample(_open_error(pdfium, e, bool(password))) from e


def _open_error(pdfium: Any, e: Any, had_password: bool) -> str:
    # Ingest puts "file cannot be read as pdf: " before the reason.
    code = getattr(e, "err_code", None)
    if code == pdfium.raw.FPDF_ERR_PASSWORD:
        if had_password:
            return "encrypted (the password option does not open it)"
        return "encrypted (needs a password)"
    if code == pdfium.raw.FPDF_ERR_SECURITY:
        return "encrypted with a security handler PDFium does not support"
    if code == pdfium.raw.FPDF_ERR_SUCCESS:
        # pypdfium2 reports a document of no pages as a failed load with PDFium's "success".
        return "no pages"
    return f"cannot be opened: {e}"


def _decompressed(ctx: Context) -> bytes:
    from samdata.formats.container import StreamError

    limit = int(ctx.options.get("max_pdf_bytes", DEFAULT_MAX_PDF_BYTES))
    try:
        data = docs.read_whole(ctx, limit)
    except StreamError as e:
        raise InvalidExample(str(e)) from e
    if len(data) > limit:
        raise InvalidExample(f"over {limit} bytes decompressed (option max_pdf_bytes)")
    return data


def _info(doc: Any, key: str) -> str | None:
    """A document-information field, without the padding and NULs some writers leave."""
    value = _CONTROL.sub("", doc.get_metadata_value(key) or "").strip()
    return value or None


def _pages(pdfium: Any, doc: Any) -> Iterator[Page]:
    """Each page's text, one page loaded at a time."""
    vocabulary: set[str] = set()
    for index in range(len(doc)):
        number = index + 1
        try:
            page = doc[index]
        except pdfium.PdfiumError as e:
            yield Page(number, outcome=Rejected(f"pdf: page cannot be loaded ({e})", {"page": number}))
            continue
        try:
            yield _read_page(pdfium, page, number, vocabulary)
        finally:
            page.close()


def _read_page(pdfium: Any, page: Any, number: int, vocabulary: set[str]) -> Page:
    try:
        textpage = page.get_textpage()
        try:
            text = page_text(textpage, vocabulary) if textpage.count_chars() else ""
        finally:
            textpage.close()
    except pdfium.PdfiumError as e:
        return Page(number, outcome=Rejected(f"pdf: page text cannot be read ({e})", {"page": number}))
    lines = [line for line in text.split("\n") if line.strip()]
    draws = len(text) < 400 and _draws(pdfium, page)
    return Page(number, text, None, draws, tuple(lines[:_EDGE]), tuple(lines[::-1][:_EDGE]))


def _draws(pdfium: Any, page: Any) -> bool:
    """Whether the page shows anything besides text (an image, a drawing)."""
    text_type = pdfium.raw.FPDF_PAGEOBJ_TEXT
    return any(obj.type != text_type for obj in page.get_objects(max_depth=1))


def _without_running_lines(pages: Iterator[Page], ctx: Context) -> Iterator[Page]:
    """Pages with their running headers and footers and page numbers taken off: a line at the top
    (or bottom) of a page that is a page number, or that the pages around it repeat at the same
    place (on two of them, or but for its numbers on two; a line of 16 or more characters on
    one). Two pages on either side are looked at, so only five pages are held."""
    window: deque[Page] = deque()
    for page in pages:
        window.append(page)
        if len(window) > _NEIGHBOURS:
            yield _strip_running(window, len(window) - 1 - _NEIGHBOURS, ctx)
        if len(window) > 2 * _NEIGHBOURS:
            window.popleft()
    start = max(0, len(window) - _NEIGHBOURS)
    for k in range(start, len(window)):
        yield _strip_running(window, k, ctx)


def _strip_running(window: deque[Page], k: int, ctx: Context) -> Page:
    page = window[k]
    if page.outcome is not None or not page.text:
        return page
    around = [
        window[j] for j in range(max(0, k - _NEIGHBOURS), min(len(window), k + _NEIGHBOURS + 1)) if j != k
    ]
    lines = page.text.split("\n")
    top = _running(lines, [p.top for p in around], ctx)
    bottom = _running(lines[top:][::-1], [p.bottom for p in around], ctx)
    if top or bottom:
        page.text = "\n".join(lines[top : len(lines) - bottom]).strip("\n")
    return page


def _running(lines: list[str], edges: list[tuple[str, ...]], ctx: Context) -> int:
    """How many of the first lines (blank ones included) are running lines, given the same edge's
    lines on the pages around."""
    exact = Counter(line for edge in edges for line in set(edge))
    masked = Counter(m for edge in edges for m in {_masked(line) for line in edge})
    cut = seen = 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if seen == _EDGE or len(line) > _MAX_RUNNING:
            break
        seen += 1
        if _PAGE_NUMBER.match(line.strip()):
            ctx.drop("pdf: page number")
        elif _repeated(line, exact[line], masked[_masked(line)]):
            ctx.drop("pdf: running header or footer")
        else:
            break
        cut = i + 1
    return cut


def _repeated(line: str, exact: int, masked: int) -> bool:
    """A running line: on two pages around, or but for its numbers; a line long enough not to
    repeat by chance (a paragraph's last word may) on one."""
    return exact >= 2 or masked >= 2 or (exact == 1 and len(line.strip()) >= _MIN_RUNNING_ONCE)


def _masked(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.lower().split()))


def page_text(textpage: Any, vocabulary: set[str] | None = None) -> str:
    """The text of a page as it shows: PDFium's lines, a blank line between blocks, hyphens PDFium
    took off line ends put back unless the joined word is known (`vocabulary`: words seen in the
    document so far, grown by this page's)."""
    raw = textpage.get_text_bounded()
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    starts = _block_starts(textpage, len(lines))
    parts: list[str] = []
    for i, line in enumerate(lines):
        if i:
            parts.append("\n\n" if i in starts else "\n")
        parts.append(line)
    text = _CONTROL.sub("", "".join(parts)).strip("\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return _rejoin_hyphens(text, vocabulary if vocabulary is not None else set())


def _rejoin_hyphens(text: str, vocabulary: set[str]) -> str:
    if len(vocabulary) < MAX_VOCABULARY:
        vocabulary.update(_WORD.findall(text.replace(_HYPHEN, " ").lower()))
    if _HYPHEN not in text:
        return text

    def join(m: re.Match[str]) -> str:
        word = m.group(1) + m.group(2)
        return word if word.lower() in vocabulary else f"{m.group(1)}-\n{m.group(2)}"

    return _JOINED.sub(join, text).replace(_HYPHEN, "-\n")


def _block_starts(textpage: Any, n_lines: int) -> set[int]:
    """Numbers of the lines that begin a new block: more vertical space above them than the page
    usually leaves between lines, or placed above the line before (a new column)."""
    if n_lines < 3:
        return set()
    # Geometry comes from PDFium's char list, which get_text_range indexes; its lines are the same
    # as get_text_bounded's unless some char is outside the page box (then no blocks are guessed).
    view = textpage.get_text_range()
    spans = _line_spans(view)
    if len(spans) != n_lines:
        return set()
    raw = docs.require("pypdfium2.raw")
    boxes = [_line_boxes(raw, textpage, view, a, b) for a, b in spans]
    pairs: list[tuple[int, Box, Box]] = []  # (line, last char of the line above, first char of it)
    heights: list[float] = []
    for i, here in enumerate(boxes):
        if here is None:
            continue
        first, _ = here
        if first[3] > first[1]:
            heights.append(first[3] - first[1])
        above = boxes[i - 1] if i else None
        if above is not None:
            pairs.append((i, above[1], first))
    if not heights or len(pairs) < 2:
        return set()
    height = statistics.median(heights)
    gaps = [prev[1] - cur[3] for _, prev, cur in pairs]
    # The space a block's lines leave between them is the page's smallest (lines side by side, as
    # in table rows, overlap by much more and say nothing about it).
    stacked = [g for g in gaps if g > -0.5 * height]
    if not stacked:
        return set()
    usual = min(stacked)
    return {
        i
        for (i, prev, cur), gap in zip(pairs, gaps, strict=True)
        if cur[1] > prev[3] or gap > usual + _BLOCK_GAP * height
    }


def _line_spans(view: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in re.finditer(r"\r\n|\r|\n", view):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(view)))
    return spans


def _line_boxes(raw: Any, textpage: Any, view: str, a: int, b: int) -> tuple[Box, Box] | None:
    """The font boxes of a line's first and last visible chars (a hyphen-joined line ends on the
    line below its start, so the space above the next line is measured from its last char)."""
    while a < b and view[a].isspace():
        a += 1
    while b > a and view[b - 1].isspace():
        b -= 1
    if a >= b:
        return None
    first = raw.FPDFText_GetCharIndexFromTextIndex(textpage, a)
    last = raw.FPDFText_GetCharIndexFromTextIndex(textpage, b - 1)
    if first < 0 or last < 0:
        return None
    return textpage.get_charbox(first, loose=True), textpage.get_charbox(last, loose=True)


ADAPTER = Adapter("pdf", 1, "file", convert_file=convert_file)
