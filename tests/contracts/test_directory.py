"""The shared directory projection: names, memberships, administrators and their scope."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from contracts.apikeys import generate_admin_token, hash_secret
from contracts.directory import Directory
from contracts.events import (
    AccountLinked,
    AdminCreated,
    AdminRevoked,
    GroupRecorded,
    Role,
    StudentEnrolled,
    StudentUnenrolled,
    UserRecorded,
)

SECRET = b"secret"
NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)


def env() -> dict[str, object]:
    return {"event_id": uuid.uuid4(), "occurred_at": NOW}


def admin(directory: Directory, schools: tuple[str, ...] | None) -> tuple[str, str]:
    token, admin_id = generate_admin_token(), str(uuid.uuid4())
    directory.apply(
        AdminCreated(
            **env(),
            admin_id=admin_id,
            name="A",
            token_hash=hash_secret(token, SECRET),
            school_ids=schools,
        )
    )
    return token, admin_id


def test_an_admin_is_found_by_token_and_sees_only_its_schools() -> None:
    directory = Directory()
    token, _ = admin(directory, ("s1",))
    found = directory.authenticate(token, SECRET)
    assert found is not None and found.sees("s1") and not found.sees("s2") and not found.sees(None)
    assert directory.authenticate(token + "x", SECRET) is None
    assert directory.authenticate("not-a-token", SECRET) is None


def test_a_revoked_admin_token_no_longer_authenticates() -> None:
    directory = Directory()
    token, admin_id = admin(directory, None)
    directory.apply(AdminRevoked(**env(), admin_id=admin_id, revoked_by="root"))
    assert directory.authenticate(token, SECRET) is None


def test_enrolment_and_linking_follow_the_events_in_any_order() -> None:
    directory = Directory()
    directory.apply(StudentEnrolled(**env(), user_id="u1", group_id="g1"))
    directory.apply(GroupRecorded(**env(), group_id="g1", school_id="s1", name="4A"))
    directory.apply(
        UserRecorded(
            **env(),
            user_id="u1",
            role=Role.STUDENT,
            given_name="Ada",
            family_name="L",
            school_ids=("s1",),
        )
    )
    directory.apply(StudentEnrolled(**env(), user_id="u1", group_id="g1"))
    directory.apply(AccountLinked(**env(), user_id="u1", account="ada@school"))
    assert directory.groups["g1"].members == {"u1"}
    assert directory.users["u1"].linked and directory.users["u1"].name == "Ada L"
    directory.apply(StudentUnenrolled(**env(), user_id="u1", group_id="g1"))
    assert directory.groups["g1"].members == set() and directory.users["u1"].group_ids == set()


def test_a_user_recorded_before_roster_roles_existed_still_loads_without_one() -> None:
    from contracts.codec import decode

    old = {
        "type": "UserRecorded",
        "version": 1,
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-09-01T08:00:00Z",
        "user_id": "u1",
        "role": "staff",
        "given_name": "A",
        "family_name": "B",
        "school_ids": ["s"],
    }
    event = decode(json.dumps(old))
    assert isinstance(event, UserRecorded) and event.roster_role is None
    directory = Directory()
    directory.apply(event)
    assert directory.users["u1"].roster_role is None


def test_enrolment_dates_are_kept_until_a_record_without_dates_forgets_them() -> None:
    from datetime import timedelta

    from contracts.events import EnrolmentDatesRecorded

    directory = Directory()
    ends = NOW + timedelta(days=30)
    dated = EnrolmentDatesRecorded(**env(), user_id="u", group_id="g", begins_at=None, ends_at=ends)
    directory.apply(dated)
    dates = directory.dates_of("u", "g")
    assert dates.holds(NOW) and not dates.holds(ends)
    directory.apply(dated.model_copy(update={"ends_at": None, "event_id": uuid.uuid4()}))
    assert directory.enrolment_dates == {}
