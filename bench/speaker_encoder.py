"""The speaker check's MFCC statistics beside a trained speaker encoder whose weights ship in its
wheel (Resemblyzer's GE2E, 17 MB in the wheel, on torch), on the same espeak-ng clips.

    pip install resemblyzer && pip install --force-reinstall --no-deps webrtcvad-wheels
    python bench/speaker_encoder.py

(Resemblyzer imports webrtcvad, whose own release needs setuptools' removed pkg_resources; the
webrtcvad-wheels build of the same module does not.) For each other voice: the AUC of similarity to
three reference sentences of the speaker's voice, five further sentences of it against the same five
said by the other voice; then each method's speed on one thread.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.voice.speech import SENTENCES, say, trimmed

from samdata.voice.checks import speaker_profile, speaker_similarity

OTHERS = ("en+f3", "en+f1", "en-us+m7", "en+klatt", "en+m1", "en+m2", "en+m3", "en-us", "de")


def clip(i: int, voice: str) -> np.ndarray:
    x, r = say(SENTENCES[i], voice)
    return soxr.resample(trimmed(x, r), r, 16000, quality="HQ").astype(np.float32)


def auc(same: list[float], other: list[float]) -> float:
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in same for b in other]))


def main() -> None:
    import torch
    from resemblyzer import VoiceEncoder

    torch.set_num_threads(1)
    encoder = VoiceEncoder("cpu", verbose=False)
    cpu = {"mfcc": 0.0, "ge2e": 0.0}
    audio_s = {"mfcc": 0.0, "ge2e": 0.0}

    def mfcc(x: np.ndarray) -> np.ndarray:
        t = time.process_time()
        p = speaker_profile(x)
        cpu["mfcc"] += time.process_time() - t
        audio_s["mfcc"] += x.size / 16000
        return p

    def ge2e(x: np.ndarray) -> np.ndarray:
        t = time.process_time()
        e = encoder.embed_utterance(x)
        cpu["ge2e"] += time.process_time() - t
        audio_s["ge2e"] += x.size / 16000
        return e

    def cosine(e: np.ndarray, refs: list[np.ndarray]) -> float:
        return float(np.mean([e @ r for r in refs]))  # Resemblyzer's embeddings are unit length

    refs_m = [mfcc(clip(i, "en")) for i in range(3)]
    refs_e = [ge2e(clip(i, "en")) for i in range(3)]
    same_m = [speaker_similarity(mfcc(clip(i, "en")), refs_m) for i in range(3, 8)]
    same_e = [cosine(ge2e(clip(i, "en")), refs_e) for i in range(3, 8)]
    print("speaker 'en' against  MFCC statistics (samdata)  GE2E encoder (Resemblyzer)")
    for other in OTHERS:
        diff_m = [speaker_similarity(mfcc(clip(i, other)), refs_m) for i in range(3, 8)]
        diff_e = [cosine(ge2e(clip(i, other)), refs_e) for i in range(3, 8)]
        print(
            f"  {other:<18} AUC {auc(same_m, diff_m):>5.2f}                  AUC {auc(same_e, diff_e):>5.2f}"
        )
    for name in cpu:
        print(f"{name}: {audio_s[name] / cpu[name]:.0f}x realtime on one thread")


if __name__ == "__main__":
    main()
