"""Container sniffing (lines win over noise) and decompressed streams (bombs refused, breaks kept)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import zipfile
from pathlib import Path

import pytest

from samdata.config import ScanSettings
from samdata.formats.container import (
    EXPANSION_FLOOR,
    StreamError,
    compression_of,
    container_of,
    decompressed,
    sniff,
)
from samdata.scan.analyze import analyze_file
from tests.ingest.wild import chat, jl, zipped, zst

GOOD = jl(*(chat(f"q{i}") for i in range(5)))


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (GOOD, "jsonl"),
        (b"\x00\x01\x02 binary line\n" + GOOD, "jsonl"),  # one binary line does not make a binary file
        (GOOD[:60] + b"\x00\n" + GOOD, "jsonl"),
        (b"[1, 2]\n" + GOOD, "jsonl"),  # a stray array on line 1
        (b'[{"a": 1}, {"b": 2}]', "json"),
        (b'[\n  {"a": 1}\n]\n', "json"),
        (b'{\n  "mapping": {}\n}\n', "json"),
        (b'{"title": "x", "mapping": {\n', "json"),
        (bytes(range(256)) * 8, "binary"),
        (b"plain words\nmore words\n", "text"),
        (b"", "empty"),
        (b"SQLite format 3\x00" + b"\x00" * 100, "sqlite"),
    ],
    ids=[
        "jsonl",
        "binary-line",
        "nul-line",
        "stray-array",
        "array",
        "pretty-array",
        "pretty-object",
        "object-start",
        "binary",
        "text",
        "empty",
        "sqlite",
    ],
)
def test_container_of(head: bytes, kind: str) -> None:
    assert container_of(head) == kind


def test_binary_head_with_json_lines_after_it(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(bytes(b for b in random.Random(3).randbytes(100_000) if b != 10) + b"\n" + GOOD)
    container, _ = sniff(path, 200)
    assert container.kind == "jsonl"
    facts = analyze_file(path, ScanSettings())
    assert (facts.container, facts.records, facts.bad_records) == ("jsonl", 5, 1)


@pytest.mark.parametrize(
    ("compress", "name"),
    [
        (lambda b: gzip.compress(b, mtime=0), "gzip"),
        (zst, "zstd"),
        (bz2.compress, "bz2"),
        (lzma.compress, "xz"),
    ],
    ids=["gzip", "zstd", "bz2", "xz"],
)
def test_compressed_files_are_sniffed_and_counted_by_content(tmp_path: Path, compress, name: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "data.bin"  # the name says nothing
    path.write_bytes(compress(GOOD))
    assert compression_of(path.read_bytes()[:8]) == name
    container, head = sniff(path, 200)
    assert (container.kind, container.compression) == ("jsonl", name) and head == GOOD
    facts = analyze_file(path, ScanSettings())
    assert (facts.format, facts.container, facts.records, facts.details["compression"]) == (
        "chat_jsonl", "jsonl", 5, name)  # fmt: skip
    # The content hash is of the file as stored (a copy is a copy whatever it holds).
    import xxhash

    assert facts.content_hash == xxhash.xxh3_128_hexdigest(path.read_bytes())


def test_zip_of_jsonl_is_counted_by_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "backup.zip"
    path.write_bytes(zipped({"a.jsonl": GOOD, "b.jsonl": GOOD + b"{broken\n", "notes.txt": b"hello\n"}))
    facts = analyze_file(path, ScanSettings())
    assert (facts.format, facts.records, facts.bad_records) == ("chat_jsonl", 10, 1)


def test_a_stream_cut_short_hands_out_every_byte_before_the_break() -> None:
    data = b"".join(json.dumps({"i": i, "pad": "x" * 50}).encode() + b"\n" for i in range(20_000))
    packed = gzip.compress(data)
    cut = packed[: len(packed) // 2]
    stream = decompressed(io.BytesIO(cut), "gzip", 200)
    got = b""
    with pytest.raises(StreamError, match="cut short"):
        while chunk := stream.read(1 << 22):
            got += chunk
    assert len(got) > 0 and data.startswith(got)


def test_expansion_is_refused_past_the_floor_only() -> None:
    small_bomb = gzip.compress(b"\0" * (1 << 20))  # 1000x, but 1 MiB: under the floor, fine
    assert len(decompressed(io.BytesIO(small_bomb), "gzip", 10).read(-1)) == 1 << 20
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as g:
        for _ in range((EXPANSION_FLOOR >> 20) + 8):
            g.write(b"\0" * (1 << 20))
    stream = decompressed(io.BytesIO(raw.getvalue()), "gzip", 200)
    with pytest.raises(StreamError, match="decompression bomb"):
        while stream.read(1 << 22):
            pass
    assert decompressed(io.BytesIO(raw.getvalue()), "gzip", 0).read(1 << 20)  # 0: no limit


def test_zip_member_bomb_is_refused_before_reading(tmp_path: Path) -> None:
    from samdata.formats.archive import refusal

    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("big.jsonl", "w") as m:
        for _ in range((EXPANSION_FLOOR >> 20) + 8):
            m.write(b"\0" * (1 << 20))
    with zipfile.ZipFile(path) as z:
        [info] = z.infolist()
        assert "decompression bomb" in (refusal(info, 200) or "")
        assert refusal(info, 0) is None
