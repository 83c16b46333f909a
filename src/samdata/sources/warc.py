"""Web archives (WARC, plain or gzip per record, as wget --warc-file, Heritrix, warcio write them):
every archived HTML page's main text, read the way saved pages are (`samdata.sources.html`).

Every WARC record is one record of the account. A `response` with HTTP status 200 and an HTML
media type is a page; every other record is skipped with the reason (`warc: request record`,
`warc: redirect 301`, `warc: response 404`, `warc: not HTML (image/png)`, ...). Nothing is
deduplicated here (curate finds near-duplicates across sources).

The archive is streamed record by record; a page's payload is read up to `max_record_bytes`
(a larger one is quarantined, the archive read on). A record cut short, or an archive that
cannot be parsed past some point, is quarantined with its byte offset: the records before it
keep their outcomes, the unread rest is one quarantined record.

Locator of a page's examples: `offset` and `length` of its record in the (compressed) file, as
CDX indexes give them, `uri`, then `chunk` and `chars`. Labels: `url` (the page's canonical link,
else WARC-Target-URI), `date` (WARC-Date), `title`, `language`, `license`.

Source options: `license` (required: web content), `chunk_tokens`, `min_chunk_tokens`, `qa`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from samdata.sources import Adapter, Context, Produced, Rejected, Skipped
from samdata.sources.documents import document_meta, require, require_license
from samdata.sources.html import HTML_MEDIA_TYPES, charset_of, page_outcomes, read_or_reject

Outcome = Produced | Rejected | Skipped
_READ = 1 << 16


def media_type(content_type: str | None) -> str:
    """A Content-Type's media type, lowercased, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _read_payload(record: Any, limit: int) -> bytes | None:
    """The record's payload (transfer and content encodings undone), or None past `limit` bytes."""
    stream = record.content_stream()
    parts, size = [], 0
    while size <= limit:
        data = stream.read(min(_READ, limit + 1 - size))
        if not data:
            break
        parts.append(data)
        size += len(data)
    return None if size > limit else b"".join(parts)


def _not_a_page(record: Any) -> str | None:
    """Why a record is not an archived HTML page, or None if it is one."""
    if record.rec_type != "response":
        return f"warc: {record.rec_type} record"
    http = record.http_headers
    if http is None:  # a dns: or ftp: capture: no HTTP exchange
        return f"warc: not HTML ({media_type(record.content_type) or 'no content type'})"
    status = http.get_statuscode() or ""
    code = int(status) if status.isdigit() else 0
    if 300 <= code < 400:
        return f"warc: redirect {code}"
    if code != 200:
        return f"warc: response {status or 'without a status'}"
    media = media_type(http.get_header("Content-Type"))
    if media not in HTML_MEDIA_TYPES:
        return f"warc: not HTML ({media or 'no content type'})"
    return None


def _page(record: Any, payload: bytes, ctx: Context, ids: dict[str, Any]) -> Iterator[Outcome]:
    uri = ids["uri"]
    charset = charset_of(record.http_headers.get_header("Content-Type"))
    page = read_or_reject("warc", payload, charset, qa=bool(ctx.options.get("qa")), base_url=uri or None)
    if isinstance(page, Rejected):
        page.ids = ids
        yield page
        return
    meta = document_meta(
        ctx,
        title=page.title,
        url=page.canonical or uri,
        language=page.language,
        date=record.rec_headers.get_header("WARC-Date"),
    )
    yield from page_outcomes("warc", page, ctx, ids, meta)


class _Damaged(Exception):
    """The archive cannot be read on from `offset`."""

    def __init__(self, offset: int, what: str) -> None:
        super().__init__(what)
        self.offset, self.what = offset, what


def _take(record: Any, it: Any, ctx: Context) -> tuple[dict[str, Any], bytes | Skipped | Rejected]:
    """Read one WARC record to its end (`it`: the iterator on it): its locator, and its payload if
    it is a page, else its outcome. Raises `_Damaged` where the archive cannot be trusted on."""
    offset = it.offset  # the iterator moved to the record's start before parsing it
    if record.length is None:
        # Content-Length is mandatory: without it the record's end is unknown, and so is the rest.
        raise _Damaged(offset, "a record without Content-Length")
    untyped = record.rec_type is None  # WARC-Type is mandatory: a garbled header, the record's end intact
    reason = "warc: record without WARC-Type" if untyped else _not_a_page(record)
    payload: bytes | Rejected | None = None
    if reason is None:
        try:
            payload = _read_payload(record, ctx.max_record_bytes)
        except Exception as e:  # a broken Content-Encoding spoils this payload only
            payload = Rejected(f"warc: payload cannot be decoded ({type(e).__name__})", snippet=str(e)[:200])
    it.read_to_end()  # past the payload read or not: a damaged member raises here
    missing = getattr(record.raw_stream, "limit", 0)  # warcio hands out a short record quietly
    if missing:
        raise _Damaged(offset, f"a record cut short ({missing} of its {record.length} bytes missing)")
    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
    ids = {"offset": it.get_record_offset(), "length": it.get_record_length(), "uri": uri}
    if reason is not None:
        return ids, Rejected(reason, ids) if untyped else Skipped(reason)
    if isinstance(payload, Rejected):
        payload.ids = ids
        return ids, payload
    if payload is None:
        return ids, Rejected(f"warc: payload over max_record_bytes ({ctx.max_record_bytes} bytes)", ids)
    return ids, payload


def _records(f: BinaryIO, size: int, ctx: Context) -> Iterator[tuple[dict[str, Any], Outcome]]:
    warcio = require("warcio.archiveiterator")
    it = warcio.ArchiveIterator(f)
    records = iter(it)
    while True:
        try:
            record = next(records)
            ids, taken = _take(record, it, ctx)
        except StopIteration:
            break
        except _Damaged as e:
            yield _rest(e.offset, e.what)
            return
        except Exception as e:  # warcio, zlib and brotli raise many kinds on damaged bytes
            yield _rest(it.offset, _why(e))
            return
        if isinstance(taken, bytes):
            for out in _page(record, taken, ctx, ids):
                yield ids, out
        else:
            yield ids, taken
    if it.offset < size:
        # warcio also ends quietly where a gzip member or the last record's headers are cut short.
        yield _rest(it.offset, f"{size - it.offset} bytes after the last whole record")


def _why(e: Exception) -> str:
    text = str(e).strip()
    if "non-chunked gzip" in text:
        return "one gzip stream for the whole archive, not one per record (`warcio recompress` fixes it)"
    return f"{type(e).__name__}: {text.splitlines()[0][:120] if text else 'unreadable'}"


REST = "warc: archive damaged or cut short: the rest is unread"


def _rest(offset: int, what: str) -> tuple[dict[str, Any], Rejected]:
    """The unread rest of the archive, from byte `offset`, as one quarantined record."""
    ids = {"offset": offset}
    return ids, Rejected(REST, ids, f"at byte {offset}: {what}")


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Outcome]]:
    """Every record of a web archive: an HTML page's chunks, or why the record gave none."""
    require_license(ctx, "warc")
    # warcio reads gzip members itself (offsets are then the compressed file's, as in CDX).
    with open(ctx.path, "rb") as f:
        yield from _records(f, ctx.path.stat().st_size, ctx)


ADAPTER = Adapter("warc", 1, "file", convert_file=convert_file)
