"""The dashboard's Duplicates pages and the quarantine review queue.

`/duplicates` lists curate's near-duplicate clusters largest first (the `samdata dupes` order);
`/duplicates/{id}` (the cluster's anchor, its keeper or any member) shows the members side by side,
each with a word diff against the keeper, why the keeper is the keeper, and a "make this the keeper"
button (static/dupes.js) that stores a review decision in the `keepers` queue, which curate applies
on its next run. `/review/quarantine` is the keyboard queue of quarantined records (static/app.js).
Bodies are shown only as curate redacted them (or redacted now when curate has not scanned them).
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from samdata.browse import first_words
from samdata.catalog import Catalog
from samdata.curate import keeper, secrets
from samdata.curate.keeper import KeeperFacts
from samdata.serve.api import read_catalog
from samdata.serve.pages import render, shown_body, text_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
DIFF_WORDS = 20_000  # words diffed per member; the rest is shown as is
EXACT_WORDS = 1_500  # a changed stretch up to this many words is matched exactly (no autojunk)

RULES = {
    "review": "chosen in review",
    "source_priority": "earliest source in source_priority",
    "fewer_flags": "fewer quality flags",
    "newest": "newest",
    "smallest_id": "smallest id",
}
_TOKENS = re.compile(r"\S+\s*")  # a word and the spaces after it


def word_diff(keeper: str, member: str) -> tuple[list[tuple[str, str]], bool]:
    """`member` against `keeper` word by word: segments (op, text), op "" (the same), "del" (the
    keeper's words the member lacks) or "ins" (the member's words the keeper lacks); the segments
    other than "del" spell the member's text. And whether the texts were cut to DIFF_WORDS words
    for the diff (the member's rest follows unmarked).

    Words are compared without the spaces after them. Sentences are matched first and the words
    of the sentences that differ then: sentences rarely repeat, so difflib stays fast where every
    word is frequent; only a changed stretch over EXACT_WORDS words is matched with autojunk."""
    a, b = _TOKENS.findall(keeper), _TOKENS.findall(member)
    lead = member[: len(member) - len(member.lstrip())]
    cut = len(a) > DIFF_WORDS or len(b) > DIFF_WORDS
    a, b, rest = a[:DIFF_WORDS], b[:DIFF_WORDS], b[DIFF_WORDS:]
    segments: list[tuple[str, str]] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if segments and segments[-1][0] == op:
            segments[-1] = (op, segments[-1][1] + text)
        else:
            segments.append((op, text))

    def words(x: list[str], y: list[str]) -> None:
        """Word-level diff of two stretches (x of the keeper, y of the member)."""
        kx, ky = [t.rstrip() for t in x], [t.rstrip() for t in y]
        head = 0  # the common start and end need no matching
        while head < min(len(kx), len(ky)) and kx[head] == ky[head]:
            head += 1
        tail = 0
        while tail < min(len(kx), len(ky)) - head and kx[-1 - tail] == ky[-1 - tail]:
            tail += 1
        add("", "".join(y[:head]))
        junk = max(len(kx), len(ky)) - head - tail > EXACT_WORDS
        middle = difflib.SequenceMatcher(
            None, kx[head : len(kx) - tail], ky[head : len(ky) - tail], autojunk=junk
        )
        for tag, i1, i2, j1, j2 in ((t, i1 + head, i2 + head, j1 + head, j2 + head)
                                    for t, i1, i2, j1, j2 in middle.get_opcodes()):  # fmt: skip
            if tag == "equal":
                add("", "".join(y[j1:j2]))
            elif tag == "delete":
                add("del", "".join(x[i1:i2]))
            else:  # the deleted words without their last space: the member's space follows its words
                add("del", "".join(x[i1:i2]).rstrip())
                inserted = "".join(y[j1:j2])
                add("ins", inserted.rstrip())
                add("", inserted[len(inserted.rstrip()) :])
        add("", "".join(y[len(y) - tail :]))

    sa, sb = _sentences(a), _sentences(b)
    add("", lead)
    by_sentence = difflib.SequenceMatcher(
        None, [k for k, _ in sa], [k for k, _ in sb], autojunk=len(sb) > EXACT_WORDS
    )
    for tag, i1, i2, j1, j2 in by_sentence.get_opcodes():
        y = [t for _, ts in sb[j1:j2] for t in ts]
        if tag == "equal":
            add("", "".join(y))
        else:
            words([t for _, ts in sa[i1:i2] for t in ts], y)
    add("", "".join(rest))
    return segments, cut


def _sentences(tokens: list[str]) -> list[tuple[tuple[str, ...], list[str]]]:
    """Tokens grouped into sentences (ended by . ! ? or a line break): (their words, the tokens)."""
    out: list[tuple[tuple[str, ...], list[str]]] = []
    current: list[str] = []
    for t in tokens:
        current.append(t)
        if t.rstrip()[-1:] in (".", "!", "?") or "\n" in t:
            out.append((tuple(x.rstrip() for x in current), current))
            current = []
    if current:
        out.append((tuple(x.rstrip() for x in current), current))
    return out


def _locator(locator: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in locator.items())


def _best_source(sources: list[str], priority: list[str]) -> tuple[int, str | None]:
    """The member's best rank in source_priority (len(priority) for none listed) and that source."""
    ranked = [(priority.index(s), s) for s in sources if s in priority]
    return min(ranked) if ranked else (len(priority), None)


def _fallback_rule(
    kept: str, others: list[str], facts: dict[str, KeeperFacts], priority: list[str]
) -> tuple[str, str]:
    """For clusters stored before curate recorded its rule: the same priority as curate's, the
    runner-up and the first criterion on which the keeper beats it."""
    key = keeper.priority_key(facts, priority)
    runner = min(others, key=key)
    return keeper.deciding_rule(key, kept, runner), runner


def why(cat: Catalog, cluster: dict[str, Any], priority: list[str]) -> dict[str, Any]:
    """Which rule made the keeper the keeper, in words: what separated it from the runner-up (the
    member next in priority), or the review decision that chose it."""
    kept = cluster["keeper"]
    members = [m["id"] for m in cluster["members"]]
    value = next((m["neardup"] for m in cluster["members"] if m["id"] == kept), {})
    facts = cat.keeper_facts(members)
    rule, runner = value.get("rule"), value.get("runner_up")
    others = [x for x in members if x != kept]
    if rule is None and others:
        rule, runner = _fallback_rule(kept, others, facts, priority)
    out: dict[str, Any] = {"rule": rule, "label": RULES.get(rule or "", rule), "runner_up": runner}
    k_sources, k_flags, k_created, _ = facts.get(kept, keeper.NO_FACTS)
    r_sources, r_flags, r_created, _ = facts.get(runner or "", keeper.NO_FACTS)
    short = (runner or "")[:12]
    if rule == "review":
        decision = cat.decisions_in_force("keepers").get(cluster["anchor"])
        by = f" (decision #{decision['id']}, {decision['decided_at']})" if decision else ""
        then = (
            "the priority keeps it too" if runner in (None, kept)
            else f"by priority alone the keeper would be {short}"
        )  # fmt: skip
        out["text"] = f"Chosen in review{by}: it stays the keeper while it is in this cluster; {then}."
    elif rule == "source_priority":
        rank, source = _best_source(k_sources, priority)
        r_rank, r_source = _best_source(r_sources, priority)
        theirs = f"{r_source} (#{r_rank + 1})" if r_source else "no source listed there"
        out["text"] = (
            f"Its source {source} is #{rank + 1} in [curate] source_priority; the runner-up {short} has {theirs}."
        )
    elif rule == "fewer_flags":
        out["text"] = (
            f"Its sources rank as high as the runner-up's in source_priority, and it has fewer quality flags"
            f" ({k_flags} against {r_flags} for {short})."
        )
    elif rule == "newest":
        out["text"] = f"Same source rank and quality flags as the runner-up {short}; it is the newest" + (
            f" (first ingested {k_created}, the runner-up {r_created})."
            if k_created != r_created
            else f" (both first ingested {k_created}; the catalog got it after the runner-up)."
        )
    elif rule == "smallest_id":
        out["text"] = (
            f"Source rank, quality flags, first-ingest time and catalog order tie with the runner-up {short}: the smallest id"
            " decides (a stable tie-break)."
        )
    else:
        out["text"] = "A cluster of one: nothing to choose between."
    return out


def _scanner(request: Request) -> secrets.SecretScanner:
    settings = request.app.state.config.curate
    return secrets.scanner_for(settings)


@router.get("/duplicates", response_class=HTMLResponse)
def duplicates(request: Request, offset: Annotated[int, Query(ge=0)] = 0) -> HTMLResponse:
    scanner = _scanner(request)
    with read_catalog(request) as cat:
        totals = cat.cluster_totals()
        rows = cat.cluster_list(PAGE_SIZE, offset)
        reviewed = cat.decisions("keepers")
        for r in rows:
            body = shown_body(
                request, cat, {"id": r["keeper"], "redacted": r["redacted"], "scanned": r["scanned"]}
            )
            r["text"] = scanner.redact_text(first_words(body))
            r["reviewed"] = r["anchor"] in reviewed

    def page_link(at: int) -> str:
        return "/duplicates?" + urlencode({"offset": max(0, at)})

    return render(request, "duplicates.html", title="Duplicates", page="duplicates", rows=rows, totals=totals,
                   offset=offset, limit=PAGE_SIZE, page_link=page_link)  # fmt: skip


@router.get("/duplicates/{example_id}", response_class=HTMLResponse)
def cluster(request: Request, example_id: str) -> HTMLResponse:
    priority = list(request.app.state.config.curate.source_priority)
    with read_catalog(request) as cat:
        found = cat.cluster_of(example_id)
        if found is None:
            return render(request, "duplicates_cluster.html", 404, title="Not found", page="duplicates",
                           cluster=None, what=example_id)  # fmt: skip
        texts = {}
        for m in found["members"]:
            body = shown_body(request, cat, m)
            texts[m["id"]] = text_of(body)
        reason = why(cat, found, priority)
        pending = cat.decisions_in_force("keepers").get(found["anchor"])
    keeper_text = texts.get(found["keeper"] or "", "")
    for m in found["members"]:
        m["text"] = texts[m["id"]]
        if m["id"] == found["keeper"]:
            m["diff"], m["cut"] = [("", m["text"])], False
        else:
            m["diff"], m["cut"] = word_diff(keeper_text, m["text"])
        m["where"] = [f"{p['source']}: {p['file']} ({_locator(p['locator'])})" for p in m["provenance"]]
    chosen = pending["decision"].removeprefix("keep:") if pending else None
    return render(request, "duplicates_cluster.html", title=f"Cluster {found['anchor'][:12]}", page="duplicates",
                   cluster=found, why=reason, pending=pending, chosen=chosen,
                   applied=chosen == found["keeper"] and reason["rule"] == "review",
                   priority=priority, diff_words=DIFF_WORDS)  # fmt: skip


@router.get("/review/quarantine", response_class=HTMLResponse)
def review_quarantine(request: Request, all: bool = False) -> HTMLResponse:
    with read_catalog(request) as cat:
        items = cat.quarantine_queue(limit=500, include_decided=all)
    for item in items:
        item["where"] = _locator(item["locator"])
    return render(request, "review_quarantine.html", title="Quarantined records", page="review", items=items,
                   all=all)  # fmt: skip
