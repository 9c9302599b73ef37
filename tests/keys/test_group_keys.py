"""Group keys with the real documents service (all or nothing), and confirmed group revocation."""

from __future__ import annotations

import base64
import io

import nats
from fastapi import FastAPI
from nats.aio.msg import Msg
from pypdf import PdfReader

from contracts.documents import STATUS_ERROR, STATUS_HEADER
from contracts.streams import RENDER_KEY_SHEET
from tests.keys.conftest import Keys, in_days


async def group_keys(keys: Keys, group: str = "n-4a", who: str = "root"):
    body = {"budget_usd": "7.50", "renewal": "weekly", "valid_until": "2031-07-01T17:00"}
    return await keys.call("POST", f"/groups/{group}/keys", who=who, json=body)


async def test_group_keys_issue_for_linked_students_without_a_key_with_the_pdf_sheet(
    seeded: Keys, documents: FastAPI
) -> None:
    await seeded.call("POST", "/users/s2/keys", json={"budget_usd": "1"})
    response = await group_keys(seeded)
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(c["user_id"], c["name"]) for c in body["issued"]] == [("s1", "Ada Alpha")]
    reasons = {s["user_id"]: s["reason"] for s in body["skipped"]}
    assert reasons["s2"].startswith("already has a key (sk-ais-…")
    assert reasons["s3"] == "no linked account"
    pdf = base64.b64decode(body["sheet_pdf_base64"])
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert body["issued"][0]["key"] in text.replace("\n", "")
    key = (await seeded.call("GET", f"/keys/{body['issued'][0]['key_id']}")).json()
    assert (key["group_id"], key["budget_usd"], key["renewal"]) == ("n-4a", "7.500000", "weekly")


async def test_when_documents_is_down_no_key_is_issued_and_the_error_says_why(
    seeded: Keys,
) -> None:
    before = await seeded.event_count()
    response = await group_keys(seeded)
    assert response.status_code == 503
    assert "documents service is not running" in response.json()["detail"]
    assert "no key was issued" in response.json()["detail"]
    assert await seeded.event_count() == before


async def test_when_documents_answers_an_error_no_key_is_issued(
    seeded: Keys, nats_url: str
) -> None:
    # A stand-in that answers the contract's error reply, as documents does for a bad request.
    nc = await nats.connect(nats_url)

    async def refuse(msg: Msg) -> None:
        await nc.publish(msg.reply, b"template missing", headers={STATUS_HEADER: STATUS_ERROR})

    await nc.subscribe(RENDER_KEY_SHEET, cb=refuse)
    try:
        before = await seeded.event_count()
        response = await group_keys(seeded)
        assert response.status_code == 502
        assert "template missing" in response.json()["detail"]
        assert await seeded.event_count() == before
    finally:
        await nc.close()


async def test_a_group_where_nobody_can_get_a_key_is_a_409_that_says_why(seeded: Keys) -> None:
    await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "1"})
    await seeded.call("POST", "/users/s2/keys", json={"budget_usd": "1"})
    response = await group_keys(seeded)
    assert response.status_code == 409
    assert "Cy Gamma: no linked account" in response.json()["detail"]


async def test_bad_group_key_input_is_rejected_before_anything_is_rendered(seeded: Keys) -> None:
    before = await seeded.event_count()
    response = await seeded.call("POST", "/groups/n-4a/keys", json={"budget_usd": "0.001"})
    assert response.status_code == 422 and "whole cents" in response.json()["detail"]
    # No documents service runs here: a render would answer 503, so a 422 means none began.
    past = {"budget_usd": "2", "valid_until": in_days(-1)}
    response = await seeded.call("POST", "/groups/n-4a/keys", json=past)
    assert response.status_code == 422 and "is in the past" in response.json()["detail"]
    assert await seeded.event_count() == before


async def test_group_revocation_needs_the_confirmation_token_of_exactly_those_keys(
    seeded: Keys,
) -> None:
    await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "1"})
    await seeded.call("POST", "/users/s2/keys", json={"budget_usd": "1"})
    preview = (await seeded.call("GET", "/groups/n-4a/keys/revocation")).json()
    assert (preview["count"], preview["names"]) == (2, ["Ada Alpha", "Bo Beta"])

    body = {"confirmation_token": preview["confirmation_token"], "reason": "end of course"}
    done = await seeded.call("POST", "/groups/n-4a/keys/revocation", json=body)
    assert done.status_code == 200 and done.json()["revoked"] == 2
    students = (await seeded.call("GET", "/groups/n-4a/students")).json()
    assert [r["key_status"] for r in students] == ["revoked", "revoked", "none"]


async def test_a_stale_confirmation_token_is_refused_and_revokes_nothing(seeded: Keys) -> None:
    await seeded.call("POST", "/users/s1/keys", json={"budget_usd": "1"})
    preview = (await seeded.call("GET", "/groups/n-4a/keys/revocation")).json()
    await seeded.call("POST", "/users/s2/keys", json={"budget_usd": "1"})  # the set changed
    before = await seeded.event_count()
    body = {"confirmation_token": preview["confirmation_token"], "reason": "x"}
    response = await seeded.call("POST", "/groups/n-4a/keys/revocation", json=body)
    assert response.status_code == 409
    assert "changed since this confirmation" in response.json()["detail"]
    forged = {"confirmation_token": "9999999999.abc", "reason": "x"}
    assert (
        await seeded.call("POST", "/groups/n-4a/keys/revocation", json=forged)
    ).status_code == 409
    assert await seeded.event_count() == before
