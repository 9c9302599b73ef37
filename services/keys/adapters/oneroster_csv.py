"""The four CSV files of a OneRoster 1.1 zip as rows with their line numbers. Pure.

A file that is not well-formed CSV (an unterminated quote, a row with more or fewer fields
than its header) fails the whole import with the file and line: guessing what such a row
meant is how a stray user appears.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from services.keys.errors import InvalidInput

FILES = ("orgs.csv", "users.csv", "classes.csv", "enrollments.csv")


@dataclass(frozen=True)
class Row:
    """One data row: its first line in the file and its cells by column (stripped)."""

    file: str
    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        """The cell's value ("" when empty or the column is absent)."""
        return self.cells.get(column, "")

    @property
    def row_id(self) -> str:
        return self.get("sourcedId")

    @property
    def deleted(self) -> bool:
        return self.get("status").lower() == "tobedeleted"


Tables = dict[str, list[Row]]


def read_zip(data: bytes) -> Tables:
    """The four CSV files of a OneRoster zip as rows (folders inside the zip are ignored)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidInput(
            "The upload is not a zip file (expected a OneRoster 1.1 CSV zip)."
        ) from exc
    by_name = {name.rsplit("/", 1)[-1]: name for name in archive.namelist()}
    missing = [f for f in FILES if f not in by_name]
    if missing:
        raise InvalidInput(f"The OneRoster zip lacks {', '.join(missing)}.")
    return {f: rows(archive.read(by_name[f]), f) for f in FILES}


def _broken(name: str, line: int, problem: str) -> InvalidInput:
    return InvalidInput(f"{name} line {line}: {problem}; nothing was imported.")


def rows(raw: bytes, name: str) -> list[Row]:
    """The file's data rows; raises ``InvalidInput`` naming the line of a broken one."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text.") from exc
    # strict: a stray quote is an error, not a field that swallows the lines after it.
    reader = csv.reader(io.StringIO(text), strict=True)
    header: list[str] | None = None
    out: list[Row] = []
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise _broken(name, line, f"not valid CSV ({exc}; a quote left open?)") from exc
        if not any(v.strip() for v in values):
            continue
        if header is None:
            header = [v.strip() for v in values]
            if "sourcedId" not in header:
                raise InvalidInput(f"{name} has no header row with a sourcedId column.")
            continue
        if len(values) != len(header):
            problem = f"{len(values)} fields where the header has {len(header)}"
            raise _broken(name, line, problem)
        out.append(Row(name, line, dict(zip(header, (v.strip() for v in values), strict=True))))
    if header is None:
        raise InvalidInput(f"{name} has no header row with a sourcedId column.")
    return out
