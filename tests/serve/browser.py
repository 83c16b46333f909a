"""Shared by the dashboard's browser tests: the system Chromium (Debian's, installed by .ci/run;
Playwright downloads none), pages that collect console errors and uncaught exceptions, and the
module-wide browser, tab and screenshot fixtures (tests/serve/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
PLANTED = ("AKIAQ3EGUFYP7XLMN2RT", "Tr0ub4dor-3", "dana.w@example-family.org")


def launch(playwright: Playwright) -> Browser:
    """The system Chromium, headless (shared with test_xss)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class Watched:
    """A page with its console errors and uncaught exceptions collected."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def goto(self, url: str, status: int = 200) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status == status, (url, response and response.status)

    def clean(self) -> None:
        assert not self.errors, self.errors


def watch(browser: Browser) -> Watched:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    watched = Watched(page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(f"console: {message.text} ({page.url})")

    page.on("console", console)
    page.on("pageerror", lambda e: watched.errors.append(f"pageerror: {e} ({page.url})"))
    return watched


def browser_fixture() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


def tab_fixture(browser: Browser) -> Iterator[Watched]:
    watched = watch(browser)
    yield watched
    watched.page.context.close()


def screens_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("SAMDATA_SCREENSHOTS") or tmp_path_factory.mktemp("screens"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {folder}")
    return folder
