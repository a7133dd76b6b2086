"""Debian's headless Chromium, driven with Playwright, to open the pages the grader writes."""

from __future__ import annotations

import os
import shutil

import pytest

# Headless as root, on a machine without network: no sandbox of Chromium's own, no background traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


def chromium_page():
    """A page of Debian's headless Chromium; a skip without it, a failure in CI."""
    chromium = shutil.which("chromium")
    if not chromium:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI: scripts/browser.sh should have installed it")
        pytest.skip("no Chromium here: ./scripts/browser.sh installs it")
    from playwright.sync_api import sync_playwright
    return chromium, sync_playwright
