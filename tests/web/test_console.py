"""Every flow of the Coding page, as an administrator clicks (or types) through it."""

from __future__ import annotations

import io
import signal
import uuid

import httpx
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect
from pypdf import PdfReader

from contracts.apikeys import KEY_PATTERN
from services.keys.web.guard import COOKIE
from tests.web.conftest import Services, assert_accessible, poll, screenshot, sign_in


def row(page: Page, name: str) -> Locator:
    return page.locator("#people tbody tr").filter(has=page.get_by_role("rowheader", name=name))


def gateway_refuses(services: Services, key: str) -> bool:
    """True once the gateway answers 401 to this key."""
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.get(services.url("gateway") + "/v1/models", headers=headers).status_code == 401


def mark_page(page: Page) -> None:
    """A marker that a reload would lose: proves a list updated in place."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


def test_staff_tab_lists_the_schools_staff_and_says_why_an_unlinked_user_has_no_key(
    page: Page, services: Services
) -> None:
    sign_in(page, services)
    expect(page.get_by_role("heading", name="Staff")).to_be_visible()
    expect(row(page, "Tess Teacher")).to_contain_text("tess@north.example")
    expect(
        row(page, "Tess Teacher").get_by_role("button", name="New key for Tess Teacher")
    ).to_be_visible()
    unlinked = row(page, "Tom Unlinked")
    expect(unlinked).to_contain_text("not linked: no key possible")
    expect(unlinked.get_by_role("button")).to_have_count(0)
    expect(row(page, "Zed Southey")).to_be_visible()  # an all-schools administrator
    assert_accessible(page)
    screenshot(page, "staff-tab")


def test_students_tab_picks_a_group_searches_and_sorts(page: Page, services: Services) -> None:
    sign_in(page, services)
    page.get_by_role("link", name="Students").click()
    page.get_by_label("Group", exact=True).select_option("n-4a")
    expect(page.get_by_role("heading", name="Students: 4A")).to_be_visible()
    names = page.locator("#people tbody th")
    expect(names).to_have_text(["Ada Alpha", "Bo Beta", "Cy Gamma"])
    page.get_by_label("Sort by").select_option("name")
    page.get_by_label("Order").select_option("desc")
    page.get_by_role("button", name="Search").click()
    expect(names).to_have_text(["Cy Gamma", "Bo Beta", "Ada Alpha"])
    page.get_by_label("Search name, username or account").fill("bo@north")
    page.get_by_role("button", name="Search").click()
    expect(names).to_have_text(["Bo Beta"])
    page.get_by_label("Search name, username or account").fill("gamma")
    page.get_by_role("button", name="Search").click()
    expect(names).to_have_text(["Cy Gamma"])
    assert_accessible(page)


def test_a_new_key_is_shown_once_and_gone_after_the_dialog_closes(
    page: Page, context: BrowserContext, services: Services
) -> None:
    sign_in(page, services)
    mark_page(page)
    row(page, "Tess Teacher").get_by_role("button", name="New key for Tess Teacher").click()
    dialog = page.get_by_role("dialog", name="New key for Tess Teacher")
    expect(dialog.get_by_label("Start (Europe/Amsterdam, optional)")).to_be_visible()
    dialog.get_by_label("Budget (USD)").fill("12.50")
    dialog.get_by_label("Renewal").select_option("weekly")
    dialog.get_by_label("End (Europe/Amsterdam, optional)").fill("2031-06-30T17:00")
    dialog.get_by_role("button", name="Save").click()
    shown = dialog.locator("#new-key")
    expect(shown).to_have_text(KEY_PATTERN)
    key = shown.inner_text()
    services.secrets.append(key)
    expect(dialog).to_contain_text("cannot be shown again")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    dialog.get_by_role("button", name="Copy key").click()
    expect(dialog.get_by_role("status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert_accessible(page)
    screenshot(page, "key-dialog-new-key")

    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#new-key")).to_have_count(0)
    assert key not in page.content()
    assert key not in page.url
    storage = page.evaluate("JSON.stringify([localStorage, sessionStorage])")
    assert key not in storage and storage == "[{},{}]"
    assert all(key not in c["value"] for c in context.cookies())
    tess = row(page, "Tess Teacher")
    expect(tess).to_contain_text("active")
    expect(tess).to_contain_text("12.50")
    expect(tess).to_contain_text("until 2031-06-30 17:00")
    expect(tess).to_contain_text("Europe/Amsterdam")
    assert not_reloaded(page)

    # The key works at the gateway: the page issued a real key.
    models = httpx.get(
        services.url("gateway") + "/v1/models", headers={"Authorization": f"Bearer {key}"}
    )
    assert models.status_code == 200

    # Replacing it: the same dialog, a different key, the old one revoked in the same step.
    tess.get_by_role("button", name="Replace the key of Tess Teacher").click()
    dialog = page.get_by_role("dialog", name="Replace the key of Tess Teacher")
    expect(dialog.locator("#new-key")).to_have_count(0)  # the first key is not shown again
    dialog.get_by_label("Budget (USD)").fill("7.00")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#new-key")).to_have_text(KEY_PATTERN)
    second = dialog.locator("#new-key").inner_text()
    services.secrets.append(second)
    assert second != key
    dialog.get_by_role("button", name="Close").click()
    expect(page.locator("#new-key")).to_have_count(0)
    expect(tess).to_contain_text(second[-4:])
    expect(tess).to_contain_text("7.00")
    assert second not in page.content()
    assert poll(lambda: gateway_refuses(services, key), timeout=5), "the replaced key still works"

    # Revoking it: a confirmation that names one key, then the row updates in place.
    tess.get_by_role("button", name="Revoke: Tess Teacher").click()
    confirm = page.get_by_role("dialog", name="Revoke keys")
    expect(confirm).to_contain_text("This revokes 1 key: Tess Teacher")
    assert_accessible(page)
    confirm.get_by_role("button", name="Revoke").click()
    expect(row(page, "Tess Teacher")).to_contain_text("revoked")
    assert not_reloaded(page)
    assert poll(lambda: gateway_refuses(services, second), timeout=5), "revoked, still works"


def test_a_groups_keys_come_as_a_pdf_sheet_and_the_group_can_be_revoked(
    page: Page, services: Services
) -> None:
    sign_in(page, services)
    page.goto(services.url("keys") + "/console/students?group=n-4a")
    mark_page(page)
    page.get_by_role("button", name="Create keys for this group").click()
    dialog = page.get_by_role("dialog", name="Keys for group 4A")
    dialog.get_by_label("Budget (USD)").fill("3.00")
    dialog.get_by_label("Renewal").select_option("monthly")
    expect(dialog.get_by_label("Start (Europe/Amsterdam, optional)")).to_be_visible()
    dialog.get_by_role("button", name="Next").click()
    expect(dialog).to_contain_text("Budget (USD): 3.00 · Renewal: monthly")
    expect(dialog).to_contain_text("2 key(s) will be made, for: Ada Alpha, Bo Beta.")
    expect(dialog).to_contain_text("Skipped: Cy Gamma (no linked account).")
    assert_accessible(page)
    screenshot(page, "group-confirmation")

    with page.expect_download(timeout=90_000) as download_info:
        dialog.get_by_role("button", name="Create keys").click()
    download = download_info.value
    assert download.suggested_filename == "keys-n-4a.pdf"
    pdf = PdfReader(io.BytesIO(download.path().read_bytes()))
    text = "".join(p.extract_text() for p in pdf.pages)
    printed = set(KEY_PATTERN.findall(text.replace("\n", "")))
    assert len(printed) == 2, text
    services.secrets.extend(printed)
    expect(dialog).to_contain_text("2 key(s) made")
    link = dialog.get_by_role("link", name="Open the key sheet again")
    sheet_url = link.get_attribute("href") or ""
    assert sheet_url.startswith("blob:")
    expect(row(page, "Ada Alpha")).to_contain_text("active")
    expect(row(page, "Bo Beta")).to_contain_text("active")
    expect(row(page, "Cy Gamma")).to_contain_text("no key")
    screenshot(page, "group-with-keys-dialog")
    dialog.get_by_role("button", name="Close").click()
    revoked = page.evaluate("url => fetch(url).then(() => false, () => true)", sheet_url)
    assert revoked, "the PDF's blob URL outlived its dialog"
    for text_found in printed:
        assert text_found not in page.content()
    assert_accessible(page)
    screenshot(page, "group-with-keys")

    # Revoke the whole group: the dialog counts the keys, the list updates in place.
    page.get_by_role("button", name="Revoke this group's keys").click()
    confirm = page.get_by_role("dialog", name="Revoke keys")
    expect(confirm).to_contain_text("This revokes 2 key(s): Ada Alpha, Bo Beta.")
    confirm.get_by_role("button", name="Revoke").click()
    expect(row(page, "Ada Alpha")).to_contain_text("revoked")
    expect(row(page, "Bo Beta")).to_contain_text("revoked")
    assert not_reloaded(page)
    page.get_by_role("button", name="Revoke this group's keys").click()
    expect(confirm).to_contain_text("This group has no keys to revoke.")
    expect(confirm.get_by_role("button", name="Revoke")).to_be_disabled()
    page.keyboard.press("Escape")


def test_usage_chats_and_requests_show_real_gateway_traffic(page: Page, services: Services) -> None:
    with services.keys_api() as api:
        made = api.post("/users/s4/keys", json={"budget_usd": "1.00", "renewal": "daily"})
        assert made.status_code == 201, made.text
    key, key_id = made.json()["key"], made.json()["key_id"]
    services.secrets.append(key)
    gateway = services.url("gateway") + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {key}"}
    for prompt in ("Write a function that adds two numbers", "Now add a docstring"):
        messages = [{"role": "user", "content": prompt}]
        reply = httpx.post(gateway, headers=headers, json={"model": "demo", "messages": messages})
        assert reply.status_code == 200, reply.text
    with httpx.Client(
        base_url=services.url("ledger"),
        headers={"Authorization": f"Bearer {services.tokens['root']}"},
    ) as ledger:
        seen = poll(
            lambda: (
                ledger.get("/reports/keys", params={"key_id": key_id}).json()["total"]["requests"]
                == 2
            )
        )
    assert seen, "the ledger never saw both requests"

    sign_in(page, services)
    page.goto(services.url("keys") + "/console/students?group=n-5b")
    expect(row(page, "Di Delta")).not_to_contain_text("never")  # last use from the ledger
    page.get_by_role("link", name="Usage of group 5B").click()
    expect(page.get_by_role("heading", name="Usage of group 5B")).to_be_visible()
    usage_row = page.locator("table.usage tbody tr").filter(has_text="Di Delta")
    expect(usage_row.locator("td").first).to_have_text("2")
    expect(page.get_by_role("columnheader", name="Last use (Europe/Amsterdam)")).to_be_visible()
    expect(page.get_by_role("img", name="Cost per day")).to_be_visible()
    expect(
        page.get_by_role("heading", name="Cost per day (USD, days in Europe/Amsterdam)")
    ).to_be_visible()
    assert_accessible(page)
    screenshot(page, "usage-group")

    page.get_by_role("link", name="Di Delta").click()
    expect(page.get_by_role("heading", name="Usage of Di Delta")).to_be_visible()
    expect(page.get_by_role("img", name="Cost per day")).to_be_visible()
    page.get_by_role("link", name="Chats of key").click()
    chats = page.locator("table.chats tbody tr")
    expect(chats).to_have_count(2)
    assert_accessible(page)
    page.get_by_role("link", name="Write a function that adds two numbers").click()
    expect(page.get_by_role("heading", name="Requests of the chat")).to_be_visible()
    expect(page.locator("table.requests tbody tr")).to_have_count(1)
    expect(page.locator("table.requests tbody tr")).to_contain_text("demo")
    assert_accessible(page)


def test_the_language_switch_only_returns_to_this_site(services: Services) -> None:
    for outside in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        response = httpx.get(
            services.url("keys") + "/console/language/en", params={"back": outside}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/console/staff"


def test_dutch_by_browser_language_and_english_by_the_switch(
    browser: Browser, services: Services
) -> None:
    context = browser.new_context(
        locale="nl-NL", extra_http_headers={"Accept-Language": "nl-NL,nl;q=0.9"}
    )
    try:
        page = context.new_page()
        page.goto(services.url("keys") + "/")
        page.get_by_label("Beheerderstoken").fill(services.tokens["root"])
        page.get_by_role("button", name="Inloggen").click()
        expect(page.get_by_role("heading", name="Medewerkers")).to_be_visible()
        expect(row(page, "Tom Unlinked")).to_contain_text("niet gekoppeld")
        assert page.evaluate("document.documentElement.lang") == "nl"
        assert_accessible(page)
        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", name="Staff")).to_be_visible()
        page.get_by_role("link", name="Students").click()
        expect(page.get_by_role("button", name="Create keys for this group")).to_be_visible()
        page.get_by_role("link", name="Nederlands").click()
        expect(page.get_by_role("button", name="Sleutels maken voor deze groep")).to_be_visible()
    finally:
        context.close()


def test_a_scoped_administrator_sees_only_its_own_school(page: Page, services: Services) -> None:
    sign_in(page, services, "north")
    expect(row(page, "Tess Teacher")).to_be_visible()
    expect(row(page, "Zed Southey")).to_have_count(0)
    expect(page.get_by_label("School", exact=True).locator("option")).to_have_text(
        ["All schools", "North College"]
    )
    page.get_by_role("link", name="Students").click()
    expect(page.get_by_label("Group", exact=True).locator("option")).to_have_text(
        ["4A (3)", "5B (1)"]
    )
    page.goto(services.url("keys") + "/console/students?group=s-9")
    expect(page.get_by_role("alert")).to_contain_text("There is no group 's-9'")
    page.goto(services.url("keys") + "/console/usage/users/z1")
    expect(page.get_by_role("alert")).to_contain_text("There is no user 'z1'")
    csrf = {"X-CSRF-Token": page.locator('meta[name="csrf-token"]').get_attribute("content") or ""}
    # Every write of the page, naming the other school's user, key or group: 404, nothing done.
    for path, data in [
        ("/users/z1/keys", {"budget_usd": "1.00"}),
        (f"/keys/{uuid.uuid4()}/revoke", {}),
        ("/groups/s-9/keys", {"budget_usd": "1.00"}),
        ("/groups/s-9/revocation", {"confirmation_token": "1.a"}),
    ]:
        api = services.url("keys") + "/console/api" + path
        refused = page.request.post(api, data=data, headers=csrf)
        assert refused.status == 404, (path, refused.status)


def test_writes_without_the_csrf_token_are_refused_and_change_nothing(
    page: Page, context: BrowserContext, services: Services
) -> None:
    sign_in(page, services)
    before = row(page, "Tess Teacher").inner_text()
    cookie = next(c for c in context.cookies() if c["name"] == "aischool_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    response = page.request.get(services.url("keys") + "/console/staff")
    headers = response.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    url = services.url("keys") + "/console/api/users/t1/keys"
    for sent in ({}, {"X-CSRF-Token": "forged"}):
        refused = page.request.post(url, data={"budget_usd": "1.00"}, headers=sent)
        assert refused.status == 403
        assert "CSRF" in refused.json()["detail"]
    signout = page.request.post(services.url("keys") + "/console/signout", form={"csrf": "forged"})
    assert signout.status == 403
    page.reload()
    assert row(page, "Tess Teacher").inner_text() == before  # unchanged by the refused writes


def test_errors_from_the_keys_service_read_as_messages_not_json(
    page: Page, services: Services
) -> None:
    sign_in(page, services)
    row(page, "Zed Southey").get_by_role("button", name="New key for Zed Southey").click()
    dialog = page.get_by_role("dialog", name="New key for Zed Southey")
    dialog.get_by_label("Budget (USD)").fill("5000")
    dialog.get_by_role("button", name="Save").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_contain_text("Something went wrong: budget_usd may be at most")
    assert "{" not in alert.inner_text()
    expect(dialog.locator("#new-key")).to_have_count(0)


def test_one_key_flow_driven_by_the_keyboard_alone(page: Page, services: Services) -> None:
    sign_in(page, services)
    page.goto(services.url("keys") + "/console/students?group=n-4a")
    target = "New key for Ada Alpha"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == target:
            break
    else:
        raise AssertionError(f"Tab never reached {target!r}")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New key for Ada Alpha")
    expect(dialog.get_by_label("Budget (USD)")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("2.00")
    page.keyboard.press("Enter")
    expect(dialog.locator("#new-key")).to_have_text(KEY_PATTERN)
    services.secrets.append(dialog.locator("#new-key").inner_text())
    expect(dialog.get_by_role("button", name="Copy key")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#new-key")).to_have_count(0)
    expect(row(page, "Ada Alpha")).to_contain_text("active")


def test_a_revoked_administrators_session_stops_working(page: Page, services: Services) -> None:
    sign_in(page, services, "doomed")
    expect(row(page, "Tess Teacher")).to_be_visible()
    with services.keys_api() as api:
        assert api.post(f"/admins/{services.tokens['doomed_id']}/revoke").status_code == 200
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    refused = page.request.get(services.url("keys") + "/console/api/groups/n-4a/plan")
    assert refused.status == 401


def test_sign_out_ends_the_session(page: Page, services: Services) -> None:
    sign_in(page, services)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(services.url("keys") + "/console/staff")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_accessible(page)


def test_with_the_ledger_stopped_usage_says_unavailable_and_keys_still_work(
    page: Page, services: Services
) -> None:
    sign_in(page, services)
    ledger = services.stack.processes["ledger"]
    ledger.send_signal(signal.SIGTERM)
    ledger.wait(30)
    page.goto(services.url("keys") + "/console/students?group=n-4a")
    expect(page.get_by_role("status").filter(has_text="Usage is unavailable")).to_be_visible()
    row(page, "Bo Beta").get_by_role("button", name="New key for Bo Beta").click()
    dialog = page.get_by_role("dialog", name="New key for Bo Beta")
    dialog.get_by_label("Budget (USD)").fill("1.00")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#new-key")).to_have_text(KEY_PATTERN)
    services.secrets.append(dialog.locator("#new-key").inner_text())
    dialog.get_by_role("button", name="Close").click()
    expect(row(page, "Bo Beta")).to_contain_text("active")
    page.goto(services.url("keys") + "/console/usage/groups/n-4a")
    expect(page.get_by_role("status").filter(has_text="Usage is unavailable")).to_be_visible()
    assert_accessible(page)


def test_with_the_documents_service_stopped_group_keys_say_why_and_none_is_made(
    page: Page, services: Services
) -> None:
    documents = services.stack.processes["documents"]
    documents.send_signal(signal.SIGTERM)
    documents.wait(30)
    sign_in(page, services)
    page.goto(services.url("keys") + "/console/students?group=s-9")
    page.get_by_role("button", name="Create keys for this group").click()
    dialog = page.get_by_role("dialog", name="Keys for group Nine")
    dialog.get_by_label("Start (America/New_York, optional)").fill("2030-01-06T08:00")
    dialog.get_by_role("button", name="Next").click()
    expect(dialog).to_contain_text("1 key(s) will be made, for: Yan Southey.")
    dialog.get_by_role("button", name="Create keys").click()
    alert = dialog.get_by_role("alert")
    expect(alert).to_have_text(
        "Something went wrong: The documents service is not running (no responder for key "
        "sheets); no key was issued.",
        timeout=60_000,
    )
    dialog.get_by_role("button", name="Cancel").click()
    expect(row(page, "Yan Southey")).to_contain_text("no key")


def test_the_session_cookie_is_secure_behind_https(services: Services) -> None:
    # uvicorn trusts X-Forwarded-Proto from loopback, as from a TLS proxy in front of it.
    response = httpx.post(
        services.url("keys") + "/console/signin",
        data={"token": services.tokens["root"]},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Max-Age=28800", "Path=/"):
        assert flag.lower() in cookie.lower(), cookie
    assert services.tokens["root"] not in cookie


def test_a_wrong_token_is_refused_with_a_readable_message(services: Services) -> None:
    response = httpx.post(
        services.url("keys") + "/console/signin",
        data={"token": "ais-admin-wrong"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 401
    assert "not valid" in response.text and "set-cookie" not in response.headers


def test_no_key_or_token_reaches_a_service_log(services: Services) -> None:
    logs = services.logs()
    assert logs, "the services wrote no logs at all"
    for secret in services.secrets + [
        t for n, t in services.tokens.items() if not n.endswith("_id")
    ]:
        assert secret not in logs
    assert "sk-ais-" not in logs.replace("sk-ais-…", "")
    assert "ais-admin-" not in logs
