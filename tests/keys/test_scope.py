"""Scope: outside an administrator's schools a user, group or key does not exist (404)."""

from __future__ import annotations

from pathlib import Path

from tests.keys.conftest import Keys

SAMPLE = Path(__file__).parents[1] / "fixtures" / "oneroster" / "sample.zip"
KEY = "{key}"  # replaced by a key of the south school
ADMIN = "{admin}"  # replaced by the id of the south school's administrator

SOUTH_SCHOOL = {"schools": [{"school_id": "south", "name": "Taken", "time_zone": "UTC"}]}
SOUTH_USER = {
    "users": [
        {
            "user_id": "z1",
            "role": "staff",
            "given_name": "Z",
            "family_name": "Z",
            "school_ids": ["north"],
        }
    ]
}
SOUTH_GROUP = {"groups": [{"group_id": "s-9", "school_id": "north", "name": "Stolen"}]}

ENDPOINTS: list[tuple[str, str, dict[str, object]]] = [
    ("POST", "/directory", {"json": SOUTH_SCHOOL}),
    ("POST", "/directory", {"json": SOUTH_USER}),
    ("POST", "/directory", {"json": SOUTH_GROUP}),
    ("POST", "/directory/oneroster", {"content": SAMPLE.read_bytes()}),
    ("GET", "/staff?school_id=south", {}),
    ("GET", "/groups?school_id=south", {}),
    ("GET", "/groups/s-9/students", {}),
    ("GET", "/students/unassigned?school_id=south", {}),
    ("POST", "/users/z1/keys", {"json": {"budget_usd": "1"}}),
    ("GET", f"/keys/{KEY}", {}),
    ("PATCH", f"/keys/{KEY}", {"json": {"budget_usd": "2"}}),
    ("POST", f"/keys/{KEY}/revoke", {"json": {"reason": "x"}}),
    ("GET", f"/keys/{KEY}/history", {}),
    ("POST", "/groups/s-9/keys", {"json": {"budget_usd": "1"}}),
    ("GET", "/groups/s-9/keys/revocation", {}),
    ("POST", "/groups/s-9/keys/revocation", {"json": {"confirmation_token": "1.a", "reason": "x"}}),
    ("POST", "/admins", {"json": {"name": "x", "school_ids": ["south"]}}),
    ("POST", f"/admins/{ADMIN}/revoke", {}),
]


async def test_another_schools_things_do_not_exist_for_a_scoped_admin_on_every_endpoint(
    seeded: Keys,
) -> None:
    south_key = (await seeded.call("POST", "/users/z2/keys", json={"budget_usd": "1"})).json()
    south_admin = next(a.admin_id for a in seeded.ctx.model.admins.values() if a.name == "south")
    before = await seeded.event_count()
    for method, url, kwargs in ENDPOINTS:
        target = url.replace(KEY, south_key["key_id"]).replace(ADMIN, south_admin)
        response = await seeded.call(method, target, who="north", **kwargs)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "There is no" in response.json()["detail"], (method, url)
    assert await seeded.event_count() == before
    # The owner of that school still sees what the other administrator may not.
    owner = await seeded.call("GET", f"/keys/{south_key['key_id']}", who="south")
    assert owner.status_code == 200


def test_every_keys_endpoint_has_a_cross_school_case() -> None:
    from services.keys.app import create_app
    from tests.keys.conftest import settings_for

    app = create_app(settings_for("postgresql://unused", "nats://unused"))
    # /schools and GET /admins only list (tested below); POST /admins is in ENDPOINTS.
    skip = {("GET", "/schools"), ("GET", "/admins")}
    skip |= {("GET", p) for p in ("/healthz", "/readyz", "/metrics")}
    paths = app.openapi()["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() for m in ops} - skip
    covered = {
        (
            m,
            u.split("?")[0]
            .replace("s-9", "{group_id}")
            .replace("z1", "{user_id}")
            .replace(KEY, "{key_id}")
            .replace(ADMIN, "{admin_id}"),
        )
        for m, u, _ in ENDPOINTS
    }
    assert routes == covered


async def test_lists_of_a_scoped_admin_leave_other_schools_out(seeded: Keys) -> None:
    staff = (await seeded.call("GET", "/staff", who="north")).json()
    groups = (await seeded.call("GET", "/groups", who="north")).json()
    schools = (await seeded.call("GET", "/schools", who="north")).json()
    assert {r["user_id"] for r in staff} == {"t1", "t2"}
    assert {g["group_id"] for g in groups} == {"n-4a"}
    assert {s["school_id"] for s in schools} == {"north"}
    admins = (await seeded.call("GET", "/admins", who="north")).json()
    assert {a["name"] for a in admins} == {"north"}
    everything = (await seeded.call("GET", "/staff")).json()
    assert {r["user_id"] for r in everything} == {"t1", "t2", "z1"}
