"""Which member of a near-duplicate cluster is kept: one priority, used by curate to choose and by
the clusters page to explain the choice."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

# The criteria in the order they decide; a cluster's value records the first that told its keeper
# from the runner-up.
RULES = ("source_priority", "fewer_flags", "newest", "smallest_id")
RULE_VERSION = 2  # bumped when the priority changes: stored clusters are then redone


class KeeperFacts(NamedTuple):
    """What the priority reads of one example."""

    sources: list[str]
    flags: int  # quality flags
    created_at: str  # first ingested
    added: int  # the catalog's rowid: the order the catalog got its examples in


NO_FACTS = KeeperFacts([], 0, "", 0)


def priority_key(
    facts: Mapping[str, KeeperFacts], source_priority: Sequence[str]
) -> Callable[[str], tuple[Any, ...]]:
    """Sort key of a cluster's members, best first: 1. the earliest source in `source_priority`
    (unlisted sources after listed ones), 2. fewer quality flags, 3. the newest: the latest
    first-ingest time, and within one tick of the clock the one the catalog got last (the input's
    order, so every engine and every run agrees), 4. the smallest id (stable)."""
    rank: dict[str, int] = {}
    for i, name in enumerate(source_priority):
        rank.setdefault(name, i)

    def key(example_id: str) -> tuple[Any, ...]:
        f = facts.get(example_id, NO_FACTS)
        best_source = min((rank.get(s, len(rank)) for s in f.sources), default=len(rank))
        newest_first = (-datetime.fromisoformat(f.created_at).timestamp() if f.created_at else 0.0, -f.added)
        return best_source, f.flags, newest_first, example_id

    return key


def deciding_rule(key: Callable[[str], tuple[Any, ...]], keeper: str, runner_up: str) -> str:
    """The first criterion of `RULES` on which `keeper` beats `runner_up`."""
    return next(r for r, k, o in zip(RULES, key(keeper), key(runner_up), strict=True) if k != o)


def anchor_of(group: Iterable[str], facts: Mapping[str, KeeperFacts]) -> str:
    """The oldest member (first ingested, then the catalog's order): it stays the anchor as new
    members join, so exports and review decisions can group by it."""

    def age(x: str) -> tuple[str, int, str]:
        f = facts.get(x, NO_FACTS)
        return f.created_at, f.added, x

    return min(group, key=age)
