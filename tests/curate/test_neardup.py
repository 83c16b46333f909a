"""Near-duplicates: precision and recall on a labelled corpus, and what the real fixtures hold."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest

from samdata.catalog import Catalog, utcnow
from samdata.catalog.ingest import ExampleRow
from samdata.curate import run_curate
from samdata.curate.neardup import MinHasher, NearDupParams, jaccard, shingles
from samdata.model import Example, Message, short_id
from tests.conftest import config_for

RNG = random.Random(7)
VOCAB = [
    "".join(RNG.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(RNG.randint(3, 9))) for _ in range(6000)
]


def prose(words: int) -> str:
    return " ".join(RNG.choice(VOCAB) for _ in range(words)) + "."


def edit(text: str, changes: int) -> str:
    words = text.split()
    for _ in range(changes):
        words[RNG.randrange(len(words))] = RNG.choice(VOCAB)
    return " ".join(words)


def corpus() -> tuple[list[tuple[str, str]], list[set[int]]]:
    """(question, answer) documents and the groups that are near-duplicates of each other."""
    docs: list[tuple[str, str]] = []
    groups: list[set[int]] = []

    def add(q: str, a: str) -> int:
        docs.append((q, a))
        return len(docs) - 1

    for _ in range(40):  # exact copies (the same content reached through another path)
        q, a = prose(12), prose(120)
        groups.append({add(q, a), add(q + " ", a + "\n")})
    for _ in range(40):  # light edits: 1-3 words of ~130 changed
        q, a = prose(12), prose(120)
        groups.append({add(q, a), add(q, edit(a, RNG.randint(1, 3))), add(edit(q, 1), a)})
    for _ in range(30):  # the same paragraphs in another order
        q, paras = prose(10), [prose(60) for _ in range(3)]
        groups.append({add(q, "\n\n".join(paras)), add(q, "\n\n".join([paras[2], paras[0], paras[1]]))})
    for _ in range(40):  # different answers to the same question: NOT duplicates
        q = prose(15)
        add(q, prose(100))
        add(q, prose(100))
    for _ in range(150):  # unrelated
        add(prose(12), prose(RNG.randint(40, 200)))
    return docs, groups


def _catalog_with(tmp_path: Path, docs: list[tuple[str, str]]):
    config = config_for(tmp_path, "")
    cat = Catalog.open(config.catalog_path)
    rows = []
    ids = []
    for i, (q, a) in enumerate(docs):
        ex = Example("sft", [Message("user", q), Message("assistant", a)])
        ids.append(ex.id)
        rows.append(ExampleRow.of(ex, {"line": i + 1}, {}))
    cat.commit_batch(None, "corpus", str(tmp_path / "corpus.jsonl"), rows, [], None, utcnow())
    return config, cat, ids


def test_precision_and_recall_on_a_labelled_corpus(tmp_path: Path) -> None:
    docs, groups = corpus()
    config, cat, ids = _catalog_with(tmp_path, docs)
    truth = {
        tuple(sorted((ids[a], ids[b])))
        for g in groups
        for a, b in itertools.combinations(g, 2)
        if ids[a] != ids[b]
    }
    report = run_curate(config, cat)
    found = set()
    for c in cat.clusters():
        members = sorted({m["id"] for m in c["members"]})
        found |= set(itertools.combinations(members, 2))
    precision = len(found & truth) / len(found)
    recall = len(found & truth) / len(truth)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    # Exact copies collapse at ingest (one id): their groups add no pair, the other 70 groups do.
    assert report.clusters == 40 + 30
    cat.close()


def test_incremental_new_examples_meet_old_ones(tmp_path: Path) -> None:
    base = [(prose(12), prose(120)) for _ in range(30)]
    config, cat, _ids = _catalog_with(tmp_path, base)
    assert run_curate(config, cat).clusters == 0
    q, a = base[3]
    near = Example("sft", [Message("user", q), Message("assistant", edit(a, 2))])
    cat.commit_batch(None, "later", "later.jsonl", [ExampleRow.of(near, {"line": 1}, {})], [], None, utcnow())
    report = run_curate(config, cat)
    assert report.labelled["minhash"] == 1  # only the new example is signed
    assert report.clusters == 1
    [cluster] = cat.clusters()
    assert {m["source"] for m in cluster["members"]} == {"corpus", "later"}
    cat.close()


def test_keys_of_later_runs_wait_beside_the_index_until_they_are_an_eighth_of_it(tmp_path: Path) -> None:
    base = [(prose(12), prose(120)) for _ in range(40)]
    config, cat, _ids = _catalog_with(tmp_path, base)
    run_curate(config, cat)
    bands = NearDupParams().bands

    def rows(table: str) -> int:
        return cat.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    assert (rows("lsh_index"), rows("lsh_recent")) == (40 * bands, 0)  # the first run fills the index
    later = [(prose(12), prose(120)) for _ in range(4)]
    cat.commit_batch(None, "later", "later.jsonl", [ExampleRow.of(Example("sft", [Message("user", q), Message("assistant", a)]), {"line": i + 1}, {}) for i, (q, a) in enumerate(later)], [], None, utcnow())  # fmt: skip
    run_curate(config, cat)
    assert (rows("lsh_index"), rows("lsh_recent")) == (40 * bands, 4 * bands)  # 4 < 40 / 8
    # A near copy of a key that waits beside the index is found as well as one of the index's.
    q, a = later[1]
    q0, a0 = base[0]
    copies = [Example("sft", [Message("user", q), Message("assistant", edit(a, 2))]),
              Example("sft", [Message("user", q0), Message("assistant", edit(a0, 2))])]  # fmt: skip
    cat.commit_batch(None, "copies", "copies.jsonl", [ExampleRow.of(e, {"line": i + 1}, {}) for i, e in enumerate(copies)], [], None, utcnow())  # fmt: skip
    assert run_curate(config, cat).clusters == 2
    # 6 waiting keys sets make an eighth of the index's 40 and join it.
    assert (rows("lsh_index"), rows("lsh_recent")) == (46 * bands, 0)
    cat.close()


def test_keeper_follows_source_priority(tmp_path: Path) -> None:
    q, a = prose(12), prose(120)
    config, cat, _ids = _catalog_with(tmp_path, [(q, a)])
    twin = Example("sft", [Message("user", q), Message("assistant", edit(a, 1))])
    cat.commit_batch(
        None, "curated-set", "b.jsonl", [ExampleRow.of(twin, {"line": 1}, {})], [], None, utcnow()
    )
    prefer = config.model_copy(
        update={"curate": config.curate.model_copy(update={"source_priority": ["curated-set"]})}
    )
    run_curate(prefer, cat)
    assert cat.clusters()[0]["keeper"] == twin.id
    cat.close()


def test_numbers_are_kept_unless_asked() -> None:
    params = NearDupParams()
    a = "step 1 set x to 10 then add 20 and multiply by 3 to get the total of all the values here"
    b = "step 7 set x to 45 then add 91 and multiply by 8 to get the total of all the values here"
    assert jaccard(shingles(a, params), shingles(b, params)) < 0.5
    normalized = NearDupParams(normalize_numbers=True)
    assert jaccard(shingles(a, normalized), shingles(b, normalized)) == 1.0


def test_signatures_estimate_jaccard() -> None:
    params = NearDupParams(bands=32, rows=8)
    hasher = MinHasher(params)
    a, b = prose(300), None
    b = edit(a, 30)
    sa, sb = shingles(a, params), shingles(b, params)
    sigs = hasher.signatures([sa, sb])
    estimate = float(np.mean(sigs[0] == sigs[1]))
    assert abs(estimate - jaccard(sa, sb)) < 0.1


def test_real_fixtures_near_duplicates(tmp_path: Path) -> None:
    import json

    from samdata.ingest import run_ingest
    from tests.conftest import real_fixtures

    root = real_fixtures()
    body = "".join(
        f'[[sources]]\nname = "{d.name}"\npath = "{d}/**/*.json*"\nformat = "auto"\n'
        for d in sorted(root.iterdir())
        if d.is_dir()
    )
    config = config_for(tmp_path, body)
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        report = run_curate(config, cat)
        clusters = cat.clusters()
    by_source: dict[str, list[dict]] = {}
    for c in clusters:
        by_source.setdefault(c["members"][0]["source"], []).append(c)

    # FastChat's dummy conversations: 20 identity chats whose assistant turns are only 6 distinct
    # texts (a few canned replies repeated under differently worded questions). Each text is one
    # cluster, so 20 - 6 = 14 are near-duplicates of a keeper.
    rows = json.loads((root / "sharegpt" / "dummy_conversation.json").read_text())
    distinct = {"\n".join(t["value"] for t in r["conversations"] if t["from"] == "gpt") for r in rows}
    assert len(by_source["sharegpt"]) == len(distinct) == 6
    assert report.funnel["sharegpt"]["near_dup_removed"] == len(rows) - len(distinct) == 14

    # LLaMA-Factory's identity set: the first three answers are the same greeting with one word or
    # "Hello!" more or less ("I am {{name}}, an AI assistant developed by {{author}}…"): one cluster.
    [alpaca] = by_source["alpaca"]
    assert sorted(m["locator"]["index"] for m in alpaca["members"]) == [0, 1, 2]
    identity = json.loads((root / "alpaca" / "identity.json").read_text())
    assert all("AI assistant developed by {{author}}" in identity[i]["output"] for i in range(3))

    # OASST: sibling replies inside one tree that say nearly the same thing (two groups of three short
    # follow-ups in tree 13, "You're welcome…" and "Yes, most of these places…"), and two ranked pairs
    # in tree 5 that share the chosen answer. SFT paths and pairs are never compared with each other.
    oasst = by_source["oasst"]
    assert len(oasst) == 3
    for c in oasst:
        assert len({m["locator"]["line"] for m in c["members"]}) == 1  # each cluster inside one tree
    assert sorted(len({m["id"] for m in c["members"]}) for c in oasst) == [2, 3, 3]
    assert set(by_source) == {"sharegpt", "alpaca", "oasst"}


def test_a_run_killed_before_verifying_leaves_its_keys_for_the_next(tmp_path: Path, monkeypatch) -> None:
    import samdata.curate as curate

    q, a = prose(12), prose(120)
    config, cat, _ids = _catalog_with(tmp_path, [(q, a), (q, edit(a, 2)), (prose(12), prose(120))])
    monkeypatch.setattr(curate, "_verify_pending", lambda *args: None)  # killed after labelling
    assert run_curate(config, cat).clusters == 0
    pending = cat.conn.execute("SELECT count(*) FROM lsh_pending").fetchone()[0]
    assert pending == 3 * NearDupParams().bands
    monkeypatch.undo()
    report = run_curate(config, cat)
    assert report.labelled["minhash"] == 0  # nothing is signed twice
    assert report.clusters == 1
    assert cat.conn.execute("SELECT count(*) FROM lsh_pending").fetchone()[0] == 0
    assert cat.conn.execute("SELECT count(*) FROM lsh_index").fetchone()[0] == pending
    cat.close()


def test_a_first_run_killed_while_verifying_verifies_the_whole_index_again(tmp_path: Path) -> None:
    q, a = prose(12), prose(120)
    config, cat, _ids = _catalog_with(tmp_path, [(q, a), (q, edit(a, 2)), (prose(12), prose(120))])
    save = cat.save_pairs

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    cat.save_pairs = killed  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_curate(config, cat)
    # The first run's keys went into the index before their candidates were verified.
    assert cat.conn.execute("SELECT count(*) FROM lsh_index").fetchone()[0] == 3 * NearDupParams().bands
    assert cat.conn.execute("SELECT count(*) FROM neardup_pairs").fetchone()[0] == 0
    cat.save_pairs = save  # type: ignore[method-assign]
    report = run_curate(config, cat)
    assert report.labelled["minhash"] == 0 and report.clusters == 1
    assert cat.conn.execute("SELECT count(*) FROM neardup_pairs").fetchone()[0] == 1
    assert not cat.index_unverified()
    cat.close()


def test_band_tables_name_examples_by_64_bits_and_a_shared_prefix_only_adds_a_candidate(
    tmp_path: Path,
) -> None:
    q, a = prose(12), prose(120)
    config, cat, ids = _catalog_with(tmp_path, [(q, a), (q, edit(a, 2)), (prose(12), prose(120))])
    first, copy, other = ids
    # An example whose id shares the first 64 bits of `first` (odds ~n^2 / 2^65 among real ones),
    # holding `first`'s own text: both must come out of the band tables as candidates.
    twin = first[:16] + ("0" * 16 if first[16:] != "0" * 16 else "f" * 16)
    cat.conn.execute(
        "INSERT INTO examples (id, kind, body, turns, chars, created_at)"
        " SELECT ?, kind, body, turns, chars, created_at FROM examples WHERE id = ?",
        (twin, first),
    )
    assert short_id(twin) == short_id(first) and -(1 << 63) <= short_id(first) < 1 << 63
    run_curate(config, cat)
    pairs = {(p[0], p[1]) for p in cat.neardup_pairs()}
    assert tuple(sorted((first, copy))) in pairs
    assert tuple(sorted((twin, copy))) in pairs
    # the limit of 64 bits: two examples sharing them are not compared with each other
    assert tuple(sorted((first, twin))) not in pairs
    assert not any(other in p for p in pairs)
    stored = {r[0] for r in cat.conn.execute("SELECT DISTINCT example FROM lsh_index")}
    assert stored == {short_id(i) for i in ids}  # the twin's keys are its prefix's
    cat.forget([other])
    assert short_id(other) not in {r[0] for r in cat.conn.execute("SELECT DISTINCT example FROM lsh_index")}
    cat.close()
