"""samdata.voice.audio: real files made with PyAV's encoders (WAV of every sample format, MP3, MP4
with and without audio), decoded, averaged to mono and resampled; bad files refused with a reason."""

from __future__ import annotations

import resource
import tracemalloc
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soxr
import xxhash

from samdata.voice.audio import AudioError, blocks, load, probe, source_hash
from tests.voice.speech import write_wav

RATE = 22050


def tone(seconds: float, rate: int = RATE, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def encode(
    path: Path,
    x: np.ndarray,
    rate: int,
    codec: str,
    layout: str = "mono",
    fmt: str | None = None,
    video: bool = False,
    container_format: str | None = None,
) -> Path:
    """Write (channels, samples) float `x` with PyAV's `codec` encoder (converted to its sample format by
    FFmpeg's own resampler); `video` adds a few mpeg4 frames, as a phone's MP4 would carry."""
    x = np.atleast_2d(np.asarray(x, np.float32))
    with av.open(str(path), "w", format=container_format) as out:
        astream = out.add_stream(codec, rate=rate, layout=layout)
        if fmt:
            astream.format = fmt
        vstream = None
        if video:
            vstream = out.add_stream("mpeg4", rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        conv = av.AudioResampler(format=astream.format.name, layout=layout, rate=rate)
        step = astream.codec_context.frame_size or 1024
        pts = 0
        for i in range(0, x.shape[1], step):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, i : i + step]), "fltp", layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
            pts += frame.samples
            for f in conv.resample(frame):
                out.mux(astream.encode(f))
        for f in conv.resample(None):
            out.mux(astream.encode(f))
        out.mux(astream.encode(None))
        if vstream is not None:
            seconds = x.shape[1] / rate
            for k in range(int(seconds * 10)):
                img = np.full((48, 64, 3), (k * 7) % 255, np.uint8)
                out.mux(vstream.encode(av.VideoFrame.from_ndarray(img, "rgb24")))
            out.mux(vstream.encode(None))
    return path


def video_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=10)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        for k in range(10):
            out.mux(v.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), k * 20, np.uint8), "rgb24")))
        out.mux(v.encode(None))
    return path


def mp3_codec() -> str:
    for name in ("libmp3lame", "mp3"):
        if name in av.codecs_available:
            try:
                av.CodecContext.create(name, "w")
                return name
            except Exception:  # a decoder-only name
                continue
    raise AssertionError("PyAV's wheel has no MP3 encoder")


def test_s16_stereo_channels_are_averaged(tmp_path: Path) -> None:
    left, right = tone(1.0, freq=440, amp=0.6), tone(1.0, freq=660, amp=0.2)
    p = encode(tmp_path / "st.wav", np.stack([left, right]), RATE, "pcm_s16le", "stereo")
    info = probe(p)
    assert (info.codec, info.rate, info.channels, info.sample_format) == ("pcm_s16le", RATE, 2, "s16")
    assert info.duration_s == pytest.approx(1.0, abs=1e-3)
    x = load(p, RATE)  # same rate: no resampling, only the average
    assert x.dtype == np.float32 and len(x) == len(left)
    np.testing.assert_allclose(x, (left + right) / 2, atol=2 / 32768)


@pytest.mark.parametrize(
    ("codec", "fmt", "atol"),
    [
        ("pcm_u8", "u8", 2 / 128),
        ("pcm_f32le", "flt", 1e-7),
        ("pcm_s32le", "s32", 1e-6),
        ("pcm_f64le", "dbl", 1e-7),
    ],
)
def test_every_sample_format(tmp_path: Path, codec: str, fmt: str, atol: float) -> None:
    x = tone(0.5, amp=0.7)
    p = encode(tmp_path / f"{fmt}.wav", x, RATE, codec)
    assert probe(p).sample_format == fmt
    np.testing.assert_allclose(load(p, RATE), x, atol=atol)


def test_u8_silence_is_zero(tmp_path: Path) -> None:
    # offset binary: 128 is silence; a decoder that forgot the offset would give a DC of ~1.0
    p = tmp_path / "u8.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes([128]) * 8000)
    assert probe(p).sample_format == "u8"
    assert np.abs(load(p, 8000)).max() == 0.0


def test_float_wav_above_full_scale_is_clipped_to_contract(tmp_path: Path) -> None:
    x = tone(0.2, amp=1.5)
    y = load(encode(tmp_path / "hot.wav", x, RATE, "pcm_f32le"), RATE)
    assert y.max() == 1.0 and y.min() == -1.0


def test_six_channels_average(tmp_path: Path) -> None:
    chans = np.stack([tone(0.5, freq=200 + 100 * k, amp=0.1 * (k + 1)) for k in range(6)])
    p = encode(tmp_path / "51.wav", chans, RATE, "pcm_s16le", "5.1")
    assert probe(p).channels == 6
    np.testing.assert_allclose(load(p, RATE), chans.mean(axis=0), atol=4 / 32768)


def test_streamed_resampling_equals_one_shot(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(RATE * 3) * 0.2).astype(np.float32)
    p = write_wav(tmp_path / "n.wav", x, RATE)
    stored = (np.clip(np.round(x * 32767.0), -32768, 32767) / 32768.0).astype(np.float32)
    whole = soxr.resample(stored, RATE, 16000, quality="VHQ")
    parts = list(blocks(p, 16000, seconds=0.37))  # odd block size: edges everywhere
    assert all(len(b) == round(0.37 * 16000) for b in parts[:-1])
    got = np.concatenate(parts)
    assert len(got) == len(whole) == 48000
    np.testing.assert_allclose(got, whole, atol=1e-4)  # no clicks at block edges
    np.testing.assert_array_equal(load(p, 16000), got)


def test_resampled_tone_keeps_its_pitch_and_level(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "t.wav", tone(2.0, rate=44100, freq=1000, amp=0.5), 44100)
    y = load(p, 16000)
    assert len(y) == 32000
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert np.argmax(spectrum) * 16000 / len(y) == pytest.approx(1000, abs=1)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_mp3(tmp_path: Path) -> None:
    x = tone(3.0, rate=44100, freq=500, amp=0.5)
    p = encode(tmp_path / "a.mp3", np.stack([x, x]), 44100, mp3_codec(), "stereo")
    info = probe(p)
    assert info.codec.startswith("mp3") and info.channels == 2 and info.rate == 44100
    y = load(p, 16000)
    assert abs(len(y) - 48000) <= 1152 * 16000 / 44100  # within one MP3 frame
    # the same file decoded by PyAV directly, averaged and resampled in one shot: our streamed path agrees
    with av.open(str(p)) as c:
        ref = np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1).mean(axis=0)
    ref = soxr.resample(ref.astype(np.float32), 44100, 16000, quality="VHQ")
    np.testing.assert_allclose(y, ref, atol=1e-4)
    # LAME (FFmpeg's libmp3lame wrapper) scales its input by 0.95 to leave headroom
    assert np.sqrt(np.mean(y[8000:40000] ** 2)) == pytest.approx(0.95 * 0.5 / np.sqrt(2), rel=0.02)


def test_video_with_aac_audio(tmp_path: Path) -> None:
    x = tone(2.0, rate=48000, freq=300, amp=0.4)
    p = encode(tmp_path / "clip.mp4", np.stack([x, x]), 48000, "aac", "stereo", video=True)
    with av.open(str(p)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
    info = probe(p)
    assert info.codec == "aac" and info.channels == 2
    y = load(p, 16000)
    assert abs(len(y) - 32000) <= 2048 * 16000 / 48000
    assert np.sqrt(np.mean(y[4000:28000] ** 2)) == pytest.approx(0.4 / np.sqrt(2), rel=0.05)


def test_mp4_without_audio(tmp_path: Path) -> None:
    p = video_only(tmp_path / "silent.mp4")
    with pytest.raises(AudioError, match=r"no audio stream.*video"):
        probe(p)
    with pytest.raises(AudioError, match="no audio stream"):
        list(blocks(p, 16000))


def test_empty_and_missing_and_not_audio(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for call in (probe, lambda p: load(p, 16000)):
        with pytest.raises(AudioError, match="empty file"):
            call(empty)
    with pytest.raises(AudioError, match="file not found"):
        probe(tmp_path / "nope.wav")
    text = tmp_path / "notes.wav"
    text.write_text("these are my meeting notes, not a recording\n" * 50)
    with pytest.raises(AudioError, match="cannot be decoded"):
        probe(text)
    with pytest.raises(AudioError, match="cannot be decoded"):
        load(text, 16000)


def test_truncated_wav(tmp_path: Path) -> None:
    full = write_wav(tmp_path / "full.wav", tone(4.0), RATE, channels=2)
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2 + 1])  # odd: ends inside a sample frame
    with pytest.raises(AudioError, match=r"truncated: the WAV header declares 4\.00 s.*holds 2\.00 s"):
        probe(cut)
    with pytest.raises(AudioError, match="truncated"):
        load(cut, 16000)
    kept = load(cut, 16000, allow_truncated=True)  # what is there, decoded
    assert len(kept) == pytest.approx(32000, abs=8)  # the header's 44 bytes came off the half too
    np.testing.assert_allclose(kept[1000:30000], load(full, 16000)[1000:30000], atol=1e-4)


def test_truncated_mp3(tmp_path: Path) -> None:
    x = tone(6.0, rate=44100, freq=500, amp=0.5)
    full = encode(tmp_path / "full.mp3", x, 44100, mp3_codec())
    assert probe(full).duration_s == pytest.approx(6.0, abs=0.05)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])  # the Xing header still declares 6 s
    with pytest.raises(AudioError, match="truncated"):
        probe(cut)
    seen: list[np.ndarray] = []
    with pytest.raises(AudioError, match=r"truncated: decoded [23]\.\d+ s of the 6\.00 s"):
        for b in blocks(cut, 16000, seconds=1.0):  # the decoded audio comes out before the error
            seen.append(b)
    assert sum(map(len, seen)) / 16000 == pytest.approx(3.0, abs=0.1)
    assert len(load(cut, 16000, allow_truncated=True)) / 16000 == pytest.approx(3.0, abs=0.1)


def test_garbage_after_valid_header(tmp_path: Path) -> None:
    # an MP3's first half followed by random bytes: decoders resync or refuse, never crash
    x = tone(4.0, rate=44100)
    data = encode(tmp_path / "a.mp3", x, 44100, mp3_codec()).read_bytes()
    rng = np.random.default_rng(3)
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(data[: len(data) // 2] + rng.integers(0, 256, len(data) // 2, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError, match=r"truncated|cannot be decoded"):
        load(bad, 16000)
    y = load(bad, 16000, allow_truncated=True)  # the valid first half, the garbage skipped
    assert np.all(np.abs(y) <= 1.0) and 1.9 * 16000 <= len(y) <= 2.2 * 16000


def test_source_hash_streams_xxh3_128(tmp_path: Path) -> None:
    p = tmp_path / "b.bin"
    data = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    p.write_bytes(data)
    assert source_hash(p) == xxhash.xxh3_128(data).hexdigest()
    p.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert source_hash(p) != xxhash.xxh3_128(data).hexdigest()


def test_long_file_streams_in_flat_memory(tmp_path: Path) -> None:
    """25 minutes at 22.05 kHz (written streaming, never held) decoded to 16 kHz blocks: the
    decoded audio would be ~96 MB as float32; the traced peak stays a few blocks."""
    minutes, rate = 25, RATE
    piece = (np.sin(2 * np.pi * 220 * np.arange(rate * 10) / rate) * 8000).astype("<i2").tobytes()
    p = tmp_path / "long.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for _ in range(minutes * 6):
            w.writeframes(piece)
    n_in = minutes * 60 * rate
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        lengths = [len(b) for b in blocks(p, 16000, seconds=30.0)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # KiB on Linux
    assert len(lengths) == minutes * 2
    assert all(n == 480000 for n in lengths[:-1])
    assert abs(sum(lengths) - n_in * 16000 / rate) <= len(lengths)  # within a sample per block
    assert peak < 16 * 2**20, f"traced peak {peak / 2**20:.1f} MiB"  # a 30 s block is 1.9 MB
    assert rss_growth_mb < 64, f"peak RSS grew {rss_growth_mb:.0f} MiB"
