"""Two students of the same name on one key sheet are told apart on cards and tick-list."""

from __future__ import annotations

import base64
import io
import re

from fastapi import FastAPI
from pypdf import PdfReader

from tests.keys.conftest import Keys


def student(
    user_id: str, account: str, given: str = "Ada", family: str = "Alpha"
) -> dict[str, object]:
    return {
        "user_id": user_id,
        "role": "student",
        "given_name": given,
        "family_name": family,
        "school_ids": ["north"],
        "account": account,
    }


async def test_two_students_with_the_same_name_are_told_apart_by_username_on_the_sheet(
    seeded: Keys, documents: FastAPI
) -> None:
    body = {
        "users": [
            student("a1", "ada.alpha1"),
            student("a2", "ada.alpha2"),
            student("b1", "bo.beta", "Bo", "Beta"),
        ],
        "groups": [
            {
                "group_id": "twins",
                "school_id": "north",
                "name": "T",
                "student_ids": ["a1", "a2", "b1"],
            }
        ],
    }
    assert (await seeded.call("POST", "/directory", json=body)).status_code == 200
    response = await seeded.call("POST", "/groups/twins/keys", json={"budget_usd": "1"})
    assert response.status_code == 201, response.text
    issued = {c["user_id"]: c for c in response.json()["issued"]}
    pdf = base64.b64decode(response.json()["sheet_pdf_base64"])
    pages = [re.sub(r"\s+", " ", p.extract_text()) for p in PdfReader(io.BytesIO(pdf)).pages]
    cover, cards = pages[0], " ".join(pages[1:])
    for user_id, account in (("a1", "ada.alpha1"), ("a2", "ada.alpha2")):
        hint = issued[user_id]["key_hint"]
        assert re.search(rf"{re.escape(hint)} Ada Alpha \({account}\)", cover), cover
        # Each card: its key, then its holder's name with what tells them apart.
        assert f"{issued[user_id]['key']} Ada Alpha ({account})" in cards
    # A unique name stays as it is.
    assert "Bo Beta (" not in cover and "Bo Beta" in cover
