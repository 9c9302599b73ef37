"""The Coding page in Debian's headless Chromium against the four real services.

One set of services per module (real uvicorn processes, real PostgreSQL and nats-server -js);
a fresh browser context per test. No browser is ever downloaded: Playwright drives
``/usr/bin/chromium``, which ``make install`` installs when it is missing.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from infra.embedded import EmbeddedNats, EmbeddedPostgres
from infra.supervisor import Stack

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots go to a temporary folder; AISCHOOL_SCREENSHOTS=docs/console refreshes the docs'.
SHOTS = Path(
    os.environ.get("AISCHOOL_SCREENSHOTS") or Path(tempfile.gettempdir(), "aischool-console")
)
WIDTHS = (1280, 820)

DIRECTORY: dict[str, Any] = {
    "schools": [
        {"school_id": "north", "name": "North College", "time_zone": "Europe/Amsterdam"},
        {"school_id": "south", "name": "South High", "time_zone": "America/New_York"},
    ],
    "users": [
        {
            "user_id": "t1",
            "role": "staff",
            "given_name": "Tess",
            "family_name": "Teacher",
            "school_ids": ["north"],
            "account": "tess@north.example",
        },
        {
            "user_id": "t2",
            "role": "staff",
            "given_name": "Tom",
            "family_name": "Unlinked",
            "school_ids": ["north"],
        },
        {
            "user_id": "s1",
            "role": "student",
            "given_name": "Ada",
            "family_name": "Alpha",
            "school_ids": ["north"],
            "account": "ada@north.example",
        },
        {
            "user_id": "s2",
            "role": "student",
            "given_name": "Bo",
            "family_name": "Beta",
            "school_ids": ["north"],
            "account": "bo@north.example",
        },
        {
            "user_id": "s3",
            "role": "student",
            "given_name": "Cy",
            "family_name": "Gamma",
            "school_ids": ["north"],
        },
        {
            "user_id": "s4",
            "role": "student",
            "given_name": "Di",
            "family_name": "Delta",
            "school_ids": ["north"],
            "account": "di@north.example",
        },
        {
            "user_id": "z1",
            "role": "staff",
            "given_name": "Zed",
            "family_name": "Southey",
            "school_ids": ["south"],
            "account": "zed@south.example",
        },
        {
            "user_id": "z2",
            "role": "student",
            "given_name": "Yan",
            "family_name": "Southey",
            "school_ids": ["south"],
            "account": "yan@south.example",
        },
    ],
    "groups": [
        {"group_id": "n-4a", "school_id": "north", "name": "4A", "student_ids": ["s1", "s2", "s3"]},
        {"group_id": "n-5b", "school_id": "north", "name": "5B", "student_ids": ["s4"]},
        {"group_id": "s-9", "school_id": "south", "name": "Nine", "student_ids": ["z2"]},
    ],
}


@dataclass
class Services:
    """The running services, the administrators' tokens and every key a test saw."""

    stack: Stack
    tokens: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports[service]}"

    def keys_api(self, who: str = "root") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return httpx.Client(base_url=self.url("keys"), headers=headers, timeout=60)

    def logs(self) -> str:
        folder = self.stack.data_dir / "logs"
        return "".join(p.read_text(errors="replace") for p in sorted(folder.glob("*.log")))


def poll(check: Callable[[], Any], timeout: float = 30) -> Any:
    """``check()``'s first truthy answer within ``timeout`` seconds (or its last answer)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture(scope="module")
def services(
    pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    """Keys, ledger, documents and gateway as processes, with a directory and three admins."""
    root = tmp_path_factory.mktemp("console")
    nats = EmbeddedNats(root / "nats")
    nats.start()
    database_url = pg_server.create_database(f"console_{os.getpid()}_{time.monotonic_ns()}")
    stack = Stack(root / "data", nats_url=nats.url, database_url=database_url)
    (root / "data").mkdir()
    os.environ["AISCHOOL_RENDER_PROCESSES"] = "0"  # read by the documents process: no pool to warm
    try:
        stack.start_services()
        stack.wait_ready(timeout=180)
        token = stack.bootstrap_admin()
        assert token is not None
        running = Services(stack, {"root": token})
        with running.keys_api() as api:
            # The token was made by another process: wait until the keys service's
            # projection has applied it (under load this takes a moment).
            assert poll(lambda: api.get("/schools").status_code == 200, timeout=60)
            assert api.post("/directory", json=DIRECTORY).status_code == 200
            for who, scope in (("north", ["north"]), ("doomed", ["north"])):
                made = api.post("/admins", json={"name": f"Admin {who}", "school_ids": scope})
                assert made.status_code == 201, made.text
                running.tokens[who] = made.json()["token"]
                running.tokens[f"{who}_id"] = made.json()["admin_id"]
        yield running
    finally:
        os.environ.pop("AISCHOOL_RENDER_PROCESSES", None)
        stack.stop()
        nats.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) that prefers English, 1280 px wide."""
    made = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True
    )
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, services: Services, who: str = "root") -> None:
    """Paste the administrator's token into the sign-in form."""
    page.goto(services.url("keys") + "/")
    page.get_by_label("Administrator token").fill(services.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/staff")


def assert_accessible(page: Page) -> None:
    """axe-core finds no serious or critical violation on what the page shows now."""
    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: {bad}"


def screenshot(page: Page, name: str) -> None:
    """``SHOTS/<name>-<width>.png`` at desktop and tablet width."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1280, "height": 900}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": size["height"]})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)
