"""The Ray engine: the same pure batch functions as the local engine, run as Ray tasks on a
cluster, results handed back in input order to the single catalog writer (this process).

Each batch travels with its task (a chunk of JSONL lines, a batch of example bodies), so the nodes
need samdata installed (the same version) but no shared disk. At most `window_per_cpu` batches per
CPU of the cluster are in flight: memory is bounded here and in the object store whatever the input
size. A task whose worker process or node dies is run again by Ray (`max_retries`); a batch
function is pure, so a retry gives the same result, and the writer commits results in order, so a
run killed at any point resumes as a local run would.

Nothing starts a cluster the user did not ask for: without an address a Ray is started on this
machine for the command and stopped after it; usage statistics are off unless the environment
turns them on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from samdata.engine import Engine, Tasks, default_workers

MAX_RETRIES = 3  # a lost worker or node: the task runs again, on another one if need be
_initialised: str | None = None  # in a worker process: the token of the initializer it last ran


def _call(fn: Callable[[Any], Any], token: str, initializer: Callable[..., None] | None, initargs: tuple[Any, ...], item: Any) -> Any:  # fmt: skip
    """A task: run the stage's initializer once per worker process and map (a token tells one map's
    initializer from another's), then the batch function."""
    global _initialised
    if initializer is not None and _initialised != token:
        initializer(*initargs)
        _initialised = token
    return fn(item)


class RayEngine(Engine):
    """Stage work as Ray tasks; `map` keeps the local engine's contract (results in input order)."""

    name = "ray"

    def __init__(self, ray: Any, window_per_cpu: int) -> None:
        self.ray = ray
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.window_per_cpu = window_per_cpu
        self._task = ray.remote(max_retries=MAX_RETRIES)(_call)

    @classmethod
    @contextmanager
    def start(
        cls, address: str | None, window_per_cpu: int = 2, cpus: int | None = None
    ) -> Iterator[RayEngine]:
        """Connect to the cluster at `address` ("ray://host:port", "auto"; default: $RAY_ADDRESS), or
        start a Ray on this machine with `cpus` CPUs (default: all) for as long as the block runs."""
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError as e:
            raise ImportError("the Ray engine needs Ray: pip install 'samdata[ray]'") from e
        address = address or os.environ.get("RAY_ADDRESS") or None
        started = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": "warning",
                                       "configure_logging": True}  # fmt: skip
            if address:
                ray.init(address=address, **options)
            else:
                # "local": a new Ray even where one runs already (ray.init would join that one).
                ray.init(address="local", num_cpus=cpus or default_workers(), **options)
            started = True
        try:
            yield cls(ray, window_per_cpu)
        finally:
            if started:
                ray.shutdown()

    def _tasks(
        self, fn: Callable[[Any], Any], initializer: Callable[..., None] | None, initargs: tuple[Any, ...]
    ) -> AbstractContextManager[Tasks]:
        token = uuid.uuid4().hex
        shared = self.ray.put(initargs)  # stored once, not copied into every task

        def submit(item: Any) -> Any:
            return self._task.remote(fn, token, initializer, shared, item)

        return nullcontext((submit, self.ray.get, self.ray.cancel))
