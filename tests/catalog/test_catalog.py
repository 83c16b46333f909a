"""The catalog: WAL, foreign keys, migrations recorded once, folder-prefix queries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from samdata.catalog import SCHEMA_VERSION, Catalog, CatalogError
from tests.conftest import catalog_at


def test_open_sets_wal_foreign_keys_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "catalog.db"
    with Catalog.open(path) as cat:
        assert cat.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cat.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert cat.schema_version() == SCHEMA_VERSION
        tables = {r[0] for r in cat.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {
            "files",
            "sources",
            "scans",
            "stats_cache",
            "schema_migrations",
            "problems",
            "roots",
        } <= tables
    with Catalog.open(path) as cat:  # reopening applies nothing twice
        assert cat.migrate() == []
        assert cat.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.db") as cat, pytest.raises(sqlite3.IntegrityError):
        cat.conn.execute(
            "INSERT INTO problems (scan_id, kind, severity, paths, message, action) VALUES (999, 'x', 'info', '[]', 'm', 'a')"
        )


def test_newer_catalog_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    Catalog.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_migrations VALUES (?, 'future', 'now')", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(CatalogError, match="newer than this samdata"):
        Catalog.open(path)


def test_unopenable_catalog_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CatalogError, match="cannot open catalog"):
        Catalog.open(blocker / "catalog.db")


def _row(path: str) -> dict:
    return {
        "path": path,
        "root": None,
        "relpath": path.rsplit("/", 1)[-1],
        "kind": "file",
        "size": 1,
        "mtime_ns": 1,
    }


def test_prefix_queries_do_not_leak_into_sibling_folders(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.db") as cat:
        s1 = cat.start_scan(None, [])
        cat.upsert_files([_row("/a/b/x"), _row("/a/b/sub/y"), _row("/a/bc/z"), _row("/a/b")], s1)
        assert set(cat.file_index(["/a/b"])) == {"/a/b/x", "/a/b/sub/y", "/a/b"}
        s2 = cat.start_scan(None, [])
        index = cat.file_index(["/a/b"])
        assert cat.mark_deleted([index["/a/b/sub/y"][0], index["/a/b"][0]], s2) == 2
        assert cat.mark_deleted([index["/a/b"][0]], s2) == 0  # already gone
        assert {f["path"] for f in cat.files()} == {"/a/b/x", "/a/bc/z"}
        gone = cat.files(status="deleted")
        assert {f["path"] for f in gone} == {"/a/b/sub/y", "/a/b"}
        assert {f["deleted_scan"] for f in gone} == {s2}
        cat.upsert_files([_row("/a/b")], s2)  # it came back
        assert {f["path"]: f["deleted_scan"] for f in cat.files()}["/a/b"] is None


def test_problems_and_stats_round_trip(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.db") as cat:
        scan_id = cat.start_scan("cfg", ["/x"])
        problem = {
            "kind": "empty_file",
            "severity": "warning",
            "paths": ["/x/é.jsonl"],
            "figures": {"size": 0},
            "message": "m",
            "action": "a",
            "root": None,
        }
        assert cat.save_problems(scan_id, [problem]) == 1
        cat.finish_scan(scan_id, "done", {"files_seen": 3})
        got = cat.problems(scan_id)[0]
        assert {k: got[k] for k in problem} == problem
        assert cat.latest_scan()["files_seen"] == 3
        assert cat.latest_scan()["scope"] == ["/x"]
        cat.put_stat("formats", {"dpo": 2}, scan_id)
        cat.put_stat("formats", {"dpo": 3}, scan_id)
        assert cat.get_stat("formats") == {"dpo": 3}
        assert cat.get_stat("missing") is None


def test_sources_mirror_the_config(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.db") as cat:
        src = {"name": "a", "path": "/x/*.jsonl", "format": "auto", "license": None, "notes": None}
        cat.sync_sources([src, {**src, "name": "b"}])
        cat.sync_sources([src])
        rows = {r["name"]: r["active"] for r in cat.conn.execute("SELECT name, active FROM sources")}
        assert rows == {"a": 1, "b": 0}


def test_migration_21_folds_each_examples_label_rows_into_one(tmp_path: Path) -> None:
    """A catalog at schema 20 with labels in `attributes` (rows per example and detector): after the
    migration each example has one `labels` row with the same values and versions, an example no
    detector saw has none, and curate at those versions finds nothing to label."""
    path = tmp_path / "catalog.db"
    conn = catalog_at(path, 20)
    ids = ["a" * 32, "b" * 32, "c" * 32]
    for i in ids:
        conn.execute(
            "INSERT INTO examples (id, kind, body, turns, chars, created_at) VALUES (?, 'sft', '{}', 1, 2, 't')",
            (i,),
        )
    versions = {"secrets": 11, "quality": 12, "minhash": 13, "category": 14, "language": 15, "tokens": 16}
    values = {
        "secrets": '["email"]', "quality": "[]", "minhash": '{"shingles":3}', "category": "null",
        "language": '{"lang":"en","p":0.9}', "tokens": '{"tokens":5,"train_tokens":2}',
    }  # fmt: skip
    rows = [(ids[0], d, versions[d], v) for d, v in values.items()]
    rows += [
        (ids[0], "neardup", 13, '{"keeper":true}'),
        (ids[0], "verdict", 1, '{"kept":true,"reason":null}'),
    ]
    rows += [(ids[1], "quality", 12, '[{"flag":"empty"}]')]
    conn.executemany("INSERT INTO attributes VALUES (?, ?, ?, ?, 'then')", rows)
    conn.close()
    with Catalog.open(path) as cat:
        assert cat.schema_version() == SCHEMA_VERSION
        tables = {r[0] for r in cat.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "attributes" not in tables
        assert cat.labels_of(ids[0]) == {
            "category": None, "language": {"lang": "en", "p": 0.9}, "minhash": {"shingles": 3},
            "neardup": {"keeper": True}, "quality": [], "secrets": ["email"],
            "tokens": {"tokens": 5, "train_tokens": 2}, "verdict": {"kept": True, "reason": None},
        }  # fmt: skip
        assert cat.labels_of(ids[1]) == {"quality": [{"flag": "empty"}]}
        assert cat.labels_of(ids[2]) == {}
        got = cat.conn.execute(
            f"SELECT {', '.join(d + '_version' for d in versions)} FROM labels WHERE example_id = ?",
            (ids[0],),
        ).fetchone()
        assert list(got) == list(versions.values())
        assert cat.unlabelled_count(versions) == 2  # the example with only quality, and the one with none
        assert [r.id for b in cat.unlabelled(versions, 10) for r in b] == ids[1:]
        assert [b[0].needs for b in cat.unlabelled(versions, 1)] == [
            frozenset(versions) - {"quality"},
            frozenset(versions),
        ]
        assert cat.conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_in_transactions_commits_each_group_and_rolls_back_the_one_an_error_leaves(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.db") as cat:
        cat.conn.execute("CREATE TABLE t (n INTEGER)")
        before = cat.data_version()
        with pytest.raises(RuntimeError):
            for n in cat.in_transactions(range(10), 3, data=True):
                if n == 7:
                    raise RuntimeError("killed")
                cat.conn.execute("INSERT INTO t VALUES (?)", (n,))
                assert cat.conn.in_transaction
        # 0-2 and 3-5 were committed; 6 went with the group the error interrupted.
        assert [r[0] for r in cat.conn.execute("SELECT n FROM t ORDER BY n")] == [0, 1, 2, 3, 4, 5]
        assert not cat.conn.in_transaction and cat.data_version() == before + 2
        assert list(cat.in_transactions([], 3)) == [] and not cat.conn.in_transaction
