"""Zip archives as containers of data files: which members hold data, and which to refuse unread."""

from __future__ import annotations

import zipfile
from typing import Any

from samdata.formats.container import EXPANSION_FLOOR, compression_of

_LITTER = ("__MACOSX/", ".DS_Store")


def data_members(z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Every member that may hold records, in name order: no folders, no Finder litter."""
    out = []
    for info in z.infolist():
        base = info.filename.rsplit("/", 1)[-1]
        if info.is_dir() or info.filename.startswith(_LITTER) or base.startswith("._") or base in _LITTER:
            continue
        out.append(info)
    return sorted(out, key=lambda i: i.filename)


def refusal(info: zipfile.ZipInfo, max_expansion: float) -> str | None:
    """Why a member is refused before it is read (it would expand like a decompression bomb), or None."""
    if not max_expansion or info.file_size <= EXPANSION_FLOOR:
        return None
    if info.file_size > max_expansion * max(info.compress_size, 1):
        return (
            f"zip member {info.filename} expands {info.file_size / max(info.compress_size, 1):.0f}x"
            f" ({info.file_size} bytes from {info.compress_size}): refused as a possible decompression"
            " bomb (raise max_expansion to read it)"
        )
    return None


def member_compression(f: Any) -> str | None:
    """The compression of a zip member's own bytes (a .jsonl.gz stored in a zip)."""
    return compression_of(f.peek(8)[:8]) if hasattr(f, "peek") else None
