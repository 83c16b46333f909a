"""`samdata voice run | clips | package` through the CLI on real speech (espeak-ng): the contract's
shapes, bad recordings reported and not lost, consent enforced, RVC's loader checks, the same
input giving the same bytes."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from samdata.voice.checks import CHECK_NAMES
from tests.test_cli import run_cli
from tests.voice.speech import SENTENCES, recording, voice_toml, write_wav


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("voice")
    alice, bob, refs = root / "alice", root / "#1 bob", root / "refs"
    for d in (alice, bob, refs):
        d.mkdir()
    clean = recording(SENTENCES[:4], pause_s=0.8)
    write_wav(alice / "session1.wav", clean.samples, clean.rate)
    stereo = recording(SENTENCES[4:7], pause_s=0.7, rate=44_100)
    write_wav(alice / "session2.wav", stereo.samples, stereo.rate, channels=2)
    hot = recording(SENTENCES[7:8] + SENTENCES[:1], pause_s=0.8)
    write_wav(alice / "take9-clipped.wav", np.clip(hot.samples * 6.0, -1.0, 1.0), hot.rate)
    (alice / "empty.wav").write_bytes(b"")
    intruder = recording(SENTENCES[5:7], pause_s=0.8, voice="en+f3")  # someone else in alice's folder
    write_wav(alice / "take5-intruder.wav", intruder.samples, intruder.rate)
    for i, s in enumerate(SENTENCES[1:4]):
        ref = recording([s], pause_s=0.3, lead_s=0.2)
        write_wav(refs / f"ref{i}.wav", ref.samples, ref.rate)
    other = recording(SENTENCES[2:4], pause_s=0.8, voice="en+f3")
    write_wav(bob / "talk.wav", other.samples, other.rate)
    (root / "samdata.toml").write_text(
        voice_toml(
            [("alice", f"{refs}/*.wav", True), ("bob", None, False)],
            [("alice-sessions", f"{alice}/*.wav", "alice"), ("bob-talks", f"{bob}/*.wav", "bob")],
        )
    )
    return root


def _clips(estate: Path) -> list[dict[str, Any]]:
    done = run_cli("voice", "clips", "--config", str(estate / "samdata.toml"), "--json")
    assert done.returncode == 0, done.stderr
    return list(orjson.loads(done.stdout)["clips"])


def test_run_cuts_checks_and_reports_what_it_could_not_read(estate: Path) -> None:
    cfg = str(estate / "samdata.toml")
    done = run_cli("voice", "run", "--config", cfg, "--json")
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["files"] == 6 and report["processed"] == 5
    assert [f["path"].rsplit("/", 1)[1] for f in report["failed"]] == ["empty.wav"]
    assert report["failed"][0]["reason"]
    clips = _clips(estate)
    assert clips and all(
        set(k) >= {"id", "source_file", "start_s", "end_s", "passed", "failed", "figures"} for k in clips
    )
    assert all(set(k["failed"]) <= set(CHECK_NAMES) for k in clips)
    assert all(k["passed"] == (not k["failed"]) for k in clips)
    assert all(1 <= k["figures"]["dnsmos_ovrl"] <= 5 and "dnsmos_bak" in k["figures"] for k in clips)
    by_file: dict[str, list[dict[str, Any]]] = {}
    for k in clips:
        by_file.setdefault(Path(k["source_file"]).name, []).append(k)
    assert len(by_file["session1.wav"]) == 4  # one clip per sentence
    assert all(k["passed"] for k in by_file["session1.wav"]), [k["failed"] for k in by_file["session1.wav"]]
    assert all("clipping" in k["failed"] for k in by_file["take9-clipped.wav"])
    # its second sentence is session1.wav's first, louder and clipped: a duplicate of the earlier clip
    second = by_file["take9-clipped.wav"][1]
    assert (
        "duplicate" in second["failed"]
        and second["figures"]["duplicate_of"] == by_file["session1.wav"][0]["id"]
    )
    # the speaker threshold is calibrated on alice's own references, never stricter than the default
    own = by_file["session1.wav"][0]["figures"]
    assert own["speaker_similarity"] >= own["speaker_threshold"] and own["speaker_threshold"] <= 0.7
    assert all("speaker" in k["failed"] for k in by_file["take5-intruder.wav"])
    assert not any("speaker" in k["failed"] for k in by_file["session1.wav"] + by_file["session2.wav"])
    assert all(1.5 <= k["end_s"] - k["start_s"] <= 15.0 for k in clips)
    assert all(
        k["figures"] and all(isinstance(v, (int, float, str)) for v in k["figures"].values()) for k in clips
    )
    again = orjson.loads(run_cli("voice", "run", "--config", cfg, "--json").stdout)
    assert again["unchanged"] == 5 and again["processed"] == 0  # nothing is cut twice
    assert _clips(estate) == clips


def _wav(path: Path) -> tuple[int, int, np.ndarray]:
    """A re-implementation of what RVC's loader (scipy.io.wavfile.read, then its rate check) reads."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    pos, fmt, data = 12, None, None
    while pos < len(raw):
        tag, size = raw[pos : pos + 4], struct.unpack("<I", raw[pos + 4 : pos + 8])[0]
        chunk = raw[pos + 8 : pos + 8 + size]
        if tag == b"fmt ":
            fmt = struct.unpack("<HHIIHH", chunk[:16])
        elif tag == b"data":
            data = chunk
        pos += 8 + size + (size & 1)
    assert fmt is not None and data is not None
    tag, channels, rate, _byte_rate, _align, bits = fmt
    assert (tag, bits) == (3, 32) and channels == 1
    return rate, channels, np.frombuffer(data, "<f4")


@pytest.mark.parametrize("rate", [40_000, 48_000])
def test_package_is_rvc_shaped_consented_and_byte_identical(estate: Path, tmp_path: Path, rate: int) -> None:
    cfg = str(estate / "samdata.toml")
    assert run_cli("voice", "run", "--config", cfg).returncode == 0
    out = tmp_path / "alice-pkg"
    done = run_cli(
        "voice", "package", "--config", cfg, "--speaker", "alice", "--out", str(out), "--rate", str(rate)
    )
    assert done.returncode == 0, done.stderr
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["consent"]["by"] == "Alice Example" and manifest["consent"]["date"] == "2026-11-30"
    passed = [k for k in _clips(estate) if k["passed"] and k["speaker"] == "alice"]
    assert [c["clip"] for c in manifest["clips"]] == [k["id"] for k in passed]
    assert any("clean minutes" in w for w in manifest["warnings"])  # far under 10 minutes
    rows = (out / "filelist.txt").read_text().splitlines()
    assert len(rows) == len(passed) + 2 and all(r.startswith("mute/") for r in rows[-2:])
    for row in rows:
        gt, feature, f0, f0nsf, speaker_id = row.split("|")
        assert (
            speaker_id == "0"
            and feature.endswith(".npy")
            and f0.endswith(".wav.npy")
            and f0nsf.endswith(".npy")
        )
        got_rate, _ch, wave = _wav(out / gt)
        assert got_rate == rate  # RVC: "sampling rate doesn't match"
        assert wave.size > 0 and np.isfinite(wave).all()
        if not gt.startswith("mute/"):
            assert np.abs(wave).max() <= 1.0 and np.abs(wave).max() > 0.01
            assert wave.size / rate >= 1.5  # no clip below the minimum
            r16, _c, w16 = _wav(out / gt.replace("0_gt_wavs", "1_16k_wavs"))
            assert r16 == 16_000 and abs(w16.size - round(wave.size * 16_000 / rate)) <= 1
    for entry in manifest["clips"]:
        assert {"source_file", "start_s", "end_s", "figures", "failed", "decision"} <= set(entry)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert (
        run_cli(
            "voice", "package", "--config", cfg, "--speaker", "alice", "--out", str(out), "--rate", str(rate)
        ).returncode
        == 0
    )
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == first


def test_a_speaker_without_consent_is_refused(estate: Path, tmp_path: Path) -> None:
    cfg = str(estate / "samdata.toml")
    assert run_cli("voice", "run", "--config", cfg).returncode == 0
    done = run_cli(
        "voice",
        "package",
        "--config",
        cfg,
        "--speaker",
        "bob",
        "--out",
        str(tmp_path / "bob"),
        "--rate",
        "40000",
    )
    assert done.returncode != 0
    assert "consent" in done.stderr and "bob" in done.stderr
    assert "[[voice.speakers]]" in done.stderr  # the message is text, not rich markup
    assert not (tmp_path / "bob").exists()
