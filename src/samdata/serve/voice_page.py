"""The dashboard's voice review queue: `/review/voice` and each clip's audio.

`/review/voice` lists the clips `samdata voice run` cut that wait for a person (no decision, or a
skip): those that failed a check first, then the rest, each in recording order; `?speaker=` keeps
one speaker's, `?all=1` shows the decided ones too. Each clip shows its recording, offsets and
duration, the checks it failed with the figure and the threshold it crossed, a waveform (a min/max
envelope drawn here as SVG: no script draws it) and a player. static/voice.js reviews by keyboard
and stores decisions in the `voice` review queue (accept | reject | skip), which `samdata voice
package` honours: a rejected clip stays out, an accepted failed clip goes in.

`/review/voice/clip/{id}.wav` is the clip cut from its recording (16-bit PCM at the recording's
rate, 48 kHz at most), the samples packaging would take. Decoding streams a recording from its
start (samdata.voice.audio has no seeking), so one request cuts the clips after it in the same
pass too and keeps the last few in memory: the next clip a reviewer plays is ready.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
import wave
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from samdata.catalog import Catalog
from samdata.serve.api import read_catalog
from samdata.serve.pages import render

router = APIRouter(include_in_schema=False)

PAGE_LIMIT = 100  # clips per page (each carries a ~8 KB waveform); decide them and reload for more
COLUMNS = 600  # waveform columns (min/max of the samples under each)
HEIGHT = 100  # the waveform's viewBox height; 0 dBFS at the top and bottom edges
MAX_RATE = 48_000  # clips are served at the recording's rate up to this (what packaging reads)
PREFETCH = 4  # clips after the one asked for that a request cuts in the same pass
WAV_CACHE = 24  # encoded clips kept in memory
WAVE_CACHE = 2_000  # waveforms kept in memory (~8 KB each)
_ID = re.compile(r"[0-9a-f]{32}")

# Figure → label and how it is written: the unit tells the format.
_LABELS = {
    "duration_s": "duration",
    "clipped_runs": "clipped runs",
    "dc_offset": "DC offset",
    "digital_silence_s": "longest digital silence",
    "silence_ratio": "silent share",
    "snr_db": "SNR (WADA)",
    "floor_snr_db": "SNR over the noise floor",
    "vad_snr_db": "SNR over the VAD's pauses",
    "bandwidth_hz": "bandwidth",
    "loudness_lufs": "loudness",
    "unvoiced_run_s": "longest unvoiced run",
    "repetition": "rhythmic repetition",
    "duplicate_similarity": "similarity to an earlier clip",
    "speaker_similarity": "similarity to the speaker's references",
}


def fmt(key: str, value: Any) -> str:
    """A figure as a person reads it: seconds, dB, LUFS, Hz, shares as percentages."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "not measured"
    if math.isinf(v):
        return "-∞" if v < 0 else "∞"
    if key.endswith("_s"):
        return f"{v:.2f} s"
    if key.endswith("_db"):
        return f"{v:.1f} dB"
    if key.endswith("_lufs"):
        return f"{v:.1f} LUFS"
    if key.endswith("_hz"):
        return f"{v:,.0f} Hz"
    if key.endswith(("_ratio", "_share")):
        return f"{v:.1%}"
    if key == "dc_offset":
        return f"{v:+.4f}"
    if key.endswith("_runs"):
        return f"{v:,.0f}"
    return f"{v:.2f}"


def explain(failed: list[str], figs: dict[str, Any], t: Any) -> list[dict[str, str]]:
    """Each failed check with the figures behind it: check, figure label, value, comparison, threshold
    (formatted). The parts that cross today's thresholds; all of a check's parts when none does (the
    thresholds changed since the clip was checked: `samdata voice run` checks it again)."""
    from samdata.voice import checks  # the voice extra: only pages with clips get here

    out = []
    for check in failed:
        parts = checks.limits(figs, t).get(check, [])
        crossing = [p for p in parts if checks.crossed(figs.get(p[0]), p[1], p[2])] or parts
        for key, op, limit in crossing:
            shown = "|DC offset|" if op == "|x| >" else _LABELS.get(key, key)
            out.append({"check": check, "figure": shown, "value": fmt(key, figs.get(key, math.nan)),
                        "op": op.removeprefix("|x| "), "threshold": fmt(key, limit)})  # fmt: skip
        if check == "duplicate" and figs.get("duplicate_of"):
            out.append({"check": check, "figure": "of clip", "value": str(figs["duplicate_of"])[:12],
                        "op": "", "threshold": ""})  # fmt: skip
        if not parts:
            out.append({"check": check, "figure": "", "value": "", "op": "", "threshold": ""})
    return out


def envelope(samples: np.ndarray, columns: int = COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """The min and max of the samples under each of `columns` columns (fewer for a shorter clip)."""
    x = np.asarray(samples, dtype=np.float32).ravel()
    if x.size == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    n = min(columns, x.size)
    edges = np.linspace(0, x.size, n + 1).astype(np.int64)
    return np.minimum.reduceat(x, edges[:-1]), np.maximum.reduceat(x, edges[:-1])


def waveform_points(samples: np.ndarray, columns: int = COLUMNS, height: int = HEIGHT) -> str:
    """The SVG polygon of a clip's envelope in a `columns` x `height` box: along the maxima left to
    right, back along the minima (a column never thinner than one unit, so silence shows as a line)."""
    lo, hi = envelope(samples, columns)
    if lo.size == 0:
        return ""
    scale = columns / lo.size
    mid = height / 2
    top = np.minimum(np.round(mid - hi * mid), mid - 0.5)
    bottom = np.maximum(np.round(mid - lo * mid), mid + 0.5)
    xs = np.arange(lo.size) * scale
    upper = " ".join(f"{x:g},{y:g}" for x, y in zip(xs, top, strict=True))
    lower = " ".join(f"{x:g},{y:g}" for x, y in zip(xs[::-1], bottom[::-1], strict=True))
    return f"{upper} {lower}"


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """A mono 16-bit PCM WAV."""
    pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32767.0), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


class _Lru:
    """A small thread-safe LRU (the page and the audio answer from the server's thread pool)."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict[Any, Any](), threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_waves = _Lru(WAVE_CACHE)
_wavs = _Lru(WAV_CACHE)


def _stamp(path: str) -> tuple[int, int] | None:
    """What tells a recording changed in place (clip ids name its bytes when it was cut)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _cut(path: str, rate: int, spans: list[tuple[float, float]]) -> list[np.ndarray]:
    """The samples of each span (sorted, non-overlapping) at `rate`: one streamed pass, as packaging cuts."""
    from samdata.voice import _spans, audio

    return list(_spans(audio.blocks(Path(path), rate), rate, spans))


def clip_rate(file_rate: Any) -> int:
    return min(int(file_rate or MAX_RATE), MAX_RATE)


def waveforms(clips: list[dict[str, Any]], rates: dict[str, int]) -> dict[str, str]:
    """Clip id → SVG points (or "" where its recording cannot be read now), one pass per recording."""
    from samdata.voice.audio import AudioError

    out: dict[str, str] = {}
    todo: dict[str, list[dict[str, Any]]] = {}
    for k in clips:
        key = (k["id"], k["source_file"], _stamp(k["source_file"]))
        points = _waves.get(key)
        if points is None:
            todo.setdefault(k["source_file"], []).append(k)
        else:
            out[k["id"]] = points
    for path, ks in todo.items():
        ks = sorted(ks, key=lambda k: k["start_s"])
        rate = clip_rate(rates.get(path))
        try:
            cut = _cut(path, rate, [(k["start_s"], k["end_s"]) for k in ks])
        except (AudioError, OSError):
            cut = []
        stamp = _stamp(path)
        for k, samples in zip(ks, cut, strict=False):
            out[k["id"]] = waveform_points(samples)
            _waves.put((k["id"], path, stamp), out[k["id"]])
        for k in ks:
            out.setdefault(k["id"], "")
    return out


def thresholds(config: Any) -> tuple[Any, str | None]:
    """The checks' thresholds as `samdata voice run` merges them (defaults, the clip bounds, the
    config's [voice] thresholds), and a warning where the config's cannot be used."""
    from samdata.voice import VoiceError, _thresholds, checks

    try:
        return _thresholds(config), None
    except VoiceError as e:
        return checks.Thresholds(), f"{e}: the defaults are shown"


def voice_waiting(cat: Catalog) -> int:
    """Clips waiting for review: no voice decision in force, or a skip."""
    return int(
        cat.conn.execute(
            "SELECT count(*) FROM voice_clips k WHERE coalesce((SELECT d.decision FROM review_decisions d"
            " WHERE d.queue = 'voice' AND d.item = k.id AND d.undone = 0 ORDER BY d.id DESC LIMIT 1), 'skip')"
            " = 'skip'"
        ).fetchone()[0]
    )


def _waiting(k: dict[str, Any]) -> bool:
    return k["decision"] in (None, "skip")


@router.get("/review/voice", response_class=HTMLResponse)
def review_voice(request: Request, speaker: str = "", all: bool = False) -> HTMLResponse:
    """The clips waiting for a decision (failed first), or every clip with `all`."""
    config = request.app.state.config
    with read_catalog(request) as cat:
        clips = cat.voice_clips(speaker or None)
        files = cat.voice_files()
    rates = {f["path"]: f["rate"] for f in files}
    speakers = sorted({s.name for s in config.voice.speakers} | {f["speaker"] for f in files})
    waiting = [k for k in clips if _waiting(k)]
    listed = sorted(clips if all else waiting, key=lambda k: k["passed"])  # stable: recording order kept
    shown = listed[:PAGE_LIMIT]
    t, warning = thresholds(config)
    waves = waveforms(shown, rates)
    rows = []
    for k in shown:
        rows.append({**k, "name": Path(k["source_file"]).name, "duration_s": k["end_s"] - k["start_s"],
                     "problems": explain(k["failed"], k["figures"], t), "wave": waves.get(k["id"], "")})  # fmt: skip
    return render(request, "review_voice.html", title="Voice clips", page="review", clips=rows,
                   speakers=speakers, speaker=speaker, all=all, waiting=len(waiting),
                   failed_waiting=sum(1 for k in waiting if not k["passed"]), total=len(clips),
                   listed=len(listed), warning=warning, columns=COLUMNS, height=HEIGHT)  # fmt: skip


def _clip_row(cat: Catalog, clip: str) -> dict[str, Any] | None:
    row = cat.conn.execute(
        "SELECT k.id, k.file_id, k.start_s, k.end_s, f.path, f.rate FROM voice_clips k"
        " JOIN voice_files f ON f.id = k.file_id WHERE k.id = ?",
        (clip,),
    ).fetchone()
    return dict(row) if row else None


def clip_wav(cat: Catalog, clip: str) -> bytes | None:
    """The clip as WAV bytes (None: no such clip); AudioError where its recording cannot be read."""
    k = _clip_row(cat, clip)
    if k is None:
        return None
    stamp = _stamp(k["path"])
    cached = _wavs.get((clip, stamp))
    if cached is not None:
        return bytes(cached)
    # The clips after it in the same recording come out of the same pass: cut them too.
    following = cat.conn.execute(
        "SELECT id, start_s, end_s FROM voice_clips WHERE file_id = ? AND start_s > ? ORDER BY start_s LIMIT ?",
        (k["file_id"], k["start_s"], PREFETCH),
    ).fetchall()
    wanted = [(k["id"], k["start_s"], k["end_s"])] + [
        (r[0], r[1], r[2]) for r in following if _wavs.get((r[0], stamp)) is None
    ]
    rate = clip_rate(k["rate"])
    cut = _cut(k["path"], rate, [(a, b) for _, a, b in wanted])
    first = b""
    for (cid, _, _), samples in zip(wanted, cut, strict=True):
        data = wav_bytes(samples, rate)
        _wavs.put((cid, stamp), data)
        first = first or data
    return first


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@router.get("/review/voice/clip/{name}")
def clip_audio(request: Request, name: str) -> Response:
    """`{clip id}.wav`: the clip as 16-bit PCM WAV; one byte range on request (players seek with it)."""
    from samdata.voice.audio import AudioError

    clip = name.removesuffix(".wav")
    if not name.endswith(".wav") or not _ID.fullmatch(clip):
        return JSONResponse({"error": f"no voice clip {name!r}: ask for <clip id>.wav"}, 404)
    try:
        with read_catalog(request) as cat:
            data = clip_wav(cat, clip)
    except AudioError as e:
        return JSONResponse({"error": f"the clip's recording cannot be read now: {e}"}, 409)
    if data is None:
        return JSONResponse({"error": f"no voice clip {clip}"}, 404)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
    asked = _RANGE.fullmatch(request.headers.get("range", "").strip())
    if asked and (asked.group(1) or asked.group(2)):
        size = len(data)
        if asked.group(1):
            start, end = int(asked.group(1)), int(asked.group(2) or size - 1)
        else:  # bytes=-N: the last N
            start, end = max(0, size - int(asked.group(2))), size - 1
        end = min(end, size - 1)
        if start > end:
            return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        return Response(data[start : end + 1], 206, media_type="audio/wav",
                        headers={**headers, "Content-Range": f"bytes {start}-{end}/{size}"})  # fmt: skip
    return Response(data, media_type="audio/wav", headers=headers)
