"""`fragmented`: a folder of many tiny data files, whatever their mix of formats (the seed's shape)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import config_for, scan


def test_seed_feedback_folder_of_three_formats_is_fragmented(tmp_path: Path) -> None:
    folder = tmp_path / "sam" / "feedback_derived"
    folder.mkdir(parents=True)
    pad = "and a few more words to make it the size the seed's files have. " * 4
    for i in range(9):
        (folder / f"dpo_{i}.json").write_text(
            json.dumps({"prompt": f"question {i} {pad}", "chosen": "a careful answer", "rejected": "no"})
        )
        (folder / f"instruction_{i}.json").write_text(
            json.dumps({"instruction": f"do thing {i} {pad}", "response": "done, here is how"})
        )
    (folder / "correction_0.json").write_text(
        json.dumps(
            {"prompt": "what time is it?", "original": "noon", "corrected": f"I cannot know that. {pad}"}
        )
    )
    sizes = [p.stat().st_size for p in folder.iterdir()]
    assert len(sizes) == 19 and all(250 <= s <= 600 for s in sizes), sizes
    config = config_for(tmp_path, f'[[roots]]\nname = "r"\npath = "{tmp_path / "sam"}"\n')
    report = scan(config)
    [frag] = [p for p in report.problems if p.kind == "fragmented"]
    assert frag.paths == [str(folder)]
    assert frag.figures["files"] == 19 and frag.figures["records"] == 19
    assert frag.figures["formats"] == {"alpaca": 9, "correction": 1, "dpo": 9}
    assert "9 alpaca, 9 dpo, 1 correction" in frag.message
