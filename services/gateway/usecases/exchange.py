"""One request's way through the gateway: admitted, forwarded, then settled and metered."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from contracts.apikeys import hash_secret, is_well_formed
from contracts.events import ChatCreated, EventBase, RequestMetered
from services.gateway.adapters.request_log import request_finished
from services.gateway.domain.budget import Budgets, LeaseShort, Reservation
from services.gateway.domain.limits import RateLimiter
from services.gateway.domain.pricing import Model, Usage
from services.gateway.domain.projection import KeyProjection, KeyRecord
from services.gateway.domain.tokens import estimate_prompt_tokens
from services.gateway.domain.validation import choices
from services.gateway.errors import InvalidApiKey, ModelNotFound, RateLimited, Starting

KEY_HEADERS = ("api-key", "x-api-key")
BUSY = (
    "This key's other requests in progress hold the rest of its budget;"
    " try again when they have finished."
)


@dataclass
class State:
    """The gateway's in-memory state and the ports a request needs."""

    projection: KeyProjection
    budgets: Budgets
    limiter: RateLimiter
    models: Mapping[str, Model]
    server_secret: bytes
    gateway_id: str
    record: Callable[[EventBase], None]
    now: Callable[[], datetime]
    new_id: Callable[[], UUID]
    ready: Callable[[], bool] = lambda: True
    # The write-ahead intent of a request (journaled before forwarding) and its release.
    intend: Callable[[RequestMetered], object] = lambda event: None
    fulfil: Callable[[object], None] = lambda intent: None
    monotonic: Callable[[], float] = time.monotonic
    # A request is admitted only if what is left pays for at least this much answer.
    min_answer_tokens: int = 256
    # Asks the budget lease table for more of a key's budget (need, want): one round trip.
    lease: Callable[[KeyRecord, int, int], Awaitable[None]] | None = None


def _reserve(
    state: State,
    key: KeyRecord,
    model: Model,
    raw: bytes,
    body: Mapping[str, object],
    *,
    generates: bool,
) -> tuple[Reservation, int, int]:
    """Reserve the request's estimated prompt plus the most output what is left pays for:
    (reservation, output cap per answer, answers). Refused unless what is left pays for the
    prompt and a useful answer (``min_answer_tokens``, or less if the client asked less)."""
    prompt = estimate_prompt_tokens(raw)
    answers = choices(body) if generates else 0
    requested = (
        body.get("max_completion_tokens")
        or body.get("max_tokens")
        or body.get("max_output_tokens")  # the Responses API's name
    )
    wanted = model.output_cap(requested if isinstance(requested, int) else None) if generates else 0
    least = min(state.min_answer_tokens, wanted)
    zone = state.projection.time_zone(key.school_id)
    need = model.max_cost_micro(prompt, least * answers)
    want = model.max_cost_micro(prompt, wanted * answers)
    left = state.budgets.admissible(key, need, state.now(), zone, want)
    cap = model.affordable_output(prompt, left, answers, wanted) if generates else 0
    amount = model.max_cost_micro(prompt, cap * answers)
    return state.budgets.hold(key, amount, state.now()), cap, answers


def api_key(headers: Mapping[str, str]) -> str:
    """The key from ``Authorization: Bearer``, ``api-key`` or ``x-api-key`` (any case)."""
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for name in KEY_HEADERS:
        if headers.get(name):
            return headers[name].strip()
    raise InvalidApiKey(
        "You did not provide an API key. Send it as 'Authorization: Bearer sk-ais-...'."
    )


def authenticate(state: State, headers: Mapping[str, str]) -> KeyRecord:
    """The usable key of this request; malformed keys are refused without a lookup."""
    if not state.ready():
        raise Starting("The gateway is starting: it is still reading the keys. Try again.")
    key = api_key(headers)
    if not is_well_formed(key):
        raise InvalidApiKey(
            "Incorrect API key provided: it is not a well-formed AI-School key"
            " (check for a typing mistake)."
        )
    return state.projection.authenticate(hash_secret(key, state.server_secret), state.now())


def model_for(state: State, key: KeyRecord, name: object) -> Model:
    """The model a request names, if it exists and the key may use it."""
    if not isinstance(name, str) or not name:
        raise ModelNotFound("You must name a model: the request has no 'model'.")
    key.check_model(name, name in state.models)
    return state.models[name]


@dataclass
class Exchange:
    """A request holding a reservation and a rate-limit slot until it is closed once."""

    state: State
    key: KeyRecord
    model: Model
    raw: bytes
    stream: bool
    reservation: Reservation
    request_id: UUID
    started: float
    chat_id: UUID | None = None
    closed: bool = field(default=False)
    output_cap: int = 0  # of all answers together
    answer_cap: int = 0  # of each answer: the max_tokens forwarded upstream
    intent: object = None
    # The intent's event: the outcome is a copy of it with the outcome's figures.
    _estimate: RequestMetered | None = None

    @classmethod
    async def enter(
        cls,
        state: State,
        key: KeyRecord,
        model: Model,
        raw: bytes,
        body: Mapping[str, object],
        *,
        generates: bool = True,
    ) -> Exchange:
        """``admit``, and when this replica's budget lease is short, grow it and try once more."""

        def attempt() -> Exchange:
            return cls.admit(state, key, model, raw, body, generates=generates)

        try:
            return attempt()
        except LeaseShort as short:
            if state.lease is None:
                raise
            await state.lease(key, short.need_micro, short.want_micro)
        try:
            return attempt()
        except LeaseShort:
            # Others admitted into the grant while we waited for it: soon there is more.
            raise RateLimited(BUSY, retry_after_seconds=1) from None

    @classmethod
    def admit(
        cls,
        state: State,
        key: KeyRecord,
        model: Model,
        raw: bytes,
        body: Mapping[str, object],
        *,
        generates: bool = True,
    ) -> Exchange:
        """Take a rate-limit slot and reserve the request's maximum cost, or raise.

        ``generates`` is False for embeddings, which produce no output tokens.
        """
        state.limiter.acquire(key.key_id, key.role, state.monotonic())
        try:
            reservation, answer_cap, answers = _reserve(
                state, key, model, raw, body, generates=generates
            )
        except LeaseShort:
            state.limiter.undo(key.key_id)  # ``enter`` tries again: count the request once
            raise
        except BaseException:
            state.limiter.release(key.key_id)
            raise
        stream = body.get("stream") is True
        request_id, started = state.new_id(), state.monotonic()
        return cls(
            state,
            key,
            model,
            raw,
            stream,
            reservation,
            request_id,
            started,
            output_cap=answer_cap * answers,
            answer_cap=answer_cap,
        )

    def intend(self) -> None:
        """Journal what this request may cost before it is forwarded: if the gateway dies
        before its outcome, the next start meters it at this estimate (the reservation)."""
        usage = Usage(estimate_prompt_tokens(self.raw), self.output_cap, estimated=True)
        self._estimate = self._metered(usage, 200, self.reservation.amount_micro)
        self.intent = self.state.intend(self._estimate)

    def chat_created(
        self,
        chat_id: UUID,
        title: str | None,
        opening: tuple[str, ...] = (),
        session: str | None = None,
    ) -> None:
        """Publish the start of a chat this request began, with the fingerprint the other
        replicas learn it by."""
        key = self.key
        self.state.record(
            ChatCreated(
                event_id=chat_id,
                occurred_at=self.state.now(),
                chat_id=chat_id,
                key_id=key.key_id,
                user_id=key.user_id,
                school_id=key.school_id,
                group_id=key.group_id,
                model=self.model.name,
                title=title or "Untitled chat",
                at=self.reservation.at,
                opening=opening,
                session=session,
            )
        )

    def finish(self, usage: Usage, status: int) -> None:
        """The request reached the upstream: settle its real cost and meter it, once."""
        if self.closed:
            return
        self.closed = True
        state, cost = self.state, self.model.cost_micro(usage)
        state.budgets.settle(self.reservation, self.request_id, cost)
        state.limiter.release(self.key.key_id)
        state.record(self._metered(usage, status, cost))
        state.fulfil(self.intent)
        request_finished(
            self.request_id,
            key_id=self.key.key_id,
            model=self.model.name,
            status=status,
            cost=cost,
            estimated=usage.estimated,
        )

    def abandon(self) -> None:
        """The request never reached the upstream: give back its reservation and slot."""
        if not self.closed:
            self.closed = True
            self.state.budgets.release(self.reservation)
            self.state.limiter.release(self.key.key_id)
            self.state.fulfil(self.intent)

    def _metered(self, usage: Usage, status: int, cost: int) -> RequestMetered:
        outcome = {
            "occurred_at": self.state.now(),
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cached_tokens": min(usage.cached_tokens, usage.prompt_tokens),
            "cost_micro_usd": cost,
            "estimated": usage.estimated,
            "status": status,
            "stream": self.stream,
            "latency_ms": max(0, round((self.state.monotonic() - self.started) * 1000)),
            "chat_id": self.chat_id,
        }
        if self._estimate is not None:
            # The figures are non-negative ints we computed: validating them again (the
            # constructor) would cost more than the rest of the metering of a request.
            return self._estimate.model_copy(update=outcome)
        key = self.key
        return RequestMetered(
            event_id=self.request_id,
            request_id=self.request_id,
            key_id=key.key_id,
            user_id=key.user_id,
            school_id=key.school_id,
            group_id=key.group_id,
            model=self.model.name,
            gateway_id=self.state.gateway_id,
            at=self.reservation.at,
            **outcome,
        )
