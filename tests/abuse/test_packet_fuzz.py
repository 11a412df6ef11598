"""Arbitrary frames at the socket gate (items 8, 10), against a real edge process.

Hypothesis writes Socket.IO packets (Engine.IO message frames) of any shape to a joined
connection; whatever it sends, the connection's next well-formed event is still answered and
nothing escapes as a traceback. Frames below Socket.IO (Engine.IO garbage) end the connection
cleanly instead.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.abuse.conftest import EdgeProcess
from tests.support.cluster import token
from tests.support.rawsocket import RawSocket

PREFIXES = ["40", "42", "421", "43", "431", "44", "45", "451-", "452-", "46", "461-", "42/x,", "4"]
frames = st.one_of(
    st.builds(lambda p, t: p + t, st.sampled_from(PREFIXES), st.text(max_size=80)),
    st.builds(
        lambda p, t: p + t,
        st.sampled_from(["42", "421", "43"]),
        st.recursive(
            st.sampled_from(
                ['"x"', "1", "null", "NaN", "[]", "{}", '{"_placeholder":true,"num":9}']
            ),
            lambda inner: st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
            max_leaves=20,
        ),
    ),
    st.binary(max_size=64),  # an attachment nobody announced
).filter(lambda frame: not (isinstance(frame, str) and frame.startswith("41")))  # a real leave


async def one_connection(url: str, frame: str | bytes) -> object:
    socket = RawSocket(url)
    try:
        await socket.connect(token("fuzz"))
        await socket.send(frame)
        return await socket.ask("user-list", ack=7)
    finally:
        await socket.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames)
def test_after_any_packet_the_connection_still_answers(
    edge_process: EdgeProcess, frame: str | bytes
) -> None:
    answer = asyncio.run(one_connection(edge_process.url, frame))
    assert isinstance(answer, dict) and "fuzz" in answer["user_ids"]


@pytest.mark.parametrize("frame", ["", "x", "9", "b!!", "7"])
def test_engineio_garbage_ends_the_connection_cleanly(
    edge_process: EdgeProcess, frame: str
) -> None:
    async def go() -> None:
        socket = RawSocket(edge_process.url)
        try:
            await socket.connect(token("fuzz"))
            await socket.send(frame)
            await socket.wait_closed()
        finally:
            await socket.close()

    asyncio.run(go())


def test_the_fuzzed_edge_logged_no_traceback(edge_process: EdgeProcess) -> None:
    """Runs last in this module: whatever the frames above did, nothing escaped as a crash."""
    stderr = edge_process.stderr()
    assert "Traceback" not in stderr
    assert " ERROR " not in stderr
