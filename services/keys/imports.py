"""Directory import use case: diff, then append in chunks; students who left lose their key."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts.directory import Admin
from contracts.events import EventBase
from services.keys.directory_diff import Diff, Snapshot, diff
from services.keys.domain import RevokeKey, decide
from services.keys.handlers import Context, with_retries
from services.keys.store import StreamAppend

CHUNK = 500
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportResult:
    """How many events of each type the import appended (none: nothing had changed)."""

    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def import_directory(
    ctx: Context, admin: Admin, snapshot: Snapshot, progress: Progress | None = None
) -> ImportResult:
    """Bring the directory to ``snapshot``; re-importing the same snapshot appends nothing."""

    async def attempt() -> ImportResult:
        changes = diff(ctx.model.directory, snapshot, admin, ctx.clock(), ctx.new_id)
        events = changes.events + _revocations(ctx, admin, changes)
        await _append_chunks(ctx, events, progress)
        return ImportResult(dict(Counter(e.type for _, e in events)))

    return await with_retries(ctx, attempt)


def _revocations(ctx: Context, admin: Admin, changes: Diff) -> list[tuple[str, EventBase]]:
    now, out = ctx.clock(), []
    groups = ctx.model.directory.groups
    for user_id, group_id in changes.unenrolled:
        key = ctx.model.current_key(user_id)
        if key is None or key.group_id != group_id or not key.holds_slot(now):
            continue
        name = groups[group_id].name if group_id in groups else group_id
        reason = f"left group {name} ({group_id}) in a directory import"
        for event in decide(key, RevokeKey(admin.admin_id, reason), now, ctx.new_id):
            out.append((f"key:{key.key_id}", event))
    return out


async def _append_chunks(
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
