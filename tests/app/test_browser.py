"""A person's path through the demo in headless Chromium (Debian's, installed by tests/install_browser.sh)."""

import os
import shutil
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.conftest import REAL_PNG

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_upload_describe_generate_in_a_browser(server, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server)
        expect(page.get_by_text("Research use only").first).to_be_visible(timeout=60_000)
        page.locator("#upload input[type=file]").set_input_files(str(REAL_PNG))
        expect(page.locator("#upload").get_by_text(REAL_PNG.name)).to_be_visible(timeout=60_000)
        page.locator("#instruction textarea").fill("new moderate left pleural effusion")
        page.locator("#generate").click()
        result = page.locator("#result img")
        expect(result.first).to_be_visible(timeout=180_000)
        expect(page.get_by_text("Generated from:")).to_be_visible(timeout=60_000)
        shot = tmp_path / "demo.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        if os.environ.get("MEDJOURNEY_SCREENSHOT"):
            Path(os.environ["MEDJOURNEY_SCREENSHOT"]).write_bytes(shot.read_bytes())
        browser.close()
