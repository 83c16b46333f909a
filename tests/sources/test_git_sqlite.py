"""Git repositories and SQLite training stores, built here for real (git CLI, sqlite3)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from samdata.catalog import Catalog
from samdata.ingest import run_ingest
from tests.conftest import config_for


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "Sam",
        "GIT_AUTHOR_EMAIL": "sam@example.org",
        "GIT_COMMITTER_NAME": "Sam",
        "GIT_COMMITTER_EMAIL": "sam@example.org",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "HOME": str(repo),
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def make_repo(repo: Path) -> None:
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "app.py").write_text("print('hello')\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add the app\n\nIt prints a greeting.")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "app.py").write_text("print('hello, world')\n")
    git(repo, "commit", "-q", "-am", "Greet the whole world")
    git(repo, "checkout", "-q", "main")
    (repo / "README.md").write_text("# app\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a README")
    git(repo, "merge", "-q", "--no-ff", "feature", "-m", "Merge branch 'feature'")
    (repo / "logo.bin").write_bytes(bytes(range(256)))
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a binary logo")
    (repo / "big.txt").write_text("line\n" * 5000)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Add a big file")


def test_git_commits_become_commit_message_examples(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo)
    config = config_for(
        tmp_path,
        f'[[sources]]\nname = "code"\npath = "{repo}"\nformat = "git"\noptions = {{ max_diff_chars = 2000 }}\n',
    )
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        examples = cat.examples_from(str(repo))
        rejected = cat.quarantined()
        # 6 commits: the merge is skipped, the binary-only one has no textual diff → 4 examples.
        answers = sorted(e["body"]["messages"][1]["content"] for e in examples)
        assert answers == [
            "Add a README",
            "Add a big file",
            "Add the app\n\nIt prints a greeting.",
            "Greet the whole world",
        ]
        assert [r["reason"] for r in rejected] == ["commit without a textual diff (binary or empty)"]
        prompt = next(e for e in examples if e["body"]["messages"][1]["content"] == "Greet the whole world")
        assert "+print('hello, world')" in prompt["body"]["messages"][0]["content"]
        big = next(e for e in examples if e["body"]["messages"][1]["content"] == "Add a big file")
        assert (
            big["meta"]["diff_chars"] > 2000 and "diff cut at 2000" in big["body"]["messages"][0]["content"]
        )
        assert all(len(e["locator"]["commit"]) == 40 for e in examples)
        assert run_ingest(config, cat).totals()["files_unchanged"] == 1  # same HEAD: nothing to do
        (repo / "new.py").write_text("x = 1\n")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "Add x")
        report = run_ingest(config, cat)
        assert report.totals()["examples_new"] == 1


def test_sqlite_store_with_default_and_explicit_mapping(tmp_path: Path) -> None:
    store = tmp_path / "sam.db"
    conn = sqlite3.connect(store)
    conn.execute(
        "CREATE TABLE training_examples (id INTEGER PRIMARY KEY, prompt TEXT, response TEXT, system TEXT)"
    )
    conn.executemany(
        "INSERT INTO training_examples (prompt, response, system) VALUES (?, ?, ?)",
        [("q1", "a1", None), ("q2", "a2", "be brief"), ("q3", None, None)],
    )
    conn.execute("CREATE TABLE distill (id INTEGER PRIMARY KEY, user_msg TEXT, teacher_answer TEXT)")
    conn.executemany(
        "INSERT INTO distill (user_msg, teacher_answer) VALUES (?, ?)", [("d1", "t1"), ("d2", "t2")]
    )
    conn.commit()
    conn.close()
    before = store.read_bytes()
    config = config_for(
        tmp_path,
        f'[[sources]]\nname = "store"\npath = "{store}"\nformat = "sqlite"\n'
        f'[[sources]]\nname = "distill"\npath = "{store}"\nformat = "sqlite"\n'
        'options = { table = "distill", columns = { prompt = "user_msg", response = "teacher_answer" } }\n',
    )
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        stats = cat.ingest_stats()["sources"]
        # Without options every table with example-like columns is read: user_msg is prompt-like,
        # teacher_answer answer-like. q3 has no response: quarantined.
        assert stats["store"]["sft"] == 4 and stats["store"]["quarantined"] == 1
        assert stats["distill"]["sft"] == 2
        [account] = cat.accounts("store")
        assert (account["records"], account["produced"], account["balanced"]) == (5, 4, True)
        second = [
            e for e in cat.examples_from(str(store), "store") if e["locator"]["table"] == "training_examples"
        ][1]
        assert second["locator"] == {"rowid": 2, "table": "training_examples"}
        assert [m["role"] for m in second["body"]["messages"]] == ["system", "user", "assistant"]
    assert store.read_bytes() == before
    assert not list(tmp_path.glob("sam.db-*"))  # no -wal/-shm: opened immutable


def test_without_sources_the_last_scan_is_ingested(tmp_path: Path) -> None:
    from samdata.config import load_config
    from samdata.demo.estate import build_estate
    from samdata.scan.run import run_scan

    estate = build_estate(tmp_path)
    config = load_config(estate.config_path).model_copy(update={"sources": []})
    with Catalog.open(config.catalog_path) as cat:
        run_scan(config, cat, workers=1)
        report = run_ingest(config, cat)
        sources = cat.ingest_stats()["sources"]
    assert {"scan:chat_jsonl", "scan:dolly", "scan:oasst", "scan:sqlite", "scan:claude_code"} <= set(sources)
    assert sources["scan:sqlite"]["sft"] == 20 + 150  # escalations.db and distill.db
    assert report.totals()["examples_new"] > 1000


def _export_with_regeneration() -> list[dict]:
    def node(nid: str, parent: str | None, role: str | None, text: str, children: list[str]) -> dict:
        message = (
            None
            if role is None
            else {"id": nid, "author": {"role": role}, "content": {"content_type": "text", "parts": [text]}}
        )
        return {"id": nid, "parent": parent, "children": children, "message": message}

    mapping = {
        "root": node("root", None, None, "", ["q"]),
        "q": node("q", "root", "user", "What is 2+2?", ["a1", "a2"]),
        "a1": node("a1", "q", "assistant", "5", []),
        "a2": node("a2", "q", "assistant", "4", []),
    }
    return [{"id": "conv-1", "title": "maths", "mapping": mapping, "current_node": "a2"}]


def test_chatgpt_zip_with_feedback_makes_a_preference_pair(tmp_path: Path) -> None:
    import json
    import zipfile

    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("conversations.json", json.dumps(_export_with_regeneration()))
        zf.writestr(
            "message_feedback.json",
            json.dumps([{"message_id": "a1", "conversation_id": "conv-1", "rating": "thumbsDown"}]),
        )
    config = config_for(tmp_path, f'[[sources]]\nname = "gpt"\npath = "{z}"\nformat = "auto"\n')
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        examples = cat.examples_from(str(z))
    kinds = sorted((e["kind"], e["meta"].get("branch", "")) for e in examples)
    # The visible answer (a2), its regenerated sibling (a1), and the pair a2 ≻ a1 from the thumbs down.
    assert kinds == [("preference", ""), ("sft", "alternative"), ("sft", "visible")]
    pair = next(e for e in examples if e["kind"] == "preference")
    assert pair["body"]["chosen"][0]["content"] == "4" and pair["body"]["rejected"][0]["content"] == "5"
    assert pair["locator"]["chosen_id"] == "a2" and pair["locator"]["rejected_id"] == "a1"
