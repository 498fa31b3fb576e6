"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium through
Debian's ChromeDriver (never a download: both paths are given, Selenium Manager stays
offline), against the real app on uvicorn over loopback, after a short demo-like
simulation. An admin logs in with an API token, sees the positions with their stops
and the equity chart, follows the live feed and approves a pending proposal (made by a
trader through the proposal desk) with a TOTP code; a viewer's kill is refused with its
code. Screenshots, desktop and phone width, go to var/artifacts/screenshots/.

Skipped only when Chromium is missing and CI is not set; under CI a missing browser fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.api.context import FeedOptions
from tests.conftest import REPO_ROOT
from tests.integration.api.kit import (
    SIM_NAME,
    LiveServer,
    Operators,
    api_settings,
    clean_environment,
    live_app,
    simulate,
    totp,
)
from tests.unit.workflows.operator_kit import Clock
from workflows.operators import Role

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = REPO_ROOT / "var" / "artifacts" / "screenshots"
DESKTOP, PHONE = (1280, 1800), (390, 844)
WAIT_S = 45


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if not missing:
        return
    reason = f"missing {', '.join(missing)} (apt-get install chromium chromium-driver)"
    if in_ci():
        pytest.fail(f"CI is set and the browser test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, clock: Clock
) -> Iterator[tuple[LiveServer, Operators]]:
    require_browser()
    state_dir = tmp_path_factory.mktemp("browser") / "var"
    feed = FeedOptions(heartbeat_s=1.0, poll_s=0.3, backlog=10)
    roles = {"ada": Role.ADMIN, "tom": Role.TRADER, "vic": Role.VIEWER}
    with clean_environment():
        simulate(state_dir)
        with live_app(api_settings(state_dir), clock, feed=feed, **roles) as pair:
            yield pair


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    viewport(driver, *DESKTOP)
    try:
        yield driver
    finally:
        driver.quit()


def viewport(driver: Any, width: int, height: int) -> None:
    """The page's viewport at exactly this CSS size. Headless Chromium makes no window
    narrower than 500 px (a 390 px window has a 500 px page), so the size is set through
    the DevTools device metrics: a phone is a mobile viewport of its own width."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)


def shot(driver: Any, name: str, *, full: bool = False) -> Path:
    """A screenshot artefact; ``full``: the whole page at the current width (the viewport
    is made as tall as the page for it, then put back)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    width, height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    if full:
        page = driver.execute_script("return document.documentElement.scrollHeight")
        viewport(driver, width, min(int(page), 8000))
    driver.save_screenshot(str(path))
    if full:
        viewport(driver, width, height)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def wait_for(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition)


def refusal_code(driver: Any) -> str | None:
    """The code the dialog shows for a refused call (None while there is none)."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "ask-error").get_attribute("data-code")  # type: ignore[no-any-return]


def log_in(driver: Any, url: str, token: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "login-button").click()
    wait_for(driver, lambda d: d.find_elements(By.ID, "panel-positions"))


def pending_proposal(server: LiveServer, ops: Operators) -> str:
    """A trader proposes a strategy change through the API: the proposal desk validates
    it and backtests it as evidence; it waits for an admin."""
    body = {"changes": {"strategy.momentum.lookback": 30}, "reason": "slower momentum"}
    r = httpx.post(
        server.url + "/api/v1/proposals", json=body, headers=ops.header("tom"), timeout=120
    )
    assert r.status_code == 200, r.text
    proposal = r.json()["data"]["proposal"]
    assert proposal["status"] == "pending"
    return str(proposal["id"])


def test_dashboard_when_admin_logs_in_then_positions_equity_feed_and_totp_approval(
    live: tuple[LiveServer, Operators], browser: Any, clock: Clock
) -> None:
    from selenium.webdriver.common.by import By

    server, ops = live
    pid = pending_proposal(server, ops)
    browser.get(server.url + "/")
    shot(browser, "login-desktop")
    log_in(browser, server.url, ops.tokens["ada"])

    banner = browser.find_element(By.ID, "source-banner")
    assert banner.get_attribute("data-source") == f"simulation:{SIM_NAME}"
    rows = browser.find_elements(By.CSS_SELECTOR, "#positions-table tbody tr")
    assert rows and rows[0].get_attribute("data-symbol") == "GOOG"
    stop = rows[0].find_element(By.CSS_SELECTOR, "td.stop").text
    assert stop.replace(",", "").replace(".", "").isdigit(), stop
    chart = browser.find_element(By.ID, "equity-chart")
    assert chart.get_attribute("data-points") == "4" and chart.size["width"] > 300
    assert browser.find_element(By.ID, "drawdown-chart").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, 'details.desk[data-desk="strategy"]')
    closed = browser.find_element(By.CSS_SELECTOR, "details.desk:not([open])")
    assert closed.size["height"] < 80, "a closed desk is stretched to its open neighbour"
    wait_for(browser, lambda d: d.find_element(By.ID, "feed-status").get_attribute("data-live"))
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#feed-list li")) >= 10)
    shot(browser, "dashboard-desktop", full=True)

    # At phone width the proposal's evidence (five columns) fits without scrolling.
    viewport(browser, *PHONE)
    assert browser.execute_script("return window.innerWidth") == PHONE[0]
    evidence = browser.find_element(By.CSS_SELECTOR, f'[data-proposal="{pid}"] .evidence .scroll')
    fits = "return [arguments[0].scrollWidth, arguments[0].clientWidth]"
    scroll_width, client_width = browser.execute_script(fits, evidence)
    assert scroll_width <= client_width, f"evidence {scroll_width}px in {client_width}px"
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", evidence)
    shot(browser, "proposal-evidence-phone")
    viewport(browser, *DESKTOP)

    # A wrong code first: the dialog shows the service's refusal and nothing is approved.
    browser.find_element(By.CSS_SELECTOR, f'button[data-approve="{pid}"]').click()
    code_box = browser.find_element(By.ID, "ask-totp")
    code_box.send_keys("000000" if totp(ops.secrets["ada"], clock) != "000000" else "111111")
    browser.find_element(By.ID, "ask-confirm").click()
    error = wait_for(
        browser, lambda d: d.find_element(By.ID, "ask-error").get_attribute("data-code")
    )
    assert error == "TOTP_INVALID"
    shot(browser, "approve-wrong-code")
    clock.advance(seconds=30)
    code_box.clear()
    code_box.send_keys(totp(ops.secrets["ada"], clock))
    browser.find_element(By.ID, "ask-confirm").click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'li[data-proposal="{pid}"]'))
    decided = browser.find_element(By.CSS_SELECTOR, f'li[data-proposal="{pid}"]')
    assert decided.get_attribute("data-status") == "approved"
    flash = browser.find_element(By.ID, "flash")
    assert "approved" in flash.text
    shot(browser, "proposal-approved")
    flash.click()  # sticky over the page: dismissed on a click
    assert not flash.is_displayed()
    stored = httpx.get(f"{server.url}/api/v1/proposals/{pid}", headers=ops.header("vic"))
    assert stored.json()["data"]["proposal"]["decided_by"] == "ada"

    viewport(browser, *PHONE)
    browser.refresh()
    wait_for(browser, lambda d: d.find_elements(By.ID, "positions-table"))
    width = browser.execute_script("return document.documentElement.scrollWidth")
    inner = browser.execute_script("return window.innerWidth")
    assert inner == PHONE[0] and width <= inner, (
        f"the page scrolls sideways at {inner}px: {width}px wide"
    )
    assert browser.find_element(By.CSS_SELECTOR, "#positions-table td.stop").is_displayed()
    assert browser.find_element(By.ID, "kill-button").is_displayed()
    shot(browser, "dashboard-phone")
    shot(browser, "dashboard-phone-full", full=True)


def test_dashboard_when_viewer_presses_kill_then_refusal_code_shown_and_state_unchanged(
    live: tuple[LiveServer, Operators], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    server, ops = live
    control = server.ctx.service.control
    before = control.status()
    viewport(browser, *PHONE)
    log_in(browser, server.url, ops.tokens["vic"])
    browser.find_element(By.ID, "kill-button").click()
    browser.find_element(By.ID, "ask-reason").send_keys("panic")
    browser.find_element(By.ID, "ask-confirm").click()
    code = wait_for(
        browser, lambda d: d.find_element(By.ID, "ask-error").get_attribute("data-code")
    )
    assert code == "ROLE_FORBIDDEN"
    assert "needs=trader" in browser.find_element(By.ID, "ask-error").text
    shot(browser, "viewer-kill-refused-phone")
    assert control.status() == before and not control.status().kill_switch
    state = browser.find_element(By.ID, "trading-state").get_attribute("data-kill")
    assert state == "off"
