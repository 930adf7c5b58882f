"""The web app's browser tests: Debian's ``chromium`` driven by Playwright against a live
uvicorn server (the demo data seeded), one browser for the session and a fresh context
(cookies) per actor. SQLite run only: the pages add nothing database-specific over the
use-cases the API suites already run on PostgreSQL.

Every page an actor loads is checked with axe-core (no serious or critical violation),
and no page may log a Content-Security-Policy violation or a script error.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Response,
    ViewportSize,
    sync_playwright,
)

from tests.api.conftest import START, World, module_world
from tests.support.databases import DatabaseKind
from vault.seeding import demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
# Where the screenshots go: `make screenshots` sets docs/screenshots (the README's); a
# plain test run writes them to a temporary directory, leaving the working tree alone.
SCREENSHOTS_ENV = "CROSSVAULT_SCREENSHOTS"
CHECKED: set[tuple[str, str | None, str | None]] = set()  # the kinds of page axe has seen
PHONE: ViewportSize = {"width": 390, "height": 844}


# Module-scoped, not session-scoped: Playwright's sync API keeps an event loop running on
# the main thread while it is open, so asyncio.run in a later test of the same worker
# would fail ("cannot be called from a running event loop").
@pytest.fixture(scope="module")
def browser(db_kind: DatabaseKind) -> Iterator[Browser]:
    if db_kind != "sqlite":
        pytest.skip("browser tests run in the SQLite run only")
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def demo_world(
    request: pytest.FixtureRequest,
    db_kind: DatabaseKind,
    tmp_path_factory: pytest.TempPathFactory,
    browser: Browser,
) -> Iterator[World]:
    """A live server with the demo's people, professionals and records."""
    base = tmp_path_factory.mktemp("web")
    with module_world(request, db_kind, base, "web") as (world, _, _):
        assert demo.seed(world.vault, now=START)
        yield world


@dataclass
class Actor:
    """Someone at a browser: their own context (cookies), one tab."""

    base_url: str
    context: BrowserContext
    page: Page
    screenshots: Path
    problems: list[str] = field(default_factory=list)

    def goto(self, path: str) -> Response:
        response = self.page.goto(self.base_url + path)
        assert response is not None
        return response

    def accessible(self) -> None:
        """axe-core on the page as it stands: no serious or critical violation. (Run
        through the DevTools protocol: the page's own CSP still forbids injected code.)
        Each kind of page (its path without ids, its language, its message) is checked
        once per session."""
        kind = (
            re.sub(
                r"/[0-9a-f]{32}", "/{id}", self.page.url.split("?")[0].removeprefix(self.base_url)
            ),
            self.page.locator("html").get_attribute("lang"),
            self.problem_code(),
        )
        if kind in CHECKED:
            return
        CHECKED.add(kind)
        self.page.evaluate(AXE + "\n;0")
        found: list[dict[str, Any]] = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        )
        bad = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])})"
            for v in found
            if v.get("impact") in ("serious", "critical")
        ]
        assert not bad, f"{self.page.url}: {bad}"

    def screenshot(self, name: str) -> None:
        """The page in English and in 繁體中文 (through the page's own switch), then back."""
        folder = self.screenshots
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=folder / f"{name}.en.png", full_page=False)
        self.follow("繁體中文")
        assert self.page.locator("html").get_attribute("lang") == "zh-Hant"
        self.accessible()
        self.page.screenshot(path=folder / f"{name}.zh-Hant.png", full_page=False)
        self.follow("English")
        assert self.page.locator("html").get_attribute("lang") == "en"

    def press(self, name: str, within: Locator | None = None) -> None:
        """Click a form's button and wait for the page it leads to: a POST answered by a
        redirect and the GET that follows are one navigation, so nothing is read from
        the page being left."""
        with self.page.expect_navigation():
            (within or self.page).get_by_role("button", name=name).click()

    def follow(self, name: str, *, exact: bool | None = None) -> None:
        """Click a link and wait for the page it opens."""
        with self.page.expect_navigation():
            self.page.get_by_role("link", name=name, exact=exact).click()

    def problem_code(self) -> str | None:
        found = self.page.locator("[data-code]")
        return found.get_attribute("data-code") if found.count() else None

    def clean(self) -> None:
        assert not self.problems, self.problems


@pytest.fixture
def actors(browser: Browser, demo_world: World, tmp_path: Path) -> Iterator[Any]:
    base_url = str(demo_world.http.base_url).rstrip("/")
    screenshots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots")
    made: list[Actor] = []

    def new_actor() -> Actor:
        context = browser.new_context(viewport=PHONE, locale="en-GB")
        page = context.new_page()
        actor = Actor(base_url, context, page, screenshots)
        page.on(
            "console",
            lambda m: (
                actor.problems.append(m.text)
                if re.search(r"Content Security Policy|Refused to", m.text)
                else None
            ),
        )
        page.on("pageerror", lambda e: actor.problems.append(str(e)))
        made.append(actor)
        return actor

    yield new_actor
    for actor in made:
        actor.clean()
        actor.context.close()


def log_in_person(actor: Actor, username: str, password: str) -> None:
    actor.goto("/app/login")
    actor.accessible()
    actor.page.get_by_label("eHealth number (username)").fill(username)
    actor.page.get_by_label("Password").fill(password)
    actor.press("Log in")
    actor.page.wait_for_url("**/app/records")


def log_in_clinician(actor: Actor, institution_id: str, professional_id: str) -> None:
    client_id, secret = demo.CREDENTIALS[institution_id]
    actor.goto("/app/login?tab=clinician")
    actor.accessible()
    actor.page.get_by_label("Institution client id").fill(client_id)
    actor.page.get_by_label("Institution client secret").fill(secret)
    actor.page.get_by_label("Professional id").fill(professional_id)
    actor.press("Log in")
    actor.page.wait_for_url("**/app/clinician")
