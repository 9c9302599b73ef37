"""``aischool up --public-url`` (or ``AISCHOOL_PUBLIC_URL``) is the endpoint key sheets and
letters print, instead of the loopback address students' machines cannot reach."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from pypdf import PdfReader

from tests.e2e.test_up import read_until, stop

PUBLIC = "https://coding.school.example/v1"
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
            "user_id": "t1",
            "role": "staff",
            "given_name": "Tess",
            "family_name": "Teacher",
            "school_ids": ["north"],
            "account": "tess@north.example",
        },
    ],
    "groups": [{"group_id": "4a", "school_id": "north", "name": "4A", "student_ids": ["s1"]}],
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISCHOOL_")}
    return {**env, **extra}


def pdf_text(encoded: str) -> str:
    reader = PdfReader(io.BytesIO(base64.b64decode(encoded)))
    return "".join(page.extract_text() for page in reader.pages)


def test_up_with_a_public_url_prints_it_on_key_sheets_and_letters(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "infra.cli", "up", "--data-dir", str(tmp_path / "data")]
    process = subprocess.Popen(
        [*command, "--public-url", f"{PUBLIC}/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
    )
    try:
        output = read_until(process, "Press Ctrl-C", timeout=120)
        assert f"Endpoint printed on key sheets       {PUBLIC}\n" in output
        keys_url = re.search(r"Keys admin API.*?(http://127\.0\.0\.1:\d+)", output)
        token = re.search(r"ais-admin-\w+", output)
        assert keys_url is not None and token is not None
        auth = {"Authorization": f"Bearer {token.group(0)}"}
        with httpx.Client(base_url=keys_url.group(1), headers=auth, timeout=60) as keys:
            assert keys.post("/directory", json=DIRECTORY).status_code == 200
            sheet = keys.post("/groups/4a/keys", json={"budget_usd": "1"})
            assert sheet.status_code == 201, sheet.text
            letter = keys.post("/users/t1/keys", json={"budget_usd": "1", "letter": True})
            assert letter.status_code == 201, letter.text
        for text in (
            pdf_text(sheet.json()["sheet_pdf_base64"]),
            pdf_text(letter.json()["letter_pdf_base64"]),
        ):
            assert PUBLIC in text
            assert "127.0.0.1" not in text
    finally:
        stop(process)


def test_up_refuses_a_public_url_that_is_not_http_before_starting_anything(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "up", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=clean_env(AISCHOOL_PUBLIC_URL="coding.school.example/v1"),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    message = re.sub(r"[\s│]+", " ", result.stderr)  # the error as typer boxes and wraps it
    assert "'coding.school.example/v1' is not an http(s) URL" in message
    assert not data.exists()
