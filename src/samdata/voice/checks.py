"""Per-clip quality checks for voice-model datasets.

`figures()` measures a clip and returns named numbers (stored with the clip, so a threshold can be
changed later without measuring again); `failed()` compares those numbers with `Thresholds` and names
the checks that failed. Everything here is a pure function over numpy arrays, so it runs in a worker.

Two checks compare a clip with *other* audio, so `figures()` cannot measure them alone:

- ``duplicate``: `fingerprint()` each clip (16 kHz) and store the best `same_audio()` score against
  the clips already kept as ``figs["duplicate_similarity"]``; `duplicate_pairs()` does the search.
- ``speaker``: `speaker_profile()` each clip and the speaker's reference clips, and store
  `speaker_similarity()` as ``figs["speaker_similarity"]``. This is MFCC statistics compared by cosine
  similarity, *not* a trained speaker encoder: it separates clearly different voices and is weak
  between similar ones (the tests measure it on espeak-ng voices).

- ``quality``: DNSMOS P.835 (`samdata.voice.quality`), a model run on a thread of its own, stored as
  ``figs["dnsmos_ovrl"]`` (with ``dnsmos_sig`` and ``dnsmos_bak``).

A figure that is missing or NaN (e.g. loudness of a clip shorter than one 0.4 s BS.1770 block) is not
judged: the check that would read it does not fail on it.
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CHECK_NAMES = (
    "too_short", "too_long", "clipping", "dc_offset", "silence", "noise", "bandwidth",
    "loudness", "non_speech", "duplicate", "speaker", "quality",
)  # fmt: skip

ANALYSIS_RATE = 16000  # non-speech features, fingerprints and speaker profiles work at 16 kHz


@dataclass(frozen=True)
class Thresholds:
    """Every limit the checks use. The defaults come from what voice-model recipes tolerate and from
    the measurements in tests/voice/test_checks.py (real espeak-ng speech with planted defects)."""

    # too_short / too_long: RVC-style trainers slice into 1-15 s pieces; a clip under 1 s holds too
    # little voice to learn from, and the segmenter never cuts above 15 s.
    min_duration_s: float = 1.0
    max_duration_s: float = 15.0
    # clipping: a run of `clip_run` consecutive samples at |x| >= `clip_level` is a flattened peak (one
    # sample at full scale is just a loud peak). RVC/Applio only react above a peak of 2.5 (float
    # overshoot), far too late: a clip fails once it holds more than `max_clipped_runs` runs.
    clip_level: float = 0.999
    clip_run: int = 3
    max_clipped_runs: int = 0
    # dc_offset: |mean| above 0.01 full scale (about -40 dBFS) is a faulty interface or a bad edit.
    max_dc_offset: float = 0.01
    # silence: a run of exact zeros (digital silence: a gate, a dropout, a bad splice) longer than
    # `max_digital_silence_s`; or more than `max_silence_ratio` of 10 ms windows under `silence_dbfs`.
    # That level follows the clip's own level down (`silence_below_loud_db` under its loud windows), so
    # a merely quiet clip is the loudness check's finding, not counted as silence.
    max_digital_silence_s: float = 0.2
    silence_dbfs: float = -60.0
    silence_below_loud_db: float = 45.0
    max_silence_ratio: float = 0.5
    # noise: WADA-SNR (Kim & Stern 2008) under `min_snr_db`; or a steady background (music bed, fan,
    # babble) under the speech: the floor SNR under `min_floor_snr_db`. The floor SNR is the loud
    # frames (95th percentile of 10 ms frames) against the floor, summed over 20 bands of each band's
    # 5th percentile over time; with VAD probabilities it is the VAD's speech frames against its
    # non-speech frames instead, and not judged with under 0.1 s of pause. On espeak-ng this is at its
    # limit: pause-free 1.1-1.6 s pieces of clean speech read >= 30.8 dB, a music bed 20 dB under the
    # speech <= 29.3 dB (25 dB under reads ~32-34 dB and passes).
    # WADA alone misses both a low music bed and babble (speech-like noise reads ~5 dB too clean).
    min_snr_db: float = 15.0
    min_floor_snr_db: float = 30.0
    # bandwidth: the frequency below which `bandwidth_energy` of the energy lies. Speech keeps 99 % of
    # its energy under ~3.5-6 kHz even at full band, so 99 % cannot tell an 8 kHz source, and 99.9 %
    # still reads ~4 kHz on a voiced stretch without fricatives; 99.99 % separates them (full-band
    # speech ~8-10 kHz, an upsampled 8 kHz source ~3.8 kHz). A clip fails when that frequency is under
    # `min_bandwidth_hz` AND under `bandwidth_nyquist_share` of its own Nyquist.
    bandwidth_energy: float = 0.9999
    min_bandwidth_hz: float = 5000.0
    bandwidth_nyquist_share: float = 0.45
    # loudness: BS.1770 integrated loudness (pyloudnorm) outside this range.
    min_lufs: float = -40.0
    max_lufs: float = -10.0
    # non_speech (a heuristic, not a classifier): breath-like, i.e. a stretch of active but unvoiced
    # sound longer than `max_unvoiced_run_s` (fricatives last ~0.1-0.2 s); or laugh-like, i.e. bursts
    # repeating with the same spectrum at a steady 2.5-7 Hz rhythm, `repetition` over `max_repetition`.
    # Measured on espeak-ng: clean speech <= 0.15 s unvoiced and repetition <= 0.69; breaths (24 dB
    # under the speech or louder) >= 0.55 s; "ha ha ha" and pitched 4-6 Hz bursts repetition >= 1.16.
    max_unvoiced_run_s: float = 0.3
    max_repetition: float = 1.0
    # duplicate: `same_audio()` at or above this (1 - 2 x bit error rate of the fingerprints).
    max_duplicate_similarity: float = 0.5
    # speaker: `speaker_similarity()` under this. MFCC statistics, not a speaker encoder: it tells a
    # different voice (other sex, other timbre) and cannot tell two similar voices apart.
    min_speaker_similarity: float = 0.7
    # quality: DNSMOS P.835 (samdata.voice.quality; 1-5): the background score under `min_dnsmos_bak`
    # or the overall one under `min_dnsmos_ovrl`. The model was trained on people, and synthetic
    # speech reads low: clean espeak-ng clips read BAK 2.23-4.14 and OVRL 1.85-3.16 (a female voice
    # lowest), white and babble noise at 0 dB BAK 1.50-1.97, at 5 dB 1.70-2.09, at 10 dB up to 2.53.
    # Emilia keeps OVRL over 3.0. These defaults reject only what sounds plainly bad; an owner of
    # real recordings raises them after a look at the figures of their own clips.
    min_dnsmos_bak: float = 2.0
    min_dnsmos_ovrl: float = 1.6


DEFAULT = Thresholds()


# --- figures -------------------------------------------------------------------------------------


def figures(
    clip: np.ndarray, rate: int, speech: np.ndarray | None = None, *, t: Thresholds = DEFAULT
) -> dict[str, float]:
    """Measure one mono clip (float samples in [-1, 1] at `rate`).

    `speech`, the per-frame speech probabilities (Silero at 16 kHz, 512-sample frames) where the caller
    has them, adds a VAD-based noise floor (`vad_snr_db`) from the frames it calls non-speech.
    `t` supplies the few limits that shape a measurement (clip level and run, silence level, the energy
    share for bandwidth); the rest are applied by `failed()`.
    """
    x = np.asarray(clip, dtype=np.float64).ravel()
    n = x.size
    figs: dict[str, float] = {"duration_s": n / rate, "rate": float(rate)}
    if n == 0:
        figs.update(peak=0.0, clipped_runs=0.0, clipped_share=0.0, dc_offset=0.0, digital_silence_s=0.0,
                    silence_ratio=1.0, snr_db=math.nan, floor_snr_db=math.nan, loudness_lufs=-math.inf,
                    bandwidth_hz=0.0, voiced_share=0.0, unvoiced_run_s=0.0, repetition=0.0)  # fmt: skip
        return figs
    figs["peak"] = float(np.abs(x).max())
    runs, share = _clipped(x, t.clip_level, t.clip_run)
    figs["clipped_runs"] = float(runs)
    figs["clipped_share"] = share
    dc = float(x.mean())
    figs["dc_offset"] = dc
    figs["digital_silence_s"] = _longest_run(x == 0.0) / rate
    figs["silence_ratio"] = _silence_ratio(x, rate, t.silence_dbfs, t.silence_below_loud_db)
    centred = x - dc  # the noise and spectrum figures must not see the DC offset (its own check)
    figs["snr_db"] = wada_snr(centred)
    figs["loudness_lufs"] = _loudness(x, rate)
    figs["bandwidth_hz"] = _bandwidth(centred, rate, t.bandwidth_energy)
    x16 = _to_rate(centred, rate, ANALYSIS_RATE)
    figs.update(_voice_features(x16))
    if speech is not None:
        figs["vad_snr_db"] = _vad_snr(x16, np.asarray(speech, dtype=np.float64))
    return figs


def limits(figs: dict[str, Any], t: Thresholds = DEFAULT) -> dict[str, list[tuple[str, str, float]]]:
    """Each check's parts: (figure, the comparison that fails it, threshold). A check fails when any
    part is crossed; `failed` applies them, the review page shows them."""
    rate = figs.get("rate")
    nyquist = float(rate) / 2 if isinstance(rate, numbers.Real) and not math.isnan(float(rate)) else math.inf
    # With VAD probabilities the VAD's own split decides the floor (NaN: too little pause to tell).
    floor = "vad_snr_db" if "vad_snr_db" in figs else "floor_snr_db"
    return {
        "too_short": [("duration_s", "<", t.min_duration_s)],
        "too_long": [("duration_s", ">", t.max_duration_s)],
        "clipping": [("clipped_runs", ">", t.max_clipped_runs)],
        "dc_offset": [("dc_offset", "|x| >", t.max_dc_offset)],
        "silence": [("digital_silence_s", ">", t.max_digital_silence_s),
                    ("silence_ratio", ">", t.max_silence_ratio)],
        "noise": [("snr_db", "<", t.min_snr_db), (floor, "<", t.min_floor_snr_db)],
        "bandwidth": [("bandwidth_hz", "<", min(t.min_bandwidth_hz, t.bandwidth_nyquist_share * nyquist))],
        "loudness": [("loudness_lufs", "<", t.min_lufs), ("loudness_lufs", ">", t.max_lufs)],
        "non_speech": [("unvoiced_run_s", ">", t.max_unvoiced_run_s), ("repetition", ">", t.max_repetition)],
        "duplicate": [("duplicate_similarity", ">=", t.max_duplicate_similarity)],
        "speaker": [("speaker_similarity", "<", t.min_speaker_similarity)],
        "quality": [("dnsmos_bak", "<", t.min_dnsmos_bak), ("dnsmos_ovrl", "<", t.min_dnsmos_ovrl)],
    }  # fmt: skip


def crossed(value: Any, op: str, limit: float) -> bool:
    """Whether a figure crosses a limit; a missing, non-numeric or NaN figure never does."""
    if not isinstance(value, numbers.Real) or math.isnan(float(value)):
        return False
    v = float(value)
    return {"<": v < limit, ">": v > limit, ">=": v >= limit, "|x| >": abs(v) > limit}[op]


def failed(figs: dict[str, Any], t: Thresholds = DEFAULT) -> list[str]:
    """The names from CHECK_NAMES whose figure crossed its threshold, in CHECK_NAMES order.
    Missing or NaN figures are not judged."""
    bad = {
        check
        for check, parts in limits(figs, t).items()
        if any(crossed(figs.get(key), op, limit) for key, op, limit in parts)
    }
    # The voice is judged on the voice: noise and non-speech sounds move the MFCC statistics as much
    # as another speaker does (on the benchmark they made 23 of 31 speaker flags), and such a clip
    # is rejected for what it is.
    if bad & {"noise", "non_speech", "clipping", "quality"}:
        bad.discard("speaker")
    if "too_short" in bad:
        # Under a second the statistics (noise floor, spectrum, rhythm, loudness) mean little, and the
        # clip is rejected anyway: report it once, as too short.
        bad -= {"noise", "bandwidth", "loudness", "non_speech", "quality"}
    return [name for name in CHECK_NAMES if name in bad]


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the runs of True in a boolean array."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    return starts, np.flatnonzero(d == -1) - starts


def _longest_run(mask: np.ndarray) -> int:
    _, lengths = _runs(mask)
    return int(lengths.max()) if lengths.size else 0


def _clipped(x: np.ndarray, level: float, run: int) -> tuple[int, float]:
    _, lengths = _runs(np.abs(x) >= level)
    long = lengths[lengths >= run]
    return int(long.size), float(long.sum() / x.size)


def _silence_ratio(x: np.ndarray, rate: int, dbfs: float, below_loud_db: float) -> float:
    w = max(1, rate // 100)  # 10 ms windows
    k = max(1, x.size // w)
    ms = (
        np.mean(np.resize(x, k * w).reshape(k, w) ** 2, axis=1)
        if x.size >= w
        else np.mean(x**2, keepdims=True)
    )
    loud_db = 10 * np.log10(np.percentile(ms, 95) + 1e-20)
    level = min(dbfs, loud_db - below_loud_db)
    return float(np.mean(ms < 10 ** (level / 10)))


def _loudness(x: np.ndarray, rate: int) -> float:
    import pyloudnorm

    if x.size < int(0.4 * rate) + 1:
        return math.nan  # BS.1770 needs one 400 ms block; too_short already covers such a clip
    return float(pyloudnorm.Meter(rate).integrated_loudness(x))


def _bandwidth(x: np.ndarray, rate: int, share: float) -> float:
    """Frequency below which `share` of the energy lies, from the Welch average of `scipy.signal.welch`
    (Hann segments of up to 4096 samples, half overlapping, each less its mean; so long clips cost
    little), computed here in one transform over all segments: scipy's goes a segment at a time."""
    nper = min(4096, x.size)
    if nper < 64:
        return 0.0
    step = nper - nper // 2
    count = 1 + (x.size - nper) // step
    segs = np.lib.stride_tricks.as_strided(x, (count, nper), (x.strides[0] * step, x.strides[0]))
    segs = segs - segs.mean(axis=1, keepdims=True)
    p = (np.abs(np.fft.rfft(segs * _hann(nper), axis=1)) ** 2).mean(axis=0)
    p[1 : p.size - (nper % 2 == 0)] *= 2  # one-sided: every bin but 0 and Nyquist stands for two
    total = p.sum()
    if total <= 0:
        return 0.0
    f = np.fft.rfftfreq(nper, 1 / rate)
    return float(f[min(np.searchsorted(np.cumsum(p) / total, share), f.size - 1)])


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    from scipy.signal import get_window

    return get_window("hann", n)  # periodic, as welch's


def _to_rate(x: np.ndarray, rate: int, out: int) -> np.ndarray:
    if rate == out:
        return x
    import soxr

    return soxr.resample(x, rate, out, quality="HQ")


# --- WADA-SNR (Kim & Stern 2008) ------------------------------------------------------------------

# WADA models clean speech amplitude as gamma distributed with shape 0.4 and noise as Gaussian; the
# statistic G = log E|z| - E log|z| of the noisy signal z then grows monotonically with the SNR, from
# the Gaussian value (~0.41) to the gamma one (log 0.4 - digamma(0.4) ~ 1.645). The table maps G back.
_WADA_ALPHA = 0.4
_WADA_EPS = 1e-10  # |z| floor, as in the published method (exact zeros would send log to -inf)


@functools.lru_cache(maxsize=1)
def wada_table() -> tuple[np.ndarray, np.ndarray]:
    """(snr_db, G) for SNR from -20 to 100 dB: G computed from the model, by a deterministic quadrature
    over quantiles of the gamma amplitude and of the Gaussian noise (the noise sign makes the sign of
    the speech sample irrelevant to |z|, so positive amplitudes suffice)."""
    from scipy.special import gammaincinv, ndtri

    k = 320
    q = (np.arange(k) + 0.5) / k
    amp = gammaincinv(_WADA_ALPHA, q)  # unit scale; E[amp^2] = alpha (alpha + 1)
    gauss = ndtri(q)
    power = _WADA_ALPHA * (_WADA_ALPHA + 1)
    snr = np.arange(-20.0, 100.01, 0.5)
    g = np.empty_like(snr)
    for i, s in enumerate(snr):
        sigma = math.sqrt(power / 10 ** (s / 10))
        z = np.maximum(np.abs(amp[:, None] + sigma * gauss[None, :]), _WADA_EPS)
        g[i] = math.log(z.mean()) - np.log(z).mean()
    # Under about -10 dB G is flat to within the quadrature's error (~1e-5), which can wobble; a
    # running maximum keeps the table invertible (SNR that low reads as the table's floor anyway).
    return snr, np.maximum.accumulate(g)


def wada_snr(x: np.ndarray) -> float:
    """Waveform Amplitude Distribution Analysis SNR in dB (Kim & Stern, Interspeech 2008)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0 or not np.any(x):
        return math.nan
    a = np.maximum(np.abs(x / np.abs(x).max()), _WADA_EPS)
    g = math.log(a.mean()) - float(np.log(a).mean())
    snr, table = wada_table()
    if g <= table[0]:
        return float(snr[0])
    if g >= table[-1]:
        return float(snr[-1])
    return float(np.interp(g, table, snr))


# --- frame features at 16 kHz: floor SNR, voicing, repetition -------------------------------------

_FRAME = 640  # 40 ms: two periods of a 50 Hz voice for the autocorrelation
_HOP = 160  # 10 ms
_PITCH_LAGS = (ANALYSIS_RATE // 400, ANALYSIS_RATE // 60)  # 40-266 samples: F0 60-400 Hz
_VOICED = 0.45  # normalised autocorrelation peak above which a frame counts as voiced
_ACTIVE_DB = 35.0  # a frame within this many dB of the loud frames is active sound


def _frames(x: np.ndarray) -> np.ndarray:
    if x.size < _FRAME:
        x = np.pad(x, (0, _FRAME - x.size))
    n = 1 + (x.size - _FRAME) // _HOP
    return np.lib.stride_tricks.as_strided(x, (n, _FRAME), (x.strides[0] * _HOP, x.strides[0]))


@functools.lru_cache(maxsize=1)
def _analysis_consts() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    win = np.hanning(_FRAME)
    nfft = 2048
    spec_w = np.abs(np.fft.rfft(win, nfft)) ** 2
    acf_w = np.fft.irfft(spec_w, nfft)[: _PITCH_LAGS[1] + 1]
    freqs = np.fft.rfftfreq(nfft, 1 / ANALYSIS_RATE)
    # Log-spaced bands 100-6000 Hz for the repetition measure.
    edges = np.geomspace(100, 6000, 21)
    bands = np.zeros((edges.size - 1, freqs.size))
    for b in range(edges.size - 1):
        bands[b, (freqs >= edges[b]) & (freqs < edges[b + 1])] = 1.0
    # The autocorrelation of the spectrum under 4 kHz at the pitch lags only: the inverse transform
    # of a real spectrum, as a product with its cosines (1/N for bin 0, 2/N for the others; the
    # Nyquist bin is above the cut), a sixth of a whole irfft's work.
    low_bins = int(np.searchsorted(freqs, 4000.0, side="right"))
    weight = np.full(low_bins, 2.0 / nfft)
    weight[0] = 1.0 / nfft
    lags = np.arange(_PITCH_LAGS[1] + 1)
    acf_basis = weight[:, None] * np.cos(2 * np.pi * np.outer(np.arange(low_bins), lags) / nfft)
    return win, acf_w / acf_w[0], freqs, bands, acf_basis


def _voice_features(x16: np.ndarray) -> dict[str, float]:
    win, acf_w, _, bands, acf_basis = _analysis_consts()
    fr = _frames(x16)
    spec = np.abs(np.fft.rfft(fr * win, 2048, axis=1)) ** 2
    e_db = 10 * np.log10(np.mean(fr**2, axis=1) + 1e-12)
    loud = np.percentile(e_db, 95)
    quiet = np.percentile(e_db, 5)
    active = e_db > max(loud - _ACTIVE_DB, quiet + 10.0)
    # Voicing: autocorrelation of the spectrum under 4 kHz (the harmonics that matter live there),
    # corrected for the window's own taper. A lower cut would leave breath noise narrow-band, and
    # narrow-band noise autocorrelates like a voice.
    acf = spec[:, : acf_basis.shape[0]] @ acf_basis
    r0 = acf[:, :1] + 1e-20
    lo, hi = _PITCH_LAGS
    voicing = np.max(acf[:, lo : hi + 1] / r0 / acf_w[lo : hi + 1], axis=1)
    voiced = voicing > _VOICED
    n_active = int(active.sum())
    uv = active & ~voiced
    # Floor SNR per band: speech without a pause still dips low in each band at some moment (formants
    # move), a steady background never does; so the floor is the sum over bands of each band's quiet
    # level (5th percentile over time), against the loud frames' total. Full-band percentiles read a
    # pause-free clip's own quiet consonants as a floor ~25 dB too high.
    band_power = spec @ bands.T
    total = band_power.sum(axis=1)
    floor = float(np.percentile(band_power, 5, axis=0).sum())
    return {
        "floor_snr_db": float(10 * np.log10((np.percentile(total, 95) + 1e-20) / (floor + 1e-20))),
        "voiced_share": float((active & voiced).sum() / n_active) if n_active else 0.0,
        "unvoiced_run_s": _longest_run(_close_gaps(uv, 2)) * _HOP / ANALYSIS_RATE,
        "repetition": _repetition(band_power, loud),
    }


def _close_gaps(mask: np.ndarray, gap: int) -> np.ndarray:
    """Fill runs of False no longer than `gap` between Trues (one voiced-looking frame inside a breath
    must not split it)."""
    out = mask.copy()
    starts, lengths = _runs(~mask)
    for s, n in zip(starts, lengths, strict=True):
        if n <= gap and s > 0 and s + n < mask.size:
            out[s : s + n] = True
    return out


def _repetition(band_power: np.ndarray, loud_db: float, window: int = 120, step: int = 10) -> float:
    """How strongly the sound repeats itself with the same spectrum at a steady 2.5-7 Hz rhythm.

    Within each 1.2 s window, the correlation c(L) of the (band, time) log-energy pattern with itself
    shifted by L frames; a rhythm of period L shows c(L) and c(2L) high while c(L/2) and c(3L/2) (the
    burst against the gap) are low. Slowly varying sound (speech then a pause) has all four alike, and
    speech's syllables change spectrum from one to the next, so it scores well under a laugh."""
    # Log energy per band, floored 50 dB under the loud frames so silent gaps do not dominate.
    floor = 10 ** ((loud_db - 50) / 10) * band_power.shape[1]
    f = np.log(np.maximum(band_power, floor))
    n = f.shape[0]
    window = min(window, n)  # a clip shorter than the window is one window
    # 140-400 ms periods, as long as c(2L) still compares 40 frames (0.4 s) or more.
    lags = np.arange(14, min(40, (window - 40) // 2) + 1, 2)
    if not len(lags):
        return 0.0
    # Every shift the score reads: c(L) = <w[:-L], w[L:]> / (|w[:-L]| |w[L:]|) for each window w,
    # centred on its mean.
    shifts, at = np.unique(np.concatenate([lags, 2 * lags, lags // 2, 3 * lags // 2]), return_inverse=True)
    at_l, at_2l, at_half, at_3half = at.reshape(4, len(lags))
    # Every window at once, from running sums over the clip: with the window's mean m,
    # sum (a - m)(b - m) = sum a.b - m.(sum a + sum b) + count m.m, for the products at each shift
    # and for the energies. A window of one constant pattern has no correlation to read: skipped.
    starts = np.arange(0, n - window + 1, step)
    zero = np.zeros((1, f.shape[1]))
    p1 = np.concatenate([zero, np.cumsum(f, axis=0)])  # p1[t]: sum of frames before t
    p2 = np.concatenate([[0.0], np.cumsum((f * f).sum(axis=1))])
    changes = np.concatenate([[0], np.cumsum(np.any(f[1:] != f[:-1], axis=1))])
    varied = changes[starts + window - 1] > changes[starts]
    starts = starts[varied]
    if not starts.size:
        return 0.0
    mean = (p1[starts + window] - p1[starts]) / window

    def energy(j: np.ndarray) -> np.ndarray:  # (windows, len(j)): centred energy of the first j frames
        s_, j_ = starts[:, None], j[None, :]
        sums = p1[s_ + j_] - p1[starts][:, None]
        return (
            p2[s_ + j_]
            - p2[starts][:, None]
            - 2 * np.einsum("wjb,wb->wj", sums, mean)
            + j_ * (mean * mean).sum(axis=1)[:, None]
        )

    products = np.empty((starts.size, shifts.size))
    for i, k in enumerate(shifts):
        r = np.concatenate([[0.0], np.cumsum((f[:-k] * f[k:]).sum(axis=1))])
        raw = r[starts + window - k] - r[starts]
        later = p1[starts + window] - p1[starts + k]  # frames k.. of the window
        earlier = p1[starts + window - k] - p1[starts]  # frames ..window - k
        products[:, i] = (
            raw - (mean * (later + earlier)).sum(axis=1) + (window - k) * (mean * mean).sum(axis=1)
        )
    total = energy(np.array([window]))
    c = products / (np.sqrt(energy(window - shifts) * (total - energy(shifts))) + 1e-12)
    score = np.minimum(c[:, at_l], c[:, at_2l]) - np.maximum(c[:, at_half], c[:, at_3half])
    return max(0.0, float(score.max()))


def _vad_snr(x16: np.ndarray, speech: np.ndarray, frame: int = 512, threshold: float = 0.5) -> float:
    """SNR from the VAD's split: mean power of speech frames over non-speech frames (NaN with under
    0.1 s of non-speech: a tightly cut clip says nothing about its noise that way)."""
    k = min(speech.size, x16.size // frame)
    if k == 0:
        return math.nan
    p = np.mean(x16[: k * frame].reshape(k, frame) ** 2, axis=1)
    is_speech = speech[:k] >= threshold
    if (~is_speech).sum() * frame < 0.1 * ANALYSIS_RATE or not is_speech.any():
        return math.nan
    noise = float(p[~is_speech].mean())
    signal = float(p[is_speech].mean()) - noise
    if noise <= 0:
        return 100.0
    return float(10 * math.log10(max(signal, 1e-12) / noise))


# --- duplicates: Haitsma-Kalker style fingerprint -------------------------------------------------

_FP_FRAME = 4096  # 256 ms at 16 kHz: long frames make the bits robust to small shifts
_FP_HOP = 128  # 8 ms
_FP_BITS = 32  # 33 bands give 32 band-difference bits per frame


@functools.lru_cache(maxsize=1)
def _fp_bands() -> np.ndarray:
    freqs = np.fft.rfftfreq(_FP_FRAME, 1 / ANALYSIS_RATE)
    edges = np.geomspace(300, 3400, _FP_BITS + 2)  # speech band, log spaced (Haitsma & Kalker 2002)
    bands = np.zeros((_FP_BITS + 1, freqs.size))
    for b in range(_FP_BITS + 1):
        bands[b, (freqs >= edges[b]) & (freqs < edges[b + 1])] = 1.0
    return bands


def fingerprint(clip16k: np.ndarray) -> bytes:
    """A robust fingerprint of 16 kHz audio: per 8 ms frame, 32 bits, each the sign of the change over
    time of the energy difference between adjacent bands (Haitsma & Kalker 2002). Bits survive gain,
    resampling and lossy coding; different speech gives unrelated bits. 4 bytes per frame."""
    x = np.asarray(clip16k, dtype=np.float64).ravel()
    if x.size < _FP_FRAME + _FP_HOP:
        return b""
    n = 1 + (x.size - _FP_FRAME) // _FP_HOP
    fr = np.lib.stride_tricks.as_strided(x, (n, _FP_FRAME), (x.strides[0] * _FP_HOP, x.strides[0]))
    energy = (np.abs(np.fft.rfft(fr * np.hanning(_FP_FRAME), axis=1)) ** 2) @ _fp_bands().T
    d = energy[:, :-1] - energy[:, 1:]
    bits = (d[1:] - d[:-1]) > 0
    return np.packbits(bits, axis=1, bitorder="little").tobytes()


class _Print:
    """A fingerprint as the correlation reads it: its bits as +-1 rows (32 x frames, each row
    contiguous for the FFT), and their spectra by transform size, each computed once."""

    __slots__ = ("frames", "signs", "spectra")

    def __init__(self, fp: bytes) -> None:
        b = np.unpackbits(
            np.frombuffer(fp, dtype=np.uint8).reshape(-1, _FP_BITS // 8), axis=1, bitorder="little"
        )
        self.signs = np.ascontiguousarray(b.T, dtype=np.float32) * 2 - 1
        self.frames = self.signs.shape[1]
        self.spectra: dict[int, np.ndarray] = {}

    def spectrum(self, size: int) -> np.ndarray:
        import scipy.fft  # scipy comes with pyloudnorm (voice extra)

        if size not in self.spectra:
            self.spectra[size] = scipy.fft.rfft(self.signs, size, axis=1)
        return self.spectra[size]


def _similarity(a: _Print, b: _Print, min_overlap: float = 0.7) -> float:
    import scipy.fft

    na, nb = a.frames, b.frames
    if not na or not nb or min(na, nb) / max(na, nb) < min_overlap:
        return 0.0  # no alignment can overlap enough
    # Agreement minus disagreement at every offset at once: a cross-correlation of the +-1 bits,
    # summed over the 32 bits in the frequency domain (the transform is linear), so one inverse
    # transform instead of 32. float32 holds the integer counts (< 2^24) exactly enough. A power
    # of two as the size, so a print's spectrum serves every print of about its length.
    size = 1 << (na + nb - 1).bit_length()
    corr = scipy.fft.irfft((a.spectrum(size) * b.spectrum(size).conj()).sum(axis=0), size)
    # corr[k] pairs a[i] with b[i - k]; negative k wrap to the end.
    offsets = np.concatenate([np.arange(0, na), np.arange(-(nb - 1), 0)])
    values = np.concatenate([corr[:na], corr[size - (nb - 1) :]])
    overlap = np.minimum(na, offsets + nb) - np.maximum(0, offsets)
    ok = overlap >= min_overlap * min(na, nb)
    if not ok.any():
        return 0.0
    sim = values[ok] / (overlap[ok] * _FP_BITS)  # = 1 - 2 BER
    return float(np.clip(sim.max(), 0.0, 1.0))


def same_audio(a: bytes, b: bytes, min_overlap: float = 0.7) -> float:
    """Similarity in [0, 1] of two fingerprints: 1 - 2 x the lowest bit error rate over all alignments
    that overlap at least `min_overlap` of the shorter one (so clips cut a little differently from the
    same audio still match). Unrelated audio scores ~0, the same audio re-encoded ~0.6-1."""
    if not a or not b:
        return 0.0
    return _similarity(_Print(a), _Print(b), min_overlap)


def best_earlier(
    prints: Sequence[tuple[str, bytes]], earlier: Sequence[tuple[str, bytes]] = (), block: int = 64
) -> list[tuple[float, str] | None]:
    """For each (id, fingerprint) of `prints`, the best (`same_audio`, id) over every print before
    it (all of `earlier`, then those before it in `prints`; the higher id on a tie); None when
    nothing comes before it. The same figures as comparing pair by pair, but `block` prints at a
    time against one pass over the ones before, so each print's spectrum is computed once a
    block, not once a pair (the transforms were 90 % of a pair's cost), in memory bounded by the
    block (a 10 s print's spectra are about 0.5 MB)."""
    before = [*earlier, *prints]
    out: list[tuple[float, str] | None] = []
    for first in range(0, len(prints), block):
        mine = [(cid, _Print(fp)) for cid, fp in prints[first : first + block]]
        best: list[tuple[float, str] | None] = [None] * len(mine)
        # Each print met by the block's prints from `lo` on: all of the block for those before
        # it, the ones after it for the block's own.
        before_block = ((cid, _Print(fp), 0) for cid, fp in before[: len(earlier) + first])
        in_block = ((cid, mp, k + 1) for k, (cid, mp) in enumerate(mine))
        for cid, other, lo in itertools.chain(before_block, in_block):
            for m in range(lo, len(mine)):
                found, current = (_similarity(mine[m][1], other), cid), best[m]
                if current is None or found > current:
                    best[m] = found
        out += best
    return out


def duplicate_pairs(prints: Sequence[bytes], t: Thresholds = DEFAULT) -> list[tuple[int, int, float]]:
    """(i, j, similarity) for every pair i < j whose fingerprints match (similarity at or above
    `t.max_duplicate_similarity`). All pairs (those whose lengths cannot overlap enough cost nothing):
    ~0.5 ms a pair of 10 s clips, fine for thousands of clips, not for millions."""
    return [
        (i, j, s)
        for i in range(len(prints))
        for j in range(i + 1, len(prints))
        if (s := same_audio(prints[i], prints[j])) >= t.max_duplicate_similarity
    ]


# --- speaker: MFCC statistics (not a trained speaker encoder) -------------------------------------

_MEL_BANDS = 40
_CEPS = 20  # c1..c19 kept (c0 is level)


@functools.lru_cache(maxsize=1)
def _mel_dct() -> tuple[np.ndarray, np.ndarray]:
    nfft = 512
    freqs = np.fft.rfftfreq(nfft, 1 / ANALYSIS_RATE)

    def mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    pts = 700 * (10 ** (np.linspace(mel(np.array(60.0)), mel(np.array(7600.0)), _MEL_BANDS + 2) / 2595) - 1)
    fb = np.zeros((_MEL_BANDS, freqs.size))
    for m in range(_MEL_BANDS):
        lo, mid, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
    k = np.arange(_MEL_BANDS)
    dct = np.cos(np.pi / _MEL_BANDS * (k[None, :] + 0.5) * np.arange(_CEPS)[:, None])
    return fb, dct


def speaker_profile(clip16k: np.ndarray) -> np.ndarray:
    """A fixed-length voice description of 16 kHz speech: the mean MFCCs c1-c19 over the active frames
    (25 ms, 10 ms hop), liftered by k (c_k x k) so the spectral tilt every voice shares (c1) does not
    dominate and the formant detail (higher k) counts. Level-independent (c0 dropped). The MFCC
    spread was tried too and only blurred the difference between voices."""
    x = np.asarray(clip16k, dtype=np.float64).ravel()
    fb, dct = _mel_dct()
    if x.size < 400:
        return np.zeros(_CEPS - 1)
    n = 1 + (x.size - 400) // 160
    fr = np.lib.stride_tricks.as_strided(x, (n, 400), (x.strides[0] * 160, x.strides[0]))
    p = np.abs(np.fft.rfft(fr * np.hamming(400), 512, axis=1)) ** 2
    e = p.sum(axis=1)
    keep = e > e.max() * 10 ** (-3.5)  # active frames: within 35 dB of the loudest
    mfcc = np.log(p[keep] @ fb.T + 1e-10) @ dct.T
    return mfcc[:, 1:].mean(axis=0) * np.arange(1, _CEPS)


def speaker_similarity(profile: np.ndarray, references: Sequence[np.ndarray]) -> float:
    """Cosine similarity, in [-1, 1], between a clip's profile and the mean of the reference clips'
    profiles (NaN without references). A flat spectrum is the zero point, so unlike voices score far
    apart (espeak-ng 'en' against 'en+f3' ~0.1, against 'en-us+m7' ~0.4, against itself > 0.9)."""
    if not len(references):
        return math.nan
    ref = np.mean(np.asarray(references), axis=0)
    den = float(np.linalg.norm(profile) * np.linalg.norm(ref))
    return float(profile @ ref / den) if den > 0 else 0.0
