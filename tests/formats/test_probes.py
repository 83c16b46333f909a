"""Binary probes: SQLite (never modified), WAV and MP4 durations, zipped ChatGPT exports."""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import wave
import zipfile
from pathlib import Path

import pytest

from samdata.config import ScanSettings
from samdata.demo.estate import mp4_bytes
from samdata.formats import probes
from samdata.scan.analyze import analyze_file
from tests.conftest import real_fixtures


def test_sqlite_in_wal_mode_is_read_without_side_files(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE training_examples (id INTEGER PRIMARY KEY, prompt TEXT, response TEXT)")
    conn.execute("CREATE TABLE settings (k TEXT, v TEXT)")
    conn.executemany("INSERT INTO training_examples (prompt, response) VALUES (?, ?)", [("p", "r")] * 7)
    conn.execute("INSERT INTO settings VALUES ('a', 'b')")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    bytes_before = db.read_bytes()
    facts = analyze_file(db, ScanSettings())
    assert facts.format == "sqlite"
    assert facts.details["tables"]["training_examples"] == {
        "rows": 7,
        "columns": ["id", "prompt", "response"],
        "training": True,
    }
    assert facts.details["tables"]["settings"]["training"] is False
    assert facts.details["training_rows"] == 7
    assert facts.records == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert db.read_bytes() == bytes_before


@pytest.mark.parametrize(("rate", "channels", "seconds"), [(16000, 1, 0.25), (44100, 2, 1.0)])
def test_wav_duration(tmp_path: Path, rate: int, channels: int, seconds: float) -> None:
    p = tmp_path / "clip.wav"
    with wave.open(str(p), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * channels * int(rate * seconds))
    facts = analyze_file(p, ScanSettings())
    assert facts.format == "wav"
    assert facts.details["duration_s"] == pytest.approx(seconds)
    assert facts.details["sample_rate"] == rate and facts.details["channels"] == channels


def test_damaged_wav_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    p = tmp_path / "bad.wav"
    p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    facts = analyze_file(p, ScanSettings())
    assert facts.format == "wav" and "probe_error" in facts.details


def test_mp4_duration_with_moov_last() -> None:
    data = mp4_bytes(12.5, payload=b"\x00" * 1000)
    assert probes.probe_mp4(io.BytesIO(data), len(data)) == {
        "brand": "isom",
        "duration_s": 12.5,
        "timescale": 1000,
    }


def test_mp4_large_box_and_version1_mvhd() -> None:
    ftyp = struct.pack(">I4s", 16, b"ftyp") + b"M4A " + bytes(4)
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 64) + bytes(64)  # 64-bit size
    mvhd_body = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, 600, 600 * 90) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    data = ftyp + mdat + moov
    assert probes.probe_mp4(io.BytesIO(data), len(data))["duration_s"] == 90.0


def test_zipped_chatgpt_export(tmp_path: Path) -> None:
    src = real_fixtures() / "chatgpt_export" / "pkuppens-my_chat_gpt-2023-06" / "conversations.json"
    z = tmp_path / "export.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("conversations.json", src.read_bytes())
        zf.writestr("message_feedback.json", json.dumps([]))
    facts = analyze_file(z, ScanSettings())
    assert (facts.format, facts.variant, facts.records) == ("chatgpt_export", "zip", 5)
    assert facts.details["members"] == 2
