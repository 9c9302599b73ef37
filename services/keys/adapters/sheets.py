"""Key sheets and letters from the documents service, over core NATS request/reply (never
persisted)."""

from __future__ import annotations

import asyncio

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from contracts.documents import STATUS_HEADER, STATUS_OK, KeySheetRequest
from contracts.streams import RENDER_KEY_LETTER, RENDER_KEY_SHEET
from services.keys.errors import DocumentsFailed, DocumentsUnavailable
from services.keys.usecases.documents import Documents, Renderer

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
