"""The scan shows folders of recordings as voice sets, and what a voice pipeline done by hand leaves:
an empty stage folder, a staging set not verified, non-speech sounds in a speech set."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samdata.catalog import Catalog
from samdata.scan.inventory import build_inventory, render
from tests.conftest import config_for, scan
from tests.voice.speech import write_wav


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_voice_sets_and_their_problems(tmp_path: Path) -> None:
    voice = tmp_path / "drive" / "voice_clone"
    for folder, names, rate in (
        ("extracted_audio", ["talk1.wav", "talk2.wav"], 44_100),
        ("david_verified", [f"clip{i:02d}.wav" for i in range(5)] + ["laugh_01.wav"], 40_000),
        ("staging", ["s1.wav", "s2.wav", "s3.wav"], 48_000),
    ):
        (voice / folder).mkdir(parents=True)
        for name in names:
            write_wav(voice / folder / name, _tone(2.0, rate), rate)
    (voice / "segments").mkdir()  # the stage that never ran
    (tmp_path / "drive" / "notes").mkdir()  # an empty folder with no recordings beside it: no problem
    config = config_for(tmp_path, f'[[roots]]\nname = "drive"\npath = "{tmp_path / "drive"}"\n')
    report = scan(config)
    kinds = {p.kind: p for p in report.problems}
    assert kinds["voice_stage_empty"].paths == [str(voice / "segments")]
    assert kinds["voice_unverified"].paths == [str(voice / "staging")]
    assert kinds["voice_non_speech_mixed"].paths == [str(voice / "david_verified" / "laugh_01.wav")]
    assert not any(str(tmp_path / "drive" / "notes") in p.paths for p in report.problems)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        inv = build_inventory(cat, config)
    sets = {Path(v["folder"]).name: v for v in inv["voice_sets"]}
    assert set(sets) == {"extracted_audio", "david_verified", "staging"}
    assert sets["david_verified"]["recordings"] == 6
    assert sets["david_verified"]["minutes"] == round(6 * 2.0 / 60, 2)
    assert sets["extracted_audio"]["sample_rates"] == [44_100]
    assert "## Voice sets" in render(inv, "md")
