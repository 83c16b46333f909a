"""Splits that do not move: split = f(hash(salt, group key)) against cumulative fractions.

The group key is fixed when an example is first found (its first provenance row's conversation),
or, for a near-duplicate, its cluster's oldest member (so no near-duplicate straddles train and
valid). Adding data changes neither for an example that exists, so an example never changes split
and valid loss stays comparable across months. Known limit: a near-duplicate groups with its
cluster, not with the rest of its conversation (a union of both would be stable only until two
groups merge); with the default recipe near-duplicates other than the keeper are not exported.
"""

from __future__ import annotations

from collections.abc import Mapping

import xxhash

SPLITS = ("train", "valid", "test")


class Splitter:
    """`split_of` for one salt and set of fractions, with the cumulative edges worked out once
    (an export asks for every row)."""

    def __init__(self, salt: str, fractions: Mapping[str, float]) -> None:
        self.prefix = f"{salt}\x00".encode()
        total = sum(fractions.get(s, 0.0) for s in SPLITS)
        edge, self.edges = 0.0, []
        for name in SPLITS:
            edge += fractions.get(name, 0.0) / total
            self.edges.append((edge, name))

    def __call__(self, group_key: str) -> str:
        point = xxhash.xxh3_64_intdigest(self.prefix + group_key.encode()) / 2**64
        for edge, name in self.edges:
            if point < edge:
                return name
        return "train"


def split_of(group_key: str, salt: str, fractions: Mapping[str, float]) -> str:
    """The split a group falls in: a uniform point in [0, 1) from the hash, against cumulative fractions."""
    return Splitter(salt, fractions)(group_key)


def conversation_key(file_id: int, locator: Mapping[str, object]) -> str:
    """The conversation an example came from: all branches and pairs mined from one record share it."""
    for key in ("conversation_id", "session", "message_tree_id"):
        if key in locator:
            return f"{key}:{locator[key]}"
    for key in ("line", "index", "commit", "rowid", "capture_id"):
        if key in locator:
            return f"{file_id}:{key}:{locator[key]}"
    return f"{file_id}:{sorted(locator.items())}"
