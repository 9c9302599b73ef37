"""OneRoster enrolment dates: outside beginDate..endDate (school time) nobody is a member, and
memberships begin and end on time without an administrator (the roster schedule)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from contracts.directory import Directory, EnrolmentDates
from contracts.events import KeyRevoked, StudentUnenrolled
from services.keys.domain.projection import ReadModel
from services.keys.domain.roster_rules import next_bound
from services.keys.usecases.projector import Projector
from services.keys.usecases.roster_schedule import SCHEDULE, apply_roster_dates
from tests.keys.conftest import Keys
from tests.keys.roster import import_zip, roster_zip

# A winter day: Amsterdam is UTC+1, so a date's 00:00 there is 23:00 UTC the day before.
NOW = datetime(2027, 1, 14, 12, tzinfo=UTC)
AMSTERDAM = "Europe/Amsterdam"


async def members(keys: Keys, group: str = "or-c-1") -> list[str]:
    rows = (await keys.call("GET", f"/groups/{group}/students")).json()
    return sorted(r["user_id"] for r in rows)


async def test_a_student_whose_enrolment_ended_is_not_in_the_group_and_gets_no_card(
    keys: Keys, documents: FastAPI
) -> None:
    keys.clock.set(NOW)
    ended = roster_zip(change={"or-e-3": {"endDate": "2027-01-10"}})
    assert (await import_zip(keys, ended, zone=AMSTERDAM)).status_code == 200
    assert await members(keys) == ["or-s-1", "or-s-3"]
    response = await keys.call("POST", "/groups/or-c-1/keys", json={"budget_usd": "2"})
    assert response.status_code == 201, response.text
    body = response.json()
    on_sheet = [c["user_id"] for c in body["issued"]] + [s["user_id"] for s in body["skipped"]]
    assert "or-s-2" not in on_sheet


async def test_an_enrolment_ends_at_midnight_school_time_and_its_key_is_revoked_without_an_admin(
    keys: Keys,
) -> None:
    keys.clock.set(NOW)
    ending = roster_zip(change={"or-e-2": {"endDate": "2027-01-15"}})
    assert (await import_zip(keys, ending, zone=AMSTERDAM)).status_code == 200
    key = (await keys.call("POST", "/users/or-s-1/keys", json={"budget_usd": "3"})).json()
    assert key["group_id"] == "or-c-1"

    keys.clock.set(datetime(2027, 1, 14, 22, 59, 59, tzinfo=UTC))
    assert await apply_roster_dates(keys.ctx) == (0, [])
    assert "or-s-1" in await members(keys)

    keys.clock.set(datetime(2027, 1, 14, 23, 0, tzinfo=UTC))
    changed, revoked = await apply_roster_dates(keys.ctx)
    assert (changed, [r.user_id for r in revoked]) == (1, ["or-s-1"])
    assert "or-s-1" not in await members(keys)
    status = (await keys.call("GET", f"/keys/{key['key_id']}")).json()["status"]
    assert status == "revoked"
    last = (await keys.call("GET", f"/keys/{key['key_id']}/history")).json()[-1]["data"]
    assert last["reason"] == "roster: enrolment in group Informatica 4A (or-c-1) ended"
    assert last["revoked_by"] == SCHEDULE
    # Exactly once: the next run finds nothing to do, and re-importing the file changes nothing.
    before = await keys.event_count()
    assert await apply_roster_dates(keys.ctx) == (0, [])
    again = await import_zip(keys, ending, zone=AMSTERDAM)
    assert again.json()["events"] == 0
    assert await keys.event_count() == before


async def test_a_future_begin_date_makes_the_student_a_member_when_it_comes(keys: Keys) -> None:
    keys.clock.set(NOW)
    later = roster_zip(change={"or-e-2": {"beginDate": "2027-02-01"}})
    assert (await import_zip(keys, later, zone=AMSTERDAM)).status_code == 200
    assert await members(keys) == ["or-s-2", "or-s-3"]
    unassigned = (await keys.call("GET", "/students/unassigned?school_id=or-school-a")).json()
    assert [r["user_id"] for r in unassigned] == ["or-s-1"]

    keys.clock.set(datetime(2027, 1, 31, 22, 59, 59, tzinfo=UTC))
    assert await apply_roster_dates(keys.ctx) == (0, [])
    keys.clock.set(datetime(2027, 1, 31, 23, 0, tzinfo=UTC))
    assert await apply_roster_dates(keys.ctx) == (1, [])
    assert await members(keys) == ["or-s-1", "or-s-2", "or-s-3"]
    assert (await keys.call("GET", "/students/unassigned?school_id=or-school-a")).json() == []


async def test_a_later_file_without_dates_stops_the_schedule_for_that_enrolment(
    keys: Keys,
) -> None:
    keys.clock.set(NOW)
    ending = roster_zip(change={"or-e-2": {"endDate": "2027-01-15"}})
    await import_zip(keys, ending, zone=AMSTERDAM)
    undated = roster_zip(change={"or-e-2": {"beginDate": "", "endDate": ""}})
    response = await import_zip(keys, undated)
    assert response.json()["counts"] == {"EnrolmentDatesRecorded": 1}
    keys.clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    assert await apply_roster_dates(keys.ctx) == (0, [])
    assert "or-s-1" in await members(keys)


async def test_an_enrolment_whose_end_is_not_after_its_begin_is_skipped(keys: Keys) -> None:
    keys.clock.set(NOW)
    backwards = roster_zip(change={"or-e-2": {"beginDate": "2027-01-10", "endDate": "2027-01-01"}})
    response = await import_zip(keys, backwards, zone=AMSTERDAM)
    skipped = [(s["line"], s["row_id"], s["reason"]) for s in response.json()["skipped"]]
    assert (3, "or-e-2", "endDate is not after beginDate") in skipped
    assert "or-s-1" not in await members(keys)


async def test_two_replicas_ending_an_enrolment_at_once_unenrol_and_revoke_once(
    keys: Keys,
) -> None:
    keys.clock.set(NOW)
    await import_zip(keys, roster_zip(change={"or-e-2": {"endDate": "2027-01-15"}}), zone=AMSTERDAM)
    await keys.call("POST", "/users/or-s-1/keys", json={"budget_usd": "3"})
    # A second replica: its own read model and projector over the same event store.
    other = dataclasses.replace(
        keys.ctx, projector=Projector(keys.ctx.projector.store, ReadModel())
    )
    keys.clock.set(datetime(2027, 1, 15, 6, tzinfo=UTC))
    results = await asyncio.gather(apply_roster_dates(keys.ctx), apply_roster_dates(other))
    assert sorted(changed for changed, _ in results) == [0, 1]
    stored = [s.event for s in await keys.ctx.projector.store.read_after(0, 100_000)]
    assert sum(isinstance(e, StudentUnenrolled) for e in stored) == 1
    assert sum(isinstance(e, KeyRevoked) for e in stored) == 1


def test_the_schedule_next_wakes_at_the_earliest_begin_or_end_still_ahead() -> None:
    directory = Directory()
    assert next_bound(directory, NOW) is None
    soon, later = NOW + timedelta(hours=2), NOW + timedelta(days=3)
    directory.enrolment_dates = {
        "g1": {"a": EnrolmentDates(NOW - timedelta(days=1), later)},
        "g2": {"b": EnrolmentDates(soon, None), "c": EnrolmentDates(None, NOW)},
    }
    assert next_bound(directory, NOW) == soon
    assert next_bound(directory, soon) == later
    assert next_bound(directory, later) is None
