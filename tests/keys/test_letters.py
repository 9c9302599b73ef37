"""A single key with its PDF letter, rendered by the real documents service before the key
exists; and the model printed in the setup lines of letters and sheets."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from pypdf import PdfReader

from tests.keys.conftest import Keys, settings_for

LETTER = {"budget_usd": "25.00", "renewal": "monthly", "valid_until": "2031-07-15T17:00"}


def pdf_text(encoded: str) -> str:
    """The PDF's text, lines joined (a long setup line may wrap in extraction)."""
    reader = PdfReader(io.BytesIO(base64.b64decode(encoded)))
    return "\n".join(page.extract_text() for page in reader.pages)


def one_line(text: str) -> str:
    return " ".join(text.split())


async def key_status(keys: Keys, user_id: str) -> str:
    staff = (await keys.call("GET", "/staff", params={"school_id": "north"})).json()
    status: str = next(r["key_status"] for r in staff if r["user_id"] == user_id)
    return status


async def test_a_staff_letter_prints_the_key_once_and_the_default_model(
    seeded: Keys, documents: FastAPI
) -> None:
    response = await seeded.call("POST", "/users/t1/keys", json={**LETTER, "letter": True})
    assert response.status_code == 201, response.text
    body = response.json()
    reader = PdfReader(io.BytesIO(base64.b64decode(body["letter_pdf_base64"])))
    assert len(reader.pages) == 1
    text = pdf_text(body["letter_pdf_base64"])
    assert text.replace("\n", "").count(body["key"]) == 1
    assert "Tess Teacher" in text
    assert "aider --model openai/demo" in one_line(text)
    assert "opencode -m aischool/demo" in one_line(text)
    assert "MODEL" not in text
    assert await key_status(seeded, "t1") == "active"


async def test_a_group_sheet_prints_the_model_the_request_names(
    seeded: Keys, documents: FastAPI
) -> None:
    body = {"budget_usd": "5", "model": "qwen2.5-coder:7b"}
    response = await seeded.call("POST", "/groups/n-4a/keys", json=body)
    assert response.status_code == 201, response.text
    text = one_line(pdf_text(response.json()["sheet_pdf_base64"]))
    assert text.count("aider --model openai/qwen2.5-coder:7b") == 2  # one per card
    assert "MODEL" not in text and "openai/demo" not in text


async def test_when_documents_is_down_a_letter_request_issues_no_key_and_says_why(
    seeded: Keys,
) -> None:
    before = await seeded.event_count()
    response = await seeded.call("POST", "/users/t1/keys", json={**LETTER, "letter": True})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "documents service is not running (no responder for key letters)" in detail
    assert "no key was issued" in detail
    assert await seeded.event_count() == before
    assert await key_status(seeded, "t1") == "none"


async def test_the_key_and_its_letter_are_shown_once_and_never_again(
    seeded: Keys, documents: FastAPI
) -> None:
    created = (await seeded.call("POST", "/users/t1/keys", json={**LETTER, "letter": True})).json()
    key, key_id = created["key"], created["key_id"]
    paths = (await seeded.http.get("/openapi.json")).json()["paths"]
    # No read operation returns what the creating POSTs return (a plaintext key, a PDF).
    gets = json.dumps([ops["get"] for ops in paths.values() if "get" in ops])
    assert "KeyCreated" not in gets and "GroupKeysOut" not in gets and "pdf" not in gets
    readable = [
        f"/keys/{key_id}",
        f"/keys/{key_id}/history",
        "/staff?school_id=north",
        "/groups/n-4a/students",
    ]
    for path in readable:
        answer = await seeded.call("GET", path)
        assert answer.status_code == 200, (path, answer.text)
        assert key not in answer.text and key[7:] not in answer.text
        assert "letter_pdf_base64" not in answer.text and "JVBERi" not in answer.text  # %PDF


async def test_a_letter_for_an_unlinked_user_is_a_409_without_asking_documents(
    seeded: Keys,
) -> None:
    # Documents is not running: the conflict is found before any render is asked for.
    before = await seeded.event_count()
    response = await seeded.call("POST", "/users/t2/keys", json={**LETTER, "letter": True})
    assert response.status_code == 409
    assert "no linked account" in response.json()["detail"]
    await seeded.call("POST", "/users/t1/keys", json={"budget_usd": "1"})
    second = await seeded.call("POST", "/users/t1/keys", json={**LETTER, "letter": True})
    assert second.status_code == 409 and "already has an active key" in second.json()["detail"]
    assert await seeded.event_count() == before + 1


BAD_LETTER_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"model": "demo"}, "model is printed on the letter only; send it with letter: true."),
    ({"letter": True, "model": "gpt 4; rm -rf"}, "model: String should match pattern"),
    ({"letter": True, "model": ""}, "model: String should match pattern"),
    ({"letter": "maybe"}, "letter: Input should be a valid boolean"),
]


async def test_bad_letter_input_is_refused_with_the_reason_and_changes_nothing(
    seeded: Keys,
) -> None:
    before = await seeded.event_count()
    for body, message in BAD_LETTER_INPUT:
        response = await seeded.call("POST", "/users/t1/keys", json={"budget_usd": "1", **body})
        assert response.status_code == 422, body
        assert message in response.json()["detail"], body
    assert await seeded.event_count() == before
    assert await key_status(seeded, "t1") == "none"


async def test_a_bad_group_model_is_refused_before_anything_is_rendered(seeded: Keys) -> None:
    before = await seeded.event_count()
    body = {"budget_usd": "1", "model": "two words"}
    response = await seeded.call("POST", "/groups/n-4a/keys", json=body)
    assert response.status_code == 422 and "model: String should match" in response.text
    assert await seeded.event_count() == before


def test_the_default_model_comes_from_aischool_default_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = ("postgresql://unused", "nats://unused")
    assert settings_for(*where).default_model == "demo"
    monkeypatch.setenv("AISCHOOL_DEFAULT_MODEL", "llama3.1")
    assert settings_for(*where).default_model == "llama3.1"
    monkeypatch.setenv("AISCHOOL_DEFAULT_MODEL", "not a model")
    with pytest.raises(ValidationError, match="default_model"):
        settings_for(*where)
