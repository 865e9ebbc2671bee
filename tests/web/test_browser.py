"""The gallery in a real browser at phone size (Chromium from Debian, driven by Selenium with the
Debian chromedriver): the pages load with no Content-Security-Policy violation, "Paint this"
queues a job, the thumbnails show; screenshots (390×844) are left in the test's tmp folder.

Skipped where Chromium is not installed, unless STUDIO_TEST_REQUIRE_BROWSER is set (`make test`
installs it and sets it, as it does for PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.studio import Studio
from config.settings import Settings
from db.models import Job, JobKind
from tests.core.conftest import ALEX, make_studio, studio, with_model  # noqa: F401 (fixtures)
from tests.web.conftest import BOT_TOKEN, SECRET, painted
from tests.web.test_buying import telegram  # noqa: F401 (fixture: the stand-in Bot API)
from web.server import WebServer

pytestmark = pytest.mark.browser

PHONE = (390, 844)


def _binaries() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    return (browser, driver) if browser and driver else None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    found = _binaries()
    if found is None:
        if os.environ.get("STUDIO_TEST_REQUIRE_BROWSER"):
            pytest.fail("Chromium or chromedriver not found but STUDIO_TEST_REQUIRE_BROWSER is set")
        pytest.skip("Chromium is not installed (`make test` installs it: apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={PHONE[0]},{PHONE[1]}", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(argument)
    # a phone's viewport (a desktop window can't be made narrower than 500 px)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": PHONE[0], "height": PHONE[1], "pixelRatio": 1, "touch": True}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=found[1]))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _violations(driver: Any) -> list[str]:
    """Console lines that say the page's policy refused something (a script, a style, an image)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]]


def _until(condition: Any, seconds: float = 15) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _thumbnails_shown(driver: Any, seconds: float = 15) -> list[bool]:
    """Whether each thumbnail has loaded (waited for: they load lazily, after the page)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        shown = driver.execute_script("""
            return Array.from(document.querySelectorAll('ul.portraits img'))
                .map(image => image.complete && image.naturalWidth > 0);""")
        if (shown and all(shown)) or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


async def _in_browser(call: Any, *args: Any) -> Any:
    """Selenium blocks: it runs in a thread so the server (on this loop) answers meanwhile."""
    return await asyncio.to_thread(call, *args)


async def test_the_gallery_on_a_phone(studio: Studio, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    await with_model(studio)
    await painted(studio, count=3, aspects=("4:5", "1:1"))
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", web_host="127.0.0.1", web_port=_free_port(),  # type: ignore[call-arg]
                        web_secret=SECRET, web_url="")
    server = await WebServer.start(studio, settings)
    base = f"http://127.0.0.1:{settings.web_port}"
    try:
        link = await server.link_for(ALEX)
        assert link is not None
        await _in_browser(browser.get, base + link)
        assert await _in_browser(browser.find_elements, By.CSS_SELECTOR, "li.style") != []
        await _in_browser(browser.save_screenshot, str(tmp_path / "styles.png"))
        widths = await _in_browser(browser.execute_script,
                                   "return [window.innerWidth, document.documentElement.scrollWidth]")
        assert widths == [PHONE[0], PHONE[0]]  # a phone's width, and nothing wider: no sideways scrolling

        button = (await _in_browser(browser.find_elements, By.CSS_SELECTOR, "#style-dating-profile button"))[0]
        await _in_browser(button.click)
        assert await _in_browser(_until, lambda: browser.current_url.endswith("?n=queued"))
        assert "Queued!" in await _in_browser(lambda: browser.page_source)
        await _in_browser(browser.save_screenshot, str(tmp_path / "queued.png"))
        async with studio.database.read() as session:
            # the one painted before, and the one "Paint this" queued
            assert await session.scalar(select(func.count()).select_from(Job).where(Job.kind == JobKind.generate)) == 2

        await _in_browser(browser.get, f"{base}{link}portraits")
        shown = await _in_browser(_thumbnails_shown, browser)
        assert shown == [True, True, True]
        await _in_browser(browser.save_screenshot, str(tmp_path / "portraits.png"))
        assert await _in_browser(_violations, browser) == []
    finally:
        await server.close()
    for name in ("styles.png", "queued.png", "portraits.png"):
        assert (tmp_path / name).stat().st_size > 1000


#: Telegram's Mini App script as the page sees it inside the app: the initData Telegram signs, and an
#: invoice that shows and is paid when the test says so
FAKE_TELEGRAM = """
window.Telegram = {WebApp: {initData: %s, ready: function () {}, expand: function () {},
  openInvoice: function (link, done) { window.invoices = (window.invoices || []).concat([link]);
                                       window.pay = function () { done("paid"); }; }}};
"""


async def test_buying_credits_in_the_mini_app_on_a_phone(make_studio: Any, browser: Any, tmp_path: Path,  # noqa: F811
                                                          telegram: Any) -> None:
    import json

    from selenium.webdriver.common.by import By
    from sqlalchemy import update

    from db.models import User
    from tests.web.test_buying import PACKS
    from tests.web.test_languages import init_data

    studio = make_studio(credit_packs=PACKS, telegram_base_url=telegram.base_url)
    await with_model(studio)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", web_host="127.0.0.1", web_port=_free_port(),  # type: ignore[call-arg]
                        web_secret=SECRET, web_url="", telegram_token=BOT_TOKEN)
    server = await WebServer.start(studio, settings)
    base = f"http://127.0.0.1:{settings.web_port}"
    fake = FAKE_TELEGRAM % json.dumps(init_data(ALEX.user_id, "en"))
    await _in_browser(browser.execute_cdp_cmd, "Network.enable", {})
    await _in_browser(browser.execute_cdp_cmd, "Network.setBlockedURLs", {"urls": ["*telegram.org*"]})  # offline here
    await _in_browser(browser.execute_cdp_cmd, "Page.addScriptToEvaluateOnNewDocument", {"source": fake})
    try:
        await _in_browser(browser.get, f"{base}/app")  # the Mini App's door, then the gallery
        assert await _in_browser(_until, lambda: "/g/" in browser.current_url)
        buttons = await _in_browser(browser.find_elements, By.CSS_SELECTOR, "#buy button.pack")
        assert [await _in_browser(lambda b=b: b.text) for b in buttons] == ["10 credits · 250 ⭐", "50 credits · 1,000 ⭐"]
        assert all([await _in_browser(lambda b=b: b.is_displayed()) for b in buttons])
        widths = await _in_browser(browser.execute_script,
                                   "return [window.innerWidth, document.documentElement.scrollWidth]")
        assert widths == [PHONE[0], PHONE[0]]
        await _in_browser(browser.save_screenshot, str(tmp_path / "buy.png"))

        await _in_browser(buttons[1].click)
        assert await _in_browser(_until, lambda: browser.execute_script("return (window.invoices || []).length") == 1)
        assert telegram.invoice_links[0]["payload"] == f"pack:big:50:1000:{ALEX.user_id}"
        async with studio.database.transaction() as session:  # the bot credits the payment
            await session.execute(update(User).where(User.platform_user_id == ALEX.user_id).values(credits=53))
        await _in_browser(browser.execute_script, "window.pay()")
        assert await _in_browser(_until, lambda: browser.execute_script(
            "return document.querySelector('#credits b').textContent") == "53")
        assert await _in_browser(_violations, browser) == []
    finally:
        await server.close()
    assert (tmp_path / "buy.png").stat().st_size > 1000
