"""Bodies stored as zstd frames with a dictionary the catalog trains on its own bodies: readable
by every samdata path, by `samdata.catalog.connect`, and by a process that opened the catalog
before the dictionary existed."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import orjson
import pytest
import xxhash
import zstandard

from samdata.catalog import Catalog, connect
from samdata.catalog.bodies import PLAIN_BELOW, TRAIN_AT, BodyCodec
from samdata.config import load_config
from samdata.ingest import run_ingest

WORDS = ("the", "river", "model", "answer", "question", "data", "train", "local", "memory", "drive", "note")


def _chats(path: Path, n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        question = " ".join(rng.choice(WORDS) for _ in range(12))
        answer = " ".join(rng.choice(WORDS) for _ in range(60))
        messages = [
            {"role": "user", "content": f"{seed}.{i}: {question}?"},
            {"role": "assistant", "content": answer},
        ]
        lines.append(orjson.dumps({"messages": messages}))
    lines.append(
        orjson.dumps(
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
        )
    )
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


@pytest.fixture()
def catalog_path(tmp_path: Path) -> Path:
    # "#1" as the owner's drives are named: the lazy dictionary load opens the file by URI
    data = tmp_path / "#1 drive"
    data.mkdir()
    cfg = tmp_path / "samdata.toml"
    cfg.write_text(f'[[sources]]\nname = "chats"\npath = "{data}/*.jsonl"\nformat = "chat_jsonl"\n')
    config = load_config(cfg)
    # the first ingest writes its bodies before a dictionary exists; the second trains one first
    for name, n, seed in (("a.jsonl", TRAIN_AT + 500, 1), ("b.jsonl", 1_000, 2)):
        _chats(data / name, n, seed)
        with Catalog.open(config.catalog_path) as cat:
            run_ingest(config, cat)
    return config.catalog_path


def test_bodies_are_frames_of_the_trained_dictionary_and_read_back_exactly(catalog_path: Path) -> None:
    with Catalog.open(catalog_path, readonly=True) as cat:
        c = cat.conn
        dicts = c.execute("SELECT id, samples FROM body_dicts").fetchall()
        assert len(dicts) == 1 and dicts[0]["samples"] >= TRAIN_AT
        kinds = dict(c.execute("SELECT typeof(body), count(*) FROM examples GROUP BY 1").fetchall())
        assert kinds["blob"] > TRAIN_AT and kinds["text"] >= 1  # the tiny chat stays plain
        # frames written after training name the dictionary; the first batch's were made without one
        named = {zstandard.get_frame_parameters(b).dict_id for (b,) in c.execute(
            "SELECT body FROM examples WHERE typeof(body) = 'blob'")}  # fmt: skip
        assert named == {0, dicts[0]["id"]}
        stored = c.execute("SELECT sum(length(body)), sum(chars) FROM examples").fetchone()
        assert stored[0] < stored[1] / 2  # these repetitive bodies compress well past 2x
        # every body decodes to the canonical JSON its id hashes
        for id_, text, chars in c.execute("SELECT id, body_text(body), chars FROM examples"):
            assert len(text.encode()) == chars
            assert xxhash.xxh3_128_hexdigest(text.encode()) == id_
        plain = c.execute("SELECT body FROM examples WHERE typeof(body) = 'text'").fetchall()
        assert all(len(b.encode()) < PLAIN_BELOW for (b,) in plain)


def test_a_connection_of_ones_own_and_a_reader_opened_before_the_dictionary_read_them(
    catalog_path: Path, tmp_path: Path
) -> None:
    with connect(catalog_path) as own:
        rows = own.execute("SELECT id, body_text(body) FROM examples ORDER BY id").fetchall()
    assert len(rows) == TRAIN_AT + 1_501  # the tiny chat is in both files
    assert all(orjson.loads(text)["messages"] for _i, text in rows)
    # A codec that knew no dictionary (a server started before ingest trained one) loads it from
    # the catalog the first time a frame names it.
    late = BodyCodec(str(catalog_path), {})
    plain = sqlite3.connect(catalog_path)
    late.register(plain)
    assert plain.execute("SELECT id, body_text(body) FROM examples ORDER BY id").fetchall() == rows
    # and a frame naming a dictionary the catalog lacks is an error, never a wrong body
    plain.execute("UPDATE body_dicts SET id = id + 1")
    plain.commit()
    with pytest.raises(KeyError, match="not in the catalog"):
        BodyCodec(str(catalog_path), {}).decode(
            plain.execute("SELECT body FROM examples ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        )
    plain.close()
