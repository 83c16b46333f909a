"""The voice clip review queue (`/review/voice`) on real speech (espeak-ng) cut by `run_voice`.

The estate: alice (three clean sentences and one recorded too hot, so its clip fails clipping and
loudness), bob (22 short sentences: the clips for timing) and carol, whose recording sits at a path
carrying markup (`<script>...`, `"><img onerror>`).
In-process: the queue lists the waiting clips, failed first, each failed check with its figure and
threshold; a waveform per clip; the review index counts them; the WAV endpoint gives exactly the
clip's samples (16-bit PCM, byte ranges), 404 for an unknown clip; a decision needs the CSRF token
and a known clip; the planted path is text, never markup.
In Chromium: `a`, `r`, `u`, `r` review by keyboard, the decisions stored, the next clip's audio
loaded ahead, space plays, `samdata voice package` honours the reject and the accept; 20 decisions
timed (>= 300 an hour with a wide margin); no console error (CSP violations included), no payload ran.
"""

from __future__ import annotations

import io
import re
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from playwright.sync_api import expect

from samdata.catalog import Catalog
from samdata.config import Config, load_config
from samdata.serve.voice_page import fmt, waveform_points
from samdata.voice import run_voice
from samdata.voice.audio import load
from samdata.voice.package import package
from tests.serve.browser import Watched
from tests.serve.inprocess import client as _client
from tests.serve.inprocess import csrf_headers as _csrf
from tests.serve.loadgen import Server
from tests.voice.speech import SENTENCES, recording, voice_toml, write_wav

PLANTED_DIR = "<script>window.__xss=1"
PLANTED_FILE = '"><img src=x onerror=window.__xss=1>.wav'
SHORT = [
    f"{a} {b}"
    for a in ("The red kite circled high above", "My brother painted the kitchen door",
              "Seven geese landed on the frozen pond", "The library opens early on Mondays")
    for b in ("every single morning.", "before the rain came.", "while we were away.",
              "with nobody watching.", "for the second time.", "in the cold spring light.")
][:22]  # fmt: skip


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    root = tmp_path_factory.mktemp("voice-review")
    alice, bob, planted = root / "alice", root / "bob", root / PLANTED_DIR
    for d in (alice, bob, planted):
        d.mkdir()
    clean = recording(SENTENCES[:3], pause_s=0.8)
    write_wav(alice / "session1.wav", clean.samples, clean.rate)
    hot = recording(SENTENCES[7:8], pause_s=0.8)
    write_wav(alice / "take2-clipped.wav", np.clip(hot.samples * 6.0, -1.0, 1.0), hot.rate)
    talk = recording(SHORT, pause_s=0.6)
    write_wav(bob / "talk.wav", talk.samples, talk.rate)
    odd = recording(SENTENCES[5:6], pause_s=0.8)
    write_wav(planted / PLANTED_FILE, odd.samples, odd.rate)
    (root / "samdata.toml").write_text(
        voice_toml(
            [("alice", None, True), ("bob", None, False), ("carol", None, False)],
            [
                ("alice-sessions", f"{alice}/*.wav", "alice"),
                ("bob-talks", f"{bob}/*.wav", "bob"),
                ("carol-odd", f"{planted}/*.wav", "carol"),
            ],
        )
    )
    config = load_config(root / "samdata.toml")
    with Catalog.open(config.catalog_path) as cat:
        report = run_voice(config, cat)
    assert report.processed == 4 and not report.failed, report
    return config


def _clips(config: Config, speaker: str | None = None) -> list[dict[str, Any]]:
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        return cat.voice_clips(speaker)


def _listed(page: str) -> list[str]:
    return re.findall(r'<li id="clip-([0-9a-f]{32})" data-item="\1"', page)


def _item(page: str, clip: str) -> str:
    return page.split(f'<li id="clip-{clip}"', 1)[1].split("<audio", 1)[0]


def _full_scale_columns(item: str) -> int:
    """Waveform columns whose maximum is at the top edge (full scale)."""
    points = re.search(r'<polygon points="([^"]+)"', item)
    assert points
    return sum(1 for p in points.group(1).split()[:600] if float(p.split(",")[1]) == 0)


def test_the_queue_lists_waiting_clips_failed_first_with_their_checks(config: Config) -> None:
    alice = _clips(config, "alice")
    failed = [k for k in alice if not k["passed"]]
    assert len(alice) == 4 and len(failed) == 1 and {"clipping", "loudness"} <= set(failed[0]["failed"])
    http = _client(config)
    page = http.get("/review/voice", params={"speaker": "alice"})
    assert page.status_code == 200
    # failed first, then the rest in recording order
    assert _listed(page.text) == [failed[0]["id"]] + [k["id"] for k in alice if k["passed"]]
    hot = _item(page.text, failed[0]["id"])
    figs = failed[0]["figures"]
    assert "take2-clipped.wav" in hot and f"{failed[0]['start_s']:.2f}–{failed[0]['end_s']:.2f} s" in hot
    assert f"({failed[0]['end_s'] - failed[0]['start_s']:.2f} s)" in hot
    clipping = re.search(r'<li data-check="clipping">(.*?)</li>', hot)
    assert clipping, hot
    assert (
        f'clipped runs <span class="figure">{fmt("clipped_runs", figs["clipped_runs"])}</span> &gt;'
        f' <span class="threshold">0</span>' in clipping.group(1)
    )
    loudness = re.search(r'<li data-check="loudness">(.*?)</li>', hot)
    lufs = f'{figs["loudness_lufs"]:.1f} LUFS</span> &gt; <span class="threshold">-10.0 LUFS'
    assert loudness and lufs in loudness.group(1)
    assert figs["clipped_runs"] > 0 and figs["loudness_lufs"] > -10.0  # what the page says is so
    for k in alice:
        item = _item(page.text, k["id"])
        # a waveform of ~600 columns: the polygon goes along the maxima and back along the minima
        points = re.search(r'<polygon points="([^"]+)"', item)
        assert points and len(points.group(1).split()) == 1200
        assert f'src="/review/voice/clip/{k["id"]}.wav"' in page.text
        assert ("data-check" in item) == (not k["passed"])
    # the hot clip's waveform is flattened at full scale over many columns, a clean one's is not
    flat = {k["id"]: _full_scale_columns(_item(page.text, k["id"])) for k in alice}
    assert flat[failed[0]["id"]] >= 30 and all(n < 10 for c, n in flat.items() if c != failed[0]["id"])
    everyone = http.get("/review/voice")
    assert set(_listed(everyone.text)) == {k["id"] for k in _clips(config)}
    index = http.get("/review/").text
    assert 'href="/review/voice"' in index and f'<span id="voice-open">{len(_clips(config))}</span>' in index


def test_the_waveform_is_the_envelope() -> None:
    x = np.zeros(1200, np.float32)
    x[600:602] = (1.0, -1.0)  # one full-scale spike in the middle
    points = [tuple(map(float, p.split(","))) for p in waveform_points(x, 600, 100).split()]
    assert len(points) == 1200
    top, bottom = points[:600], points[600:][::-1]
    assert top[300] == (300, 0) and bottom[300] == (300, 100)
    assert all(y == 49.5 for x_, y in top if x_ != 300) and all(y == 50.5 for x_, y in bottom if x_ != 300)


def test_the_clip_endpoint_serves_the_clip_as_wav(config: Config) -> None:
    http = _client(config)
    k = _clips(config, "alice")[1]
    r = http.get(f"/review/voice/clip/{k['id']}.wav")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as w:
        channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        pcm = np.frombuffer(w.readframes(frames), "<i2")
    assert (channels, width, rate) == (1, 2, 22_050)  # espeak-ng's rate (under 48 kHz: kept)
    a, b = round(k["start_s"] * rate), round(k["end_s"] * rate)
    assert frames == b - a
    whole = load(Path(k["source_file"]), rate)
    assert np.abs(pcm / 32767.0 - whole[a:b]).max() < 1e-4  # the clip's samples, 16-bit
    # a byte range (players seek with it), the same bytes again (from memory)
    part = http.get(f"/review/voice/clip/{k['id']}.wav", headers={"Range": "bytes=44-1043"})
    assert part.status_code == 206 and part.content == r.content[44:1044]
    assert part.headers["content-range"] == f"bytes 44-1043/{len(r.content)}"
    assert http.get(f"/review/voice/clip/{k['id']}.wav").content == r.content
    for missing in ("0" * 32 + ".wav", f"{k['id']}.mp3", "nothing", f"{k['id'][:-1]}.wav"):
        gone = http.get(f"/review/voice/clip/{missing}")
        assert gone.status_code == 404 and gone.json()["error"], missing


def test_a_decision_needs_the_csrf_token_and_a_known_clip(config: Config) -> None:
    http = _client(config)
    clip = _clips(config, "alice")[0]["id"]
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        r = http.post("/review/voice/decide", json={"item": clip, "decision": "reject"}, headers=headers)
        assert r.status_code == 403, r.text
    token = _csrf(http)
    for item, decision in (("0" * 32, "accept"), (clip, "drop"), (clip, "confirm")):
        r = http.post("/review/voice/decide", json={"item": item, "decision": decision}, headers=token)
        assert r.status_code == 422 and r.json()["error"], (item, decision, r.text)
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        assert cat.decisions("voice") == {}


def test_a_planted_path_is_text(config: Config) -> None:
    http = _client(config)
    page = http.get("/review/voice", params={"speaker": "carol"}).text
    assert len(_listed(page)) == 1
    assert "&#34;&gt;&lt;img src=x onerror=window.__xss=1&gt;.wav" in page
    assert "&lt;script&gt;window.__xss=1/&#34;&gt;&lt;img" in page
    assert "<script>window" not in page and "<img" not in page
    assert page.count("<script") == 2  # app.js and voice.js, nothing else


@pytest.fixture(scope="module")
def server(config: Config) -> Iterator[Server]:
    assert config.config_path is not None
    with Server(config.config_path) as srv:
        yield srv


def _watch_dialogs(tab: Watched) -> None:
    tab.page.on("dialog", lambda d: (tab.errors.append(f"dialog: {d.message}"), d.dismiss()))


def _ready(tab: Watched, index: int) -> None:
    """The audio of clip `index` on the page has loaded enough to play."""
    tab.page.wait_for_function(
        "i => document.querySelectorAll('#voice-queue > li audio')[i].readyState >= 2",
        arg=index,
        timeout=10_000,
    )


def test_review_by_keyboard_and_the_package_honours_it(
    config: Config, server: Server, tab: Watched, tmp_path: Path
) -> None:
    _watch_dialogs(tab)
    page = tab.page
    tab.goto(server.url + "/review/voice?speaker=alice")
    items = page.locator("#voice-queue > li[data-item]")
    expect(items).to_have_count(4)
    ids = [items.nth(i).get_attribute("data-item") for i in range(4)]
    clips = {k["id"]: k for k in _clips(config, "alice")}
    assert not clips[ids[0]]["passed"] and clips[ids[1]]["passed"]  # type: ignore[index]
    current = page.locator("#voice-queue > li.current")
    expect(current).to_have_attribute("data-item", ids[0])  # type: ignore[arg-type]
    _ready(tab, 0)
    _ready(tab, 1)  # the next clip's audio is loaded ahead

    def stored() -> dict[str, str]:
        with Catalog.open(config.catalog_path, readonly=True) as cat:
            return cat.decisions("voice")

    page.keyboard.press(" ")  # plays the focused clip
    page.wait_for_function("() => !document.querySelector('#voice-queue > li.current audio').paused")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.querySelector('#voice-queue > li.current audio').paused")
    page.keyboard.press("a")
    expect(items.nth(0).locator(".decision")).to_have_text("accept")
    expect(items.nth(0)).to_have_class(re.compile(r"\bdecided-accept\b"))
    expect(current).to_have_attribute("data-item", ids[1])  # type: ignore[arg-type]
    _ready(tab, 2)
    page.keyboard.press("r")
    expect(items.nth(1).locator(".decision")).to_have_text("reject")
    expect(current).to_have_attribute("data-item", ids[2])  # type: ignore[arg-type]
    expect(page.locator("#voice-queue li.pending")).to_have_count(0)
    assert stored() == {ids[0]: "accept", ids[1]: "reject"}
    expect(page.locator("#voice-waiting")).to_have_text("2")  # alice's four clips, two decided
    page.keyboard.press("u")  # undo the reject: back on that clip, no decision
    expect(page.locator("#review-status")).to_have_text(f"undone: {ids[1]}")
    expect(items.nth(1).locator(".decision")).to_have_text("")
    expect(current).to_have_attribute("data-item", ids[1])  # type: ignore[arg-type]
    assert stored() == {ids[0]: "accept"}
    page.keyboard.press("r")
    expect(items.nth(1).locator(".decision")).to_have_text("reject")
    expect(page.locator("#voice-queue li.pending")).to_have_count(0)
    assert stored() == {ids[0]: "accept", ids[1]: "reject"}
    page.keyboard.press("k")
    page.keyboard.press("ArrowDown")
    expect(current).to_have_attribute("data-item", ids[2])  # type: ignore[arg-type]
    page.keyboard.press("j")
    page.keyboard.press("s")  # the last clip: skipped, and then nothing has the focus
    expect(page.locator("#review-status")).to_have_text(re.compile("^end of the list"))
    expect(current).to_have_count(0)
    page.keyboard.press("a")  # changes nothing
    expect(page.locator("#voice-queue li.pending")).to_have_count(0)
    assert stored() == {ids[0]: "accept", ids[1]: "reject", ids[3]: "skip"}
    page.keyboard.press("u")
    expect(current).to_have_attribute("data-item", ids[3])  # type: ignore[arg-type]
    expect(items.nth(3).locator(".decision")).to_have_text("")
    assert stored() == {ids[0]: "accept", ids[1]: "reject"}
    page.keyboard.press("ArrowLeft")
    assert {k["id"]: k["decision"] for k in _clips(config, "alice")} == {
        ids[0]: "accept", ids[1]: "reject", ids[2]: None, ids[3]: None,
    }  # fmt: skip
    # packaging: the rejected clip (it passed) stays out, the accepted one (it failed) goes in
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        package(config, cat, "alice", tmp_path / "alice-rvc")
    manifest = orjson.loads((tmp_path / "alice-rvc" / "manifest.json").read_bytes())
    packaged = [c["clip"] for c in manifest["clips"]]
    assert len(packaged) == 3 and set(packaged) == {ids[0], ids[2], ids[3]}
    # the planted path on the whole queue: shown as text, nothing ran
    tab.goto(server.url + "/review/voice?speaker=carol")
    expect(page.locator("#voice-queue .recording")).to_have_text(PLANTED_FILE)
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("#voice-queue img").count() == 0
    tab.clean()


def test_twenty_decisions_by_keyboard_are_fast(config: Config, server: Server, tab: Watched) -> None:
    _watch_dialogs(tab)
    page = tab.page
    tab.goto(server.url + "/review/voice?speaker=bob")
    items = page.locator("#voice-queue > li[data-item]")
    expect(items).to_have_count(22)
    ids = [items.nth(i).get_attribute("data-item") for i in range(22)]
    current = page.locator("#voice-queue > li.current")
    keys = "arsa" * 5
    _ready(tab, 0)
    t0 = time.perf_counter()
    for i, key in enumerate(keys):
        page.keyboard.press(key)
        # the next clip has the focus and its audio is ready to play: a person could go on at once
        expect(current).to_have_attribute("data-item", ids[i + 1])  # type: ignore[arg-type]
        _ready(tab, i + 1)
    expect(page.locator("#voice-queue li.pending")).to_have_count(0)
    seconds = time.perf_counter() - t0
    with Catalog.open(config.catalog_path, readonly=True) as cat:
        stored = {k: v for k, v in cat.decisions("voice").items() if k in ids}
    word = {"a": "accept", "r": "reject", "s": "skip"}
    assert stored == {ids[i]: word[key] for i, key in enumerate(keys)}
    rate = len(keys) / seconds * 3600
    print(f"\n{len(keys)} keyboard decisions in {seconds:.2f} s: {rate:,.0f} decisions an hour possible")
    assert seconds < 60, seconds  # 300 an hour is 12 s a clip: 20 in 240 s; the page takes far less
    tab.clean()
