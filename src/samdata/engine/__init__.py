"""How stage work runs: a pure batch function mapped over batches, in this process or in a pool of
worker processes. Stages never build pools themselves; they call `ordered_map`.

Results come back in input order, with a bounded number of batches in flight, so memory stays flat
whatever the input size and the single writer (the main process, which owns the catalog) sees the
same sequence a one-process run would: results are identical for any number of workers.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        return os.cpu_count() or 1


def ordered_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    window: int | None = None,
) -> Iterator[R]:
    """`fn` over `items`, results in order. One worker (or fewer) runs in this process; more run
    in a process pool with at most `window` (default 2 per worker) batches submitted ahead."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield fn(item)
        return
    ahead = window or 2 * workers
    with ProcessPoolExecutor(max_workers=workers, initializer=initializer, initargs=initargs) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
