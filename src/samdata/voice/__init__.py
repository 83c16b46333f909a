"""`samdata voice`: recordings to a verified, consented, packaged voice-model dataset.

`run_voice` reads every recording of `[[voice.sources]]` (audio or video; PyAV), finds speech
(Silero VAD, weights in its wheel), cuts clips at the quietest point of each pause within the
configured bounds, measures every check's figure on each clip and stores clips, figures, failed
checks and what was dropped in the catalog. A recording already cut with the same pipeline and
bytes is not read again. `package` (samdata.voice.package) writes the RVC layout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import xxhash

from samdata.catalog import Catalog, utcnow
from samdata.catalog.voice import ClipRow
from samdata.config import Config, VoiceSource

VERSION = 3  # 2: the DNSMOS quality figures; 3: Silero on onnxruntime (its ggml build gave other cuts)
SPEAKER_MARGIN = 0.1  # under the least similar reference (to the others) that still counts as the voice


class VoiceError(Exception):
    """A voice command cannot do what was asked; the message says why and what to do."""


@dataclass
class VoiceReport:
    files: int = 0
    processed: int = 0
    unchanged: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}
    clips: int = 0
    passed: int = 0
    dropped: int = 0
    minutes: float = 0.0  # of audio read
    seconds: float = 0.0


def _thresholds(config: Config) -> Any:
    from samdata.voice import checks

    known = {f.name for f in dataclasses.fields(checks.Thresholds)}
    unknown = sorted(set(config.voice.thresholds) - known)
    if unknown:
        raise VoiceError(
            f"[voice] thresholds: unknown {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    bounds = {"min_duration_s": config.voice.min_clip_s, "max_duration_s": config.voice.max_clip_s}
    return checks.Thresholds(**{**bounds, **config.voice.thresholds})


def pipeline_key(config: Config) -> str:
    """What a recording's clips depend on besides its bytes: a change cuts it again."""
    v = config.voice
    return orjson.dumps(
        {"version": VERSION, "min_s": v.min_clip_s, "max_s": v.max_clip_s, "thresholds": sorted(v.thresholds.items()),
         "quality_model": v.quality_model,
         "references": {s.name: sorted(_references(s.references)) for s in v.speakers}},
        option=orjson.OPT_SORT_KEYS,
    ).decode()  # fmt: skip


def _references(globs: list[str]) -> list[str]:
    return sorted({p for g in globs for p in glob.glob(g, recursive=True) if os.path.isfile(p)})


def recordings(source: VoiceSource) -> list[str]:
    """The files a voice source's glob matches, in name order."""
    return sorted(p for p in glob.glob(source.path, recursive=True) if os.path.isfile(p))


def clip_id(content_hash: str, start_s: float, end_s: float) -> str:
    return xxhash.xxh3_128_hexdigest(f"{content_hash}:{start_s:.3f}:{end_s:.3f}".encode())


def run_voice(config: Config, catalog: Catalog, progress: Any = None) -> VoiceReport:
    """Extract, segment and verify every recording of every voice source; return what happened."""
    from samdata.voice import segment

    try:
        segment.vad_session()
    except segment.VadModelMissing as e:
        raise VoiceError(str(e)) from e
    with _one_core() as spare, contextlib.ExitStack() as stack:
        scorer = None
        if config.voice.quality_model:
            from samdata.voice import quality

            try:
                scorer = stack.enter_context(quality.Scorer(spare))
            except quality.QualityModelMissing as e:
                raise VoiceError(f"{e} (or set [voice] quality_model = false)") from e
        return _run_voice(config, catalog, progress, scorer)


@contextlib.contextmanager
def _one_core() -> Iterator[frozenset[int]]:
    """Run this thread on one CPU (Linux) and give the others, for the quality model's thread: the
    decoder, VAD and figures then never compete with the model for a core (`voice run` is sized to
    one recording at a time on two cores)."""
    setter = getattr(os, "sched_setaffinity", None)
    allowed = os.sched_getaffinity(0) if setter else set()
    if setter and len(allowed) > 1:
        setter(0, {min(allowed)})
    try:
        yield frozenset(allowed) - {min(allowed)} if len(allowed) > 1 else frozenset()
    finally:
        if setter and len(allowed) > 1:
            setter(0, allowed)


def _run_voice(config: Config, catalog: Catalog, progress: Any, scorer: Any = None) -> VoiceReport:
    import time

    from samdata.voice import audio

    t0 = time.perf_counter()
    report = VoiceReport()
    if not config.voice.sources:
        raise VoiceError("no [[voice.sources]] in the config: add one with name, path (a glob) and speaker")
    thresholds = _thresholds(config)
    key = pipeline_key(config)
    profiles: dict[str, Any] = {}
    for source in config.voice.sources:
        for path in recordings(source):
            report.files += 1
            known = catalog.voice_file(source.name, path)
            try:
                info = audio.probe(Path(path))
                content_hash = audio.source_hash(Path(path))
            except audio.AudioError as e:
                catalog.save_voice_file(
                    source.name, path, source.speaker, {}, "failed", str(e), key, utcnow()
                )
                report.failed.append({"path": path, "reason": str(e)})
                continue
            if (
                known
                and known["status"] == "done"
                and known["content_hash"] == content_hash
                and known["pipeline"] == key
            ):
                report.unchanged += 1
                continue
            if source.speaker not in profiles:
                profiles[source.speaker] = _speaker_profile(config, source.speaker, thresholds)
            refs, speaker_t = profiles[source.speaker]
            try:
                clips, dropped = _cut(path, info, content_hash, config, speaker_t, refs, scorer)
            except audio.AudioError as e:
                catalog.save_voice_file(
                    source.name, path, source.speaker, {}, "failed", str(e), key, utcnow()
                )
                report.failed.append({"path": path, "reason": str(e)})
                continue
            others = catalog.voice_fingerprints(source.speaker, (known or {}).get("id"))
            _mark_duplicates(clips, others, speaker_t)
            facts = {"content_hash": content_hash, "codec": info.codec, "rate": info.rate,
                     "channels": info.channels, "duration_s": info.duration_s}  # fmt: skip
            catalog.save_voice_file(
                source.name, path, source.speaker, facts, "done", None, key, utcnow(), clips, dropped
            )
            report.processed += 1
            report.clips += len(clips)
            report.passed += sum(1 for k in clips if not k.failed)
            report.dropped += len(dropped)
            report.minutes += info.duration_s / 60
            if progress is not None:
                progress(path, len(clips))
    report.seconds = time.perf_counter() - t0
    return report


def _speaker_profile(config: Config, speaker: str, thresholds: Any) -> tuple[Any, Any]:
    """The reference profiles the speaker check compares clips with (None without reference clips),
    and the thresholds for this speaker: the speaker threshold calibrated on the owner's own
    references (each one against the others, less a margin: every reference would pass it), never
    stricter than the configured one."""
    from samdata.voice import audio, checks

    sp = config.voice.speaker(speaker)
    refs = _references(sp.references) if sp else []
    if not refs:
        return None, thresholds
    try:
        profiles = [checks.speaker_profile(audio.load(Path(p), checks.ANALYSIS_RATE)) for p in refs]
    except audio.AudioError as e:
        raise VoiceError(f"speaker {speaker!r}: a reference clip cannot be read: {e}") from e
    if len(profiles) < 2:
        return profiles, thresholds
    own = min(checks.speaker_similarity(p, profiles[:i] + profiles[i + 1 :]) for i, p in enumerate(profiles))
    calibrated = min(thresholds.min_speaker_similarity, round(float(own) - SPEAKER_MARGIN, 4))
    return profiles, dataclasses.replace(thresholds, min_speaker_similarity=calibrated)


def _spans(blocks: Iterator[np.ndarray], rate: int, spans: list[tuple[float, float]]) -> Iterator[np.ndarray]:
    """The samples of each (start, end) span (in order, non-overlapping) from a stream of blocks,
    holding no more than one span and one block."""
    i, pos, buf = 0, 0, []
    bounds = [(round(a * rate), round(b * rate)) for a, b in spans]
    for block in blocks:
        end = pos + len(block)
        while i < len(bounds):
            a, b = bounds[i]
            if a >= end:
                break
            buf.append(block[max(a - pos, 0) : max(min(b, end) - pos, 0)])
            if b > end:
                break
            yield np.concatenate(buf) if buf else np.zeros(0, np.float32)
            buf, i = [], i + 1
        pos = end
    while i < len(bounds):  # the stream ended inside (or before) a span
        yield np.concatenate(buf) if buf else np.zeros(0, np.float32)
        buf, i = [], i + 1


def _cut(
    path: str, info: Any, content_hash: str, config: Config, thresholds: Any, profile: Any, scorer: Any = None
) -> tuple[list[ClipRow], list[tuple[float, float, str]]]:
    from samdata.voice import checks

    v = config.voice
    scores: dict[int, dict[str, float]] = {}
    clips: list[ClipRow] = []
    # A second streamed pass at the analysis rate (decoding runs ~800x realtime): holding the
    # recording between the passes would make a 3-hour file sit in memory.
    rate = min(info.rate, 48_000)  # the bandwidth check reads the recording's own spectrum
    try:
        segs, dropped = _segments(path, v.min_clip_s, v.max_clip_s, scorer, scores)
        _measure(path, rate, segs, content_hash, thresholds, profile, clips)
        if scorer is not None:
            scorer.drain()
    except BaseException:
        if scorer is not None:
            scorer.discard()
        raise
    for i, clip in enumerate(clips):
        clip.figures.update(scores.get(i, {}))
        clip.failed = checks.failed(clip.figures, thresholds)
    return clips, [(round(a, 3), round(b, 3), r) for a, b, r in dropped]


def _segments(
    path: str, min_s: float, max_s: float, scorer: Any, scores: dict[int, dict[str, float]]
) -> tuple[list[Any], list[tuple[float, float, str]]]:
    """The first pass: VAD and segmentation of the recording's 16 kHz stream. Each clip, once
    settled, goes to the quality scorer from the audio still held (only what a clip not yet settled
    may start in), so the model runs on the other core while the VAD reads on; its figures land in
    `scores` under the clip's index."""
    from samdata.voice import audio, segment

    seg = segment.Segmenter(min_s, max_s, keep_probabilities=False)
    segs: list[Any] = []
    dropped: list[tuple[float, float, str]] = []
    held: list[np.ndarray] = []
    held_from = 0  # the sample held[0] starts at

    def settled(found: list[Any]) -> None:
        nonlocal held_from
        for s in found:
            if isinstance(s, segment.Dropped):
                dropped.append(s)
                continue
            i = len(segs)
            segs.append(s)
            if scorer is not None:
                a, b = round(s.start_s * segment.VAD_RATE), round(s.end_s * segment.VAD_RATE)
                parts, pos = [], held_from
                for block in held:
                    if pos < b and a < pos + len(block):
                        parts.append(block[max(a - pos, 0) : b - pos])
                    pos += len(block)
                clip = np.concatenate(parts) if parts else np.zeros(0, np.float32)
                scorer.submit(clip, lambda f, i=i: scores.__setitem__(i, f))
        while held and held_from + len(held[0]) <= seg.earliest_start:
            held_from += len(held.pop(0))

    for block in audio.blocks(Path(path), segment.VAD_RATE):
        if scorer is not None:
            held.append(block)
        settled(seg.feed(block))
    settled(seg.finish())
    return segs, dropped


def _measure(
    path: str,
    rate: int,
    segs: list[Any],
    content_hash: str,
    thresholds: Any,
    profile: Any,
    clips: list[ClipRow],
) -> None:
    """Each segment's figures, speaker similarity and fingerprint, into `clips`."""
    from samdata.voice import audio, checks

    spans = [(s.start_s, s.end_s) for s in segs]
    for seg, samples in zip(segs, _spans(audio.blocks(Path(path), rate), rate, spans), strict=True):
        # Without the VAD's probabilities: inside a clip its low frames are word gaps, not the
        # background, and read clean speech as noisy (8-20 dB on espeak-ng sentences).
        figs = checks.figures(samples, rate, t=thresholds)
        at16 = audio.resample(samples, rate, checks.ANALYSIS_RATE)
        if profile is not None:
            figs["speaker_threshold"] = thresholds.min_speaker_similarity
            figs["speaker_similarity"] = round(
                float(checks.speaker_similarity(checks.speaker_profile(at16), profile)), 4
            )
        clips.append(
            ClipRow(clip_id(content_hash, seg.start_s, seg.end_s), round(seg.start_s, 3), round(seg.end_s, 3),
                    figs, [], checks.fingerprint(at16))
        )  # fmt: skip


def _mark_duplicates(clips: list[ClipRow], others: list[tuple[str, bytes]], thresholds: Any) -> None:
    """A clip that sounds like an earlier one (another recording's, or earlier in this one) fails
    `duplicate`, naming it."""
    from samdata.voice import checks

    printed = [clip for clip in clips if clip.fingerprint is not None]
    found = checks.best_earlier([(clip.id, clip.fingerprint or b"") for clip in printed], others)
    for clip, best in zip(printed, found, strict=True):
        if best is not None:
            clip.figures["duplicate_similarity"] = round(float(best[0]), 4)
            if best[0] >= thresholds.max_duplicate_similarity:
                clip.figures["duplicate_of"] = best[1]
            clip.failed = checks.failed(clip.figures, thresholds)


def clips_json(catalog: Catalog, speaker: str | None = None) -> dict[str, Any]:
    """The `samdata voice clips --json` contract."""
    return {
        "clips": [
            {"id": k["id"], "source_file": k["source_file"], "speaker": k["speaker"], "start_s": k["start_s"],
             "end_s": k["end_s"], "passed": k["passed"], "failed": k["failed"], "figures": k["figures"],
             "decision": k["decision"]}
            for k in catalog.voice_clips(speaker)
        ]
    }  # fmt: skip
