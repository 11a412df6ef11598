"""SDK misuse raises named errors: whatever a plugin passes, only ``EventwireError`` escapes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventwire import Eventwire, EventwireError, Settings
from eventwire.errors import InvalidArgument
from eventwire.topology import MAX_CALL_TIMEOUT

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**64, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.text(alphabet="é", min_size=100, max_size=200),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.builds(object),
)
# one_of flattens nested one_ofs (all branches equally likely): keep `anything` one branch.
junk = st.tuples(anything).map(lambda one: one[0])
good_ids = st.text(min_size=1, max_size=40)
ids = st.one_of(good_ids, junk)
refs = st.one_of(st.none(), good_ids, junk)
event_data = st.dictionaries(
    st.sampled_from(["title", "message", "content", "description", "type", "x"]),
    st.one_of(st.text(max_size=20), junk),
    max_size=4,
)
good_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["x:custom", "confirmation", "notification", "status"]),
        "data": st.one_of(event_data, junk),
    }
)
events = st.one_of(good_events, junk)
timeouts = st.one_of(st.none(), st.floats(min_value=1e-3, max_value=5), junk)


@pytest.fixture(scope="module")
def loop_and_client() -> Iterator[tuple[asyncio.AbstractEventLoop, Eventwire]]:
    loop = asyncio.new_event_loop()
    ew = Eventwire(Settings(amqp_url=f"memory://{uuid.uuid4().hex}", namespace="unit"))
    loop.run_until_complete(ew.connect())
    try:
        yield loop, ew
    finally:
        loop.run_until_complete(ew.close())
        loop.close()


def only_named_errors(loop: asyncio.AbstractEventLoop, coro: Any) -> None:
    with contextlib.suppress(EventwireError):
        loop.run_until_complete(coro)


HYPO = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
emit_args = st.fixed_dictionaries(
    {"user_id": ids, "chat_id": refs, "message_id": refs, "session_id": refs}
)
call_args = st.fixed_dictionaries(
    {"user_id": ids, "session_id": ids, "chat_id": refs, "message_id": refs, "timeout": timeouts}
)


@HYPO
@given(event=events, args=emit_args)
def test_emit_raises_only_named_errors(
    loop_and_client: tuple[asyncio.AbstractEventLoop, Eventwire], event: Any, args: dict[str, Any]
) -> None:
    loop, ew = loop_and_client
    only_named_errors(loop, ew.emit(event, **args))


@HYPO
@given(event=events, args=call_args)
def test_call_raises_only_named_errors(
    loop_and_client: tuple[asyncio.AbstractEventLoop, Eventwire], event: Any, args: dict[str, Any]
) -> None:
    loop, ew = loop_and_client
    only_named_errors(loop, ew.call(event, **args))


EVENT = {"type": "confirmation", "data": {"title": "ok?"}}


@pytest.mark.parametrize(
    "timeout",
    [math.nan, math.inf, -1, 0, MAX_CALL_TIMEOUT * 2, 1e9, 10**400, True, "5", [5]],
    ids=repr,
)
async def test_bad_call_timeouts_are_invalid_arguments(timeout: Any) -> None:
    async with Eventwire(Settings(amqp_url=f"memory://{uuid.uuid4().hex}")) as ew:
        with pytest.raises(InvalidArgument, match="timeout"):
            await ew.call(EVENT, user_id="u", session_id="s", timeout=timeout)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", 42),
        ("user_id", ""),
        ("user_id", "u" * 251),
        ("session_id", b"s"),
        ("session_id", "s" * 300),
        ("chat_id", 1.5),
        ("message_id", ["m"]),
    ],
)
async def test_bad_ids_are_invalid_arguments_naming_the_field(field: str, value: Any) -> None:
    async with Eventwire(Settings(amqp_url=f"memory://{uuid.uuid4().hex}")) as ew:
        args: dict[str, Any] = {"user_id": "u", "session_id": "s", field: value}
        with pytest.raises(InvalidArgument, match=field):
            await ew.emit(EVENT, **args)
        with pytest.raises(InvalidArgument, match=field):
            await ew.call(EVENT, **args, timeout=1)


def test_the_caller_timeout_setting_is_bounded_too() -> None:
    with pytest.raises(ValueError, match=r"WEBSOCKET_EVENT_CALLER_TIMEOUT|event_caller_timeout"):
        Settings(event_caller_timeout=MAX_CALL_TIMEOUT + 1)
