"""How stage work runs: a pure batch function mapped over batches, in this process, in a pool of
worker processes (the local engine) or as tasks on a Ray cluster (`samdata.engine.ray_engine`).
Stages never build pools themselves; they call an engine's `map`.

Results come back in input order, with a bounded number of batches in flight, so memory stays flat
whatever the input size and the single writer (the main process, which owns the catalog) sees the
same sequence a one-process run would: results are identical for any number of workers.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from samdata.config import EngineSettings

T = TypeVar("T")
R = TypeVar("R")
# What an engine hands `map` for one run of a stage: submit an item (→ a handle), wait for a
# handle's result, give up on a handle.
Tasks = tuple[Callable[[Any], Any], Callable[[Any], Any], Callable[[Any], Any]]


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        return os.cpu_count() or 1


class Engine(ABC):
    """Runs a stage's batch function over its batches, results in input order."""

    name: str
    cpus: int
    window_per_cpu: int = 2

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
        window: int | None = None,
    ) -> Iterator[R]:
        """`fn` over `items`, results in order, at most `window` (default `window_per_cpu` per CPU)
        submitted ahead of the one the caller waits for. `initializer(*initargs)` runs once in each
        worker before its first item. When the caller stops early, what is still queued is cancelled."""
        ahead = window or self.window_per_cpu * self.cpus
        with self._tasks(fn, initializer, initargs) as (submit, result, cancel):
            pending: deque[Any] = deque()
            try:
                for item in items:
                    pending.append(submit(item))
                    if len(pending) >= ahead:
                        yield result(pending.popleft())
                while pending:
                    yield result(pending.popleft())
            finally:
                for handle in pending:
                    cancel(handle)

    @abstractmethod
    def _tasks(
        self, fn: Callable[[Any], Any], initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
    ) -> AbstractContextManager[Tasks]:
        """Where one `map` runs its items, for as long as the block runs."""


class LocalEngine(Engine):
    """This machine: `cpus` worker processes (one: this process, no pool)."""

    name = "local"

    def __init__(self, cpus: int) -> None:
        self.cpus = max(1, cpus)

    def _tasks(
        self, fn: Callable[[Any], Any], initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
    ) -> AbstractContextManager[Tasks]:
        if self.cpus == 1:
            if initializer is not None:
                initializer(*initargs)
            # Computed on submit: with one process nothing runs ahead, so the window holds results.
            return nullcontext((fn, _same, _same))
        return _pool(self.cpus, fn, initializer, initargs)


def _same(x: Any) -> Any:
    return x


@contextmanager
def _pool(
    workers: int, fn: Callable[[Any], Any], initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
) -> Iterator[Tasks]:
    with ProcessPoolExecutor(max_workers=workers, initializer=initializer, initargs=initargs) as pool:
        yield (lambda item: pool.submit(fn, item)), (lambda f: f.result()), (lambda f: f.cancel())


ENGINES = ("local", "ray")


@contextmanager
def open_engine(
    kind: str = "local", workers: int | None = None, address: str | None = None, window_per_cpu: int = 2
) -> Iterator[Engine]:
    """The engine a command runs on, for as long as the block runs: `local` with `workers` processes
    (default: every core), or `ray` on the cluster at `address` (none: a Ray on this machine with
    `workers` CPUs, started for the block)."""
    if kind == "local":
        yield LocalEngine(workers or default_workers())
    elif kind == "ray":
        from samdata.engine.ray_engine import RayEngine

        with RayEngine.start(address, window_per_cpu, workers) as engine:
            yield engine
    else:
        raise ValueError(f"unknown engine {kind!r} (engines: {', '.join(ENGINES)})")


@contextmanager
def configured_engine(
    settings: EngineSettings, kind: str | None = None, workers: int | None = None
) -> Iterator[Engine | None]:
    """The engine `[engine]` names (or `kind`, overriding it) for as long as the block runs; None
    for the local one, whose worker count each stage decides by its own work."""
    kind = kind or settings.kind
    if kind == "local":
        yield None
        return
    with open_engine(kind, workers, settings.address, settings.window_per_cpu) as engine:
        yield engine
