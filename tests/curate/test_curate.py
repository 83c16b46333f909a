"""`samdata curate` on the demo: incremental, versioned, redacted bodies, the funnel and the CLI contract."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from samdata.catalog import Catalog
from samdata.config import load_config
from samdata.curate import run_curate
from samdata.demo import run_demo
from tests.test_cli import run_cli


def test_curate_labels_once_redacts_and_reports(tmp_path: Path) -> None:
    demo = run_demo(tmp_path / "demo")
    config = load_config(demo.estate.config_path)
    total = demo.stats["examples"]["total"]
    everything = dict.fromkeys(("secrets", "quality", "minhash", "category", "language", "tokens"), total)
    nothing = dict.fromkeys(everything, 0)
    assert demo.curate.labelled == everything  # the demo curates too
    with Catalog.open(config.catalog_path) as cat:
        cat.conn.execute("DELETE FROM labels")  # start over: curate must label everything again
        first = run_curate(config, cat)
        assert first.labelled == everything
        assert run_curate(config, cat).labelled == nothing  # incremental
        logs = first.funnel["sam-logs"]
        # The demo planted an AWS key and an e-mail address in two captures, and one boilerplate answer.
        assert logs == {
            "ingested": 12,
            "near_dup_removed": 0,
            "quality_flagged": 1,
            "with_secrets": 2,
            "kept": 11,
            "not_curated": 0,
        }
        # Five Dolly rows are near-copies of five others (last word changed): five clusters.
        assert first.clusters == 5 and first.funnel["dolly"]["near_dup_removed"] == 5
        assert first.funnel["sam-code"]["with_secrets"] == 1  # the database URL in a commit's diff
        key_example = next(
            e
            for e in cat.examples_from(
                str(demo.estate.roots["Internal"] / "sam/logs/capture_2025-11-01.jsonl")
            )
            if e["locator"] == {"line": 1}
        )
        redacted = cat.redacted_body(key_example["id"])
        assert "<AWS_ACCESS_KEY>" in redacted["messages"][1]["content"]
        assert "AKIA" not in orjson.dumps(redacted).decode()
        assert "AKIA" in key_example["body"]["messages"][1]["content"]  # the raw record is never rewritten

    # The allow-list is part of the secrets detector's version: adding a hash re-labels everything.
    cfg_text = demo.estate.config_path.read_text()
    with Catalog.open(config.catalog_path) as cat:
        email = next(f for f in cat.secret_findings() if f["kind"] == "email")
    demo.estate.config_path.write_text(cfg_text + f'\n[curate]\nallow = ["{email["hash"]}"]\n')
    proc = run_cli("curate", "--config", str(demo.estate.config_path), "--json")
    assert proc.returncode == 0, proc.stderr
    report = orjson.loads(proc.stdout)
    assert report["labelled"] == {**nothing, "secrets": total}
    assert report["funnel"]["sam-logs"]["with_secrets"] == 1

    findings = orjson.loads(run_cli("secrets", "--config", str(demo.estate.config_path), "--json").stdout)[
        "findings"
    ]
    assert {(f["kind"], f["source"]) for f in findings} == {
        ("aws_access_key", "sam-logs"),
        ("database_url", "sam-code"),
    }
    for f in findings:
        assert {"example_id", "kind", "source", "locator"} <= set(f) and len(f["example_id"]) == 32
    human = run_cli("curate", "--config", str(demo.estate.config_path))
    assert "flagged by quality" in human.stdout and "sam-logs" in human.stdout
    dupes = orjson.loads(run_cli("dupes", "--config", str(demo.estate.config_path), "--json").stdout)[
        "clusters"
    ]
    assert len(dupes) == 5
    for c in dupes:
        ids = {m["id"] for m in c["members"]}
        assert c["keeper"] in ids and len(ids) == 2
        # each example appears once per provenance row: Dolly rows are in "dolly" and "public-sets"
        assert sorted(m["source"] for m in c["members"]) == ["dolly", "dolly", "public-sets", "public-sets"]


def test_wrong_language_for_the_source_is_flagged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    rows = [
        {
            "messages": [
                {"role": "user", "content": "How do I boil an egg properly?"},
                {"role": "assistant", "content": "Put it in boiling water for nine minutes, then cool it."},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Wie koche ich ein Ei richtig?"},
                {
                    "role": "assistant",
                    "content": "Leg es neun Minuten in kochendes Wasser und kühle es danach ab.",
                },
            ]
        },
    ]
    (data / "en.jsonl").write_text("\n".join(orjson.dumps(r).decode() for r in rows) + "\n")
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(
        f'[[sources]]\nname = "english"\npath = "{data}/en.jsonl"\nformat = "chat_jsonl"\nlanguage = "en"\n'
    )
    assert run_cli("ingest", "--config", str(cfg)).returncode == 0
    report = orjson.loads(run_cli("curate", "--config", str(cfg), "--json").stdout)
    assert report["funnel"]["english"]["quality_flagged"] == 1 and report["funnel"]["english"]["kept"] == 1
    stats = orjson.loads(run_cli("stats", "--config", str(cfg), "--json").stdout)["curation"]
    assert stats["wrong_language"] == {"examples": 1} and stats["by_language"] == {"en": 1, "de": 1}


def test_a_run_after_new_examples_reads_only_them_and_a_lost_label_sends_it_back_to_all(
    tmp_path: Path,
) -> None:
    from samdata.catalog import utcnow
    from samdata.catalog.ingest import ExampleRow
    from samdata.model import Example, Message
    from tests.conftest import config_for

    config = config_for(tmp_path, "")
    file = str(tmp_path / "chats.jsonl")

    def add(cat: Catalog, start: int, n: int) -> list[str]:
        rows = [
            ExampleRow.of(
                Example("sft", [Message("user", f"question {i} about the river"),
                                Message("assistant", f"The answer to question {i} is a long enough reply.")]),
                {"line": i}, {},
            )
            for i in range(start, start + n)
        ]  # fmt: skip
        cat.commit_batch(None, "chats", file, rows, [], None, utcnow())
        return [r.id for r in rows]

    with Catalog.open(config.catalog_path) as cat:
        seen: list[int] = []
        count = cat.unlabelled_count

        def spy(versions: dict[str, int], after: int = 0) -> int:
            seen.append(after)
            return count(versions, after)

        cat.unlabelled_count = spy  # type: ignore[method-assign]
        first = add(cat, 0, 3)
        assert run_curate(config, cat).labelled["quality"] == 3 and seen == [0]
        add(cat, 3, 2)
        report = run_curate(config, cat)
        assert report.labelled["quality"] == 2  # only the new ones
        assert (
            seen[-1]
            == cat.conn.execute("SELECT rowid FROM examples WHERE id = ?", (first[-1],)).fetchone()[0]
        )
        assert run_curate(config, cat).labelled["quality"] == 0
        # A label removed by hand: the count of label values moved, so every example is looked at again.
        cat.conn.execute(
            "UPDATE labels SET tokens = NULL, tokens_version = NULL WHERE example_id = ?", (first[0],)
        )
        again = run_curate(config, cat)
        assert seen[-1] == 0 and again.labelled["tokens"] == 1 and again.labelled["quality"] == 0
        labelled = cat.conn.execute("SELECT count(*) FROM labels WHERE verdict IS NOT NULL").fetchone()[0]
        assert labelled == 5


def test_a_run_killed_while_labelling_keeps_what_it_committed_and_the_next_labels_the_rest(
    tmp_path: Path, monkeypatch
) -> None:
    import samdata.curate as curate
    from samdata.catalog import utcnow
    from samdata.catalog.ingest import ExampleRow
    from samdata.model import Example, Message
    from tests.conftest import config_for

    config = config_for(tmp_path, "")
    rows = [
        ExampleRow.of(
            Example("sft", [Message("user", f"question {i} about the lake"),
                            Message("assistant", f"The answer to question {i} is a reply of some length.")]),
            {"line": i}, {},
        )
        for i in range(40)
    ]  # fmt: skip
    monkeypatch.setattr(curate, "BATCH", 5)
    monkeypatch.setattr(curate, "COMMIT_EVERY", 2)
    labels = "SELECT example_id, secrets, quality, minhash, category, language, tokens, verdict FROM labels"
    with Catalog.open(tmp_path / "whole.db") as cat:
        cat.commit_batch(None, "chats", "f.jsonl", rows, [], None, utcnow())
        run_curate(config, cat, workers=1)
        whole = sorted(map(tuple, cat.conn.execute(labels)))
    with Catalog.open(config.catalog_path) as cat:
        cat.commit_batch(None, "chats", "f.jsonl", rows, [], None, utcnow())
        save, calls = cat.save_labels, []

        def killed_at_the_fourth(*args, **kwargs):
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return save(*args, **kwargs)

        cat.save_labels = killed_at_the_fourth  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt):
            run_curate(config, cat, workers=1)
        # The first group of two batches of five was committed; the third batch went with the
        # group the fourth's failure left open.
        assert cat.conn.execute("SELECT count(*) FROM labels").fetchone()[0] == 10
        assert not cat.conn.in_transaction
        cat.save_labels = save  # type: ignore[method-assign]
        assert run_curate(config, cat, workers=1).labelled["quality"] == 30
        assert sorted(map(tuple, cat.conn.execute(labels))) == whole
        assert cat.conn.execute("SELECT count(*) FROM lsh_pending").fetchone()[0] == 0
