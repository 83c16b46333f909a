"""DNSMOS P.835 (samdata.voice.quality): the reference's windows, the one-pass feature map against
the reference, the scores on the espeak-ng benchmark of test_checks, and the scorer thread's order
and bound."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import samdata.voice
from samdata.catalog import Catalog
from samdata.voice import VoiceError, audio, clips_json, quality, run_voice, segment
from samdata.voice.checks import DEFAULT, failed
from tests.conftest import config_for
from tests.voice.speech import SENTENCES, recording, voice_toml, write_wav
from tests.voice.test_checks import benchmark, to16k


def test_windows_follow_the_reference() -> None:
    short = np.arange(3 * quality.RATE, dtype=np.float32)
    (one,) = quality.windows(short)  # repeated back to back until it fills 9.01 s
    assert np.array_equal(one, np.tile(short, 4)[: quality.WINDOW])
    long = np.arange(12 * quality.RATE, dtype=np.float32)
    w = quality.windows(long)  # floor(12) - 9.01 -> 2 hops of one second after the first window
    assert len(w) == 3 and [int(x[0]) for x in w] == [0, quality.RATE, 2 * quality.RATE]
    assert quality.windows(np.zeros(0)).shape == (0, quality.WINDOW)
    assert all(np.isnan(v) for v in quality.dnsmos(np.zeros(0)).values())
    assert all(np.isnan(v) for v in quality.reference(np.zeros(0)).values())


def test_the_one_pass_scores_agree_with_the_reference() -> None:
    """`dnsmos` (the convolutions once over the clip, a short clip repeated only to its length plus
    2 s) against `reference` (every 9.01 s window through the whole network): on the benchmark's
    first sentences, clean and in each kind of noise, the figures differ about as much as the
    reference's own when the clip starts 5 ms later (measured: 0.061, 0.106, 0.078 against 0.068,
    0.102, 0.072); a clip of several sentences, scored in windows every second, agrees within 0.06."""
    picked = (to16k(x) for cls, _, x in benchmark()[:80] if cls in ("clean", "noise", "speaker"))
    short = [x for x in picked if x.size < quality.WINDOW][:24]
    assert len(short) == 24

    def gap(a: list[dict[str, float]], b: list[dict[str, float]]) -> np.ndarray:
        return np.array([[abs(p[k] - q[k]) for k in quality.FIGURES] for p, q in zip(a, b, strict=True)])

    ref = [quality.reference(x) for x in short]
    ours = gap(ref, [quality.dnsmos(x) for x in short]).mean(axis=0)
    shifted = gap(ref, [quality.reference(x[80:]) for x in short]).mean(axis=0)
    print(
        "\nmean |one pass - reference|",
        ours.round(3),
        "| reference 5 ms later - reference|",
        shifted.round(3),
    )
    assert (ours < 0.15).all() and ours.mean() < 1.25 * shifted.mean()
    long = np.concatenate([to16k(x) for _, variant, x in benchmark() if variant == "clean"][:6])
    assert long.size > 2 * quality.WINDOW
    ref_long, ours_long = quality.reference(long), quality.dnsmos(long)
    assert all(abs(ref_long[k] - ours_long[k]) < 0.06 for k in quality.FIGURES), (ref_long, ours_long)
    # One window exactly (or a clip a sample short of it, repeated to fill it): the same input
    # through the same layers, so the same figures.
    for n in (quality.WINDOW, quality.WINDOW - 1):
        ref_one, ours_one = quality.reference(long[:n]), quality.dnsmos(long[:n])
        assert all(abs(ref_one[k] - ours_one[k]) <= 2e-4 for k in quality.FIGURES), (n, ref_one, ours_one)


def test_the_feature_map_in_pieces_is_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Long audio is computed a piece at a time (flat memory): the rows equal one pass's exactly."""
    x = np.concatenate([to16k(x) for _, variant, x in benchmark() if variant == "clean"][:6])
    x = x[: x.size // quality.FRAME * quality.FRAME]
    monkeypatch.setattr(quality, "PIECE_ROWS", 48)  # ~4 s pieces: 32 rows each, 8 either side
    pieces = quality.feature_map(x)
    monkeypatch.setattr(quality, "PIECE_ROWS", 10**9)
    whole = quality.feature_map(x)
    assert whole.shape == pieces.shape == ((x.size // quality.FRAME - 1) // quality.POOLED, 64)
    assert len(whole) > 5 * 48
    assert np.array_equal(pieces, whole)


def test_loud_noise_fails_and_every_clean_voice_passes() -> None:
    """On the benchmark's sentences: each clean clip (and each of the second speakers, clean voices
    too) passes `quality`, each one under white or babble noise at 0 dB fails it."""
    by_class: dict[str, list[list[str]]] = {}
    for cls, variant, x in benchmark():
        if cls in ("clean", "speaker") or (cls == "noise" and "music" not in variant):
            key = cls if cls != "noise" else variant.split()[-2] + " dB"
            by_class.setdefault(key, []).append(failed(quality.dnsmos(to16k(x)), DEFAULT))
    share = {k: sum("quality" in f for f in v) / len(v) for k, v in by_class.items()}
    print("\nshare failing quality:", {k: round(v, 2) for k, v in share.items()})
    assert share["clean"] == 0 and share["speaker"] == 0
    assert share["0 dB"] == 1.0
    assert share["5 dB"] >= share["10 dB"]  # the score falls with the noise


def test_the_scorer_answers_in_order_with_a_bounded_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []
    release = threading.Event()

    def slow(x16: np.ndarray) -> dict[str, float]:
        started.append(int(x16[0]))
        release.wait(5)
        return {"dnsmos_ovrl": float(x16[0])}

    monkeypatch.setattr(quality, "dnsmos", slow)
    got: list[float] = []
    with quality.Scorer(queued_s=8 / quality.RATE) as scorer:  # two clips of 4 samples
        for i in range(2):
            scorer.submit(np.full(4, i, np.float32), lambda f: got.append(f["dnsmos_ovrl"]))
        assert got == []  # within the bound nothing waits
        threading.Timer(0.2, release.set).start()
        t0 = time.monotonic()
        scorer.submit(np.full(4, 2, np.float32), lambda f: got.append(f["dnsmos_ovrl"]))
        assert time.monotonic() - t0 >= 0.15 and got == [0.0]  # the third waited for the first
        scorer.drain()
    assert got == [0.0, 1.0, 2.0] and sorted(started) == [0, 1, 2]  # delivered in order, each scored once


def test_each_clip_is_scored_on_its_own_audio_while_the_vad_reads(tmp_path: Path) -> None:
    """`samdata voice run` hands each clip to the scorer from the audio of its first pass as soon as
    the clip settles, holding only what a later clip may start in: over a recording of several 30 s
    blocks, each scored clip is exactly that clip of the whole recording at 16 kHz, in order."""
    parts = []
    for k in range(6):  # three sentences, then a pause long enough for the segmenter to settle them
        r = recording([SENTENCES[(3 * k + j) % len(SENTENCES)] for j in range(3)], pause_s=0.8)
        parts += [r.samples, np.zeros(2 * r.rate, np.float32)]
    path = write_wav(tmp_path / "talk.wav", np.concatenate(parts), r.rate)
    scored: list[np.ndarray] = []

    class Collect:
        def submit(self, x16: np.ndarray, done: Any) -> None:
            scored.append(np.array(x16))
            done({"order": len(scored)})

    scores: dict[int, dict[str, float]] = {}
    segs, dropped = samdata.voice._segments(str(path), 1.5, 15.0, Collect(), scores)
    whole = audio.load(path, segment.VAD_RATE)
    assert len(whole) > 3 * 30 * segment.VAD_RATE and len(segs) >= 12
    reference = segment.stream_segments(audio.blocks(path, segment.VAD_RATE))
    assert segs == reference.segments and dropped == reference.dropped  # the same cuts as without scoring
    assert len(scored) == len(segs)
    for s, x in zip(segs, scored, strict=True):
        assert np.array_equal(
            x, whole[round(s.start_s * segment.VAD_RATE) : round(s.end_s * segment.VAD_RATE)]
        )
    assert scores == {i: {"order": i + 1} for i in range(len(segs))}


def test_a_missing_model_is_named_and_the_check_can_be_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = recording(SENTENCES[:2], pause_s=0.8)
    write_wav(tmp_path / "take.wav", r.samples, r.rate)
    body = voice_toml([("me", None, False)], [("takes", f"{tmp_path}/*.wav", "me")])

    def missing() -> None:
        raise quality.QualityModelMissing("the speech-quality model (DNSMOS) needs onnxruntime")

    monkeypatch.setattr(quality, "_cut_model", missing)
    config = config_for(tmp_path, body)
    with Catalog.open(config.catalog_path) as cat, pytest.raises(VoiceError, match="quality_model = false"):
        run_voice(config, cat)
    off = config_for(tmp_path, body + "\n[voice]\nquality_model = false\n")
    with Catalog.open(off.catalog_path) as cat:
        assert run_voice(off, cat).clips == 2
        clips = clips_json(cat)["clips"]
    assert len(clips) == 2 and not any(k.startswith("dnsmos") for c in clips for k in c["figures"])
