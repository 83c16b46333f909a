"""Real speech for the voice tests: espeak-ng (Debian's package, installed by .ci/run) says known
sentences; they are joined with pauses of known length, so every boundary is known exactly."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ESPEAK = shutil.which("espeak-ng")

SENTENCES = (
    "The river runs past the old mill, and the water is cold in the morning.",
    "We walked along the bank every day, and the dog chased the ducks.",
    "Please remember to bring the blue notebook to the meeting on Thursday.",
    "A small boat was tied to the dock, rocking gently in the wind.",
    "She said the train would leave at seven, so we packed the night before.",
    "Fresh bread from the bakery smells wonderful on a winter afternoon.",
    "The garden needs water after three dry weeks of sunshine.",
    "He fixed the bicycle chain and rode it slowly down the hill.",
)


def say(text: str, voice: str = "en", speed: int = 165, pitch: int = 50) -> tuple[np.ndarray, int]:
    """espeak-ng's speech for `text` as float32 samples in [-1, 1] and its rate (22050)."""
    if ESPEAK is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng; .ci/run does)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "say.wav"
        subprocess.run(
            [ESPEAK, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
            check=True, capture_output=True,
        )  # fmt: skip
        return read_wav(out)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        raw = w.readframes(w.getnframes())
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        return x.reshape(-1, w.getnchannels()).mean(axis=1), w.getframerate()


def write_wav(path: Path, x: np.ndarray, rate: int, channels: int = 1) -> Path:
    """16-bit PCM; `channels` > 1 repeats the signal on every channel."""
    data = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
    if channels > 1:
        data = np.repeat(data[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())
    return path


def trimmed(x: np.ndarray, rate: int, floor: float = 1e-3) -> np.ndarray:
    """The utterance without espeak-ng's leading and trailing silence."""
    loud = np.flatnonzero(np.abs(x) > floor)
    return x[loud[0] : loud[-1] + 1] if loud.size else x[:0]


@dataclass
class Recording:
    samples: np.ndarray
    rate: int
    speech: list[tuple[float, float]] = field(default_factory=list)  # (start s, end s) of each utterance


def recording(
    sentences: tuple[str, ...] | list[str] = SENTENCES, pause_s: float = 0.8, lead_s: float = 0.5,
    voice: str = "en", rate: int | None = None,
) -> Recording:  # fmt: skip
    """The sentences said one after another with `pause_s` of silence between them: the true
    speech regions are known to the sample."""
    parts: list[np.ndarray] = []
    speech = []
    out_rate = None
    t = 0
    for text in sentences:
        x, r = say(text, voice)
        out_rate = out_rate or r
        x = trimmed(x, r)
        if not parts:
            parts.append(np.zeros(int(lead_s * r), np.float32))
            t = len(parts[0])
        speech.append((t / r, (t + len(x)) / r))
        parts += [x, np.zeros(int(pause_s * r), np.float32)]
        t += len(x) + int(pause_s * r)
    assert out_rate is not None
    samples = np.concatenate(parts)
    if rate is not None and rate != out_rate:
        import soxr

        samples = soxr.resample(samples, out_rate, rate, quality="VHQ").astype(np.float32)
        out_rate = rate
    return Recording(samples, out_rate, speech)


CONSENT = (
    '{ by = "Alice Example", use = "a private voice model for SAM", date = 2026-11-30,'
    ' statement = "consent/alice.pdf" }'
)


def voice_toml(
    speakers: list[tuple[str, str | None, bool]], sources: list[tuple[str, str, str]], extra: str = ""
) -> str:
    """A samdata.toml for the voice tests: speakers as (name, references glob or None, consented),
    sources as (name, path glob, speaker), then `extra` (e.g. a [voice.rvc] table)."""
    parts = []
    for name, references, consented in speakers:
        lines = ["[[voice.speakers]]", f'name = "{name}"']
        if references:
            lines.append(f'references = ["{references}"]')
        if consented:
            lines.append(f"consent = {CONSENT}")
        parts.append("\n".join(lines))
    for name, path, speaker in sources:
        parts.append(f'[[voice.sources]]\nname = "{name}"\npath = "{path}"\nspeaker = "{speaker}"')
    return "\n\n".join(parts) + "\n" + extra
