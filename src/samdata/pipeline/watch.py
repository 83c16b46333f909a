"""`samdata watch`: ingest and curate files as they appear or grow, until stopped.

File events come from watchfiles (Rust `notify`: inotify, FSEvents, ReadDirectoryChangesW), with
its debounce. A watched folder that disappears (an unplugged drive) is waited for: every
`check_s` the watcher looks which folders exist, and when the set changes it restarts on the new
set and runs a pass (a drive plugged back may hold files written elsewhere). Each pass is a
`samdata run` of ingest and curate under the run lock, recorded in the history as `watch`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import watchfiles

from samdata.config import Config
from samdata.paths import glob_base, glob_match, is_below
from samdata.pipeline import PipelineError, run_pipeline

Event = Callable[[str, dict[str, Any]], None]


def watched_folders(config: Config) -> list[str]:
    """The roots and the fixed folders of the source globs, without folders inside others."""
    wanted = {os.path.abspath(r.path) for r in config.roots}
    wanted |= {os.path.abspath(glob_base(s.path)) for s in config.sources if s.active}
    return sorted(p for p in wanted if not any(o != p and is_below(p, o) for o in wanted))


class _Filter(watchfiles.DefaultFilter):
    """Changes to source files only: never the catalog, exports or logs samdata writes itself
    (a catalog inside a watched root would otherwise wake the watcher with every commit)."""

    def __init__(self, config: Config) -> None:
        own = {str(config.catalog_path.parent), str(config.run_log.parent)}
        own |= {str(config.export_dir(name)) for name in config.recipes}
        super().__init__(ignore_paths=sorted(own))
        self.globs = [s.path for s in config.sources if s.active]

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        return super().__call__(change, path) and any(glob_match(g, path) for g in self.globs)


def _pass(config: Config, reason: str, on_event: Event) -> None:
    try:
        report = run_pipeline(config, "watch", ("ingest", "curate"), wait=-1)
    except PipelineError as e:
        on_event("error", {"error": str(e), "reason": reason})
        return
    on_event("pass", {"reason": reason, "run_id": report.run_id, "changes": report.changes})


def watch(
    config: Config,
    on_event: Event | None = None,
    debounce_ms: int | None = None,
    stop: threading.Event | None = None,
    check_s: float = 2.0,
) -> None:
    """Watch until `stop` is set (or KeyboardInterrupt). `on_event(kind, detail)` hears every
    pass (`pass`, `error`) and every change of the watched set (`offline`, `online`)."""
    on_event = on_event or (lambda kind, detail: None)
    stop = stop or threading.Event()
    debounce = debounce_ms or config.pipeline.debounce_ms
    folders = watched_folders(config)
    if not folders:
        raise PipelineError("nothing to watch: configure [[roots]] or [[sources]]")
    flt = _Filter(config)
    # A pass runs once the watcher is set up (its first yield), so a file written while the pass
    # runs is either read by it or reported as an event: none falls between the two.
    pending: str | None = "start"
    present: list[str] | None = None  # None: not looked yet
    while not stop.is_set():
        now = [f for f in folders if os.path.isdir(f)]
        if present is None:
            missing = sorted(set(folders) - set(now))
            if missing:
                on_event("offline", {"paths": missing})
        else:
            gone, back = sorted(set(present) - set(now)), sorted(set(now) - set(present))
            if gone:
                on_event("offline", {"paths": gone})
            if back:  # a drive plugged back may hold files written elsewhere: catch up on it
                on_event("online", {"paths": back})
                pending = "back online"
        present = now
        if not present:
            if pending:
                _pass(config, pending, on_event)
                pending = None
            stop.wait(check_s)
            continue
        for changes in watchfiles.watch(
            *present, watch_filter=flt, debounce=debounce, step=min(50, debounce), stop_event=stop,
            rust_timeout=int(check_s * 1000), yield_on_timeout=True, raise_interrupt=True,
        ):  # fmt: skip
            if [f for f in folders if os.path.isdir(f)] != present:
                break  # the set changed: look again, then watch the new set
            if changes or pending:
                _pass(config, pending or f"{len(changes)} change(s)", on_event)
                pending = None
