"""One `samdata run` at a time per catalog: an OS file lock beside the catalog.

The lock is the kernel's (filelock: fcntl/flock on Unix, msvcrt on Windows), so a killed run
releases it with its process; who holds it is written beside it for the message a second run prints.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import filelock
import orjson

from samdata.catalog import utcnow


class RunLocked(Exception):
    """Another run holds the lock; the message says which and what to do."""


class RunLock:
    """The run lock of the catalog at `catalog_path`."""

    def __init__(self, catalog_path: Path) -> None:
        self.path = catalog_path.parent / "run.lock"
        self.holder_path = catalog_path.parent / "run.lock.json"

    def holder(self) -> dict[str, object] | None:
        """Who took the lock last (pid, host, since); may be stale once the lock is free."""
        try:
            return orjson.loads(self.holder_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None

    @contextlib.contextmanager
    def hold(self, wait: float = 0) -> Iterator[None]:
        """Hold the lock for the block. `wait`: seconds to wait (negative: for ever); RunLocked
        when it stays taken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(self.path)
        try:
            lock.acquire(timeout=wait)
        except filelock.Timeout:
            who = self.holder() or {}
            since = f" since {who['since']}" if who.get("since") else ""
            pid = f" (pid {who['pid']} on {who.get('host', '?')}{since})" if who.get("pid") else ""
            raise RunLocked(
                f"another samdata run holds {self.path}{pid}; wait for it to finish, or pass --wait SECONDS"
            ) from None
        try:
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": utcnow()}
            tmp = self.holder_path.with_name(self.holder_path.name + f".{os.getpid()}")
            tmp.write_bytes(orjson.dumps(info))
            os.replace(tmp, self.holder_path)
            yield
        finally:
            lock.release()
