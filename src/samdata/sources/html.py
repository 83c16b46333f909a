"""Saved web pages (a browser's "Save page as", SingleFile, a wget mirror): the page's main text.

trafilatura finds the main content (navigation, footers, cookie banners and sidebars left out);
its content tree is written out here as Markdown-like text: headings, lists and quotes as
Markdown, a code block fenced with its lines, blank lines and indentation intact, and prose
without Markdown escapes (trafilatura's own text output drops blank lines inside code and
escapes `_`, `*`, `[` in prose: neither is what the page shows). The text is then cut into
chunks (see `samdata.sources.documents`).

Labels: `title`, `url` (the page's `<link rel=canonical>`, else `og:url`, else the address the
browser noted when saving: `<!-- saved from url=(NNNN)URL -->` or SingleFile's `url:` header,
else `url_prefix` + the file's path), `language` (`<html lang>`), `date` (when trafilatura finds
one), `license`.

Source options: `license` (required: web content), `url_prefix`, `chunk_tokens`,
`min_chunk_tokens`, `qa` (an FAQ page, from schema.org FAQPage data, `<details><summary>`,
`<dl>` or question headings, becomes question/answer pairs).

The page is read whole (it is one record), up to `max_record_bytes`. `read_or_reject` and
`page_outcomes` are the one extraction path, shared with the WARC adapter.
"""

from __future__ import annotations

import codecs
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from samdata.formats.container import StreamError
from samdata.sources import Adapter, Context, Produced, Rejected, Skipped
from samdata.sources.documents import (
    chunks,
    document_meta,
    file_url,
    heading_questions,
    qa_examples,
    read_whole,
    require,
    require_license,
)

HTML_MEDIA_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_PRESCAN_BYTES = 8192  # browsers look for the charset in the first 1024; saved pages can be looser
_META_CHARSET = re.compile(
    rb"""<meta\s[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)|<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9_:.+-]+)""",
    re.IGNORECASE,
)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")
# Chrome and Internet Explorer mark a saved page with where it came from (the "mark of the web").
_SAVED_FROM = re.compile(r"<!--\s*saved from url=\(\d+\)(\S+?)\s*-->", re.IGNORECASE)
_SINGLEFILE = re.compile(r"<!--\s*Page saved with SingleFile\s.*?^\s*url:\s*(\S+)", re.DOTALL | re.MULTILINE)
_HEAD_CHARS = 65536  # where those comments sit: before or right after `<html>`
_SPACE = re.compile(r"\s+")
_QUESTION_END = ("?", "？")  # the full-width mark ends CJK questions


@dataclass(slots=True)
class Page:
    """What a page says about itself, and its main text ("" when extraction finds none)."""

    text: str
    title: str | None = None
    language: str | None = None
    date: str | None = None
    canonical: str | None = None
    og_url: str | None = None
    saved_from: str | None = None
    qa: list[tuple[str, str]] = field(default_factory=list)


# -- decoding --------------------------------------------------------------------------------


def _codec(name: str | bytes | None) -> str | None:
    """A Python codec for a declared charset, with the browsers' aliases (latin-1 and ASCII are
    read as windows-1252; a UTF-16 label found in ASCII-compatible bytes means UTF-8)."""
    if not name:
        return None
    label = name.decode("ascii", "replace") if isinstance(name, bytes) else name
    try:
        found = codecs.lookup(label.strip().strip("\"'")).name
    except LookupError:
        return None
    if found in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    if found.startswith("utf-16"):
        return "utf-8"
    return found


def decode_html(data: bytes, declared: str | None = None) -> str:
    """The page's text: its BOM's encoding, else the charset the server declared (`declared`),
    else the one its `<meta>` or XML declaration names, else UTF-8; bad bytes are replaced."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, "replace")
    codec = _codec(declared)
    if codec is None:
        m = _META_CHARSET.search(data[:_PRESCAN_BYTES])
        codec = _codec(m and (m.group(1) or m.group(2)))
    return data.decode(codec or "utf-8", "replace")


def charset_of(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type header value."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


# -- what the page says about itself -----------------------------------------------------------


def _clean(text: str | None) -> str:
    return _SPACE.sub(" ", text or "").strip()


def _first(tree: Any, xpath: str) -> str | None:
    for value in tree.xpath(xpath):
        if _clean(value):
            return _clean(value)
    return None


def _absolute(url: str | None, base: str | None) -> str | None:
    """A URL the page gives, made absolute against `base`; None if it stays relative."""
    if not url:
        return None
    joined = urllib.parse.urljoin(base, url) if base else url
    return joined if urllib.parse.urlsplit(joined).scheme in ("http", "https") else None


def _canonical(tree: Any) -> str | None:
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and _clean(link.get("href")):
            return _clean(link.get("href"))
    return None


def _saved_from(head: str) -> str | None:
    for pattern in (_SAVED_FROM, _SINGLEFILE):
        m = pattern.search(head)
        if m and urllib.parse.urlsplit(m.group(1)).scheme in ("http", "https"):
            return m.group(1)
    return None


def _language(tree: Any) -> str | None:
    root = tree.getroottree().getroot()
    lang = root.get("lang") or root.get("xml:lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    return _clean(lang) or _first(
        tree,
        "//meta[translate(@http-equiv,'CONTENT-LANGUAGE','content-language')='content-language']/@content",
    )


# -- question/answer structure -------------------------------------------------------------------


def _text_blocks(elements: Any) -> str:
    """Text of some elements, one paragraph each, whitespace collapsed."""
    parts = []
    for el in elements:
        text = _clean(el.text_content() if hasattr(el, "text_content") else str(el))
        if text:
            parts.append(text)
    return "\n\n".join(parts)


def _json_ld_faq(tree: Any) -> list[tuple[str, str]]:
    """Question/answer pairs of schema.org FAQPage data (JSON-LD), answers as plain text."""
    import lxml.html

    pairs = []
    for script in tree.xpath("//script[@type='application/ld+json']"):
        try:
            data = orjson.loads((script.text or "").strip() or "null")
        except orjson.JSONDecodeError:
            continue
        for node in _ld_nodes(data):
            if "FAQPage" not in _types(node):
                continue
            entities = node.get("mainEntity") or []
            for q in entities if isinstance(entities, list) else [entities]:
                if not isinstance(q, dict):
                    continue
                answer = q.get("acceptedAnswer") or q.get("suggestedAnswer")
                answer = answer[0] if isinstance(answer, list) and answer else answer
                text = answer.get("text") if isinstance(answer, dict) else None
                if isinstance(q.get("name"), str) and isinstance(text, str) and text.strip():
                    fragment = lxml.html.fragment_fromstring(text, create_parent="div")
                    blocks = fragment.xpath("./*") or [fragment]
                    pairs.append((_clean(q["name"]), _text_blocks(blocks) or _clean(fragment.text_content())))
    return [(q, a) for q, a in pairs if q and a]


def _ld_nodes(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for item in data:
            yield from _ld_nodes(item)
    elif isinstance(data, dict):
        yield data
        yield from _ld_nodes(data.get("@graph"))


def _types(node: dict[str, Any]) -> list[str]:
    kind = node.get("@type")
    return [kind] if isinstance(kind, str) else [k for k in kind or [] if isinstance(k, str)]


def _details_faq(tree: Any) -> list[tuple[str, str]]:
    pairs = []
    for details in tree.xpath("//details[summary]"):
        question = _clean(details.find("summary").text_content())
        rest = [el for el in details if el.tag != "summary"]
        answer = _text_blocks(rest)
        if question.endswith(_QUESTION_END) and answer:
            pairs.append((question, answer))
    return pairs


def _dl_faq(tree: Any) -> list[tuple[str, str]]:
    pairs = []
    for dt in tree.xpath("//dl/dt"):
        question = _clean(dt.text_content())
        answers = []
        for sibling in dt.itersiblings():
            if sibling.tag != "dd":
                break
            answers.append(sibling)
        answer = _text_blocks(answers)
        if question.endswith(_QUESTION_END) and answer:
            pairs.append((question, answer))
    return pairs


def qa_structure(tree: Any) -> list[tuple[str, str]]:
    """Question/answer pairs the page marks up as such: schema.org FAQPage data, else
    `<details><summary>` or `<dl>` entries whose summary or term is a question (two at least:
    one collapsible question is not an FAQ)."""
    found = _json_ld_faq(tree)
    if found:
        return found
    for finder in (_details_faq, _dl_faq):
        found = finder(tree)
        if len(found) >= 2:
            return found
    return []


# -- trafilatura's content tree as text ---------------------------------------------------------


class _Fence(str):
    """A fenced code block met among inline content: it becomes a block of its own."""


def _segments(el: Any, skip: tuple[str, ...]) -> Iterator[str]:
    """An element's inline content in order: text (emphasis and links as their words, inline code
    in backticks, line breaks kept) and `_Fence` blocks, leaving out children tagged `skip`."""
    yield _SPACE.sub(" ", el.text or "")
    for child in el:
        if child.tag == "lb":
            yield "\n"
        elif child.tag == "code":
            code = "".join(child.itertext())
            if "\n" in code.strip():
                yield _Fence(_fenced(child))
            elif code.strip():
                yield f"`{code.strip()}`"
        elif child.tag not in skip:
            yield from _segments(child, skip)
        yield _SPACE.sub(" ", child.tail or "")


def _tidy(text: str) -> str:
    return "\n".join(re.sub(" {2,}", " ", line.strip()) for line in text.split("\n")).strip()


def _runs(el: Any, skip: tuple[str, ...] = ("graphic",)) -> list[str]:
    """An element's inline content as paragraphs of text and the code blocks between them."""
    out, text = [], []
    for part in _segments(el, skip):
        if isinstance(part, _Fence):
            out += [_tidy("".join(text)), part]
            text = []
        else:
            text.append(part)
    out.append(_tidy("".join(text)))
    return [run for run in out if run]


def _line(el: Any) -> str:
    """An element's content on one line (a heading, a table cell)."""
    return _clean(" ".join(_runs(el)))


def _code_language(el: Any) -> str:
    for node in el.iter():
        for cls in (node.get("class") or "").split():
            for prefix in ("language-", "lang-"):
                if cls.startswith(prefix) and cls[len(prefix) :].isidentifier():
                    return cls[len(prefix) :]
    return ""


def _fenced(el: Any) -> str:
    """A code block fenced, its lines exactly as the page has them (leading and trailing blank
    lines aside); the fence is longer than any backtick run that starts one of its lines."""
    lines = "".join(el.itertext()).expandtabs(8).split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    runs = [len(m.group(1)) for line in lines if (m := re.match(r" {0,3}(`+)", line))]
    fence = "`" * max(3, max(runs, default=0) + 1)
    body = "\n".join(line.rstrip() for line in lines)
    return f"{fence}{_code_language(el)}\n{body}\n{fence}"


_BLOCK_TAGS = frozenset({"head", "p", "list", "code", "quote", "table"})


def _blocks(el: Any, out: list[str]) -> None:
    """Append the text blocks of one element of trafilatura's content tree to `out`."""
    tag = el.tag
    if tag == "head":
        rend = el.get("rend") or "h2"
        text = _line(el)
        if text:
            out.append("#" * (int(rend[1]) if rend[1:2].isdigit() else 2) + " " + text)
    elif tag == "code":
        if "".join(el.itertext()).strip():
            out.append(_fenced(el))
    elif tag == "list":
        lines: list[str] = []
        _list_blocks(el, 0, lines, out)
        if lines:
            out.append("\n".join(lines))
    elif tag == "quote":
        inner: list[str] = []
        if len(el) and all(child.tag in _BLOCK_TAGS for child in el):
            for child in el:
                _blocks(child, inner)
        else:
            inner = _runs(el)
        quoted = "\n\n".join(inner)
        if quoted:
            out.append("\n".join(f"> {line}".rstrip() for line in quoted.split("\n")))
    elif tag == "table":
        rows = [" | ".join(_line(cell) for cell in row.iter("cell")) for row in el.iter("row")]
        if any(row.strip(" |") for row in rows):
            out.append("\n".join(row for row in rows if row.strip(" |")))
    elif tag not in ("p", "item") and any(child.tag in _BLOCK_TAGS for child in el):
        if el.text and el.text.strip():
            out.append(_clean(el.text))
        for child in el:
            _blocks(child, out)
    elif tag != "graphic":
        out.extend(_runs(el))
    if el.tail and el.tail.strip() and el.getparent() is not None:
        out.append(_clean(el.tail))


def _list_blocks(el: Any, depth: int, lines: list[str], out: list[str]) -> None:
    """A list's items as Markdown lines; a code block in an item ends the lines so far and
    stands as a block of its own (a fence must start its line for the chunker to keep it)."""
    pad = "  " * depth
    for n, item in enumerate(el.findall("item"), 1):
        marker = f"{n}. " if el.get("rend") == "ol" else "- "
        first = True
        for run in _runs(item, ("graphic", "list")):
            if isinstance(run, _Fence):
                if lines:
                    out.append("\n".join(lines))
                    lines.clear()
                out.append(run)
                continue
            lead = marker if first else " " * len(marker)
            lines.append(pad + lead + run.replace("\n", "\n" + pad + " " * len(marker)))
            first = False
        for child in item.findall("list"):
            _list_blocks(child, depth + 1, lines, out)


def content_text(body: Any) -> str:
    """trafilatura's content tree (`Document.body`) as text: blocks separated by blank lines."""
    out: list[str] = []
    _blocks(body, out)
    return "\n\n".join(block for block in out if block.strip())


# -- extraction ------------------------------------------------------------------------------------


def _pre_as_code(tree: Any) -> None:
    """trafilatura keeps a `<pre>` as code only when it looks like code, else it becomes a quote
    whose lines run together; a `<pre>` is preformatted whatever it holds, so it is marked code."""
    for pre in tree.iter("pre"):
        if pre.find(".//code") is None:
            code = pre.makeelement("code", {})
            code.text, pre.text = pre.text, None
            code.extend(list(pre))
            pre.append(code)


_CONSENT = re.compile(r"cookie|consent|gdpr|onetrust|cookiebot|didomi|\bcmp\b|usercentrics", re.IGNORECASE)
_CONSENT_MAX_CHARS = 3000  # a consent banner is short; an element that long is the page


def _drop_consent_banners(tree: Any) -> None:
    """Remove cookie and consent banners: on a page with little else trafilatura takes their text
    for the main content. Only short elements named so (id or class) that hold no heading."""
    for el in list(tree.iter("div", "section", "aside", "dialog", "form", "p")):
        name = f"{el.get('id') or ''} {el.get('class') or ''}"
        if (
            _CONSENT.search(name)
            and el.getparent() is not None
            and el.find(".//h1") is None
            and el.find(".//article") is None
            and len(el.text_content()) <= _CONSENT_MAX_CHARS
        ):
            el.drop_tree()


def read_page(
    data: bytes, charset: str | None = None, *, qa: bool = False, base_url: str | None = None
) -> Page:
    """A page's main text and what it says about itself. `charset`: what the server declared;
    `base_url`: where it was fetched from (relative canonical links resolve against it); `qa`:
    also look for question/answer structure."""
    trafilatura = require("trafilatura")
    html = _XML_DECL.sub("", decode_html(data, charset), count=1)
    head = html[:_HEAD_CHARS]
    saved_from = _saved_from(head)
    tree = trafilatura.load_html(html) if html.strip() else None
    if tree is None:
        return Page("", saved_from=saved_from)
    base = base_url or saved_from
    page = Page(
        "",
        title=_first(tree, "//title/text()"),
        language=_language(tree),
        canonical=_absolute(_canonical(tree), base),
        og_url=_absolute(_first(tree, "//meta[@property='og:url' or @name='og:url']/@content"), base),
        saved_from=saved_from,
    )
    if qa:
        page.qa = qa_structure(tree)
    _drop_consent_banners(tree)
    _pre_as_code(tree)
    # Precision: a lost aside costs less than a footer in the training text. Dates only from the
    # markup (meta tags, <time>, the URL): the extensive search takes a footer's copyright year.
    doc = trafilatura.bare_extraction(
        tree, url=base, include_comments=False, include_formatting=True, with_metadata=True,
        favor_precision=True, date_extraction_params={"original_date": True, "extensive_search": False},
    )  # fmt: skip
    if doc is None:
        return page
    page.text = content_text(doc.body) if doc.body is not None else ""
    page.title = _clean(doc.title) or page.title
    page.language = page.language or _clean(doc.language) or None
    page.date = doc.date or None
    if qa and not page.qa:
        page.qa = heading_questions(page.text)
    return page


def read_or_reject(
    fmt: str, data: bytes, charset: str | None = None, *, qa: bool = False, base_url: str | None = None
) -> Page | Rejected:
    """`read_page`, or the page quarantined when the parsers fail on it."""
    try:
        return read_page(data, charset, qa=qa, base_url=base_url)
    except Exception as e:  # lxml and trafilatura on hostile markup: one bad page, not a crash
        return Rejected(f"{fmt}: page cannot be parsed ({type(e).__name__})", snippet=str(e)[:200])


def page_outcomes(
    fmt: str, page: Page, ctx: Context, ids: dict[str, Any], meta: dict[str, Any]
) -> Iterator[Produced | Skipped]:
    """The examples of one page (one record): its question/answer pairs when `qa` is asked and
    the page has them, else its text in chunks; a page without main text is skipped."""
    qa = bool(ctx.options.get("qa"))
    if qa and page.qa:
        yield from qa_examples(page.qa, ids, meta)
        return
    if not page.text.strip():
        yield Skipped(f"{fmt}: no main text")
        return
    if qa:
        ctx.drop(f"{fmt}: qa asked, no question/answer structure")
    yield from chunks(fmt, page.text, ctx, ids, meta)


def _read_bounded(ctx: Context) -> bytes | Rejected:
    """The file's content (through its compression), or why it is not read: over
    `max_record_bytes`, or a compressed stream cut short (one more read finds the break)."""
    limit = ctx.max_record_bytes
    try:
        data = read_whole(ctx, limit)
    except StreamError as e:
        return Rejected(f"html: {e}")
    if len(data) > limit:
        return Rejected(
            f"html: page over max_record_bytes ({limit} bytes)", snippet=data[:200].decode("utf-8", "replace")
        )
    return data


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Produced | Rejected | Skipped]]:
    """One saved page: its chunks (or question/answer pairs), or why it gave none."""
    require_license(ctx, "html")
    data = _read_bounded(ctx)
    if isinstance(data, Rejected):
        yield {}, data
        return
    page = read_or_reject("html", data, qa=bool(ctx.options.get("qa")))
    if isinstance(page, Rejected):
        yield {}, page
        return
    url = page.canonical or page.og_url or page.saved_from or file_url(ctx)
    meta = document_meta(ctx, title=page.title, url=url, language=page.language, date=page.date)
    for out in page_outcomes("html", page, ctx, {}, meta):
        yield {}, out


ADAPTER = Adapter("html", 1, "file", convert_file=convert_file)
