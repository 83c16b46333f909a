"""Git repositories: each non-merge commit becomes "write the commit message for this diff".

The diff is capped (option `max_diff_chars`, default 12000) so one vendored blob cannot make an
example nobody can train on; a capped diff is marked in the example's meta.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

from samdata.model import Example, InvalidExample, Message
from samdata.sources import Adapter, Context, Produced, Rejected

DEFAULT_MAX_DIFF_CHARS = 12_000
PROMPT = "Write the commit message for this diff.\n\n```diff\n{diff}\n```"
_START, _END = "\x1e", "\x1d"


def head(path: str) -> str:
    """The repository's HEAD commit (its fingerprint: a new commit means new examples)."""
    out = subprocess.run(
        ["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise InvalidExample(f"not a git repository with commits: {out.stderr.strip()[:200]}")
    return out.stdout.strip()


def _commits(path: str) -> Iterator[tuple[str, str, str, str]]:
    """(sha, date, message, diff) of every non-merge commit, streamed from one `git log -p`."""
    cmd = [
        "git",
        "-C",
        path,
        "log",
        "--no-merges",
        "--no-color",
        "--no-ext-diff",
        "-p",
        f"--format={_START}%H%n%aI%n%B{_END}",
    ]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        current: list[str] = []
        for line in proc.stdout:
            if line.startswith(_START) and current:
                yield _split("".join(current))
                current = []
            current.append(line)
        if current:
            yield _split("".join(current))


def _split(record: str) -> tuple[str, str, str, str]:
    header, _, diff = record[1:].partition(_END)
    sha, date, message = ([*header.split("\n", 2), "", ""])[:3]
    return sha, date, message.strip(), diff.strip("\n")


def _has_textual_change(diff: str) -> bool:
    """False for an empty diff or one that only says "Binary files … differ"."""
    return any(
        line[:1] in "+-" and line and not line.startswith(("+++", "---")) for line in diff.splitlines()
    )


def convert_file(ctx: Context) -> Iterator[tuple[dict[str, Any], Produced | Rejected]]:
    limit = int(ctx.options.get("max_diff_chars", DEFAULT_MAX_DIFF_CHARS))
    for sha, date, message, diff in _commits(str(ctx.path)):
        ids = {"commit": sha}
        if not message:
            yield ids, Rejected("commit without a message")
            continue
        if not _has_textual_change(diff):
            yield ids, Rejected("commit without a textual diff (binary or empty)")
            continue
        meta: dict[str, Any] = {"date": date}
        if len(diff) > limit:
            meta["diff_chars"] = len(diff)
            diff = diff[:limit] + f"\n… [diff cut at {limit} of {len(diff)} characters]"
        example = Example("sft", [Message("user", PROMPT.format(diff=diff)), Message("assistant", message)])
        yield ids, Produced(example, meta)


ADAPTER = Adapter("git", 1, "file", convert_file=convert_file)
