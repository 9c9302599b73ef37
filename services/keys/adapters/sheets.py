"""Key sheets and letters from the documents service, over core NATS request/reply (never
persisted)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from contracts.directory import User
from contracts.documents import STATUS_HEADER, STATUS_OK, KeyCard, KeySheetRequest
from contracts.events import Renewal
from contracts.streams import RENDER_KEY_LETTER, RENDER_KEY_SHEET
from services.keys.errors import DocumentsFailed, DocumentsUnavailable
from services.keys.usecases.context import Context
from services.keys.usecases.keys import NewKey

Renderer = Callable[[KeySheetRequest], Awaitable[bytes]]


@dataclass(frozen=True)
class Documents:
    """The two documents a key can be printed on: a group's sheet, one person's letter."""

    sheet: Renderer
    letter: Renderer


NO_RESPONDER_RETRIES = 3


def nats_documents(nc: Client, timeout: float) -> Documents:
    """Renderers asking whichever documents replica answers, for sheets and for letters."""
    return Documents(
        sheet=nats_renderer(nc, timeout, RENDER_KEY_SHEET, "key sheet"),
        letter=nats_renderer(nc, timeout, RENDER_KEY_LETTER, "key letter"),
    )


def nats_renderer(nc: Client, timeout: float, subject: str, document: str) -> Renderer:
    """A renderer asking whichever documents replica answers ``subject``."""

    async def ask(payload: bytes) -> Msg:
        # "No responders" is also what a request sees while a documents replica restarts or
        # its subscription is still being registered: ask again briefly before giving up.
        for _ in range(NO_RESPONDER_RETRIES):
            try:
                return await nc.request(subject, payload, timeout=timeout)
            except NoRespondersError:
                await asyncio.sleep(0.2)
        return await nc.request(subject, payload, timeout=timeout)

    async def render(request: KeySheetRequest) -> bytes:
        try:
            reply = await ask(request.model_dump_json().encode())
        except NoRespondersError as exc:
            raise DocumentsUnavailable(
                f"The documents service is not running (no responder for {document}s); "
                "no key was issued."
            ) from exc
        except (NatsTimeoutError, TimeoutError) as exc:
            raise DocumentsUnavailable(
                f"The documents service did not answer within {timeout:g} s; no key was issued."
            ) from exc
        except NatsError as exc:
            raise DocumentsUnavailable(
                f"NATS is unavailable ({type(exc).__name__}); no key was issued."
            ) from exc
        status = (reply.headers or {}).get(STATUS_HEADER)
        if status != STATUS_OK:
            message = reply.data.decode("utf-8", "replace")[:500] or "no message"
            raise DocumentsFailed(
                f"The documents service could not render the {document} ({message}); "
                "no key was issued."
            )
        return reply.data

    return render


def tell_apart(users: Sequence[User]) -> list[str | None]:
    """Per user, what tells them apart from another of the same name on the same sheet (their
    account, the roster's username; else their id), or None when their name is unique."""
    names = Counter(u.name.casefold() for u in users)
    return [u.account or u.user_id if names[u.name.casefold()] > 1 else None for u in users]


def document_request(
    ctx: Context,
    new: Sequence[tuple[User, NewKey]],
    renewal: Renewal,
    now: datetime,
    *,
    school_id: str,
    group_name: str | None,
    model: str | None,
) -> KeySheetRequest:
    """What documents needs to print ``new`` keys, which share budget and window; the model
    named in the setup lines is ``model``, else the configured default."""
    first = new[0][1].command
    school = ctx.model.directory.schools[school_id]
    return KeySheetRequest(
        language="nl" if school.language == "nl" else "en",
        school_name=school.name,
        time_zone=school.time_zone,
        group_name=group_name,
        issued_at=now,
        budget_micro_usd=first.budget_micro_usd,
        renewal=renewal,
        valid_from=first.valid_from,
        valid_until=first.valid_until,
        base_url=ctx.base_url,
        cards=tuple(
            KeyCard(name=u.name, key=n.plaintext, key_hint=n.command.key_hint, detail=d)
            for (u, n), d in zip(new, tell_apart([u for u, _ in new]), strict=True)
        ),
        model=model or ctx.default_model,
    )
