"""End to end: the four services as processes, as an administrator and a student use them.

Issue a key through the keys API, call the gateway with the official openai SDK (the built-in
``demo`` model), see the cost in the ledger's report and in the key's "used" figure; revoke the
key and see the gateway refuse it.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from infra.supervisor import Stack

# The demo model's prices: $1.00 per million input tokens, $4.00 per million output tokens,
# so a request costs prompt + 4 x completion micro-dollars, exactly.
DEMO_INPUT, DEMO_OUTPUT = 1, 4

DIRECTORY = {
    "schools": [{"school_id": "north", "name": "North College", "time_zone": "Europe/Amsterdam"}],
    "users": [
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
    ],
    "groups": [
        {"group_id": "4a", "school_id": "north", "name": "4A", "student_ids": ["s1", "s2", "s3"]}
    ],
}


@pytest.fixture
def stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path, nats_url=nats_url, database_url=database_url)
    try:
        stack.start_services()
        stack.wait_ready(timeout=180)
        yield stack
    finally:
        stack.stop()


def url(stack: Stack, service: str) -> str:
    return f"http://127.0.0.1:{stack.ports[service]}"


def poll(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_a_key_issued_for_a_group_is_metered_reported_and_revoked(stack: Stack) -> None:
    token = stack.bootstrap_admin()
    assert token is not None
    with (
        httpx.Client(
            base_url=url(stack, "keys"), headers={"Authorization": f"Bearer {token}"}, timeout=90
        ) as admin,
        httpx.Client(
            base_url=url(stack, "ledger"), headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as ledger,
    ):
        walk_through(stack, admin, ledger)


def walk_through(stack: Stack, admin: httpx.Client, ledger: httpx.Client) -> None:
    assert admin.post("/directory", json=DIRECTORY).status_code == 200
    issued = admin.post("/groups/4a/keys", json={"budget_usd": "2.00", "renewal": "weekly"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert base64.b64decode(body["sheet_pdf_base64"]).startswith(b"%PDF")
    assert [s["user_id"] for s in body["skipped"]] == ["s3"]  # not linked
    ada = next(k for k in body["issued"] if k["user_id"] == "s1")

    gateway = f"{url(stack, 'gateway')}/v1"
    with openai.OpenAI(base_url=gateway, api_key=ada["key"], max_retries=0) as client:
        use_and_check(client, admin, ledger, ada["key_id"])


def use_and_check(
    client: openai.OpenAI, admin: httpx.Client, ledger: httpx.Client, key_id: str
) -> None:
    # The student's tool: the official SDK, streaming and not.
    reply = client.chat.completions.create(
        model="demo",
        messages=[{"role": "user", "content": "Change the greeting to be more casual"}],
    )
    assert reply.choices[0].message.content and reply.usage is not None
    streamed = client.chat.completions.create(
        model="demo",
        messages=[{"role": "user", "content": "Now add a docstring"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usages = [chunk.usage for chunk in streamed if chunk.usage is not None]
    assert len(usages) == 1
    expected = sum(
        u.prompt_tokens * DEMO_INPUT + u.completion_tokens * DEMO_OUTPUT
        for u in (reply.usage, usages[0])
    )

    # The ledger's report and the key's "used" figure show exactly what upstream reported.
    def ledger_total() -> dict[str, Any] | None:
        report = ledger.get("/reports/keys", params={"key_id": key_id})
        total = report.json()["total"] if report.status_code == 200 else None
        return total if total and total["requests"] == 2 else None

    total = poll(ledger_total)
    last = ledger.get("/reports/keys", params={"key_id": key_id})
    assert total is not None, f"the ledger never showed both requests: {last.text}"
    assert total["cost_micro_usd"] == expected
    assert total["chats"] == 2
    used = poll(
        lambda: admin.get(f"/keys/{key_id}").json()["used_usd"] not in ("0", "0.00", "0.000000")
    )
    assert used
    csv = ledger.get("/reports/users", params={"group_id": "4a"}, headers={"Accept": "text/csv"})
    assert "Ada Alpha" in csv.text

    # Revocation by the administrator is enforced by the gateway within a second.
    assert (
        admin.post(f"/keys/{key_id}/revoke", json={"reason": "lost the sheet"}).status_code == 200
    )
    revoked_at = time.monotonic()

    def rejected() -> bool:
        try:
            client.models.list()
        except openai.AuthenticationError:
            return True
        return False

    assert poll(rejected, timeout=1.0), "the gateway still accepted a revoked key after one second"
    assert time.monotonic() - revoked_at < 5

    # Nothing reconciles differently: the ledger equals the metered events in USAGE.
    reconciliation = ledger.get("/reconciliation").json()
    assert reconciliation["matches"] is True, reconciliation
