"""`samdata curate`: label every ingested example, incrementally, without touching its raw record.

Detectors write labels (one JSON value per example and detector, with the detector's version):
an example is (re)labelled when it has no value yet or its value came from an older version. The
secrets detector also stores findings and a redacted body, which is what exports use.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import xxhash

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.curate import batch, categorize, keeper, language, neardup, quality, secrets, tokens, verdict
from samdata.engine import Engine, LocalEngine, default_workers
from samdata.progress import CurateProgress as CurateProgress

BATCH = 1000
COMMIT_EVERY = 8  # batches a transaction: a killed run labels at most that many again


@dataclass
class CurateReport:
    """How many examples each detector labelled in this run, and the funnel after it."""

    labelled: dict[str, int] = field(default_factory=dict)
    # Where the time went: CPU seconds per detector in the workers, and the main process's steps.
    seconds: dict[str, float] = field(default_factory=dict)
    clusters: int = 0
    # The clustering step: "all" (every pair read) or "changed" (the clusters reachable from the
    # examples marked since the last one), and how many examples it walked.
    reclustered: dict[str, Any] = field(default_factory=dict)
    funnel: dict[str, dict[str, int]] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)
    kept: int = 0  # live examples the stored verdicts keep
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "neardup_clusters": self.clusters,
            "reclustered": self.reclustered,
            "funnel": self.funnel,
            "quality_flags": self.flags,
            "kept": self.kept,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "elapsed_s": round(self.elapsed_s, 3),
        }


def run_curate(
    config: Config,
    catalog: Catalog,
    progress: CurateProgress | None = None,
    workers: int | None = None,
    engine: Engine | None = None,
) -> CurateReport:
    """Label what is not labelled by the current detector versions, on `workers` processes (default:
    every core) or on `engine` (a Ray cluster); the labels are the same on any. Return counts and
    the funnel."""
    progress = progress or CurateProgress()
    try:
        return _run_curate(config, catalog, progress, workers, engine)
    finally:
        progress.done()


def plan_for(
    config: Config, reviewed_allow: Sequence[str] = (), reviewed_patterns: Sequence[str] = ()
) -> batch.Plan:
    """The labelling plan of a config: detector versions (which include the settings that shape
    each result, so a changed setting relabels) and what the detectors need to run.
    `reviewed_allow`: finding hashes allowed in the review queue, added to `[curate] allow`."""
    settings = config.curate
    allow = sorted({*settings.allow, *reviewed_allow})
    allow_patterns = sorted({*settings.allow_patterns, *reviewed_patterns})
    rules = quality.QualityRules(
        min_answer_chars=settings.min_answer_chars, max_answer_chars=settings.max_answer_chars
    )
    params = neardup.NearDupParams(
        shingle=settings.shingle, n=settings.shingle_size, threshold=settings.neardup_threshold,
        bands=settings.lsh_bands, rows=settings.lsh_rows, normalize_numbers=settings.normalize_numbers,
    )  # fmt: skip
    defaults = {s.name: s.category for s in config.sources if s.category}
    expected = {s.name: s.language for s in config.sources if s.language}
    versions = {
        # The allow-list and literals change what the secrets detector finds: they are part of its version.
        "secrets": detector_version(secrets.VERSION, settings.literals, allow, *allow_patterns),
        "quality": detector_version(quality.VERSION, rules),
        "minhash": detector_version(neardup.VERSION, params),
        "category": detector_version(
            categorize.VERSION, sorted(defaults.items()), sorted(settings.category_overrides.items())
        ),
        "language": detector_version(language.VERSION, sorted(expected.items())),
        "tokens": detector_version(tokens.VERSION, settings.tokenizer),
    }
    return batch.Plan(
        versions=versions, literals=tuple(settings.literals), allow=tuple(allow), allow_patterns=tuple(allow_patterns), rules=rules,
        params=params, tokenizer=settings.tokenizer, category_defaults=defaults,
        category_overrides=dict(settings.category_overrides), expected_languages=expected,
        source_order=tuple(s.name for s in config.sources),
    )  # fmt: skip


def _run_curate(
    config: Config, catalog: Catalog, progress: CurateProgress, workers: int | None, engine: Engine | None
) -> CurateReport:
    t0 = time.perf_counter()
    report = CurateReport(labelled=dict.fromkeys(batch.DETECTORS, 0))
    plan = plan_for(config, catalog.allowed_secret_hashes(), catalog.allowed_secret_patterns())
    if catalog.get_stat("neardup.version") != plan.versions["minhash"]:
        catalog.reset_neardup()
        catalog.put_stat("neardup.version", plan.versions["minhash"])
    # Finding the unlabelled examples reads every example: skipped when nothing was written since a
    # run that left none at these detector versions, and only the examples added since then are
    # read when only examples were added (same versions and schema, no label row gone).
    fingerprint = catalog.labels_fingerprint()
    last = catalog.get_stat("curate.labelled") or {}
    same_labels = isinstance(last, dict) and last.get("versions") == plan.versions
    same_labels = same_labels and last.get("fingerprint", [None])[1:] == fingerprint[1:]
    up_to_date = same_labels and last["fingerprint"] == fingerprint
    after = int(last.get("mark", 0)) if same_labels else 0
    mark = catalog.last_rowid()  # before reading: an example added meanwhile is above it
    pending = 0 if up_to_date else catalog.unlabelled_count(plan.versions, after)
    progress.detector("labelling", pending)
    batches = iter(()) if up_to_date else catalog.unlabelled(plan.versions, BATCH, after)
    given = engine
    engine = given or _local(workers, pending)
    seconds = report.seconds
    seconds.update(dict.fromkeys(("parse", *batch.DETECTORS, "write", "verify", "cluster", "funnel"), 0.0))
    clock = time.perf_counter
    labelled = engine.map(batch.label, batches, batch.init, (plan,))
    # Closed on the way out, so an exception in the loop rolls the open transaction back at once.
    with contextlib.closing(catalog.in_transactions(labelled, COMMIT_EVERY, data=True)) as grouped:
        for labels in grouped:
            for name, spent in labels.seconds.items():
                seconds[name] += spent
            t = clock()
            catalog.save_labels(
                labels.values,
                plan.versions,
                labels.findings,
                labels.redactions,
                labels.bands,
                labels.texts,
            )
            # Examples relabelled in part get their verdict from their stored labels.
            done = {i for i, _v in labels.values["verdict"]}
            stale = sorted({i for values in labels.values.values() for i, _v in values} - done)
            if stale:
                catalog.save_verdicts(verdict.verdicts(catalog, stale))
            seconds["write"] += clock() - t
            for name in batch.DETECTORS:
                report.labelled[name] += len(labels.values[name])
            progress.advance(len(labels))
    progress.stage("near-duplicate candidates")
    t = clock()
    _verify_pending(catalog, plan, given or _local(workers, catalog.pending_band_rows() // plan.params.bands))
    seconds["verify"] = clock() - t
    # Preference pairs dropped in review (or their drop undone): their verdicts follow the decisions
    # on every run, before the summary (whose key is the data version a changed verdict moves).
    verdict.refresh_reviewed(catalog)
    # Clusters, funnel and flag counts read the whole catalog: when nothing they read changed since
    # they were last computed (same data version, same keeper rule), the stored ones are still true.
    summary = catalog.get_stat("curate.summary")
    key = [
        catalog.data_version(),
        config.curate.source_priority,
        plan.versions["minhash"],
        keeper.RULE_VERSION,
    ]
    if summary is not None and summary["key"] == key and "kept" in summary:
        report.clusters, report.funnel, report.flags, report.kept = (
            summary["clusters"],
            summary["funnel"],
            summary["flags"],
            summary["kept"],
        )
    else:
        progress.stage("near-duplicate clusters")
        t = clock()
        report.clusters, report.reclustered = _cluster(
            catalog, config.curate.source_priority, plan.versions["minhash"], same_labels
        )
        t, seconds["cluster"] = clock(), clock() - t
        progress.stage("funnel")
        report.funnel = verdict.funnel(catalog)
        seconds["funnel"] = clock() - t
        report.flags = catalog.quality_flag_counts()
        report.kept = catalog.kept_count()
        key[0] = catalog.data_version()  # clustering may have moved it
        catalog.put_stat(
            "curate.summary", {"key": key, "clusters": report.clusters, "funnel": report.funnel,
                               "flags": report.flags, "kept": report.kept},
        )  # fmt: skip
    catalog.put_stat(
        "curate.labelled",
        {"fingerprint": catalog.labels_fingerprint(), "versions": plan.versions, "mark": mark},
    )
    report.elapsed_s = time.perf_counter() - t0
    return report


def _local(workers: int | None, examples: int) -> LocalEngine:
    """`workers` processes, or every core for work worth a pool: a pool costs about half a second
    to start (each worker builds its tokenizer), as much as a core labels ~2,000 examples in."""
    return LocalEngine(workers or (default_workers() if examples > 2 * BATCH else 1))


def _verify_pending(catalog: Catalog, plan: batch.Plan, engine: Engine) -> None:
    """The candidates of the newly signed examples (one sorted pass over their band keys, and
    lookups of the index), verified by exact Jaccard on every core; then their keys join the index.
    Keys left pending by a killed run are picked up by the next one. A first run's keys go into
    the index first and its candidates are read from there (`Catalog.index_pending_first`)."""
    whole = catalog.index_unverified() or catalog.index_pending_first()
    jobs = (
        (pairs, catalog.raw_bodies(sorted({x for p in pairs for x in p})))
        for pairs in catalog.distinct_pending_pairs(2000, whole)
    )
    for verified in engine.map(batch.verify, jobs, batch.init_verify, (plan,)):
        catalog.save_pairs(verified)
    if whole:
        catalog.verified_index()
    else:
        catalog.merge_pending_bands()


# More marks than this: the whole catalog is clustered again (walking that many is no cheaper).
INCREMENTAL_MARKS = 100_000


def _cluster(
    catalog: Catalog, source_priority: list[str], minhash_version: int, labels_kept: bool = True
) -> tuple[int, dict[str, Any]]:
    """Connected components of the verified pairs; one keeper per cluster by the priority of
    `keeper.priority_key` (source priority, fewer quality flags, newest, smallest id).
    A keeper chosen in review (queue "keepers", item the cluster's anchor) wins over the priority
    while that example is still in the cluster (when clusters merged, the one chosen for the new
    anchor, else the newest decision). Each member's value records `rule`, what decided: "review",
    or the first priority criterion on which the keeper beat `runner_up`, the member next in
    priority ("source_priority", "fewer_flags", "newest", "smallest_id"); after a review,
    `runner_up` is the member the priority would keep.

    The clusters are found in SQLite and written a batch at a time (`Catalog.components`), so
    memory does not grow with the catalog. Only the clusters reachable from the examples the
    catalog's triggers marked since the last clustering are redone (the same values as redoing
    all: tested), unless the keeper rule, the source priority or the shingling changed since, or
    the marks are too many. The clusters are then counted from the last count, unless labels
    were deleted since (not `labels_kept`: a cluster whose every label went cannot be
    subtracted), when they are counted in SQL. Returns the number of clusters, and what was
    redone (`CurateReport.reclustered`)."""
    # Read before the pairs: a mark made later stays for the next run.
    upto, marked = catalog.cluster_marks(INCREMENTAL_MARKS)
    key = [source_priority, minhash_version, keeper.RULE_VERSION]
    scope = None
    base = catalog.get_stat("curate.clusters") or {}
    if base.get("key") == key and marked is not None:
        scope = catalog.pair_closure(marked)
    catalog.put_stat("curate.clusters", None)  # a run killed from here on clusters everything again
    catalog.label_components(scope)
    with catalog.transaction(data=True):  # one for all batches: each page goes to the WAL once
        clusters, walked, old_keepers = _write_clusters(catalog, scope, source_priority)
    if scope is None:
        count = clusters
    else:
        count = base["count"] - len(old_keepers) + clusters if labels_kept else catalog.cluster_count()
    catalog.put_stat("curate.clusters", {"key": key, "count": count})
    catalog.clear_cluster_marks(upto)
    return count, {"clusters": "all" if scope is None else "changed", "examples": walked}


def _write_clusters(
    catalog: Catalog, scope: set[str] | None, source_priority: list[str]
) -> tuple[int, int, set[str]]:
    """Compute and store the clusters `label_components` found in `scope` (None: all), a batch
    at a time, and the verdicts that change with them. Returns the clusters, the examples walked
    (for a scope: all of it) and, for a scope, the keepers of the clusters it held before."""
    reviewed = catalog.reviewed_keepers()  # (anchor, chosen example, decision id), oldest first
    chosen_for = {anchor: example for anchor, example, _id in reviewed}
    decided_at = {example: decision for _anchor, example, decision in reviewed}
    clusters = walked = 0
    old_keepers: set[str] = set()  # few: a scope's
    for groups in catalog.components():
        members = [x for g in groups for x in g]
        facts = catalog.keeper_facts(members)
        priority = keeper.priority_key(facts, source_priority)
        values = []
        for group in groups:
            ranked = sorted(group, key=priority)
            kept, runner_up = ranked[0], (ranked[1] if len(ranked) > 1 else None)
            rule = None if runner_up is None else keeper.deciding_rule(priority, kept, runner_up)
            anchor = keeper.anchor_of(group, facts)
            chosen = chosen_for.get(anchor)
            if chosen not in group:
                chosen = max((x for x in group if x in decided_at), key=decided_at.__getitem__, default=None)
            if chosen is not None:
                kept, runner_up, rule = chosen, kept, "review"
            values += [
                (x, {"keeper_id": kept, "keeper": x == kept, "size": len(group), "anchor": anchor,
                     "rule": rule, "runner_up": runner_up})
                for x in group
            ]  # fmt: skip
        changed, keepers = catalog.replace_clusters(values, members)
        catalog.save_verdicts(verdict.verdicts(catalog, sorted(changed)))
        clusters, walked = clusters + len(groups), walked + len(members)
        if scope is not None:
            old_keepers |= keepers
    # Examples whose cluster went (its pairs were dropped or its other members forgotten).
    changed, keepers = catalog.replace_clusters([], catalog.clustered_not_in(scope))
    catalog.save_verdicts(verdict.verdicts(catalog, sorted(changed)))
    if scope is not None:
        old_keepers |= keepers
        walked = len(scope)
    return clusters, walked, old_keepers


def detector_version(version: int, *settings: Any) -> int:
    """A detector's version folded with the settings that shape its output, so a settings change
    re-labels exactly like a new version does."""
    return version * 1_000_003 + xxhash.xxh3_64_intdigest(repr(settings).encode()) % 1_000_003
