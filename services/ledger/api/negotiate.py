"""JSON or CSV by the ``Accept`` header's q-values, and CSV in the dialect a spreadsheet wants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

import orjson
from fastapi import Query, Request, Response

from services.ledger.domain.reports import to_csv

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV for Accept: text/csv"}
}
_OFFERED = ("application/json", "text/csv")


class Dialect(StrEnum):
    """``standard``: RFC 4180; ``excel``: with a UTF-8 BOM so Excel reads the accents;
    ``excel-nl``: BOM, ``;`` between cells and a decimal comma, for Excel in a Dutch locale."""

    STANDARD = "standard"
    EXCEL = "excel"
    EXCEL_NL = "excel-nl"


CsvDialect = Annotated[Dialect, Query(description="CSV flavour (with Accept: text/csv)")]


def _accepted(header: str) -> list[tuple[float, int, str]]:
    ranked = []
    for position, part in enumerate(header.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((q, -position, media.lower()))
    return ranked


def wants_csv(request: Request) -> bool:
    """True when the best acceptable offer is CSV (ties go to the first listed; no Accept or
    only wildcards: JSON)."""
    best: tuple[float, int, str] | None = None
    for q, position, media in _accepted(request.headers.get("accept", "")):
        if q <= 0 or media not in _OFFERED:
            continue
        if best is None or (q, position) > best[:2]:
            best = (q, position, media)
    return best is not None and best[2] == "text/csv"


def csv_response(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    name: str,
    dialect: Dialect = Dialect.STANDARD,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The rows as a CSV attachment in the asked dialect."""
    if dialect is Dialect.EXCEL_NL:
        rows = [_decimal_comma(row) for row in rows]
    text = to_csv(rows, columns, ";" if dialect is Dialect.EXCEL_NL else ",")
    body = ("\ufeff" + text) if dialect is not Dialect.STANDARD else text
    return Response(
        body.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **(headers or {})},
    )


def _decimal_comma(row: Mapping[str, Any]) -> dict[str, Any]:
    # Only the dollar amounts are decimals; a Dutch Excel would read "1.250000" as 1250000.
    return {k: (v.replace(".", ",") if k == "cost_usd" and v else v) for k, v in row.items()}


def json_response(body: Mapping[str, Any]) -> Response:
    """``body`` as JSON, encoded by orjson without FastAPI's response-model pass.

    A year of a school's groups x days is 7 300 rows: validating them into the response model
    and serializing it again was half of that answer's time. The rows hold only what the model
    declares (ints, strings, None, booleans, days, UUIDs, aware datetimes), which orjson writes
    exactly as pydantic does (UTC as ``Z``); the model still documents the answer."""
    return Response(orjson.dumps(body, option=orjson.OPT_UTC_Z), media_type="application/json")
