from __future__ import annotations

import io
import os
from pathlib import Path

import xxhash

from samdata.config import ScanSettings
from samdata.scan.analyze import analyze_file
from samdata.scan.hashing import CHUNK, HashingReader, hash_stream


def test_streamed_hash_equals_one_shot_hash() -> None:
    data = os.urandom(3 * CHUNK + 17)
    assert hash_stream(io.BytesIO(data)) == xxhash.xxh3_128_hexdigest(data)
    h = xxhash.xxh3_128()
    reader = HashingReader(io.BytesIO(data), h)
    reader.read(100)
    assert reader.finish() == xxhash.xxh3_128_hexdigest(data)


def test_every_path_hashes_the_whole_file_and_reports_each_byte_once(tmp_path: Path) -> None:
    cases = {
        "a.jsonl": b'{"text": "x"}\n' * 200_000,
        "b.json": b'[{"instruction": "i", "input": "", "output": "o"}'
        + b', {"prompt": "p", "response": "r"}' * 90_000
        + b"]",
        "c.bin": os.urandom(2 * CHUNK + 5),
        "d.txt": b"plain text\n" * 150_000,
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        seen: list[int] = []
        facts = analyze_file(p, ScanSettings(), seen.append)
        assert facts.content_hash == xxhash.xxh3_128_hexdigest(data), name
        assert sum(seen) == len(data), name
