"""Evol-Instruct (WizardLM): instruction/output, or input/output where `input` is the evolved prompt."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from samdata.sources import Adapter, Context, Produced, require_dict, require_str, sft, single_turn


def convert(record: Any, ctx: Context) -> Iterable[Produced]:
    d = require_dict(record)
    prompt = require_str(d, "instruction" if "instruction" in d else "input")
    yield sft(single_turn(prompt, require_str(d, "output")))


ADAPTER = Adapter("evol_instruct", 1, "record", convert)
