"""Streaming content hashes: xxh3-128, read in fixed chunks so memory never grows with file size."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

import xxhash

CHUNK = 1 << 20
HASH_NAME = "xxh3_128"


def new_hasher() -> xxhash.xxh3_128:
    """A fresh hasher of the algorithm the catalog's `content_hash` column holds."""
    return xxhash.xxh3_128()


def hash_stream(f: BinaryIO, hasher: xxhash.xxh3_128 | None = None) -> str:
    """Hash what is left of `f`, reading into one reused buffer; return the hex digest."""
    h = hasher or new_hasher()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while n := f.readinto(buf):
        h.update(view[:n])
    return h.hexdigest()


class HashingReader:
    """A read-only file wrapper that hashes every byte it hands out.

    Lets a streaming parser and the content hash share one pass over the file.
    """

    def __init__(self, f: BinaryIO, hasher: xxhash.xxh3_128) -> None:
        self._f = f
        self._h = hasher
        self.bytes_read = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._h.update(data)
        self.bytes_read += len(data)
        return data

    def finish(self) -> str:
        """Hash whatever the parser left unread and return the digest of the whole file."""
        return hash_stream(self._f, self._h)


class ProgressFile:
    """Wraps a binary file and reports each new byte position reached (re-reads count once)."""

    def __init__(self, f: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        self._f = f
        self._on_bytes = on_bytes
        self._high = 0

    def _report(self) -> None:
        pos = self._f.tell()
        if pos > self._high:
            self._on_bytes(pos - self._high)
            self._high = pos

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._report()
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        n = self._f.readinto(buf)
        self._report()
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()
