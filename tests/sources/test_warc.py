"""Web archives written with warcio's WARCWriter in the shape of a wget --warc-file crawl: warcinfo,
request/response pairs, a revisit, wget's manifest and log; plain and gzip per record."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.ingest import run_ingest
from tests.conftest import config_for
from tests.sources.test_html import BOILERPLATE, CODE, PARAGRAPHS, article_html, expected_text

HOST = "https://blog.example.org"
DATE = "2024-03-05T10:15:0{}Z"


@dataclass
class Archive:
    """What was written where: each record's type, target URI and start offset."""

    data: bytes = b""
    records: list[tuple[str, str, int]] = field(default_factory=list)

    def offset(self, rec_type: str, uri: str) -> int:
        return next(o for t, u, o in self.records if t == rec_type and u == uri)


class Crawl:
    """A WARCWriter over a buffer, noting where each record starts."""

    def __init__(self, gz: bool) -> None:
        self.buf = io.BytesIO()
        self.writer = WARCWriter(self.buf, gzip=gz, warc_version="1.1")
        self.archive = Archive()
        self.n = 0

    def write(self, record: Any) -> None:
        rec_type = record.rec_headers.get_header("WARC-Type")
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        self.archive.records.append((rec_type, uri, self.buf.tell()))
        self.writer.write_record(record)

    def headers(self) -> dict[str, str]:
        self.n += 1
        return {"WARC-Date": DATE.format(self.n % 10)}

    def info(self) -> None:
        fields = {
            "software": "Wget/1.21.4 (linux-gnu)",
            "format": "WARC File Format 1.1",
            "robots": "classic",
        }
        self.write(self.writer.create_warcinfo_record("crawl.warc.gz", fields))

    def fetch(self, path: str, status: str, headers: list[tuple[str, str]], body: bytes) -> str:
        uri = HOST + path
        request = StatusAndHeaders(
            f"GET {path} HTTP/1.1",
            [("User-Agent", "Wget/1.21.4"), ("Accept", "*/*"), ("Host", "blog.example.org")],
            is_http_request=True,
        )
        self.write(
            self.writer.create_warc_record(
                uri, "request", http_headers=request, warc_headers_dict=self.headers()
            )
        )
        http = StatusAndHeaders(status, [*headers, ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        self.write(
            self.writer.create_warc_record(
                uri, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=self.headers()
            )
        )
        return uri

    def revisit(self, path: str) -> None:
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        self.write(
            self.writer.create_revisit_record(
                HOST + path,
                "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ",
                HOST + path,
                DATE.format(1),
                http_headers=http,
            )
        )

    def wget_tail(self) -> None:
        """The records wget writes last: its arguments as metadata, its log as a resource."""
        manifest = b"wget --warc-file=crawl --recursive https://blog.example.org/\n"
        self.write(
            self.writer.create_warc_record(
                "metadata://gnu.org/software/wget/warc/MANIFEST.txt", "metadata", payload=io.BytesIO(manifest),
                warc_content_type="text/plain",
            )
        )  # fmt: skip
        log = b"--2024-03-05 10:15:00--  https://blog.example.org/\nResolving blog.example.org... 192.0.2.7\n"
        self.write(
            self.writer.create_warc_record(
                "metadata://gnu.org/software/wget/warc/wget.log", "resource", payload=io.BytesIO(log),
                warc_content_type="text/plain",
            )
        )  # fmt: skip

    def done(self) -> Archive:
        self.archive.data = self.buf.getvalue()
        return self.archive


HTML = [("Content-Type", "text/html; charset=utf-8")]
CAFE = (
    "Le café crème coûte 4 € — « un délice », disait-on à l’époque, et ça n’a pas changé depuis des années."
)


def chunked(data: bytes, size: int = 700) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


def crawl(gz: bool) -> tuple[Archive, dict[str, str]]:
    """A small crawl of a blog: two pages, a redirect, a missing page, an image, a revisit."""
    c = Crawl(gz)
    c.info()
    uris = {"page": c.fetch("/posts/iterating-files", "200 OK", HTML, article_html().encode())}
    # Served gzip-encoded, chunked, its charset named only in the HTTP header; its canonical link
    # drops the tracking parameter the crawler followed.
    french = article_html(
        paragraphs=[CAFE, *PARAGRAPHS[1:]], code=None, charset="", lang="fr",
        head=f'<link rel="canonical" href="{HOST}/posts/cafe">',
    ).encode("cp1252")  # fmt: skip
    encoded = [
        ("Content-Type", "text/html; charset=windows-1252"),
        ("Content-Encoding", "gzip"),
        ("Transfer-Encoding", "chunked"),
    ]
    uris["cafe"] = c.fetch("/posts/cafe?utm_source=feed", "200 OK", encoded, chunked(gzip.compress(french)))
    uris["old"] = c.fetch(
        "/old-post", "301 Moved Permanently", [*HTML, ("Location", f"{HOST}/posts/iterating-files")], b""
    )
    uris["missing"] = c.fetch(
        "/missing", "404 Not Found", HTML, b"<html><body><h1>Not found</h1></body></html>"
    )
    uris["logo"] = c.fetch(
        "/logo.png", "200 OK", [("Content-Type", "image/png")], b"\x89PNG\r\n\x1a\n" + bytes(300)
    )
    c.revisit("/posts/iterating-files")
    c.wget_tail()
    return c.done(), uris


def warc_source(tmp_path: Path, path: Path, extra: str = "", fmt: str = "warc") -> Config:
    return config_for(
        tmp_path,
        f'[[sources]]\nname = "crawl"\npath = "{path}"\nformat = "{fmt}"\nlicense = "CC-BY-4.0"\n{extra}',
    )


def ingest(config: Config, path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        [account] = cat.accounts("crawl")
        return account, cat.examples_from(str(path), "crawl"), cat.quarantined(source="crawl")


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
def test_every_record_is_accounted_for_and_pages_become_text(tmp_path: Path, gz: bool) -> None:
    archive, uris = crawl(gz)
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    path.write_bytes(archive.data)
    account, examples, quarantined = ingest(warc_source(tmp_path, path, fmt="auto"), path)
    assert len(archive.records) == 14
    assert account["records"] == 14 and account["produced"] == 2 and not quarantined
    assert account["skipped_by_reason"] == {
        "warc: metadata record": 1,
        "warc: not HTML (image/png)": 1,
        "warc: redirect 301": 1,
        "warc: request record": 5,
        "warc: resource record": 1,
        "warc: response 404": 1,
        "warc: revisit record": 1,
        "warc: warcinfo record": 1,
    }
    assert account["balanced"]
    page, cafe = examples
    assert page["body"]["messages"][0]["content"] == expected_text()
    assert f"```python\n{CODE}\n```" in page["body"]["messages"][0]["content"]
    assert not any(words in page["body"]["messages"][0]["content"] for words in BOILERPLATE)
    assert cafe["body"]["messages"][0]["content"] == expected_text(
        paragraphs=[CAFE, *PARAGRAPHS[1:]], code=None
    )
    assert [e["meta"]["url"] for e in examples] == [uris["page"], f"{HOST}/posts/cafe"]
    assert page["meta"]["date"] == DATE.format(2) and page["meta"]["language"] == "en-GB"
    assert cafe["meta"]["language"] == "fr" and cafe["meta"]["license"] == "CC-BY-4.0"
    # The locator points at the record in the file as written, as a CDX index would.
    for example, key in ((page, "page"), (cafe, "cafe")):
        loc = example["locator"]
        assert loc["uri"] == uris[key] and loc["offset"] == archive.offset("response", uris[key])
        assert loc["chunk"] == 0 and loc["chars"] == [0, len(example["body"]["messages"][0]["content"])]
        raw = archive.data[loc["offset"] : loc["offset"] + loc["length"]]
        record = gzip.decompress(raw) if gz else raw
        assert record.startswith(b"WARC/1.1\r\n") and b"\r\nWARC-Type: response\r\n" in record
        assert f"WARC-Target-URI: {uris[key]}\r\n".encode() in record


def _cut(archive: Archive, where: str, uri: str) -> tuple[bytes, int]:
    """The archive cut short in the response record of `uri`, and that record's offset."""
    start = archive.offset("response", uri)
    end = next(o for _, _, o in archive.records if o > start)
    return archive.data[: end - 60 if where == "payload" else start + 30], start


@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("where", ["payload", "headers"])
def test_a_cut_archive_keeps_the_records_before_the_cut(tmp_path: Path, gz: bool, where: str) -> None:
    archive, uris = crawl(gz)
    data, offset = _cut(archive, where, uris["missing"])
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    path.write_bytes(data)
    account, examples, [q] = ingest(warc_source(tmp_path, path), path)
    # Before the cut: warcinfo, 4 requests, the two pages, the redirect; then the rest as one.
    assert (account["records"], account["produced"], account["quarantined"]) == (9, 2, 1)
    assert account["skipped_by_reason"] == {
        "warc: redirect 301": 1,
        "warc: request record": 4,
        "warc: warcinfo record": 1,
    }
    assert account["balanced"]
    assert [e["locator"]["uri"] for e in examples] == [uris["page"], uris["cafe"]]
    assert q["locator"] == {"offset": offset}
    assert q["reason"] == "warc: archive damaged or cut short: the rest is unread"
    assert q["snippet"].startswith(f"at byte {offset}: ")


def _garble(archive: Archive, uri: str, header: bytes) -> tuple[bytes, int]:
    """The archive with bytes flipped in one header of the response record of `uri` (in the
    compressed member, for .warc.gz), and that record's offset."""
    start = archive.offset("response", uri)
    at = start + 40 if header == b"member" else archive.data.index(header, start)
    damaged = bytearray(archive.data)
    for i in range(at, at + 12):
        damaged[i] ^= 0x55
    return bytes(damaged), start


@pytest.mark.parametrize(
    ("gz", "header", "records", "quarantined"),
    [
        (True, b"member", 9, "warc: archive damaged or cut short: the rest is unread"),
        (False, b"Content-Length:", 9, "warc: archive damaged or cut short: the rest is unread"),
        # A garbled WARC-Type spoils that record only: its length still says where the next starts.
        (False, b"WARC-Type:", 14, "warc: record without WARC-Type"),
    ],
    ids=["corrupt gzip member", "no Content-Length", "no WARC-Type"],
)
def test_a_damaged_record(tmp_path: Path, gz: bool, header: bytes, records: int, quarantined: str) -> None:
    archive, uris = crawl(gz)
    data, offset = _garble(archive, uris["missing"], header)
    path = tmp_path / ("crawl.warc.gz" if gz else "crawl.warc")
    path.write_bytes(data)
    account, examples, [q] = ingest(warc_source(tmp_path, path), path)
    assert (account["records"], account["produced"], account["quarantined"], account["balanced"]) == (
        records, 2, 1, True,
    )  # fmt: skip
    assert [e["locator"]["uri"] for e in examples] == [uris["page"], uris["cafe"]]
    assert q["locator"]["offset"] == offset and q["reason"] == quarantined


def test_a_payload_over_max_record_bytes_is_quarantined_and_the_archive_read_on(tmp_path: Path) -> None:
    c = Crawl(gz=True)
    c.info()
    big = c.fetch("/posts/long", "200 OK", HTML, article_html(paragraphs=PARAGRAPHS * 3).encode())
    small = "<!DOCTYPE html><html lang='en'><head><title>Short</title></head><body><article><h1>Short</h1>"
    small += f"<p>{PARAGRAPHS[0]}</p></article></body></html>"
    after = c.fetch("/posts/short", "200 OK", HTML, small.encode())
    archive = c.done()
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(archive.data)
    account, examples, [q] = ingest(
        warc_source(tmp_path, path, extra="[ingest]\nmax_record_bytes = 4096\n"), path
    )
    assert (account["records"], account["produced"], account["quarantined"], account["balanced"]) == (
        5,
        1,
        1,
        True,
    )
    assert q["reason"] == "warc: payload over max_record_bytes (4096 bytes)"
    assert q["locator"]["offset"] == archive.offset("response", big) and q["locator"]["uri"] == big
    assert [e["meta"]["url"] for e in examples] == [after]


def test_one_gzip_stream_for_the_whole_archive_is_named(tmp_path: Path) -> None:
    archive, _ = crawl(gz=False)
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(gzip.compress(archive.data))  # `gzip crawl.warc`, not per record
    account, _, [q] = ingest(warc_source(tmp_path, path), path)
    assert account["balanced"] and account["quarantined"] == 1
    assert "warcio recompress" in q["snippet"]


def test_an_archive_without_license_is_quarantined(tmp_path: Path) -> None:
    archive, _ = crawl(gz=True)
    path = tmp_path / "crawl.warc.gz"
    path.write_bytes(archive.data)
    config = config_for(tmp_path, f'[[sources]]\nname = "crawl"\npath = "{path}"\n')
    account, examples, [q] = ingest(config, path)
    assert (account["records"], account["quarantined"], account["balanced"], examples) == (1, 1, True, [])
    assert q["reason"].startswith(
        "file cannot be read as warc: web content (warc) needs the source's license"
    )
