"""Path helpers shared by the scan and the reports: display names, globs, sizes."""

from __future__ import annotations

import os
import re
from functools import lru_cache


def display_path(path: str) -> tuple[str, bytes | None]:
    """(text to store and show, raw bytes if the name is not valid UTF-8).

    Python hands undecodable names over as surrogate escapes, which SQLite and JSON cannot hold;
    they are shown as `\\xNN` and the raw bytes are kept so the file stays reachable.
    """
    try:
        path.encode("utf-8")
        return path, None
    except UnicodeEncodeError:
        raw = os.fsencode(path)
        return raw.decode("utf-8", "backslashreplace"), raw


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: `**` spans folders, `*` and `?` stay inside one, `[...]` as in fnmatch."""
    i, out = 0, []
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
                i += 1
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(pattern: str, path: str) -> bool:
    """Whether absolute `path` matches the absolute glob `pattern`."""
    return glob_regex(pattern).match(path) is not None


def glob_base(pattern: str) -> str:
    """The folder part of a glob before its first wildcard."""
    parts = []
    for part in pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts) or "/"


def is_below(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies inside it (purely textual, no file-system access)."""
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder if folder == "/" else folder + "/")


def human_size(n: int | float | None) -> str:
    """1536 → '1.5 KB' (decimal units, as Finder shows them)."""
    if n is None:
        return "–"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def write_bytes_atomic(path: os.PathLike[str] | str, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, then rename over `path`."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text_atomic(path: os.PathLike[str] | str, text: str) -> None:
    """`write_bytes_atomic` for UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))
