"""Debian's headless Chromium under Selenium (with Debian's chromedriver), for the playground page's tests.

`make test` installs `chromium` and `chromium-driver` when it runs as root; elsewhere, a missing browser, driver or
selenium is a skip that names what is missing and how to install it. Nothing is downloaded: Selenium gets both paths,
so its driver manager never runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# As root in a closed network: no sandbox, no GPU, and none of Chromium's own connections (they would be refused).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
)
WAIT_SECONDS = 30.0  # the longest any page condition is waited for


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return f"{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver (make test does)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is missing: pip install -e '.[dev]'"
    return None


@contextlib.contextmanager
def headless_chromium() -> Iterator:
    """A Selenium Chrome driver on Debian's Chromium with a fresh profile; skips the test if there is none."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="playground-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def keys():
    """Selenium's key names (Keys.CONTROL, Keys.ENTER), imported only where the browser tests run."""
    from selenium.webdriver.common.keys import Keys

    return Keys


def wait_for(driver, condition, message: str, timeout: float = WAIT_SECONDS):
    """Poll `condition(driver)` until it is truthy (its value) or fail the test with `message`."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)
    except TimeoutException:
        pytest.fail(f"{message} (waited {timeout:.0f} s)")
