"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

`playwright install` cannot download browsers here; Debian's /usr/bin/chromium is used
instead (FACTS.md). Every page is watched for Content-Security-Policy violations and
script errors, so an inline script or style slipping into a template fails the test that
rendered it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between page actions are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def http_live_server_settings(settings):
    # The live server speaks plain http on localhost; the production cookie flags would
    # keep urllib from sending the session, and users are made fast.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Problems(list):
    def check(self):
        assert not self, "the browser reported: " + " | ".join(self)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    problems = Problems()

    def on_console(msg):
        if msg.type == "error" and "favicon" not in (msg.location or {}).get("url", ""):
            problems.append(msg.text)

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    tab.problems = problems
    yield tab
    context.close()
    problems.check()


@pytest.fixture
def log_in(live_server):
    """Log in through the login form, as a person would."""
    from tests.conftest import PASSWORD

    def as_user(page, user, *, then: str = "/review/"):
        page.goto(f"{live_server.url}/login/?next={then}")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", PASSWORD)
        # The next page, not the login page's own load state: a key pressed before the
        # redirect lands would go to the login page.
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    return as_user


@pytest.fixture
def screenshot():
    def take(page, name: str):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    return take


@pytest.fixture
def lua(transactional_db):
    """The Lua pack in the database, committed so the live server sees it. (The shared
    fixture relies on the `db` fixture's surrounding transaction for the pack's row lock.)"""
    from django.db import transaction

    from curation.actions import _store_pack
    from curation.packs import read_pack
    from tests.conftest import LUA_PACK

    with transaction.atomic():
        return _store_pack(read_pack(LUA_PACK)).language
