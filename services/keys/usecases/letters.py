"""One key with its printed letter: the letter is rendered first, the key issued only after."""

from __future__ import annotations

from dataclasses import dataclass

from contracts.directory import Admin
from services.keys.domain.keys import KeyState, decide
from services.keys.usecases.context import Context
from services.keys.usecases.documents import Renderer, document_request
from services.keys.usecases.keys import KeySpec, commit_key, prepare_key


@dataclass(frozen=True)
class LetterIssue:
    """A key (plaintext, shown once) and the letter that prints it."""

    plaintext: str
    key: KeyState
    pdf: bytes


async def issue_key_with_letter(
    ctx: Context,
    admin: Admin,
    user_id: str,
    spec: KeySpec,
    render: Renderer,
    *,
    replace: bool,
    model: str | None = None,
) -> LetterIssue:
    """Render the key's letter, then issue the key: no letter, no key."""
    user, new = await prepare_key(ctx, admin, user_id, spec, replace=replace)
    now = ctx.clock()
    # Refuse an unlinked user or a second key now, not after a render that would be thrown away.
    decide(ctx.model.current_key(user.user_id), new.command, now, ctx.new_id)
    school_id = new.command.school_id
    request = document_request(
        ctx, [(user, new)], spec.renewal, now, school_id=school_id, group_name=None, model=model
    )
    pdf = await render(request)
    return LetterIssue(new.plaintext, await commit_key(ctx, new), pdf)
