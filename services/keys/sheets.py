"""Key sheets from the documents service, over core NATS request/reply (never persisted)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from contracts.documents import STATUS_HEADER, STATUS_OK, KeySheetRequest
from contracts.streams import RENDER_KEY_SHEET
from services.keys.errors import DocumentsFailed, DocumentsUnavailable

Renderer = Callable[[KeySheetRequest], Awaitable[bytes]]


def nats_renderer(nc: Client, timeout: float) -> Renderer:
    """A renderer asking whichever documents replica answers ``RENDER_KEY_SHEET``."""

    async def render(request: KeySheetRequest) -> bytes:
        try:
            reply = await nc.request(
                RENDER_KEY_SHEET, request.model_dump_json().encode(), timeout=timeout
            )
        except NoRespondersError as exc:
            raise DocumentsUnavailable(
                "The documents service is not running (no responder for key sheets); "
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
                f"The documents service could not render the key sheet ({message}); "
                "no key was issued."
            )
        return reply.data

    return render
