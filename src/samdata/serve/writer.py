"""The server's one catalog writer: captures from every request are committed together.

Requests hand their capture to a queue and wait; one thread takes whatever is queued (up to
`max_batch`), commits it in one transaction and answers each request. Under load this is group
commit: one fsync for many captures, and SQLite never sees two writers from this process.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from pathlib import Path

from samdata.catalog import Catalog, utcnow
from samdata.catalog.capture import CaptureItem, CaptureResult

_STOP = object()


class CaptureWriter:
    """Start with `start()`, submit from any thread, `close()` to drain and stop."""

    def __init__(self, catalog_path: Path, max_batch: int = 256, durable: bool = True) -> None:
        self.catalog_path = catalog_path
        self.max_batch = max_batch
        self.durable = durable
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="samdata-capture-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(self, item: CaptureItem) -> Future[CaptureResult]:
        """The capture's result once committed (or its error)."""
        future: Future[CaptureResult] = Future()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        try:
            cat = Catalog.open(self.catalog_path)
            if self.durable:
                # An acknowledged capture survives a power cut, not only a killed process.
                cat.conn.execute("PRAGMA synchronous = FULL")
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        with cat:
            stopping = False
            while not stopping:
                batch = [self._queue.get()]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if _STOP in batch:
                    stopping = True
                    batch = [b for b in batch if b is not _STOP]
                jobs = [b for b in batch if isinstance(b, tuple)]
                if not jobs:
                    continue
                try:
                    results = cat.commit_captures([item for item, _f in jobs], utcnow())
                except Exception:
                    # The transaction rolled back: nothing was stored. One at a time, so a capture
                    # that cannot be stored fails alone.
                    for item, future in jobs:
                        try:
                            future.set_result(cat.commit_captures([item], utcnow())[0])
                        except Exception as e:
                            future.set_exception(e)
                    continue
                for (_item, future), result in zip(jobs, results, strict=True):
                    future.set_result(result)
