"""Curate redoes only the near-duplicate clusters something touched: after every kind of change the
stored clusters and verdicts equal those of clustering the whole catalog again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samdata.catalog import Catalog, utcnow
from samdata.catalog.ingest import ExampleRow
from samdata.curate import _cluster, run_curate
from samdata.model import Example, Message
from tests.conftest import config_for
from tests.curate.test_neardup import edit, prose


def _add(cat: Catalog, source: str, file: str, texts: list[tuple[str, str]]) -> list[str]:
    """Store these (question, answer) pairs as one ingest run's read of `file`."""
    rows = []
    for i, (q, a) in enumerate(texts):
        rows.append(
            ExampleRow.of(Example("sft", [Message("user", q), Message("assistant", a)]), {"line": i + 1}, {})
        )
    run = cat.start_ingest([source], utcnow())
    cat.commit_batch(run, source, file, rows, [], None, utcnow())
    return [r.id for r in rows]


def _prefer(config: Any, source: str) -> Any:
    return config.model_copy(
        update={"curate": config.curate.model_copy(update={"source_priority": [source]})}
    )


def _label(cat: Catalog, example_id: str, field: str) -> Any:
    return cat.conn.execute(
        f"SELECT neardup ->> '$.{field}' FROM labels WHERE example_id = ?", (example_id,)
    ).fetchone()[0]


def _stored(cat: Catalog) -> dict[str, Any]:
    return {
        "labels": cat.conn.execute(
            "SELECT example_id, neardup, verdict FROM labels ORDER BY example_id"
        ).fetchall(),
        "clusters": cat.cluster_count(),
    }


def _assert_same_as_full(cat: Catalog, config: Any, clusters: int) -> None:
    """The increment's result against clustering everything again (which rewrites what differs)."""
    before = _stored(cat)
    assert before["clusters"] == clusters
    cat.put_stat("curate.clusters", None)
    full, redone = _cluster(cat, config.curate.source_priority, cat.get_stat("neardup.version"))
    assert redone["clusters"] == "all"
    assert _stored(cat) == before
    assert full == clusters


def test_increments_equal_a_full_clustering_after_every_kind_of_change(tmp_path: Path) -> None:
    config = _prefer(config_for(tmp_path, ""), "gold")
    cat = Catalog.open(config.catalog_path)
    base = [(prose(12), prose(120)) for _ in range(40)]
    ids = _add(cat, "corpus", "corpus.jsonl", base + [(q, edit(a, 2)) for q, a in base[:20]])
    report = run_curate(config, cat)
    assert report.clusters == 20
    assert report.reclustered == {"clusters": "all", "examples": 40}
    _assert_same_as_full(cat, config, 20)
    assert cat.get_stat("curate.clusters")["count"] == 20

    def rerun() -> int:
        report = run_curate(config, cat)
        assert cat.cluster_marks()[1] == set()  # read and cleared
        _assert_same_as_full(cat, config, report.clusters)
        if not report.reclustered:  # the data did not change: nothing was clustered
            return 0
        assert report.reclustered["clusters"] == "changed"
        return report.reclustered["examples"]

    # New near copies join old clusters (two joined through a bridge) and make new ones.
    bridge = base[0][0], base[0][1] + " " + base[1][1]
    _add(cat, "later", "later.jsonl", [(q, edit(a, 1)) for q, a in base[:3]] + [bridge] + [base[30]])
    assert 0 < rerun() <= 3 * 3 + 1  # the three clusters the new copies and the bridge touch
    _add(cat, "later", "later2.jsonl", [(q, edit(a, 3)) for q, a in base[:30]])
    assert rerun() > 20
    # An example already clustered is found in a source the priority prefers: it becomes the keeper.
    _add(cat, "gold", "gold.jsonl", [base[5]])
    assert rerun() == _label(cat, ids[5], "size")  # that cluster only
    assert _label(cat, ids[5], "keeper") == 1
    # A person chooses another keeper, then undoes it.
    anchor, member = cat.conn.execute(
        "SELECT neardup ->> '$.anchor', example_id FROM labels WHERE neardup ->> '$.keeper' = 0 LIMIT 1"
    ).fetchone()
    decision = cat.decide("keepers", anchor, f"keep:{member}", utcnow())
    rerun()
    assert _label(cat, member, "rule") == "review"
    cat.undo_decision(decision)
    rerun()
    assert _label(cat, member, "keeper") == 0
    # A keeper is forgotten: its cluster shrinks or goes.
    gone = cat.conn.execute(
        "SELECT example_id FROM labels WHERE neardup ->> '$.keeper' = 1 LIMIT 1"
    ).fetchone()[0]
    cat.forget([gone])
    rerun()
    # A member's quality flags change (a new quality version relabels it): the keeper may move.
    flagged = cat.conn.execute(
        "SELECT example_id FROM labels WHERE neardup ->> '$.keeper' = 1 LIMIT 1"
    ).fetchone()[0]
    with cat.transaction(data=True) as c:
        c.execute('UPDATE labels SET quality = \'[{"flag": "truncated"}]\' WHERE example_id = ?', (flagged,))
    rerun()
    assert _label(cat, flagged, "keeper") == 0
    # corpus.jsonl is rewritten with its first 20 records only: the others' examples go.
    _add(cat, "corpus", "corpus.jsonl", base[:20])
    cat.prune_file(
        "corpus", "corpus.jsonl", cat.conn.execute("SELECT max(id) FROM ingest_runs").fetchone()[0]
    )
    assert cat.conn.execute("SELECT count(*) FROM examples WHERE id IN (SELECT value FROM json_each(?))",
                            (json.dumps(ids[40:]),)).fetchone()[0] == 0  # fmt: skip
    rerun()
    # Nothing changed: nothing is marked and the clusters stay.
    assert rerun() == 0
    cat.close()


def test_a_changed_source_priority_clusters_everything_again(tmp_path: Path) -> None:
    config = config_for(tmp_path, "")
    cat = Catalog.open(config.catalog_path)
    q, a = prose(12), prose(120)
    first, twin = _add(cat, "a", "a.jsonl", [(q, a)])[0], _add(cat, "b", "b.jsonl", [(q, edit(a, 1))])[0]
    run_curate(config, cat)
    keeper = cat.clusters()[0]["keeper"]
    other = twin if keeper == first else first
    source = "b" if other == twin else "a"
    prefer = _prefer(config, source)
    assert cat.cluster_marks()[1] == set()  # nothing marked: the key alone redoes them
    run_curate(prefer, cat)
    assert cat.clusters()[0]["keeper"] == other
    cat.close()


def test_more_marks_than_the_limit_cluster_everything_again(tmp_path: Path, monkeypatch) -> None:
    import samdata.curate as curate

    config = config_for(tmp_path, "")
    cat = Catalog.open(config.catalog_path)
    base = [(prose(12), prose(120)) for _ in range(6)]
    _add(cat, "a", "a.jsonl", base)
    run_curate(config, cat)
    _add(cat, "b", "b.jsonl", [(q, edit(a, 1)) for q, a in base[:3]])
    monkeypatch.setattr(curate, "INCREMENTAL_MARKS", 5)  # the 3 new pairs mark 6 examples
    report = run_curate(config, cat)
    assert report.reclustered == {"clusters": "all", "examples": 6} and report.clusters == 3
    assert cat.cluster_marks()[1] == set()
    _add(cat, "c", "c.jsonl", [(q, edit(a, 2)) for q, a in base[3:4]])
    assert run_curate(config, cat).reclustered == {"clusters": "changed", "examples": 2}
    cat.close()
