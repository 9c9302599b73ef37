"""OneRoster zips for tests: the sample export with rows dropped, changed or added."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import httpx

from services.keys.adapters.oneroster_csv import FILES
from tests.keys.conftest import Keys

SAMPLE_DIR = Path(__file__).parents[1] / "fixtures" / "oneroster" / "sample"
ZIP = {"Content-Type": "application/zip"}


def roster_zip(
    *,
    drop: Iterable[str] = (),
    change: Mapping[str, Mapping[str, str]] | None = None,
    add: Mapping[str, list[dict[str, str]]] | None = None,
    raw: Mapping[str, str] | None = None,
) -> bytes:
    """The sample zip without rows ``drop`` (by sourcedId), with cells of rows ``change``d
    (sourcedId -> column -> value), rows ``add``ed per file, or a file's ``raw`` text."""
    dropped, changes = set(drop), change or {}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in FILES:
            if raw is not None and name in raw:
                archive.writestr(name, raw[name])
                continue
            reader = csv.DictReader(io.StringIO(sample_text(name)))
            rows = [
                {**row, **changes.get(row["sourcedId"], {})}
                for row in reader
                if row["sourcedId"] not in dropped
            ]
            rows += (add or {}).get(name, [])
            text = io.StringIO()
            writer = csv.DictWriter(text, list(reader.fieldnames or ()), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            archive.writestr(name, text.getvalue())
    return out.getvalue()


def sample_text(name: str) -> str:
    """One file of the sample export, as text."""
    return (SAMPLE_DIR / name).read_text(encoding="utf-8")


async def import_zip(keys: Keys, data: bytes, who: str = "root", zone: str = "") -> httpx.Response:
    """POST the zip to /directory/oneroster (schools new to the directory get ``zone``)."""
    query = f"?default_time_zone={zone}" if zone else ""
    return await keys.call("POST", f"/directory/oneroster{query}", who, content=data, headers=ZIP)
