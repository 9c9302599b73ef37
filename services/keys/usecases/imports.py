"""Directory import use case: diff, then append in chunks; whose access the roster ended
(left a group, disabled, unlinked, gone from a complete roster) loses their key in the same
import, and the result says whose key it revoked and which rows it skipped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.directory import Admin
from contracts.events import EventBase
from services.keys.domain.directory_diff import Diff, SkippedRow, Snapshot, diff
from services.keys.domain.keys import KeyState, RevokeKey, decide
from services.keys.usecases.context import Context, with_retries
from services.keys.usecases.ports import StreamAppend

CHUNK = 500
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Revoked:
    """A key the roster ended: whose, which, and why."""

    user_id: str
    name: str
    key: KeyState
    reason: str


@dataclass(frozen=True)
class ImportResult:
    """How many events of each type the import appended (none: nothing had changed), the keys
    it revoked and the rows it skipped."""

    counts: dict[str, int] = field(default_factory=dict)
    revoked: list[Revoked] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def import_directory(
    ctx: Context, admin: Admin, snapshot: Snapshot, progress: Progress | None = None
) -> ImportResult:
    """Bring the directory to ``snapshot``; re-importing the same snapshot appends nothing."""

    async def attempt() -> ImportResult:
        changes = diff(ctx.model.directory, snapshot, admin, ctx.clock(), ctx.new_id)
        revoked = ended_keys(ctx, changes, admin)
        events = changes.events + revocations(ctx, revoked, admin.admin_id)
        await append_chunks(ctx, events, progress)
        counts = dict(Counter(e.type for _, e in events))
        return ImportResult(counts, revoked, list(snapshot.skipped))

    return await with_retries(ctx, attempt)


def ended_keys(ctx: Context, changes: Diff, admin: Admin | None = None) -> list[Revoked]:
    """The live keys whose holder's access ``changes`` ends (within the admin's scope)."""
    now, found = ctx.clock(), dict[str, Revoked]()
    # A user both gone and unenrolled is revoked for the first reason: being gone.
    candidates: list[tuple[str, str, frozenset[str] | None, str | None]] = [
        (u, why, schools, None) for u, why, schools in changes.ended
    ]
    candidates += [(u, why, None, group) for u, group, why in changes.unenrolled]
    for user_id, why, schools, group_id in candidates:
        key = ctx.model.current_key(user_id)
        if user_id in found or key is None or not key.holds_slot(now):
            continue
        if _concerns(key, schools, group_id) and (admin is None or admin.sees(key.school_id)):
            user = ctx.model.directory.users.get(user_id)
            found[user_id] = Revoked(user_id, user.name if user else user_id, key, why)
    return list(found.values())


def _concerns(key: KeyState, schools: frozenset[str] | None, group_id: str | None) -> bool:
    if schools is not None and key.school_id not in schools:
        return False
    return group_id is None or key.group_id == group_id


def revocations(
    ctx: Context, revoked: list[Revoked], revoked_by: str
) -> list[tuple[str, EventBase]]:
    """``KeyRevoked`` for each ended key, on its key stream."""
    now, out = ctx.clock(), []
    for item in revoked:
        command = RevokeKey(revoked_by, item.reason)
        for event in decide(item.key, command, now, ctx.new_id):
            out.append((f"key:{item.key.key_id}", event))
    return out


async def append_chunks(
    ctx: Context, events: list[tuple[str, EventBase]], progress: Progress | None
) -> None:
    # Chunks keep each transaction (and its table lock) short on a large export. A failure
    # part-way leaves a consistent prefix; importing again completes it (the diff is idempotent).
    versions: dict[str, int] = {}
    total = len(events)
    for start in range(0, total, CHUNK):
        appends = _appends(ctx, events[start : start + CHUNK], versions)
        await ctx.projector.store.append(*appends)
        if progress is not None:
            progress(min(start + CHUNK, total), total)
    if progress is not None and total == 0:
        progress(0, 0)


def _appends(
    ctx: Context, events: list[tuple[str, EventBase]], versions: dict[str, int]
) -> list[StreamAppend]:
    # Consecutive events of one stream share an append; order across streams is kept, so a
    # group exists before its students enrol in it.
    appends: list[StreamAppend] = []
    run: list[EventBase] = []
    for index, (stream_id, event) in enumerate(events):
        run.append(event)
        if index + 1 < len(events) and events[index + 1][0] == stream_id:
            continue
        expected = versions.get(stream_id, ctx.model.version(stream_id))
        appends.append(StreamAppend(stream_id, expected, run))
        versions[stream_id] = expected + len(run)
        run = []
    return appends
