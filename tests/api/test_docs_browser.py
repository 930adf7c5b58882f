"""``/docs`` and ``/redoc`` work on a machine without internet (issue 17, items 1 and 2).

Debian's chromium (``make chromium``), driven by Playwright, loads the pages from the live
server with every host but the loopback unresolvable (``--host-resolver-rules``), and every
request the page makes is recorded: none may leave 127.0.0.1. Swagger UI must render every
operation, its Authorize dialog must obtain a citizen's token through the password flow,
and "Try it out" must then call ``GET /v1/me`` with it. ReDoc must render the operations
too. Browser tests run in the SQLite run only.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.api.conftest import PASSWORD, World
from tests.support.databases import DatabaseKind

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


@pytest.fixture(scope="module")
def browser(db_kind: DatabaseKind) -> Iterator[Browser]:
    if db_kind != "sqlite":
        pytest.skip("browser tests run in the SQLite run only")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page, and every URL it requested."""
    context = browser.new_context()
    opened = context.new_page()
    asked: list[str] = []
    opened.on("request", lambda request: asked.append(request.url))
    try:
        yield opened, asked
    finally:
        context.close()


def _outside(asked: list[str]) -> list[str]:
    return [
        url
        for url in asked
        if urlsplit(url).scheme not in ("data", "blob", "about")
        and urlsplit(url).hostname != "127.0.0.1"
    ]


def _operations(world: World) -> set[str]:
    """Every operation, as Swagger UI names its block: ``operations-<tag>-<operationId>``."""
    spec = world.http.get("/openapi.json").json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {
        f"operations-{operation['tags'][0]}-{operation['operationId']}"
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in methods
    }


def test_swagger_ui_renders_offline_and_its_authorize_button_logs_in(
    world: World, page: tuple[Page, list[str]]
) -> None:
    tab, asked = page
    pid, _ = world.person()
    base = str(world.http.base_url).rstrip("/")
    tab.goto(f"{base}/docs")
    tab.wait_for_selector(".opblock", timeout=30_000)
    rendered = set(tab.eval_on_selector_all(".opblock", "blocks => blocks.map(b => b.id)"))
    assert _operations(world) <= rendered, sorted(_operations(world) - rendered)
    assert tab.get_by_text("Obtain an access token").count() >= 1

    tab.click("button.btn.authorize")
    citizen = tab.locator(".auth-container").filter(has_text="citizen (OAuth2, password)")
    citizen.locator("#oauth_username").fill(pid)
    citizen.locator("#oauth_password").fill(PASSWORD)
    citizen.locator("button.authorize").click()
    citizen.locator("button", has_text="Logout").wait_for(timeout=15_000)
    tab.click("button.btn-done")

    me = tab.locator(".opblock-get").filter(
        has=tab.locator(".opblock-summary-path[data-path='/v1/me']")
    )
    me.locator(".opblock-summary").click()
    me.locator("button.try-out__btn").click()
    with tab.expect_response(f"{base}/v1/me") as answered:
        me.locator("button.execute").click()
    response = answered.value
    assert response.status == 200
    assert response.request.headers["authorization"].startswith("Bearer ")
    assert response.json()["id"] == pid
    assert f"{base}/v1/auth/token" in asked
    assert not _outside(asked), _outside(asked)


def test_redoc_renders_offline(world: World, page: tuple[Page, list[str]]) -> None:
    tab, asked = page
    base = str(world.http.base_url).rstrip("/")
    tab.goto(f"{base}/redoc")
    tab.locator("h2", has_text="Obtain an access token").first.wait_for(timeout=30_000)
    assert tab.locator("[data-section-id^='operation/']").count() >= len(_operations(world))
    assert not _outside(asked), _outside(asked)
