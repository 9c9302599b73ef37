"""People rows as the Coding page lists them: search, sort, and what each cell says. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.keys.api.schemas import PersonRow
from services.keys.domain.projection import ReadModel
from services.keys.web import format as fmt

SORTS = ("name", "username", "status", "budget", "used", "last_use")


@dataclass(frozen=True)
class Row:
    """One person with everything a row shows, already formatted."""

    person: PersonRow
    family_name: str
    username: str
    zone: str
    budget: str
    used: str
    used_value: Decimal
    budget_value: Decimal
    percent: int
    renewal: str
    next_renewal: str
    valid_from: str
    valid_until: str
    last_use: str

    @property
    def has_live_key(self) -> bool:
        """A key that can still be revoked (active or not yet valid)."""
        return self.person.key_status in ("active", "not_yet_valid")


def row_of(model: ReadModel, person: PersonRow, last_use: str | None, now: datetime) -> Row:
    """The row of one person; times in the zone of the key's (or the person's) school."""
    user = model.directory.users[person.user_id]
    key = person.key
    school_id = key.school_id if key else (person.school_ids or [""])[0]
    school = model.directory.schools.get(school_id)
    zone = school.time_zone if school else "UTC"
    budget = key.budget_usd if key else Decimal(0)
    used = key.used_usd if key else Decimal(0)
    when = fmt.next_renewal(key.renewal, now, zone) if key and key.status == "active" else None
    return Row(
        person=person,
        family_name=user.family_name,
        username=user.account or "",
        zone=zone,
        budget=fmt.usd(budget) if key else "",
        used=fmt.usd(used) if key else "",
        used_value=used,
        budget_value=budget,
        percent=fmt.share(used, budget),
        renewal=key.renewal.value if key else "",
        next_renewal=fmt.local(when, zone),
        valid_from=fmt.local(key.valid_from, zone) if key else "",
        valid_until=fmt.local(key.valid_until, zone) if key else "",
        last_use=fmt.local(fmt.parse_time(last_use), zone) if last_use else "",
    )


def matches(row: Row, query: str) -> bool:
    """True when the query is part of the name, username (account), id or e-mail."""
    needle = query.strip().casefold()
    person = row.person
    haystack = (person.name, row.username, person.user_id, person.email or "")
    return not needle or any(needle in h.casefold() for h in haystack)


def sorted_rows(rows: list[Row], sort: str, descending: bool) -> list[Row]:
    """Rows by the chosen column; empty cells last whichever way."""
    keys = {
        "name": lambda r: (r.family_name.casefold(), r.person.name.casefold()),
        "username": lambda r: r.username.casefold(),
        "status": lambda r: str(r.person.key_status),
        "budget": lambda r: r.budget_value,
        "used": lambda r: r.used_value,
        "last_use": lambda r: r.last_use,
    }
    return sorted(rows, key=keys.get(sort, keys["name"]), reverse=descending)
