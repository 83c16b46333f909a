"""samdata.toml: validation errors name the file and the key; paths resolve beside the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from samdata.config import ConfigError, load_config, parse_config
from samdata.starter import write_starter_config


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    cfg = parse_config(
        '[[roots]]\nname = "r"\npath = "data"\n[[sources]]\nname = "s"\npath = "data/**/*.jsonl"\n'
        '[[expects]]\npath = "data/train.jsonl"\nreader = "train.py"\n',
        tmp_path / "samdata.toml",
    )
    assert cfg.roots[0].path == tmp_path / "data"
    assert cfg.sources[0].path == str(tmp_path / "data/**/*.jsonl")
    assert cfg.expects[0].path == tmp_path / "data/train.jsonl"
    assert cfg.catalog_path == tmp_path / ".samdata" / "catalog.db"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[[roots]]\nname = "r"\npth = "/x"\n', "roots.0.pth: unknown key"),
        ('[[roots]]\nname = "r"\n', "roots.0.path: Field required"),
        (
            '[[sources]]\nname = "s"\npath = "/x"\nformat = "parquet"\n',
            "sources[0].format: unknown format 'parquet'",
        ),
        ('[[roots]]\nname = "r"\npath = "/a"\n[[roots]]\nname = "r"\npath = "/b"\n', "repeated: r"),
        ("[scan]\nfragment_min_files = 1\n", "scan.fragment_min_files"),
        ('[[expects]]\npath = "/x"\n', "expects.0.reader: Field required"),
        ("roots = [\n", "not valid TOML"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "samdata.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(path) in str(e.value)
    assert needle in str(e.value)


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="samdata init"):
        load_config(tmp_path / "nope.toml")


def test_starter_config_proposes_found_data_not_the_home_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude" / "projects" / "-Users-sam-code").mkdir(parents=True)
    (home / "Downloads" / "chatgpt-2026-01").mkdir(parents=True)
    (home / "Downloads" / "chatgpt-2026-01" / "conversations.json").write_text("[]")
    (home / "sam" / "training").mkdir(parents=True)
    (home / "sam" / "training" / "a.jsonl").write_text("{}\n")
    (home / "Documents" / "letters").mkdir(parents=True)
    (home / "Documents" / "letters" / "note.txt").write_text("hello")
    path = tmp_path / "samdata.toml"
    _, found = write_starter_config(path, home=home)
    cfg = load_config(path)
    roots = {r.path for r in cfg.roots}
    assert home not in roots and home / "Documents" not in roots
    assert roots == {
        home / "sam" / "training",
        home / "Downloads" / "chatgpt-2026-01",
        home / ".claude" / "projects",
    }
    assert {s.format for s in cfg.sources} == {"claude_code", "chatgpt_export", "auto"}
    text = path.read_text()
    assert "# [recipes.sam-sft]" in text and "[curate]" in text and "system_prompt" in text
    assert found.claude_projects == home / ".claude" / "projects"


def test_starter_config_is_valid_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "samdata.toml"
    write_starter_config(path, home=tmp_path)  # nothing to find: every root is a commented example
    cfg = load_config(path)
    assert cfg.roots == [] and cfg.scan.fragment_min_files == 10
    assert "# Storage roots" in path.read_text()
    with pytest.raises(ConfigError, match="already exists"):
        write_starter_config(path)
    (tmp_path / "x" / "data").mkdir(parents=True)
    (tmp_path / "x" / "data" / "a.jsonl").write_text("{}\n")
    write_starter_config(path, home=tmp_path / "x", force=True)
    assert load_config(path).roots[0].path == tmp_path / "x" / "data"
