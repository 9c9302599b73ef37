"""No plaintext key or admin token is stored: not in PostgreSQL, not in the KEYS stream."""

from __future__ import annotations

import psycopg
from fastapi import FastAPI

from contracts.streams import KEYS
from tests.keys.conftest import Keys
from tests.positions import reach


async def _database_text(database_url: str) -> str:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        tables = ["keys.events", "keys.key_slots", "keys.relay_checkpoints"]
        dumps = []
        for table in tables:
            cursor = await conn.execute(f"SELECT t::text FROM {table} t")
            dumps += [row[0] for row in await cursor.fetchall()]
        return "\n".join(dumps)


async def _stream_text(keys: Keys) -> str:
    js = keys.app.state.runtime.js
    relay = keys.app.state.runtime.relay
    await reach(lambda: relay.position, keys.ctx.model.position, what="the keys relay")
    info = await js.stream_info(KEYS.name)
    texts = []
    for seq in range(1, info.state.last_seq + 1):
        msg = await js.get_msg(KEYS.name, seq)
        texts.append(msg.data.decode() + repr(msg.headers))
    return "\n".join(texts)


async def test_no_issued_plaintext_key_is_in_postgresql_or_in_the_keys_stream(
    seeded: Keys, documents: FastAPI, database_url: str
) -> None:
    with_letter = {"budget_usd": "3", "letter": True}
    issued = [(await seeded.call("POST", "/users/t1/keys", json=with_letter)).json()["key"]]
    replaced = await seeded.call(
        "POST", "/users/t1/keys", json={"budget_usd": "4", "replace": True}
    )
    issued.append(replaced.json()["key"])
    group = await seeded.call("POST", "/groups/n-4a/keys", json={"budget_usd": "2"})
    assert group.status_code == 201, group.text
    issued += [card["key"] for card in group.json()["issued"]]
    assert len(issued) == 4

    stored = await _database_text(database_url) + await _stream_text(seeded)
    assert "KeyIssued" in stored
    for key in issued:
        assert key not in stored
        assert key[7:] not in stored  # not even without its prefix


async def test_no_admin_token_is_in_postgresql_or_in_the_keys_stream(
    seeded: Keys, database_url: str
) -> None:
    made = await seeded.call("POST", "/admins", json={"name": "Ann", "school_ids": ["north"]})
    assert made.status_code == 201, made.text
    revoke = await seeded.call("POST", f"/admins/{made.json()['admin_id']}/revoke")
    assert revoke.status_code == 200, revoke.text
    tokens = [made.json()["token"], *seeded.tokens.values()]
    assert len(tokens) == 4

    stored = await _database_text(database_url) + await _stream_text(seeded)
    assert "AdminCreated" in stored and "AdminRevoked" in stored
    for token in tokens:
        assert token not in stored
        assert token.removeprefix("ais-admin-") not in stored
