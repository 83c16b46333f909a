"""Example bodies stored compressed: one zstd frame per body, with a dictionary trained on the
catalog's own bodies once it holds enough of them.

A body in `examples.body` is either plain canonical JSON (TEXT: small bodies, forgotten ones, and
catalogs written before compression) or a zstd frame (BLOB) whose header names its dictionary
(`body_dicts.id`; 0: none). Every connection samdata opens has the SQL function
`body_text(body)`, which returns the JSON either way; from Python, `samdata.catalog.connect(path)`
gives a plain `sqlite3` connection with it, for reading the catalog by hand.
"""

from __future__ import annotations

import sqlite3
import threading
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import zstandard

PLAIN_BELOW = 128  # bytes of JSON: a frame header would cost more than zstd saves
TRAIN_AT = 1_000  # bodies in the catalog before a dictionary is trained
TRAIN_SAMPLES = 5_000
# 64 KB: 3.09x on the bench slice's bodies against 2.92x for 16 KB and 3.13x for 110 KB (1.81x
# without a dictionary), at ~180k compressions and ~450k decompressions per second on one core.
DICT_BYTES = 64 * 1024
LEVEL = 3


class BodyCodec:
    """Encodes bodies for storage with the catalog's dictionary and decodes any stored body. A
    frame names its dictionary by zstd's own dictionary id (`body_dicts.id`); one another process
    trained is loaded on first sight."""

    def __init__(self, path: str | None, dicts: dict[int, bytes]) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._decompressors: dict[int, zstandard.ZstdDecompressor] = {0: zstandard.ZstdDecompressor()}
        self._compressor = zstandard.ZstdCompressor(level=LEVEL, write_checksum=False)
        self.dict_id = 0  # the dictionary new bodies are compressed with; 0: none yet
        self.training_tried = False
        for data in dicts.values():
            self.add(data)

    def add(self, data: bytes) -> int:
        """Compress with this dictionary from now on; return its id."""
        d = _full_dict(data)
        with self._lock:
            self._decompressors[d.dict_id()] = zstandard.ZstdDecompressor(dict_data=d)
            self.dict_id = d.dict_id()
            self._compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=d, write_checksum=False)
        return self.dict_id

    def encode(self, text: str) -> str | bytes:
        data = text.encode()
        if len(data) < PLAIN_BELOW:
            return text
        return self._compressor.compress(data)

    def decode(self, value: str | bytes | None) -> str | None:
        """A stored body's JSON text."""
        data = self.json(value)
        return data.decode() if isinstance(data, bytes) else data

    def json(self, value: str | bytes | None) -> str | bytes | None:
        """A stored body's JSON, as UTF-8 bytes when it was compressed: for a JSON parser, which
        reads either and is spared the text decode."""
        if value is None or isinstance(value, str):
            return value
        dict_id = zstandard.get_frame_parameters(value).dict_id
        decompressor = self._decompressors.get(dict_id) or self._load(dict_id)
        return decompressor.decompress(value)

    def _load(self, dict_id: int) -> zstandard.ZstdDecompressor:
        if self._path is None:
            raise KeyError(f"body dictionary {dict_id} is not known")
        conn = _reader(self._path)
        try:
            row = conn.execute("SELECT dict FROM body_dicts WHERE id = ?", (dict_id,)).fetchone()
        finally:
            conn.close()
        if row is None:
            raise KeyError(f"body dictionary {dict_id} is not in the catalog")
        d = _full_dict(row[0])
        with self._lock:
            self._decompressors[dict_id] = zstandard.ZstdDecompressor(dict_data=d)
        return self._decompressors[dict_id]

    def register(self, conn: sqlite3.Connection) -> None:
        """Give `conn` the SQL function body_text(body)."""
        conn.create_function("body_text", 1, self.decode, deterministic=True)


def load_dicts(conn: sqlite3.Connection) -> dict[int, bytes]:
    """The catalog's dictionaries (none before migration 16)."""
    try:
        return {
            int(i): bytes(d) for i, d in conn.execute("SELECT id, dict FROM body_dicts ORDER BY trained_at")
        }
    except sqlite3.OperationalError:
        return {}


def _full_dict(data: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)


def dict_id_of(data: bytes) -> int:
    return _full_dict(data).dict_id()


def train(samples: Sequence[str]) -> bytes | None:
    """A dictionary for bodies like these (None when zstd finds too little to train on)."""
    try:
        return zstandard.train_dictionary(DICT_BYTES, [s.encode() for s in samples], level=LEVEL).as_bytes()
    except zstandard.ZstdError:
        return None


def _reader(path: str) -> sqlite3.Connection:
    # quoted: a drive named "#1" must not end the path as a URI fragment
    return sqlite3.connect("file:" + urllib.parse.quote(str(Path(path).absolute())) + "?mode=ro", uri=True)


def connect(path: str | Path) -> sqlite3.Connection:
    """A read-only `sqlite3` connection to a catalog with `body_text(body)` registered:
    ``connect(p).execute("SELECT id, body_text(body) FROM examples")``."""
    conn = _reader(str(path))
    BodyCodec(str(path), load_dicts(conn)).register(conn)
    return conn
