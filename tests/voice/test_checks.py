"""Clip checks on a generated benchmark: real espeak-ng sentences at 40 kHz with planted defects.

Each defect class is planted into every sentence; the table (pytest -s prints it) gives, per check,
recall (defective clips it flags), precision (flagged clips that had the defect) and the share of clean
clips that any check rejects."""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import time

import numpy as np
import pytest
import soxr

from samdata.voice.checks import (
    CHECK_NAMES,
    DEFAULT,
    Thresholds,
    _repetition,
    best_earlier,
    duplicate_pairs,
    failed,
    figures,
    fingerprint,
    same_audio,
    speaker_profile,
    speaker_similarity,
    wada_snr,
    wada_table,
)
from tests.voice.speech import SENTENCES, say, trimmed

RATE = 40000
RNG_SEED = 14


@functools.cache
def sentence(i: int, voice: str = "en") -> np.ndarray:
    """Sentence i at 40 kHz, peak 0.7, with 0.15 s of a -70 dBFS noise floor either side and under it
    (a quiet real room, so a 'clean' clip is not espeak-ng's exact digital zeros)."""
    x, r = say(SENTENCES[i % len(SENTENCES)], voice)
    y = soxr.resample(trimmed(x, r), r, RATE, quality="VHQ").astype(np.float64)
    y *= 0.7 / np.abs(y).max()
    pad = np.zeros(int(0.15 * RATE))
    y = np.concatenate([pad, y, pad])
    rng = np.random.default_rng(i)
    return y + rng.normal(0, 10 ** (-70 / 20), y.size)


@functools.cache
def ha() -> np.ndarray:
    x, r = say("ha ha ha ha ha ha", "en", speed=190)
    y = soxr.resample(trimmed(x, r), r, RATE, quality="VHQ").astype(np.float64)
    return y * 0.6 / np.abs(y).max()


def power(x: np.ndarray) -> float:
    return float(np.mean(x**2))


def at_snr(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """clean + noise at `snr_db` (mean power over the clip), scaled down if the sum would clip."""
    noise = noise[: clean.size]
    y = clean + noise * math.sqrt(power(clean) / power(noise) / 10 ** (snr_db / 10))
    return y * min(1.0, 0.95 / np.abs(y).max())


def babble(i: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Five other sentences talking at once (without their quiet edges, each from a random point),
    looped to length n."""
    out = np.zeros(n)
    pad = int(0.15 * RATE)
    for k in range(1, 6):
        s = sentence((i + k) % len(SENTENCES))[pad:-pad]
        out += np.resize(np.roll(s, int(rng.integers(s.size))), n) * (0.6 + 0.1 * k)
    return out


def music(n: int, rng: np.random.Generator) -> np.ndarray:
    """A music bed: three-note chords (fundamental + two harmonics per note) changing every 0.8 s."""
    t = np.arange(n) / RATE
    out = np.zeros(n)
    roots = [220.0, 246.9, 196.0, 261.6]
    for c, start in enumerate(range(0, n, int(0.8 * RATE))):
        seg = slice(start, min(n, start + int(0.8 * RATE)))
        root = roots[(c + int(rng.integers(4))) % 4]
        for ratio in (1.0, 1.26, 1.5):
            for h, a in ((1, 1.0), (2, 0.5), (3, 0.25)):
                out[seg] += a * np.sin(2 * np.pi * root * ratio * h * t[seg] + rng.uniform(0, 2 * np.pi))
    return out


def breath(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """An in-breath: noise band-passed to 500-4000 Hz under a rise-and-fall envelope."""
    from scipy.signal import butter, sosfilt

    n = int(seconds * RATE)
    sos = butter(4, [500, 4000], btype="band", fs=RATE, output="sos")
    env = np.sin(np.linspace(0, np.pi, n)) ** 1.5
    return sosfilt(sos, rng.normal(0, 1, n)) * env


def pitched_bursts(rng: np.random.Generator) -> np.ndarray:
    """A laugh-like run: 6-8 bursts at 4-6 Hz, each an /h/ (broadband noise, 40 ms) and then a voiced
    'a' (harmonic tone gliding down from ~300 Hz)."""
    rate_hz = rng.uniform(4, 6)
    period = int(RATE / rate_hz)
    out = []
    for _ in range(int(rng.integers(6, 9))):
        n = int(period * 0.55)
        t = np.arange(n) / RATE
        f0 = rng.uniform(260, 320) * (1 - 0.15 * t / t[-1])
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        burst = sum(np.sin(h * phase) / h for h in range(1, 10)) * np.hanning(n)
        h_len = int(0.04 * RATE)
        aspiration = rng.normal(0, 0.15, h_len) * np.hanning(h_len)
        out += [aspiration, burst, np.zeros(period - n - h_len)]
    return np.concatenate(out)


def insert(x: np.ndarray, part: np.ndarray, at: float) -> np.ndarray:
    k = int(at * x.size)
    return np.concatenate([x[:k], part, x[k:]])


def scaled_like(part: np.ndarray, ref: np.ndarray, db: float) -> np.ndarray:
    return part * math.sqrt(power(ref) / power(part)) * 10 ** (db / 20)


N = len(SENTENCES)  # every defect is planted into each of the 8 sentences


@functools.lru_cache(maxsize=1)
def benchmark() -> list[tuple[str, str, np.ndarray]]:
    """(class, variant, clip) for clean clips and each planted defect."""
    rng = np.random.default_rng(RNG_SEED)
    out: list[tuple[str, str, np.ndarray]] = []
    for i in range(N):
        x = sentence(i)
        out.append(("clean", "clean", x))
        start = int(rng.uniform(0.1, 0.4) * x.size)
        out.append(("clean", "1.1-1.6 s piece", x[start : start + int(rng.uniform(1.1, 1.6) * RATE)]))
        out.append(("clipping", "gain x4, clipped", np.clip(x * 4, -1, 1)))
        out.append(("dc_offset", "+0.05", x + 0.05))
        out.append(
            ("silence", "zeros 0.3-0.8 s", insert(x, np.zeros(int(rng.uniform(0.3, 0.8) * RATE)), 0.5))
        )
        start = int(rng.uniform(0.25, 0.5) * x.size)
        out.append(("too_short", "0.4-0.9 s", x[start : start + int(rng.uniform(0.4, 0.9) * RATE)]))
        out.append(("too_long", "4 sentences", np.concatenate([sentence((i + k) % N) for k in range(5)])))
        low = soxr.resample(soxr.resample(x, RATE, 8000, quality="VHQ"), 8000, RATE, quality="VHQ")
        out.append(("bandwidth", "8 kHz source", low))
        out.append(("loudness", "-40 dB", x * 0.01))
        for snr in (0, 5, 10):
            out.append(("noise", f"white {snr} dB", at_snr(x, rng.normal(0, 1, x.size), snr)))
            out.append(("noise", f"babble {snr} dB", at_snr(x, babble(i, x.size, rng), snr)))
        out.append(("noise", "music bed -20 dB", at_snr(x, music(x.size, rng), 20)))
        b = breath(rng, rng.uniform(0.5, 0.9))
        out.append(
            ("non_speech", "breath in speech", insert(x, scaled_like(b, x, -12), rng.uniform(0.3, 0.7)))
        )
        laugh = ha() if i % 2 == 0 else scaled_like(pitched_bursts(rng), x, 0)
        out.append(("non_speech", "laugh in speech", insert(x, laugh, rng.uniform(0.3, 0.7))))
        # A clip that is nothing but the vocal sound (a VAD often passes breaths and laughs as speech).
        if i % 2 == 0:
            two = [
                breath(rng, rng.uniform(0.6, 1.0)),
                np.zeros(int(0.1 * RATE)),
                breath(rng, rng.uniform(0.6, 1.0)),
            ]
            out.append(("non_speech", "breaths alone", np.concatenate(two) * 0.05))
        else:
            out.append(("non_speech", "laugh alone", ha() if i % 4 == 1 else pitched_bursts(rng) * 0.3))
        # a second speaker in the speaker's set: another timbre, and another sex
        out.append(("speaker", "second speaker", sentence(i, "en-us+m7" if i % 2 else "en+f3")))
    return out


REFERENCES = (5, 6, 7)  # the speaker's own reference clips: three of its sentences


def speaker_thresholds() -> tuple[list[np.ndarray], Thresholds]:
    """The reference profiles and the threshold calibrated on them, as `samdata voice run` does."""
    from samdata.voice import SPEAKER_MARGIN

    refs = [speaker_profile(to16k(sentence(i))) for i in REFERENCES]
    own = min(speaker_similarity(p, refs[:k] + refs[k + 1 :]) for k, p in enumerate(refs))
    t = dataclasses.replace(
        DEFAULT, min_speaker_similarity=min(DEFAULT.min_speaker_similarity, own - SPEAKER_MARGIN)
    )
    return refs, t


def judged(x: np.ndarray, refs: list[np.ndarray], t: Thresholds, **more: float) -> list[str]:
    figs = figures(x, RATE)
    figs["speaker_similarity"] = speaker_similarity(speaker_profile(to16k(x)), refs)
    return failed({**figs, **more}, t)


def resampled(x: np.ndarray, a: int, b: int) -> np.ndarray:
    return soxr.resample(x, a, b, quality="VHQ")


def mp3(x: np.ndarray, rate: int, kbps: int = 64) -> np.ndarray:
    """x through a real MP3 encoder and decoder (PyAV's libmp3lame); `rate` must be one MP3 has."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = kbps * 1000
        frame = av.AudioFrame.from_ndarray(x.astype(np.float32)[None, :], format="fltp", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as f:
        parts = [fr.to_ndarray().mean(axis=0) for fr in f.decode(audio=0)]
    return np.concatenate(parts).astype(np.float64)


def to16k(x: np.ndarray) -> np.ndarray:
    return soxr.resample(x, RATE, 16000, quality="HQ")


def test_benchmark_table() -> None:
    clips = benchmark()
    truth = [cls for cls, _, _ in clips]
    variants = [v for _, v, _ in clips]
    refs, t = speaker_thresholds()
    t0 = time.process_time()
    flags = [judged(x, refs, t) for _, _, x in clips]
    cpu = time.process_time() - t0
    audio_s = sum(x.size for _, _, x in clips) / RATE
    # Duplicates, as a pipeline meets them: the clean clips are kept first; each copy (the same audio
    # via 16 kHz and back, at 0.8 gain) is compared with the kept clips. A kept clip's own figure is its
    # best match among the other kept clips: other sentences of the same voice, which must not match.
    clean = [x for cls, v, x in clips if v == "clean"]
    kept = [fingerprint(to16k(x)) for x in clean]
    for k, i in enumerate(i for i, v in enumerate(variants) if v == "clean"):
        best = max(same_audio(kept[k], kept[j]) for j in range(len(kept)) if j != k)
        flags[i] += failed({"duplicate_similarity": best}, t)
    for x in clean:
        copy = resampled(resampled(x, RATE, 16000), 16000, RATE) * 0.8
        best = max(same_audio(fingerprint(to16k(copy)), p) for p in kept)
        truth.append("duplicate")
        variants.append("16 kHz, x0.8")
        flags.append(judged(copy, refs, t, duplicate_similarity=best))

    rows, results = [], {}
    for c in [c for c in CHECK_NAMES if c in set(truth)]:
        positives = [i for i, t in enumerate(truth) if t == c]
        flagged = [i for i, f in enumerate(flags) if c in f]
        recall = sum(c in flags[i] for i in positives) / len(positives)
        precision = sum(truth[i] == c for i in flagged) / len(flagged) if flagged else math.nan
        results[c] = (recall, precision)
        also = sorted({truth[i] for i in flagged if truth[i] != c})
        rows.append(f"{c:<11} {len(positives):>5} {recall:>7.2f} {precision:>9.2f}   {', '.join(also)}")
    clean_idx = [i for i, t in enumerate(truth) if t == "clean"]
    rejected = sum(bool(flags[i]) for i in clean_idx) / len(clean_idx)
    print(
        f"\nfigures(): {len(clips)} clips, {audio_s:.0f} s of 40 kHz audio in {cpu:.1f} s CPU "
        f"({audio_s / cpu:.0f}x realtime, {len(clips) / cpu:.1f} clips/s)"
    )
    print("check       clips  recall precision   wrongly flagged (true class)")
    print("\n".join(rows))
    print(f"clean clips wrongly rejected: {rejected:.2f} of {len(clean_idx)}")
    for i, c in enumerate(truth):
        if (c != "clean" and c not in flags[i]) or (c == "clean" and flags[i]):
            print(f"  {'rejected' if c == 'clean' else 'missed'}: {c} / {variants[i]}: {flags[i]}")

    assert rejected <= 0.10
    for c, (recall, precision) in results.items():
        assert recall >= 0.95, (c, recall)
        assert precision >= 0.90, (c, precision)


def test_wada_table_matches_the_model_limits() -> None:
    from scipy.special import digamma

    snr, g = wada_table()
    assert np.all(np.diff(g) >= 0) and np.all(np.diff(g[snr >= -10]) > 0)  # G rises with the SNR: invertible
    # All noise: G of a Gaussian; all speech: G of the gamma(0.4) amplitude.
    gaussian = 0.5 * math.log(2 / math.pi) + (np.euler_gamma + math.log(2)) / 2
    assert g[0] == pytest.approx(gaussian, abs=0.01)
    assert g[-1] == pytest.approx(math.log(0.4) - digamma(0.4), abs=0.03)


@pytest.mark.parametrize("snr", [0, 5, 10, 20])
def test_wada_snr_reads_white_noise_level(snr: int) -> None:
    rng = np.random.default_rng(snr)
    x = sentence(snr % N)
    noisy = at_snr(x, rng.normal(0, 1, x.size), snr)
    assert wada_snr(noisy) == pytest.approx(snr, abs=3.0)


def test_fingerprint_matches_copies_and_not_other_speech() -> None:
    x = sentence(2)
    fp = fingerprint(to16k(x))
    copies = {
        "16 kHz round trip, x0.8": resampled(resampled(x, RATE, 16000), 16000, RATE) * 0.8,
        "mp3 64 kbit/s": resampled(mp3(to16k(x), 16000), 16000, RATE),
        "+3 dB, 7 ms later": np.concatenate([np.zeros(280), x * 1.41]),
        "10 % cut off the start": x[int(0.1 * x.size) :],
        "white noise 20 dB": at_snr(x, np.random.default_rng(1).normal(0, 1, x.size), 20),
    }
    for name, y in copies.items():
        assert same_audio(fp, fingerprint(to16k(y))) >= 0.5, name
    others = [sentence(i) for i in range(N) if i != 2]
    others.append(
        soxr.resample(trimmed(*say(SENTENCES[2], "en-us+m7")), 22050, RATE)
    )  # same words, other voice
    for y in others:
        assert same_audio(fp, fingerprint(to16k(y))) < 0.3
    assert same_audio(fp, b"") == 0.0
    assert fingerprint(np.zeros(100)) == b""
    prints = [fp, *(fingerprint(to16k(y)) for y in others[:3]), fingerprint(to16k(copies["mp3 64 kbit/s"]))]
    assert [(i, j) for i, j, _ in duplicate_pairs(prints)] == [(0, 4)]


def test_best_earlier_is_the_pairwise_maximum_block_by_block() -> None:
    """`samdata voice run`'s search, a block of prints against one pass over those before: for each
    print, the same best (similarity, id) as comparing it with every earlier print one by one,
    across block edges, with a repeat and an empty print among them."""
    clips = [to16k(sentence(i)) for i in range(6)]
    clips += [mp3(clips[1], 16000), clips[3][: int(0.8 * clips[3].size)], np.zeros(10)]
    prints = [(f"c{k}", fingerprint(x)) for k, x in enumerate(clips)]
    earlier, mine = prints[:2], prints[2:]
    got = best_earlier(mine, earlier, block=3)
    for k, (_, fp) in enumerate(mine):
        before = earlier + mine[:k]
        assert got[k] == max((same_audio(fp, other), cid) for cid, other in before)
    assert got[4][1] == "c1" and got[4][0] >= 0.5  # the MP3 copy of c1
    assert got[5][1] == "c3" and got[5][0] >= 0.5  # c3 cut short
    assert got[6] == (0.0, "c7")  # nothing to compare: the higher id of the ties
    assert best_earlier(prints[:1]) == [None] and best_earlier([]) == []


def test_speaker_similarity_separates_espeak_voices() -> None:
    """MFCC statistics, not a speaker encoder: three reference clips of 'en', five further sentences of
    'en' against the same five said by another voice; AUC must be ~1 for clearly different voices."""

    def profile(i: int, voice: str) -> np.ndarray:
        x, r = say(SENTENCES[i], voice)
        return speaker_profile(soxr.resample(trimmed(x, r), r, 16000, quality="HQ"))

    refs = [profile(i, "en") for i in range(3)]
    same = [speaker_similarity(profile(i, "en"), refs) for i in range(3, 8)]
    for other in ("en+f3", "en-us+m7"):
        diff = [speaker_similarity(profile(i, other), refs) for i in range(3, 8)]
        auc = np.mean([(a > b) + 0.5 * (a == b) for a in same for b in diff])
        print(
            f"\nspeaker en vs {other}: AUC {auc:.2f}, same {min(same):.2f}-{max(same):.2f}, "
            f"other {min(diff):.2f}-{max(diff):.2f}"
        )
        assert auc >= 0.95
        assert all("speaker" not in failed({"speaker_similarity": s}) for s in same)
        assert all("speaker" in failed({"speaker_similarity": s}) for s in diff)
    assert math.isnan(speaker_similarity(refs[0], []))


def test_clipping_counts_runs_not_single_peaks() -> None:
    x = sentence(0) * 0.5
    one_peak = x.copy()
    one_peak[1000] = 1.0
    assert figures(one_peak, RATE)["clipped_runs"] == 0
    run = x.copy()
    run[1000:1003] = -1.0
    figs = figures(run, RATE)
    assert figs["clipped_runs"] == 1 and failed(figs) == ["clipping"]
    assert "clipping" not in failed(figs, Thresholds(max_clipped_runs=1))


def test_unmeasured_figures_are_not_judged() -> None:
    assert failed({}) == []
    assert failed({"snr_db": math.nan, "loudness_lufs": math.nan, "duration_s": 3.0}) == []
    figs = figures(np.zeros(0), RATE)
    assert "too_short" in failed(figs)
    short = figures(sentence(1)[: int(0.3 * RATE)], RATE)
    assert math.isnan(short["loudness_lufs"])  # under one BS.1770 block
    assert failed(short) == ["too_short"]  # its noise/spectrum/rhythm figures are not judged


def test_vad_probabilities_replace_the_percentile_floor() -> None:
    x = sentence(3)
    noisy = x + music(x.size, np.random.default_rng(3)) * 10 ** (-20 / 20) * np.sqrt(power(x) / 4.5)
    n16 = to16k(noisy).size // 512
    speech = np.ones(n16)
    speech[: int(0.15 * 16000 / 512)] = 0.0  # the 0.15 s lead is pause
    speech[-int(0.15 * 16000 / 512) :] = 0.0
    figs = figures(noisy, RATE, speech)
    assert figs["vad_snr_db"] < DEFAULT.min_floor_snr_db and "noise" in failed(figs)
    clean = figures(x, RATE, speech)
    assert clean["vad_snr_db"] > 40 and failed(clean) == []
    # With no pause at all the VAD floor cannot be measured, and is not judged.
    assert math.isnan(figures(x, RATE, np.ones(n16))["vad_snr_db"])


def _repetition_by_definition(
    band_power: np.ndarray, loud_db: float, window: int = 120, step: int = 10
) -> float:
    """The rhythm score as its docstring defines it, one correlation at a time."""
    f = np.log(np.maximum(band_power, 10 ** ((loud_db - 50) / 10) * band_power.shape[1]))
    window = min(window, len(f))
    best = 0.0
    for start in range(0, len(f) - window + 1, step):
        w = f[start : start + window] - f[start : start + window].mean(axis=0)
        if not np.any(w):
            continue

        def c(lag: int, w: np.ndarray = w) -> float:
            a, b = w[:-lag], w[lag:]
            return float((a * b).sum()) / (math.sqrt(float((a * a).sum() * (b * b).sum())) + 1e-12)

        for lag in range(14, min(40, (window - 40) // 2) + 1, 2):
            best = max(best, min(c(lag), c(2 * lag)) - max(c(lag // 2), c(3 * lag // 2)))
    return best


def test_the_rhythm_score_is_its_definition() -> None:
    """The one-pass score (shifts from a Gram matrix) equals the correlations computed one by one,
    on steady rhythms, on noise and on clips shorter than a window."""
    rng = np.random.default_rng(7)
    for n in (60, 119, 120, 400, 1500):
        for period in (3.0, 5.5, 9.0):
            pulse = (1 + np.sin(2 * np.pi * np.arange(n) / (period * 4))) ** 2
            band_power = rng.gamma(1.0, 1.0, (n, 24)) * pulse[:, None]
            assert _repetition(band_power, -20.0) == pytest.approx(
                _repetition_by_definition(band_power, -20.0), abs=1e-9
            )
    assert _repetition(np.ones((300, 24)), 0.0) == 0.0  # a steady tone: no window varies
