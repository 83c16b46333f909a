"""`samdata voice package`: one speaker's clean clips in the layout RVC trains from.

    DIR/0_gt_wavs/0_N.wav     the clip at the target rate (40000 or 48000), float32 mono
    DIR/1_16k_wavs/0_N.wav    the same clip at 16 kHz (what RVC's feature and f0 steps read)
    DIR/mute/...              the silent rows RVC mixes into every training list
    DIR/filelist.txt          gt_wav|feature|f0|f0nsf|speaker rows, the mute rows last, as RVC's
                              training step writes it (features and f0 are made by RVC's own
                              extraction steps, which need its models: the list names where they go)
    DIR/manifest.json         every clip: recording, offsets, figures, checks, decision; the
                              speaker's consent record; totals

A speaker without a consent record is refused. The same clips give the same bytes (no dates in
the files; clips in recording order; written beside DIR and renamed into place).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from samdata.catalog import Catalog
from samdata.config import Config
from samdata.voice import VERSION, VoiceError

RATES = (40_000, 48_000)  # RVC's v2 sample rates with pretrained models (32k is v1-only)
MUTE_S = 3.0
FEATURE_DIM = 768  # RVC v2's HuBERT features


@dataclass
class PackageResult:
    out: Path
    clips: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


def write_float_wav(path: Path, samples: np.ndarray, rate: int) -> bytes:
    """A mono IEEE-float WAV (format 3), as RVC's preprocessing writes its own: returns the bytes."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"fact" + struct.pack("<II", 4, len(samples)) + b"data" + struct.pack("<I", len(data)) + data
    raw = b"RIFF" + struct.pack("<I", len(body)) + body
    path.write_bytes(raw)
    return raw


def _selected(catalog: Catalog, speaker: str) -> list[dict[str, Any]]:
    """Clips that passed every check and were not rejected in review, and failed clips a person
    accepted."""
    out = []
    for k in catalog.voice_clips(speaker):
        decision = k["decision"]
        if decision == "reject" or (not k["passed"] and decision != "accept"):
            continue
        out.append(k)
    return out


def package(config: Config, catalog: Catalog, speaker: str, out: Path, rate: int = 40_000) -> PackageResult:
    """Write `speaker`'s package into `out` (replaced whole); VoiceError for a speaker without
    consent, an unknown speaker, a rate RVC has no model for, or no clean clip."""
    sp = config.voice.speaker(speaker)
    if sp is None:
        known = ", ".join(s.name for s in config.voice.speakers) or "none"
        raise VoiceError(f"no speaker {speaker!r} in [[voice.speakers]] (configured: {known})")
    if sp.consent is None:
        raise VoiceError(
            f"speaker {speaker!r} has no consent record: packaging a voice needs one. Add to its"
            ' [[voice.speakers]] entry a table `consent = { by = "...", use = "...", date = 2026-01-31,'
            ' statement = "where the signed statement is kept" }`'
        )
    if rate not in RATES:
        raise VoiceError(f"--rate {rate}: RVC trains at {' or '.join(map(str, RATES))}")
    clips = _selected(catalog, speaker)
    if not clips:
        raise VoiceError(
            f"speaker {speaker!r} has no clip that passed its checks: run `samdata voice run` first"
        )
    from samdata.voice import audio

    out = Path(out)
    stage = out.parent / f".{out.name}.samdata-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    for sub in ("0_gt_wavs", "1_16k_wavs", "mute/0_gt_wavs", "mute/1_16k_wavs"):
        (stage / sub).mkdir(parents=True)
    rows, entries, left_out, total = [], [], [], 0.0
    shas: dict[str, str] = {}
    for k, wave in _waves(clips, rate):
        name = f"0_{len(entries)}"
        at16 = audio.resample(wave, rate, 16_000)
        problem = _unfit(wave) or _unfit(at16)
        if problem:
            left_out.append({"clip": k["id"], "source_file": k["source_file"], "start_s": k["start_s"],
                             "end_s": k["end_s"], "reason": problem})  # fmt: skip
            continue
        shas[f"0_gt_wavs/{name}.wav"] = _sha(write_float_wav(stage / "0_gt_wavs" / f"{name}.wav", wave, rate))
        shas[f"1_16k_wavs/{name}.wav"] = _sha(
            write_float_wav(stage / "1_16k_wavs" / f"{name}.wav", at16, 16_000)
        )
        total += len(wave) / rate
        rows.append(
            f"0_gt_wavs/{name}.wav|3_feature{FEATURE_DIM}/{name}.npy|2a_f0/{name}.wav.npy|2b-f0nsf/{name}.wav.npy|0"
        )
        entries.append(
            {"file": f"0_gt_wavs/{name}.wav", "clip": k["id"], "source_file": k["source_file"], "start_s": k["start_s"],
             "end_s": k["end_s"], "seconds": round(len(wave) / rate, 4), "passed": k["passed"], "failed": k["failed"],
             "decision": k["decision"], "figures": k["figures"]}
        )  # fmt: skip
    mute = np.zeros(int(MUTE_S * rate), np.float32)
    shas[f"mute/0_gt_wavs/mute{rate // 1000}k.wav"] = _sha(
        write_float_wav(stage / "mute/0_gt_wavs" / f"mute{rate // 1000}k.wav", mute, rate)
    )
    shas["mute/1_16k_wavs/mute.wav"] = _sha(
        write_float_wav(
            stage / "mute/1_16k_wavs/mute.wav", np.zeros(int(MUTE_S * 16_000), np.float32), 16_000
        )
    )
    mute_row = (
        f"mute/0_gt_wavs/mute{rate // 1000}k.wav|mute/3_feature{FEATURE_DIM}/mute.npy|mute/2a_f0/mute.wav.npy"
        "|mute/2b-f0nsf/mute.wav.npy|0"
    )
    filelist = "\n".join([*rows, mute_row, mute_row]) + "\n"
    (stage / "filelist.txt").write_text(filelist)
    shas["filelist.txt"] = _sha(filelist.encode())
    warnings = [f"left out {x['clip']}: {x['reason']}" for x in left_out]
    minutes = total / 60
    if minutes < config.voice.min_clean_minutes:
        warnings.append(
            f"{minutes:.1f} clean minutes for {speaker!r}, under {config.voice.min_clean_minutes:g}: RVC needs"
            " about 10 minutes for a usable model"
        )
    consent = sp.consent.model_dump(mode="json")
    manifest = {
        "schema": f"samdata.voice-package/{VERSION}",
        "speaker": speaker,
        "consent": consent,
        "rate": rate,
        "clips": entries,
        "left_out": left_out,
        "clean_seconds": round(total, 3),
        "warnings": warnings,
        "files": shas,
    }
    (stage / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    old = stage.with_name(stage.name + "-old")
    if out.exists():
        os.rename(out, old)
    os.rename(stage, out)
    shutil.rmtree(old, ignore_errors=True)
    return PackageResult(out, len(entries), total, warnings, manifest)


def _waves(clips: list[dict[str, Any]], rate: int) -> Iterator[tuple[dict[str, Any], np.ndarray]]:
    """Each clip's samples at `rate`, resampled from its recording (one streamed pass per
    recording, clips in recording order)."""
    from samdata.voice import _spans, audio

    by_file: dict[str, list[dict[str, Any]]] = {}
    for k in clips:
        by_file.setdefault(k["source_file"], []).append(k)
    for path, ks in by_file.items():
        try:
            spans = _spans(audio.blocks(Path(path), rate), rate, [(k["start_s"], k["end_s"]) for k in ks])
            yield from zip(ks, spans, strict=True)
        except audio.AudioError as e:
            raise VoiceError(f"{path}: cannot be read again for packaging: {e}") from e


def _unfit(wave: np.ndarray) -> str | None:
    """What RVC's training would choke on (the tiny leftovers behind "tensor size 0")."""
    if wave.size == 0:
        return "no samples"
    if not np.isfinite(wave).all():
        return "NaN or infinite samples"
    peak = float(np.abs(wave).max())
    if peak == 0.0:
        return "silent"
    if peak > 1.0:
        return f"above full scale (peak {peak:.3f})"
    return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
