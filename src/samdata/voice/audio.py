"""Decoding recordings: any container/codec FFmpeg reads (PyAV), to mono float32 at one rate.

Everything streams: a file is demuxed and decoded packet by packet, converted to float, averaged to
mono, resampled with soxr's streaming resampler and handed out in fixed-size blocks, so a 3-hour
recording costs a few blocks of memory, never the whole file. Bad input raises `AudioError` whose
message says what is wrong in words a person can act on ("no audio stream", "empty file", ...).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soxr
import xxhash

__all__ = ["AudioError", "AudioInfo", "blocks", "load", "probe", "resample", "source_hash"]

# soxr's best quality: passband to ~0.95 of Nyquist with ~175 dB rejection, still far faster than the VAD
QUALITY = "VHQ"
# Resample ~0.5 s of input per soxr call: per-call overhead stays negligible, memory stays small.
_RESAMPLE_CHUNK_S = 0.5
# A stream is called truncated when it decodes this much shorter than its header declares: exact for
# PCM (WAV/AIFF sizes are in the header), loose for compressed streams whose declared length may be an
# estimate from the bit rate (an MP3 without a Xing header).
_TRUNC_PCM_S = 0.01
_TRUNC_MIN_S = 0.5
_TRUNC_SHARE = 0.10


class AudioError(Exception):
    """A recording that cannot be used; the message is the reason, for a person to act on."""


@dataclass(frozen=True)
class AudioInfo:
    """What a recording's first audio stream declares (before any decoding)."""

    path: str
    codec: str
    rate: int
    channels: int
    duration_s: float  # declared length; 0.0 when the container does not say
    sample_format: str  # FFmpeg's name: u8, s16, s32, flt, dbl, with a "p" when planar (fltp, s16p)


# Divisors that map each integer sample format onto [-1, 1); u8 is offset binary (128 = silence).
_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def _open(path: Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.exists():
        raise AudioError(f"file not found: {path}")
    if not path.is_file():
        raise AudioError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"empty file (0 bytes): {path.name}")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as e:
        raise AudioError(f"cannot be decoded: not an audio or video file FFmpeg recognises ({e})") from e


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise AudioError(f"no audio stream in {Path(path).name} (streams: {', '.join(kinds)})")
    stream = container.streams.audio[0]
    if stream.codec_context is None or not stream.codec_context.is_decoder:
        raise AudioError(f"cannot be decoded: no decoder for audio codec {stream.codec_context.name!r}")
    return stream


def _declared_duration(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _wav_truncation(path: Path) -> str | None:
    """For a RIFF/WAVE file: why it is truncated (its data chunk declares more bytes than the file
    holds), else None. FFmpeg silently sizes such a file by what is there, so this is checked here."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = Path(path).stat().st_size
        byte_rate = 0
        while True:
            hdr = f.read(8)
            if len(hdr) < 8:
                return "truncated: the WAV header ends before its data chunk"
            cid, n = hdr[:4], struct.unpack("<I", hdr[4:])[0]
            if cid == b"fmt ":
                fmt = f.read(n + (n & 1))
                if len(fmt) >= 12:
                    byte_rate = struct.unpack("<I", fmt[8:12])[0]
                continue
            if cid == b"data":
                present = size - f.tell()
                # 0xFFFFFFFF (and 0) are written by streaming recorders that never patch the size back.
                if n in (0, 0xFFFFFFFF) or present >= n:
                    return None
                if byte_rate:
                    return (
                        f"truncated: the WAV header declares {n / byte_rate:.2f} s of audio, "
                        f"the file holds {present / byte_rate:.2f} s"
                    )
                return f"truncated: the WAV header declares {n} data bytes, the file holds {present}"
            f.seek(n + (n & 1), 1)


def _truncation_tolerance(codec: str, declared: float) -> float:
    return _TRUNC_PCM_S if codec.startswith("pcm_") else max(_TRUNC_MIN_S, _TRUNC_SHARE * declared)


def _tail_truncation(path: Path, info: AudioInfo) -> str | None:
    """Cheap check without decoding: seek to a second before the declared end and see where the last
    packet ends. A file cut short (a half-copied MP3 whose Xing header still declares the full length)
    ends well before; None when fine or when the container cannot tell (no duration, no seeking)."""
    if info.duration_s <= 1.0 or info.codec.startswith("pcm_"):
        return None  # PCM: FFmpeg sizes it by the bytes present; the RIFF check covers WAV
    try:
        with av.open(str(path), mode="r") as container:
            stream = container.streams.audio[0]
            tb = stream.time_base
            container.seek(int((info.duration_s - 1.0) / tb), stream=stream, backward=True)
            end = None
            for n, packet in enumerate(container.demux(stream)):
                if packet.pts is not None:
                    end = float((packet.pts + (packet.duration or 0)) * tb)
                if n > 20000:  # the seek fell far short (an unindexed container): give up, decode will tell
                    return None
    except (av.error.FFmpegError, OverflowError, ZeroDivisionError, TypeError):
        return None
    if end is not None and end < info.duration_s - _truncation_tolerance(info.codec, info.duration_s):
        return (
            f"truncated: the file declares {info.duration_s:.2f} s of audio, its packets end at {end:.2f} s"
        )
    return None


def probe(path: Path) -> AudioInfo:
    """The first audio stream's codec, rate, channels, declared duration and sample format.

    Raises AudioError: "file not found", "empty file", "cannot be decoded: ...", "no audio stream",
    "truncated: ..." (a WAV whose data chunk is cut short, or a stream whose packets end well
    before its declared length; where the container cannot tell, `blocks` finds it when decoding)."""
    path = Path(path)
    with _open(path) as container:
        stream = _audio_stream(container, path)
        cc = stream.codec_context
        info = AudioInfo(
            path=str(path),
            codec=cc.name,
            rate=int(cc.sample_rate or stream.rate or 0),
            channels=int(cc.channels or 0),
            duration_s=max(0.0, _declared_duration(container, stream)),
            sample_format=cc.format.name if cc.format is not None else "",
        )
    reason = _wav_truncation(path) or _tail_truncation(path, info)
    if reason:
        raise AudioError(reason)
    if info.rate <= 0:
        raise AudioError(f"cannot be decoded: the audio stream declares no sample rate ({info.codec})")
    return info


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """One decoded frame as mono float32: the channels' average (not sum, so no clipping), whatever
    the sample format (u8, s16, s32, s64, flt, dbl; planar or packed)."""
    fmt = frame.format
    channels = frame.layout.nb_channels
    x = frame.to_ndarray()
    # planar: (channels, samples); packed: (1, samples * channels), interleaved
    x = x.reshape(channels, -1) if fmt.is_planar else x.reshape(-1, channels).T
    name = fmt.name.rstrip("p")
    if name == "u8":
        y = (x.astype(np.float32) - 128.0) / _SCALE["u8"]
    elif name in _SCALE:
        y = x.astype(np.float64 if name in ("s32", "s64") else np.float32) / _SCALE[name]
    elif name in ("flt", "dbl"):
        y = x
    else:  # a format FFmpeg added later: let it convert
        raise AudioError(f"cannot be decoded: unsupported sample format {fmt.name!r}")
    return (y.mean(axis=0) if channels > 1 else y[0]).astype(np.float32, copy=False)


class _Resampler:
    """soxr's streaming resampler, restarted if the stream's rate changes mid-file (concatenated MP3s)."""

    def __init__(self, out_rate: int) -> None:
        self.out_rate = out_rate
        self.in_rate = 0
        self.stream: soxr.ResampleStream | None = None

    def push(self, x: np.ndarray, rate: int) -> list[np.ndarray]:
        out = []
        if rate != self.in_rate:
            out += self.flush()
            self.in_rate = rate
            self.stream = (
                None
                if rate == self.out_rate
                else soxr.ResampleStream(rate, self.out_rate, 1, "float32", QUALITY)
            )
        out.append(x if self.stream is None else self.stream.resample_chunk(x))
        return out

    def flush(self) -> list[np.ndarray]:
        if self.stream is None:
            return []
        tail = self.stream.resample_chunk(np.zeros(0, np.float32), last=True)
        self.stream = None
        return [tail]


def _decoded(path: Path, allow_truncated: bool) -> Iterator[tuple[np.ndarray, int]]:
    """(mono float32 samples, their rate) chunks of ~0.5 s, decoded packet by packet."""
    path = Path(path)
    with _open(path) as container:
        stream = _audio_stream(container, path)
        declared = _declared_duration(container, stream)
        wav_reason = _wav_truncation(path)
        if wav_reason and not allow_truncated:
            raise AudioError(wav_reason)
        pending: list[np.ndarray] = []
        pending_n = 0
        rate = 0
        total = 0.0  # seconds decoded
        bad_packets = packets = 0
        position = 0.0
        try:
            for packet in container.demux(stream):
                packets += 1
                if packet.pts is not None and packet.time_base is not None:
                    position = float(packet.pts * packet.time_base)
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    # A damaged packet: FFmpeg's decoders resynchronise on the next one; count it so a
                    # file that is mostly damage is still refused, rather than yield noise.
                    bad_packets += 1
                    continue
                for frame in frames:
                    r = int(frame.sample_rate)
                    if r != rate and pending:
                        yield np.concatenate(pending), rate
                        pending, pending_n = [], 0
                    rate = r
                    x = _mono(frame)
                    pending.append(x)
                    pending_n += len(x)
                    total += len(x) / r
                    if pending_n >= _RESAMPLE_CHUNK_S * r:
                        yield np.concatenate(pending), rate
                        pending, pending_n = [], 0
        except av.error.FFmpegError as e:
            raise AudioError(f"cannot be decoded at {position:.2f} s: {e}") from e
        if pending:
            yield np.concatenate(pending), rate
        if total == 0.0:
            raise AudioError(
                f"cannot be decoded: the audio stream holds no decodable audio ({bad_packets} bad packets)"
            )
        if bad_packets > 0.1 * packets:
            raise AudioError(f"cannot be decoded: {bad_packets} of {packets} packets are damaged")
        tolerance = _truncation_tolerance(stream.codec_context.name, declared)
        if not allow_truncated and declared > 0 and total < declared - tolerance:
            raise AudioError(f"truncated: decoded {total:.2f} s of the {declared:.2f} s the file declares")


def blocks(
    path: Path, rate: int, seconds: float = 30.0, allow_truncated: bool = False
) -> Iterator[np.ndarray]:
    """The recording as mono float32 in [-1, 1] at `rate`, in blocks of `seconds` (the last shorter).

    Channels are averaged; any sample format is converted; the resampling (soxr "VHQ") streams, so
    block edges add nothing and the blocks concatenated equal one whole-file resampling. Memory is a
    block or two whatever the file's length. A truncated file yields what decodes and then raises
    AudioError("truncated: ...") unless `allow_truncated`."""
    if rate <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be positive")
    size = max(1, round(seconds * rate))
    resampler = _Resampler(rate)
    buf: list[np.ndarray] = []
    buffered = 0

    def take(parts: list[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal buf, buffered
        for part in parts:
            if len(part):
                buf.append(part)
                buffered += len(part)
        while buffered >= size:
            joined = np.concatenate(buf)
            out, rest = joined[:size], joined[size:]
            buf, buffered = ([rest] if len(rest) else []), len(rest)
            yield _clip(out)

    error: AudioError | None = None
    try:
        for x, r in _decoded(Path(path), allow_truncated=allow_truncated):
            yield from take(resampler.push(x, r))
    except AudioError as e:
        # Truncation and damage are found after the audio before them decoded: hand that audio out
        # (the resampler's tail included) before raising, so a caller may keep what is there.
        error = e
    yield from take(resampler.flush())
    if buffered:
        yield _clip(np.concatenate(buf))
    if error is not None:
        raise error


def _clip(x: np.ndarray) -> np.ndarray:
    # Float sources may exceed full scale and the resampler can overshoot a hair on steep edges; the
    # contract is [-1, 1] (the clipping check counts samples at full scale, so this keeps it honest).
    return np.clip(x, -1.0, 1.0, out=np.ascontiguousarray(x, dtype=np.float32))


def load(path: Path, rate: int, allow_truncated: bool = False) -> np.ndarray:
    """The whole recording as one mono float32 array at `rate` (for clips and reference files of
    seconds to minutes; use `blocks` for long recordings)."""
    parts = list(blocks(path, rate, seconds=60.0, allow_truncated=allow_truncated))
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def resample(x: np.ndarray, rate: int, to: int) -> np.ndarray:
    """A clip (already in memory) from `rate` to `to`: soxr "VHQ" in one shot, mono float32 in [-1, 1]."""
    x = np.asarray(x, dtype=np.float32)
    if rate == to or len(x) == 0:
        return x.copy()
    return _clip(soxr.resample(x, rate, to, quality=QUALITY))


def source_hash(path: Path) -> str:
    """xxh3-128 of the file's bytes as hex, read in 1 MiB pieces (a 3-hour WAV never sits in memory)."""
    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            h.update(piece)
    return h.hexdigest()
