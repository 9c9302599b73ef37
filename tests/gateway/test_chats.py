"""Chat detection against the message sequences Aider and OpenCode really sent (fixtures/)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.gateway.domain.chats import (
    MAX_PREFIXES,
    TURN_HASHES_PER_CHAT,
    ChatDecision,
    ChatTracker,
    title,
)

FIXTURES = Path(__file__).parent / "fixtures"
KEY = UUID(int=1)


def counter_ids() -> ChatTracker:
    numbers = itertools.count(100)
    return ChatTracker(new_id=lambda: UUID(int=next(numbers)))


def load(name: str) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())["requests"]
    return requests


def replay(
    requests: list[dict[str, Any]], *, sessions: bool = True, tracker: ChatTracker | None = None
) -> list[ChatDecision]:
    tracker = tracker or counter_ids()
    return [
        tracker.observe(KEY, r["headers"].get("x-session-id") if sessions else None, r["body"])
        for r in requests
    ]


def chats_by_invocation(requests: list[dict[str, Any]], decisions: list[ChatDecision]) -> list[int]:
    """The chat of each request, numbered in order of creation, grouped by tool invocation."""
    order = {d.chat_id: n for n, d in enumerate(d for d in decisions if d.created)}
    per_invocation: dict[int, set[int]] = {}
    for request, decision in zip(requests, decisions, strict=True):
        per_invocation.setdefault(request["invocation"], set()).add(order[decision.chat_id])
    assert all(len(chats) == 1 for chats in per_invocation.values())
    return [min(per_invocation[i]) for i in sorted(per_invocation)]


def titles(decisions: list[ChatDecision]) -> list[str | None]:
    return [d.title for d in decisions if d.created]


def aider_user(text: str) -> dict[str, Any]:
    """An Aider-shaped request: its system prompt, few-shot example, then the request."""
    first = load("aider_sessions.json")[0]["body"]
    return {**first, "messages": [*first["messages"][:-1], {"role": "user", "content": text}]}


def test_aider_sessions_are_the_three_conversations_the_student_had() -> None:
    requests = load("aider_sessions.json")
    decisions = replay(requests)
    # Runs 0-2: one conversation continued with --restore-chat-history; 3: a fresh aider;
    # 4: two turns in one session through Aider's scripting API.
    assert chats_by_invocation(requests, decisions) == [0, 0, 0, 1, 2]
    assert titles(decisions) == [
        "Make hello print a friendlier greeting",
        "Add a main guard that calls hello",
        "Explain what hello prints",
    ]


def test_two_aider_conversations_with_the_same_few_shot_start_are_two_chats() -> None:
    requests = load("aider_sessions.json")
    first, fresh = requests[0]["body"]["messages"], requests[3]["body"]["messages"]
    assert first[:5] == fresh[:5] and first[1]["content"] == "Change the greeting to be more casual"
    decisions = replay([requests[0], requests[3]])
    assert [d.created for d in decisions] == [True, True]


def test_a_continued_aider_conversation_is_one_chat_though_its_files_changed() -> None:
    requests = load("aider_sessions.json")[:3]
    file_listings = {r["body"]["messages"][-3]["content"] for r in requests}
    assert len(file_listings) == 3  # Aider re-sent hello.py as it changed between turns
    decisions = replay(requests)
    assert [d.created for d in decisions] == [True, False, False]
    assert len({d.chat_id for d in decisions}) == 1


def test_opencode_sessions_are_one_chat_each_titled_by_the_student() -> None:
    requests = load("opencode_sessions.json")
    decisions = replay(requests)
    assert chats_by_invocation(requests, decisions) == [0, 0, 1, 1]
    assert titles(decisions) == ["What does hello.py print", "Write a test for hello.py"]


def test_opencode_title_generation_creates_no_chat_of_its_own() -> None:
    requests = load("opencode_sessions.json")
    title_requests = [
        n
        for n, r in enumerate(requests)
        if "title generator" in r["body"]["messages"][0]["content"]
    ]
    assert len(title_requests) == 2
    for sessions in (True, False):
        decisions = replay(requests, sessions=sessions)
        assert sum(d.created for d in decisions) == 2


def test_opencode_without_its_session_header_gives_the_same_chats() -> None:
    requests = load("opencode_sessions.json")
    decisions = replay(requests, sessions=False)
    assert chats_by_invocation(requests, decisions) == [0, 0, 1, 1]
    assert titles(decisions) == ["What does hello.py print", "Write a test for hello.py"]


def test_session_id_wins_over_the_messages() -> None:
    tracker = counter_ids()
    body = aider_user("Fix the bug")
    one = tracker.observe(KEY, "s-1", body)
    other = tracker.observe(KEY, "s-2", body)
    again = tracker.observe(KEY, "s-1", aider_user("Something unrelated"))
    assert one.created and other.created and one.chat_id != other.chat_id
    assert again == ChatDecision(one.chat_id, created=False, title=None)


def test_title_is_the_first_real_request_not_the_few_shot_or_system_prompt() -> None:
    body = aider_user("Add type hints\nto every function please")
    decision = counter_ids().observe(KEY, None, body)
    assert decision.title == "Add type hints"


def test_title_reads_text_parts_and_is_cut_to_eighty_characters() -> None:
    long = "word " * 40
    content = [{"type": "text", "text": long}, {"type": "image_url", "image_url": {"url": "x"}}]
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": content},
        ]
    }
    title = counter_ids().observe(KEY, None, body).title
    assert title is not None and len(title) == 80 and title.endswith("…")


def test_a_completions_prompt_starts_a_chat_and_a_repeat_continues_it() -> None:
    tracker = counter_ids()
    first = tracker.observe(KEY, None, {"model": "m", "prompt": "def fibonacci(n):\n"})
    repeat = tracker.observe(KEY, None, {"model": "m", "prompt": ["def fibonacci(n):\n"]})
    other = tracker.observe(KEY, None, {"model": "m", "prompt": "class Stack:"})
    assert first.created and first.title == "def fibonacci(n):"
    assert repeat.chat_id == first.chat_id and not repeat.created
    assert other.created and other.title == "class Stack:"


def test_keys_never_share_a_chat() -> None:
    tracker = counter_ids()
    body = aider_user("Fix the bug")
    assert tracker.observe(UUID(int=1), None, body).created
    assert tracker.observe(UUID(int=2), None, body).created


def test_memory_per_key_is_bounded_and_forgets_the_least_recent_chat() -> None:
    numbers = itertools.count(100)
    tracker = ChatTracker(new_id=lambda: UUID(int=next(numbers)), max_chats_per_key=2)
    first = tracker.observe(KEY, "s-1", {"prompt": "one"})
    tracker.observe(KEY, "s-2", {"prompt": "two"})
    assert not tracker.observe(KEY, "s-1", {"prompt": "one"}).created  # s-1 is now most recent
    tracker.observe(KEY, "s-3", {"prompt": "three"})  # evicts s-2, the least recent
    assert tracker.observe(KEY, "s-2", {}).created  # evicts s-1
    again = tracker.observe(KEY, "s-1", {})
    assert again.created and again.chat_id != first.chat_id


def test_a_long_conversation_and_many_chats_keep_bounded_hashes_and_still_match() -> None:
    numbers = itertools.count(100)
    tracker = ChatTracker(new_id=lambda: UUID(int=next(numbers)), max_chats_per_key=4)
    history: list[dict[str, Any]] = []
    first = None
    for turn in range(TURN_HASHES_PER_CHAT * 2):
        history.append({"role": "user", "content": f"step {turn}\n\nplease"})
        decision = tracker.observe(KEY, None, {"messages": history})
        first = first or decision
        assert decision.chat_id == first.chat_id
        history.append({"role": "assistant", "content": "done"})
    for other in range(50):
        tracker.observe(KEY, None, {"prompt": f"unrelated {other}"})
    chats, hashes = tracker.footprint(KEY)
    assert chats == 4 and hashes <= 4 * (TURN_HASHES_PER_CHAT + MAX_PREFIXES)


def test_aider_history_summary_joins_the_latest_chat() -> None:
    tracker = counter_ids()
    chat = tracker.observe(KEY, None, aider_user("Refactor the parser"))
    # The shape of Aider's summariser request, from aider/history.py and aider/prompts.py.
    summary = {
        "messages": [
            {
                "role": "system",
                "content": "*Briefly* summarize this partial conversation about programming.",
            },
            {"role": "user", "content": "# USER\nRefactor the parser\n# ASSISTANT\nDone."},
        ]
    }
    assert tracker.observe(KEY, None, summary) == ChatDecision(chat.chat_id, False, None)


def test_a_request_without_user_text_joins_the_latest_chat_or_starts_an_untitled_one() -> None:
    tracker = counter_ids()
    untitled = tracker.observe(KEY, None, {"messages": ["not a message", {"role": "user"}]})
    assert untitled.created and untitled.title == "Untitled chat"
    assert not tracker.observe(KEY, None, {"messages": "garbage"}).created


def test_a_tracker_must_keep_at_least_one_chat_per_key() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ChatTracker(new_id=lambda: UUID(int=0), max_chats_per_key=0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '"Use the glob tool to find every test file"',
            "Use the glob tool to find every test file",
        ),
        ("\u201cWhy does my loop never end?\u201d", "Why does my loop never end?"),
        ('Say "hello" twice', 'Say "hello" twice'),
        ('"', '"'),
        ('"a" or "b"', '"a" or "b"'),
    ],
)
def test_a_chat_title_loses_the_quotation_marks_around_it(text: str, expected: str) -> None:
    assert title(text) == expected


def learn_from(tracker: ChatTracker, decisions: list[ChatDecision]) -> None:
    """What a replica does with the ChatCreated events of the others, read from USAGE."""
    for d in decisions:
        if d.created:
            tracker.learn(KEY, d.chat_id, d.opening, d.session)


def test_an_aider_conversation_continued_on_another_replica_is_the_same_chat() -> None:
    requests = load("aider_sessions.json")[:3]
    first, second = counter_ids(), ChatTracker(new_id=lambda: UUID(int=999))
    opened = replay(requests[:1], tracker=first)
    learn_from(second, opened)
    continued = replay(requests[1:], tracker=second)
    assert [d.created for d in continued] == [False, False]
    assert {d.chat_id for d in continued} == {opened[0].chat_id}


def test_a_conversation_continued_after_a_restart_is_the_same_chat() -> None:
    for name, sessions in (("aider_sessions.json", False), ("opencode_sessions.json", True)):
        requests = load(name)
        before = replay(requests[:2], sessions=sessions)
        restarted = ChatTracker(new_id=lambda: UUID(int=999))  # knows only what USAGE says
        learn_from(restarted, before)
        after = replay(requests[2:3], sessions=sessions, tracker=restarted)
        assert after[0].chat_id == before[-1].chat_id and not after[0].created, name


def test_an_opencode_session_continued_on_another_replica_is_the_same_chat() -> None:
    first, second = counter_ids(), ChatTracker(new_id=lambda: UUID(int=999))
    one = first.observe(KEY, "ses_1", {"messages": [{"role": "user", "content": "hi"}]})
    assert one.session is not None and "ses_1" not in one.session  # only its hash travels
    learn_from(second, [one])
    again = second.observe(KEY, "ses_1", {"messages": [{"role": "user", "content": "more"}]})
    assert again == ChatDecision(one.chat_id, False, None)


def test_learning_our_own_chat_again_or_a_foreign_fingerprint_changes_nothing() -> None:
    tracker = counter_ids()
    chat = tracker.observe(KEY, None, aider_user("Fix the bug"))
    tracker.learn(KEY, chat.chat_id, (), None)  # our own ChatCreated, back from USAGE
    assert tracker.observe(KEY, None, aider_user("Fix the bug")).chat_id == chat.chat_id
    tracker.learn(KEY, UUID(int=5), ("not hex",), None)
    assert tracker.footprint(KEY)[0] == 1


def test_a_request_costs_the_same_number_of_hashes_however_long_its_chat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from services.gateway.domain import chats

    hashed: list[str] = []
    digest = chats._digest

    def counted(text: str) -> bytes:
        hashed.append(text)
        return digest(text)

    monkeypatch.setattr(chats, "_digest", counted)
    tracker, history = counter_ids(), []
    counts = []
    for turn in range(300):
        history += [
            {"role": "user", "content": f"step {turn}"},
            {"role": "assistant", "content": "ok"},
        ]
        hashed.clear()
        decision = tracker.observe(KEY, None, {"messages": history})
        counts.append(len(hashed))
        assert decision.created == (turn == 0)
    assert max(counts) <= chats.FIRST_TURNS + chats.LAST_TURNS + MAX_PREFIXES + 1
    assert counts[-1] == counts[50]  # the 300th request hashes no more than the 51st


class Untouchable(dict[str, Any]):
    """A message chat detection must not read: the middle of a long conversation."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("chat detection read a message between the turns it hashes")


def test_chat_detection_reads_a_long_conversation_only_at_its_ends() -> None:
    def turns(n: int, word: str) -> list[dict[str, Any]]:
        pairs = ({"role": "user", "content": f"{word} {i}"} for i in range(n))
        return [m for p in pairs for m in (p, {"role": "assistant", "content": "ok"})]

    middle: list[dict[str, Any]] = [Untouchable(role="user", content="x")] * 10_000
    body = {"messages": [*turns(8, "first"), *middle, *turns(8, "late")]}
    tracker = counter_ids()
    opened = tracker.observe(KEY, None, body)
    again = tracker.observe(KEY, None, body)
    assert opened.created and opened.title == "late 7"
    assert again.chat_id == opened.chat_id and not again.created
