"""Walk a tree without following links: files and symlinks out, problems with folders aside."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """A file or symlink found by the walk, with the lstat figures the walk saw."""

    path: str
    kind: str  # "file" | "symlink"
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkIssue:
    """Something the walk could not look at, with the reason."""

    kind: str  # unreadable | changed_during_scan (problems as they are) | empty_folder (a fact)
    path: str
    reason: str


def _exclude_matcher(patterns: Sequence[str]) -> Callable[[str], object]:
    """One compiled regex for all name globs: the walk tests every name against it."""
    if not patterns:
        return lambda _name: None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns)).match


def walk(top: str, exclude: Sequence[str] = ()) -> Iterator[Entry | WalkIssue]:
    """Yield every regular file and symlink below `top` (or `top` itself if it is one).

    Symlinks are reported, never followed, so link loops cannot trap the walk. Sockets, FIFOs
    and devices are skipped: they hold no data and opening a FIFO would block.
    """
    try:
        st = os.lstat(top)
    except OSError as e:
        yield WalkIssue("unreadable", top, e.strerror or str(e))
        return
    # The top itself is followed if it is a link to a folder (a root configured through a link).
    if not os.path.isdir(top):
        if os.path.islink(top):
            yield Entry(top, "symlink", st.st_size, st.st_mtime_ns)
        elif os.path.isfile(top):
            yield Entry(top, "file", st.st_size, st.st_mtime_ns)
        return
    excluded = _exclude_matcher(exclude)
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = sorted(it, key=lambda d: d.name)
        except FileNotFoundError:
            yield WalkIssue("changed_during_scan", folder, "folder vanished during the scan")
            continue
        except OSError as e:
            yield WalkIssue("unreadable", folder, e.strerror or str(e))
            continue
        subfolders = []
        if folder != top and not any(not excluded(de.name) for de in children):
            # Not a reading problem: the voice checks tell an empty stage folder from there.
            yield WalkIssue("empty_folder", folder, "holds nothing")
        for de in children:
            if excluded(de.name):
                continue
            try:
                if de.is_symlink():
                    st = de.stat(follow_symlinks=False)
                    yield Entry(de.path, "symlink", st.st_size, st.st_mtime_ns)
                elif de.is_dir(follow_symlinks=False):
                    subfolders.append(de.path)
                elif de.is_file(follow_symlinks=False):
                    st = de.stat(follow_symlinks=False)
                    yield Entry(de.path, "file", st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                yield WalkIssue("changed_during_scan", de.path, "vanished during the scan")
            except OSError as e:
                yield WalkIssue("unreadable", de.path, e.strerror or str(e))
        stack.extend(reversed(subfolders))
