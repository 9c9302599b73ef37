"""Chat detection: which conversation of a student with a tool a request belongs to; pure.

The rule (stated for readers in docs/chats.md), built from captured Aider and OpenCode traffic:

1. A request with a session id belongs to that session's chat.
2. Otherwise only the user turns count. The last user turn is the request being made; the
   earlier ones are the conversation so far. A chat remembers the turns that were requests in
   it, never the tool's boilerplate (Aider's few-shot example and file listings are user turns
   that are never the last one, so they are never remembered and never match).
3. A request continues the chat whose opening request it carries (or repeats), else the chat
   sharing most of its earlier turns; otherwise it starts a new chat titled from its last turn.

A request costs the same however long its conversation: only its first ``FIRST_TURNS`` and
last ``LAST_TURNS`` user turns are hashed (the opening sits early, the recent turns late).
Replicas share chats: a new chat's ``ChatCreated`` carries its fingerprint (the opening's
hashes, the session's hash), and every replica ``learn``s the chats of the others from USAGE,
also after a restart, so a conversation continued elsewhere stays one chat.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

TITLE_LENGTH = 80
UNTITLED = "Untitled chat"
# Aider appends its system reminder to the request and drops it once the request is history,
# so a turn is also remembered by its leading paragraphs.
MAX_PREFIXES = 8
TURN_HASHES_PER_CHAT = 128
# Aider opens with two boilerplate user turns before the student's first request; OpenCode
# with none. Six early turns hold the opening, six late ones the conversation's recent turns.
FIRST_TURNS = 6
LAST_TURNS = 6
# Side requests a tool makes about a conversation, recognised by their system prompt.
SIDE_REQUEST_MARKERS = ("*Briefly* summarize this partial conversation",)  # Aider's summariser

Digest = bytes


@dataclass(frozen=True)
class ChatDecision:
    """The chat a request belongs to; ``created``, ``title`` and the fingerprint other
    replicas learn it by (hex hashes of its opening and of its session) for its first."""

    chat_id: UUID
    created: bool
    title: str | None
    opening: tuple[str, ...] = ()
    session: str | None = None


@dataclass
class _Chat:
    chat_id: UUID
    session: Digest | None
    opening: frozenset[Digest]
    turns: dict[Digest, None] = field(default_factory=dict)  # insertion-ordered set
    used: int = 0


@dataclass(frozen=True)
class _Turns:
    """A request's user turns, hashed: earlier ones, the last one, its paragraph prefixes."""

    history: frozenset[Digest]
    last: Digest | None
    last_keys: frozenset[Digest]
    last_text: str  # titles a new chat
    side_request: bool


class _KeyChats:
    """One key's chats, least recently used first, indexed by session and by remembered turn."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.clock = 0
        self.chats: OrderedDict[UUID, _Chat] = OrderedDict()
        self.sessions: dict[Digest, UUID] = {}
        self.index: dict[Digest, set[UUID]] = {}

    def touch(self, chat: _Chat) -> None:
        self.clock += 1
        chat.used = self.clock
        self.chats.move_to_end(chat.chat_id)

    def add(self, chat: _Chat) -> None:
        self.chats[chat.chat_id] = chat
        self.touch(chat)
        self._index(chat, chat.opening)
        if chat.session is not None:
            self.sessions[chat.session] = chat.chat_id
        while len(self.chats) > self.limit:
            self._evict(self.chats.popitem(last=False)[1])

    def remember(self, chat: _Chat, digests: Iterable[Digest]) -> None:
        fresh = [d for d in digests if d not in chat.turns and d not in chat.opening]
        chat.turns.update(dict.fromkeys(fresh))
        self._index(chat, fresh)
        while len(chat.turns) > TURN_HASHES_PER_CHAT:
            oldest = next(iter(chat.turns))
            del chat.turns[oldest]
            self._unindex(chat, [oldest])

    def by_session(self, session: Digest) -> _Chat | None:
        chat_id = self.sessions.get(session)
        return None if chat_id is None else self.chats[chat_id]

    def latest(self) -> _Chat | None:
        return next(reversed(self.chats.values()), None)

    def best_match(self, turns: _Turns) -> _Chat | None:
        """The chat whose opening the request carries, else the one sharing most earlier turns."""
        shared = self._shared_turns(turns)

        def rank(chat_id: UUID) -> tuple[bool, int, int]:
            chat = self.chats[chat_id]
            carries_opening = not chat.opening.isdisjoint(turns.history) or (
                turns.last in chat.opening
            )
            return carries_opening, shared[chat_id], chat.used  # recency breaks ties

        best = max(shared, key=rank, default=None)
        if best is None or rank(best)[:2] == (False, 0):
            return None
        return self.chats[best]

    def _shared_turns(self, turns: _Turns) -> dict[UUID, int]:
        """Chats that remember the request's last turn or any earlier one, with the count."""
        shared = dict.fromkeys(self.index.get(turns.last or b"", ()), 0)
        for digest in turns.history:
            for chat_id in self.index.get(digest, ()):
                shared[chat_id] = shared.get(chat_id, 0) + 1
        return shared

    def _index(self, chat: _Chat, digests: Iterable[Digest]) -> None:
        for digest in digests:
            self.index.setdefault(digest, set()).add(chat.chat_id)

    def _unindex(self, chat: _Chat, digests: Iterable[Digest]) -> None:
        for digest in digests:
            holders = self.index.get(digest, set())
            holders.discard(chat.chat_id)
            if not holders:
                self.index.pop(digest, None)

    def _evict(self, chat: _Chat) -> None:
        self._unindex(chat, [*chat.opening, *chat.turns])
        if chat.session is not None:
            self.sessions.pop(chat.session, None)


class ChatTracker:
    """Assigns each request of a key to a chat; memory per key is bounded by an LRU of chats."""

    def __init__(self, new_id: Callable[[], UUID], max_chats_per_key: int = 256) -> None:
        if max_chats_per_key < 1:
            raise ValueError("max_chats_per_key must be at least 1")
        self._new_id = new_id
        self._limit = max_chats_per_key
        self._keys: dict[UUID, _KeyChats] = {}

    def observe(
        self, key_id: UUID, session_id: str | None, body: Mapping[str, Any]
    ) -> ChatDecision:
        """Returns the request's chat, creating (and titling) it on its first request."""
        session = _session_digest(session_id) if session_id else None
        chats = self._keys.get(key_id)
        if chats is None:
            chats = self._keys[key_id] = _KeyChats(self._limit)
        if session is not None:
            known = chats.by_session(session)
            if known is not None:  # the session's chat: its turns are not read at all
                chats.touch(known)
                return ChatDecision(known.chat_id, created=False, title=None)
        turns = read_turns(body)
        chat = self._find(chats, session, turns)
        if chat is None:
            chat = _Chat(self._new_id(), session, turns.last_keys)
            chats.add(chat)
            opening = tuple(sorted(d.hex() for d in chat.opening))
            hexed = None if session is None else session.hex()
            return ChatDecision(chat.chat_id, True, title(turns.last_text), opening, hexed)
        if session is None and not turns.side_request:
            chats.remember(chat, turns.last_keys)
        chats.touch(chat)
        return ChatDecision(chat.chat_id, created=False, title=None)

    def learn(
        self, key_id: UUID, chat_id: UUID, opening: Iterable[str], session: str | None
    ) -> None:
        """Know a chat another replica (or an earlier run) created, from its ChatCreated
        fingerprint; a chat already known (our own, coming back) is left as it is."""
        chats = self._keys.setdefault(key_id, _KeyChats(self._limit))
        if chat_id in chats.chats:
            return
        try:
            digests = frozenset(bytes.fromhex(h) for h in opening)
            hashed = None if session is None else bytes.fromhex(session)
        except ValueError:
            return  # not a fingerprint we wrote: the chat stays unknown here
        chats.add(_Chat(chat_id, hashed, digests))

    def footprint(self, key_id: UUID) -> tuple[int, int]:
        """How many chats and turn hashes are kept for a key (bounded by the limits)."""
        chats = self._keys.get(key_id)
        if chats is None:
            return 0, 0
        return len(chats.chats), sum(len(c.opening) + len(c.turns) for c in chats.chats.values())

    def _find(self, chats: _KeyChats, session: Digest | None, turns: _Turns) -> _Chat | None:
        if session is not None:
            return chats.by_session(session)
        if turns.side_request or turns.last is None:
            return chats.latest()
        return chats.best_match(turns)


def read_turns(body: Mapping[str, Any]) -> _Turns:
    """Hashes the user turns of a chat request (``messages``) or a completion (``prompt``):
    the last, and of the earlier ones the first ``FIRST_TURNS`` and last ``LAST_TURNS``.

    The messages are read from both ends only as far as those turns: a request costs the
    same however long its conversation (apart from the length of its last turn)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        side = any(_is_side_request(m) for m in messages[:2])  # a system prompt comes first
    else:
        messages, side = [{"role": "user", "content": body.get("prompt")}], False
    last_at, last, earlier = _last_and_recent(messages)
    if last_at < 0:
        return _Turns(frozenset(), None, frozenset(), "", side)
    first = []
    for message in itertools.islice(messages, last_at):
        if _role(message) == "user":
            first.append(message)
            if len(first) == FIRST_TURNS:
                break
    # The same message may be one of the first and of the recent turns: hashed once.
    texts = {id(m): text for m in (*first, *earlier) if (text := _user_text(m))}
    history = frozenset(_turn_digest(text) for text in texts.values())
    whole, prefixes = _last_digests(last)
    return _Turns(history, whole, frozenset(prefixes), last, side)


def _last_and_recent(messages: list[Any]) -> tuple[int, str, list[Any]]:
    """From the end: the index and text of the last user turn with text (-1 if none), and
    the ``LAST_TURNS`` user messages before it."""
    last_at, last, recent = -1, "", []
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if _role(message) != "user":
            continue
        if last_at < 0:
            text = _user_text(message)
            if text:
                last_at, last = index, text
        else:
            recent.append(message)
            if len(recent) == LAST_TURNS:
                break
    return last_at, last, recent


def _user_text(message: Mapping[str, Any]) -> str:
    text = _text(message.get("content"))
    return text if text.strip() else ""


def title(text: str) -> str:
    """The first non-blank line of a request, whitespace collapsed, without the quotation
    marks around it (OpenCode quotes the text in its title request), cut to ``TITLE_LENGTH``."""
    line = next((line for line in text.splitlines() if line.strip()), "")
    # Control characters (NUL above all, which PostgreSQL refuses) never reach a title.
    printable = "".join(c for c in line if c.isprintable() or c.isspace())
    words = _unquoted(" ".join(printable.split()))
    if len(words) > TITLE_LENGTH:
        return words[: TITLE_LENGTH - 1].rstrip() + "…"
    return words or UNTITLED


_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "`": "`"}


def _unquoted(words: str) -> str:
    inner = words[1:-1]
    if len(words) >= 2 and _QUOTES.get(words[0]) == words[-1] and words[-1] not in inner:
        return inner.strip()
    return words


def _role(message: object) -> object:
    # A parsed body's messages are dicts: the Mapping check (an ABC's) costs more than the rest.
    if type(message) is dict or isinstance(message, Mapping):
        return message.get("role")
    return None


def _is_side_request(message: object) -> bool:
    if _role(message) != "system" or not isinstance(message, Mapping):
        return False
    return _text(message.get("content")).lstrip().startswith(SIDE_REQUEST_MARKERS)


def _text(content: object) -> str:
    """The text of a message's content: a string, a list of text parts, or a prompt list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(part) for part in content)
    if isinstance(content, Mapping) and content.get("type", "text") == "text":
        return _text(content.get("text"))
    return ""


def _session_digest(session_id: str) -> Digest:
    # Hashed, so a ChatCreated carries no client-chosen string but its fingerprint.
    return hashlib.blake2b(session_id.encode(), digest_size=8, person=b"session").digest()


def _digest(text: str) -> Digest:
    # Whitespace is normalised: Aider's restored history adds Markdown line breaks.
    return hashlib.blake2b(" ".join(text.split()).encode(), digest_size=8).digest()


# The earlier turns of a conversation come back in each of its requests, and Aider's
# boilerplate turns in every request of every student: their digests are remembered by text
# (looking a text up costs a fraction of normalising it), for texts up to
# ``REMEMBERED_CHARS`` and at most ``REMEMBERED_TURNS`` of them (then forgotten at once).
REMEMBERED_TURNS = 1024
REMEMBERED_CHARS = 4096
_remembered: dict[str, Digest] = {}


def _turn_digest(text: str) -> Digest:
    found = _remembered.get(text)
    if found is None:
        found = _digest(text)
        if len(text) <= REMEMBERED_CHARS:
            if len(_remembered) >= REMEMBERED_TURNS:
                _remembered.clear()
            _remembered[text] = found
    return found


def _last_digests(text: str) -> tuple[Digest, list[Digest]]:
    """The ``_digest`` of the last turn and of its leading paragraphs (up to
    ``MAX_PREFIXES``, the whole turn last), from one pass: the turn's words are normalised
    once and hashed on, a digest taken after each paragraph (hashing each prefix anew cost
    more than the rest of chat detection)."""
    paragraphs = text.split("\n\n")
    hasher = hashlib.blake2b(digest_size=8)
    prefixes: list[Digest] = []
    words_seen = False
    for count, paragraph in enumerate(paragraphs, start=1):
        words = " ".join(paragraph.split())
        if words:
            hasher.update((" " + words if words_seen else words).encode())
            words_seen = True
        if words_seen and count < min(len(paragraphs), MAX_PREFIXES):
            prefixes.append(hasher.digest())
    whole = hasher.digest()
    return whole, [*prefixes, whole]
