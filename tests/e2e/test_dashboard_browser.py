"""The status page in a real browser: headless Chromium loads `GET /api/dashboard` from devhost,
searches a number, sees its trace, and a screenshot is written. Skipped, with the reason, where
Chromium or its driver is missing (`apt-get install chromium chromium-driver`; `.ci/run` does)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.devhosts import running_devhost
from tests.reliability.estate import converge

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / ".run" / "screenshots"
NUMBER = "+14155550105"
HOSTILE = "<script>document.title='owned'</script><b>bold</b>"


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("headless Chromium is not installed: apt-get install chromium chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed: pip install -r requirements-dev.txt")
    return chromium, driver


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="byoc-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1800",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(120)
    try:
        yield chrome
    finally:
        chrome.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_status_page_searches_a_number_and_shows_its_trace(
    sandbox_env: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    from byoc.bootstrap import get_services

    services = get_services()
    converge(services)
    # A vendor-supplied text with markup: the page must show it as text, never run it.
    services.state.put("health", "sbc:hostile", {"status": "degraded", "reason": HOSTILE,
                                                 "checked_at": "2026-01-01T00:00:00+00:00"})
    with running_devhost(tmp_path) as host:
        browser.get(f"http://127.0.0.1:{host.port}/api/dashboard")
        assert browser.title == "byoc status"
        headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
        for section in ("Numbers by state", "Targets", "Health", "Certificates", "Queue",
                        "Recent operations"):
            assert section in headings
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "sbc:sbc1" in page and "genesys" in page  # per-target convergence
        assert HOSTILE in page and not browser.find_elements(By.TAG_NAME, "script")

        field = browser.find_element(By.ID, "number")
        field.clear()
        field.send_keys(NUMBER)
        browser.find_element(By.CSS_SELECTOR, "#trace-form button").click()
        # The trace reads every vendor before its page loads: wait for it, not a fixed time.
        WebDriverWait(browser, 120).until(expected_conditions.any_of(
            expected_conditions.presence_of_element_located((By.ID, "verdict")),
            expected_conditions.presence_of_element_located((By.ID, "trace-error"))))
        errors = [e.text for e in browser.find_elements(By.ID, "trace-error")]
        assert not errors, errors

        verdict = browser.find_element(By.ID, "verdict").text
        trace = browser.find_element(By.ID, "trace").text
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "dashboard-trace.png"
        assert browser.save_screenshot(str(shot)), "no screenshot written"
        print(f"screenshot: {shot}")
    assert f"Trace of {NUMBER}" in trace
    assert verdict == "path OK: every hop checks out", trace
    for hop in ("twilio: number", "sbc:sbc1: dial plan", "sbc:sbc1: IP-to-IP route",
                "genesys: DID pool", "genesys: routing", "tls:sbc1: certificate"):
        assert hop in trace
    assert shot.stat().st_size > 10_000
