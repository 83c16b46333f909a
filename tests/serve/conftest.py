"""Fixtures of the dashboard's browser tests (see tests/serve/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve import browser as chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[chromium.Browser]:
    yield from chromium.browser_fixture()


@pytest.fixture()
def tab(browser: chromium.Browser) -> Iterator[chromium.Watched]:
    yield from chromium.tab_fixture(browser)


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chromium.screens_folder(tmp_path_factory)
