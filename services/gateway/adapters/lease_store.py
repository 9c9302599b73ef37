"""The lease tables in JetStream's key-value bucket: read, watched, written by compare-and-set.

The only I/O of the lease rule (``leases.py``). Every replica watches the whole bucket, so it
knows each table and its revision before it writes: taking a lease for a key's first request
is one round trip (a publish with ``Nats-Expected-Last-Subject-Sequence``), two or three when
another replica wrote in between (the write is refused, the table read again and recomputed).
The watch is an ordered consumer with a short idle heartbeat, as ``infra/follow.py``: in a
NATS cluster it notices a lost node within half a second and starts again where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import structlog
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts.streams import BUDGET_LEASES, BUDGET_LEASES_MAX_AGE_SECONDS
from infra.follow import IDLE_HEARTBEAT_SECONDS
from infra.kv import ensure_bucket
from services.gateway.domain import leases
from services.gateway.domain.leases import Grant, LeaseTable

log = structlog.get_logger(__name__)

PREFIX = f"$KV.{BUDGET_LEASES}."
ATTEMPTS = 8  # compare-and-set retries before a write gives up (replicas racing on one key)


class Contended(Exception):
    """Other replicas kept writing the table while we tried to."""


class Unreachable(Exception):
    """NATS did not take the write (away, or no stream leader)."""


class LeaseStore:
    """Lease tables by key id, as last seen, and their compare-and-set writes."""

    def __init__(self, js: JetStreamContext, replicas: int) -> None:
        self._js = js
        self._replicas = replicas
        self._kv: KeyValue | None = None
        self._tables: dict[UUID, tuple[LeaseTable | None, int]] = {}
        self._subscription: object | None = None
        self.writes = 0
        self.conflicts = 0
        self.on_table: Callable[[UUID, LeaseTable], None] = lambda key_id, table: None

    async def open(self) -> None:
        """Create the bucket if needed and start watching every table in it."""
        self._kv = await ensure_bucket(
            self._js, BUDGET_LEASES, self._replicas, BUDGET_LEASES_MAX_AGE_SECONDS
        )
        self._subscription = await self._js.subscribe(
            f"{PREFIX}>",
            stream=f"KV_{BUDGET_LEASES}",
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            idle_heartbeat=IDLE_HEARTBEAT_SECONDS,
            cb=self._on_message,
        )

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()  # type: ignore[attr-defined]

    def table(self, key_id: UUID) -> LeaseTable | None:
        """The key's table as last seen (None: none seen)."""
        return self._tables.get(key_id, (None, 0))[0]

    async def write(self, key_id: UUID, build: Callable[[LeaseTable | None], Grant]) -> Grant:
        """Write ``build(table)`` over the table it was built from; on a conflict read the
        table again and build once more. ``build`` may raise to give up."""
        assert self._kv is not None, "open() first"
        for _ in range(ATTEMPTS):
            table, revision = self._tables.get(key_id, (None, 0))
            grant = build(table)
            if grant.table == table:
                return grant
            try:
                written = await self._kv.update(
                    str(key_id), leases.encode(grant.table), last=revision
                )
            except KeyWrongLastSequenceError:
                self.conflicts += 1
                await self._refresh(key_id)
                continue
            except NatsError as exc:
                raise Unreachable(str(exc)) from exc
            self.writes += 1
            self._remember(key_id, grant.table, written)
            return grant
        raise Contended(str(key_id))

    async def _refresh(self, key_id: UUID) -> None:
        assert self._kv is not None
        try:
            entry = await self._kv.get(str(key_id))
        except KeyNotFoundError:
            self._tables[key_id] = (None, 0)
            return
        except NatsError as exc:
            raise Unreachable(str(exc)) from exc
        if entry.value is not None:
            self._remember(key_id, leases.decode(entry.value), entry.revision or 0)

    def _remember(self, key_id: UUID, table: LeaseTable, revision: int) -> None:
        if revision > self._tables.get(key_id, (None, 0))[1]:
            self._tables[key_id] = (table, revision)

    async def _on_message(self, msg: Msg) -> None:
        try:
            key_id = UUID(msg.subject.removeprefix(PREFIX))
            table = leases.decode(msg.data)
        except (ValueError, KeyError, TypeError):
            log.warning("lease_table_unreadable", subject=msg.subject)
            return
        self._remember(key_id, table, msg.metadata.sequence.stream)
        self.on_table(key_id, table)
