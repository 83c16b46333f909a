"""Every real fixture format, ingested → curated → exported, loads in the real loaders: mlx-lm and
mlx-lm-lora tokenise every row, TRL recognises every row as conversational and renders it, and the
`datasets` JSON loader the TRL backend uses reads every file."""

from __future__ import annotations

import json
import random
import types
from pathlib import Path

import pytest

from samdata.catalog import Catalog
from samdata.curate import run_curate
from samdata.export import run_export
from samdata.ingest import run_ingest
from tests.conftest import config_for, real_fixtures

RECIPES = {
    "sft-mlx": ("sft", "mlx"),
    "dpo-mlx": ("preference", "mlx"),
    "sft-trl": ("sft", "trl"),
    "dpo-trl": ("preference", "trl"),
    "kto-trl": ("kto", "trl"),
}

RECIPE_ROWS = {
    "completions-mlx": ("mlx", "completions", ["alpaca", "dolly", "oasst"]),
    "text-mlx": ("mlx", "text", ["notes"]),
    "text-trl": ("trl", "text", ["notes"]),
    "completions-trl": ("trl", "completions", ["alpaca", "dolly", "oasst", "claude_code", "sharegpt"]),
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = real_fixtures()
    tmp = tmp_path_factory.mktemp("loaders")
    names = sorted(d.name for d in root.iterdir() if d.is_dir())
    body = "".join(
        f'[[sources]]\nname = "{n}"\npath = "{root / n}/**/*.json*"\nformat = "auto"\n' for n in names
    )
    for recipe, (kind, fmt) in RECIPES.items():
        body += (
            f'[recipes.{recipe}]\nsources = {json.dumps(names)}\nkinds = ["{kind}"]\nformat = "{fmt}"\n'
            'system_prompt = "You are SAM."\n'
            "splits = { train = 0.8, valid = 0.1, test = 0.1 }\n"
            f"batch_size = {1 if kind == 'kto' else 2}\n"  # the KTO sample is small
        )
    # mlx-lm's other two row shapes: single-turn prompt/completion, and plain text (made here).
    notes = tmp / "notes.jsonl"
    rng = random.Random(7)  # distinct texts: near-duplicates would be left out
    words = ["tide", "moon", "sea", "harbour", "boat", "rope", "wind", "salt", "gull", "shore", "wave", "net"]
    notes.write_text(
        "".join(json.dumps({"text": " ".join(rng.choices(words, k=30))}) + "\n" for _ in range(200))
    )
    body += f'[[sources]]\nname = "notes"\npath = "{notes}"\nformat = "text"\n'
    for recipe, (fmt, rows, sources) in RECIPE_ROWS.items():
        body += (
            f'[recipes.{recipe}]\nsources = {json.dumps(sources)}\nformat = "{fmt}"\nrows = "{rows}"\n'
            'system_prompt = "You are SAM."\n'
            "splits = { train = 0.8, valid = 0.1, test = 0.1 }\nbatch_size = 2\n"
        )
    config = config_for(tmp, body)
    with Catalog.open(config.catalog_path) as cat:
        run_ingest(config, cat)
        run_curate(config, cat)
        out = {r: run_export(config, cat, r, tmp / r).out_dir for r in [*RECIPES, *RECIPE_ROWS]}
    # Every fixture format reaches an export, through one kind or the other.
    seen = set()
    for d in (out[r] for r in RECIPES):
        seen |= {b["source"] for b in json.loads((d / "manifest.json").read_text())["breakdown"]}
    assert seen == set(names)
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mlx_lm_tokenises_every_sft_row(exports: dict[str, Path], tiny_model: Path) -> None:
    from mlx_lm import load
    from mlx_lm.lora import CONFIG_DEFAULTS
    from mlx_lm.tuner.datasets import ChatDataset, load_dataset

    _, tokenizer = load(str(tiny_model))
    args = types.SimpleNamespace(
        **{**CONFIG_DEFAULTS, "data": str(exports["sft-mlx"]), "train": True, "test": True}
    )
    splits = load_dataset(args, tokenizer)
    for name, ds in zip(("train", "valid", "test"), splits, strict=True):
        assert isinstance(ds, ChatDataset)
        assert len(ds) == len(_rows(exports["sft-mlx"] / f"{name}.jsonl")) > 0
        for i in range(len(ds)):
            tokens, offset = ds.process(ds[i])
            assert len(tokens) > offset >= 0
            assert tokens[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")


@pytest.mark.parametrize("recipe", ["completions-mlx", "text-mlx"])
def test_mlx_lm_reads_completion_and_text_rows(
    exports: dict[str, Path], tiny_model: Path, recipe: str
) -> None:
    from mlx_lm import load
    from mlx_lm.lora import CONFIG_DEFAULTS
    from mlx_lm.tuner.datasets import CompletionsDataset, TextDataset, load_dataset

    _, tokenizer = load(str(tiny_model))
    args = types.SimpleNamespace(
        **{**CONFIG_DEFAULTS, "data": str(exports[recipe]), "train": True, "test": True}
    )
    kind = CompletionsDataset if recipe == "completions-mlx" else TextDataset
    manifest = json.loads((exports[recipe] / "manifest.json").read_text())
    for name, ds in zip(("train", "valid", "test"), load_dataset(args, tokenizer), strict=True):
        assert isinstance(ds, kind) and len(ds) == manifest["counts"][name] > 0
        for i in range(len(ds)):
            tokens, offset = ds.process(ds[i])
            assert len(tokens) > offset >= 0
    if recipe == "completions-mlx":  # multi-turn examples do not fit the shape: counted, not mangled
        assert manifest["dropped"].get("cannot be written as mlx completions", 0) > 0


def test_mlx_lm_lora_tokenises_every_dpo_row(exports: dict[str, Path], tiny_model: Path) -> None:
    from mlx_lm import load
    from mlx_lm_lora.train import CONFIG_DEFAULTS, build_parser
    from mlx_lm_lora.trainer.datasets import DPODataset, load_dataset

    _, tokenizer = load(str(tiny_model))
    args = vars(build_parser().parse_args([]))
    args.update({k: v for k, v in CONFIG_DEFAULTS.items() if args.get(k) is None})
    args.update(data=str(exports["dpo-mlx"]), train=True, test=True, train_mode="dpo")
    splits = load_dataset(types.SimpleNamespace(**args), tokenizer)
    for name, ds in zip(("train", "valid", "test"), splits, strict=True):
        assert isinstance(ds, DPODataset)
        assert len(ds) == len(_rows(exports["dpo-mlx"] / f"{name}.jsonl")) > 0
        for i in range(len(ds)):
            row = ds[i]
            assert len(row["chosen"]) > row["chosen_prompt_length"] > 0
            assert len(row["rejected"]) > row["rejected_prompt_length"] > 0


@pytest.mark.parametrize("recipe", ["sft-trl", "dpo-trl", "kto-trl", "completions-trl"])
def test_trl_renders_every_row(exports: dict[str, Path], tiny_model: Path, recipe: str) -> None:
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    for split in ("train", "valid", "test"):
        path = exports[recipe] / f"{split}.jsonl"
        rows = _rows(path)
        assert rows
        for row in rows:
            assert is_conversational(row)
            rendered = maybe_apply_chat_template(row, tokenizer)
            text = rendered["text"] if "text" in rendered else rendered["prompt"]
            assert text.startswith("<|im_start|>system\n")
            if recipe == "completions-trl":  # the loss will cover the completion only
                assert {m["role"] for m in row["completion"]} == {"assistant"}
                assert rendered["prompt"].endswith("<|im_start|>assistant\n")
            if recipe == "kto-trl":
                assert isinstance(row["label"], bool) and rendered["completion"].endswith("<|im_end|>\n")
            if recipe == "dpo-trl":
                assert rendered["chosen"].endswith("<|im_end|>\n") and rendered["rejected"].endswith(
                    "<|im_end|>\n"
                )
        # What the TRL backend loads: the datasets JSON reader sees every row.
        loaded = load_dataset(
            "json", data_files=str(path), split="train", cache_dir=str(exports[recipe] / ".hf")
        )
        assert len(loaded) == len(rows)
        # Arrow unifies row schemas (missing keys become null): the rendering must not change.
        for raw, row in zip(rows, loaded, strict=True):
            assert maybe_apply_chat_template(row, tokenizer) == maybe_apply_chat_template(raw, tokenizer)


def test_trl_tokenises_text_rows_as_language_modelling(exports: dict[str, Path], tiny_model: Path) -> None:
    """TRL's SFTTrainer takes `{"text"}` rows as a language-modelling set: it tokenises each whole
    text (no chat template), which is how a document's chunks train."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer
    from trl.data_utils import is_conversational

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    path = exports["text-trl"] / "train.jsonl"
    rows = _rows(path)
    assert rows and all(set(row) == {"text"} and not is_conversational(row) for row in rows)
    data = load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(exports["text-trl"] / ".hf")
    )
    args = SFTConfig(output_dir=str(exports["text-trl"] / ".trl"), max_steps=1, report_to=[], max_length=512,
                     use_cpu=True, dataset_num_proc=None)  # fmt: skip
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model), args=args, train_dataset=data,
                         processing_class=tokenizer)  # fmt: skip
    tokenised = trainer.train_dataset
    assert len(tokenised) == len(rows)
    for row, item in zip(rows, tokenised, strict=True):
        ids = tokenizer(row["text"])["input_ids"]
        assert item["input_ids"][: len(ids)] == ids
