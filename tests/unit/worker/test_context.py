from __future__ import annotations

import threading
from typing import Any

import pytest

from eventwire.errors import InvalidToolArguments
from eventwire_worker.context import accepts, chunk_text, chunks, invoke, tool_arguments

EXTRAS = {"__user__": {"id": "u"}, "__metadata__": {}, "__event_emitter__": None}


def test_only_declared_parameters() -> None:
    def f(body: dict[str, Any], __user__: dict[str, Any]) -> None: ...

    def g(body: dict[str, Any], **kwargs: Any) -> None: ...

    assert accepts(f, EXTRAS) == {"__user__": {"id": "u"}}
    assert accepts(g, EXTRAS) == EXTRAS


async def test_sync_methods_run_in_a_thread_async_on_the_loop() -> None:
    def sync(body: dict[str, Any]) -> bool:
        return threading.current_thread() is threading.main_thread()

    async def asynchronous(body: dict[str, Any]) -> bool:
        return threading.current_thread() is threading.main_thread()

    assert await invoke(sync, {"body": {}}, EXTRAS) is False
    assert await invoke(asynchronous, {"body": {}}, EXTRAS) is True


async def test_streams_of_every_shape() -> None:
    def gen() -> Any:
        yield "a"
        yield "b"

    async def agen() -> Any:
        yield "c"
        yield "d"

    assert [c async for c in chunks("whole")] == ["whole"]
    assert [c async for c in chunks(gen())] == ["a", "b"]
    assert [c async for c in chunks(agen())] == ["c", "d"]
    assert [c async for c in chunks(None)] == []


def test_chunk_text() -> None:
    assert chunk_text("x") == "x"
    assert chunk_text({"choices": [{"delta": {"content": "d"}}]}) == "d"
    assert chunk_text({"choices": [{"message": {"content": "m"}}]}) == "m"
    assert chunk_text({"content": "c"}) == "c"
    assert chunk_text(b'data: {"choices": [{"delta": {"content": "s"}}]}\n\ndata: [DONE]') == "s"


async def test_injected_context_wins_over_arguments() -> None:
    def tool(note: str, __user__: dict[str, Any]) -> dict[str, Any]:
        return {"note": note, "user": __user__}

    def anything(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    forged = {"note": "n", "__user__": {"id": "root"}}
    assert await invoke(tool, forged, EXTRAS) == {"note": "n", "user": {"id": "u"}}
    assert (await invoke(anything, forged, EXTRAS))["__user__"] == {"id": "u"}


def test_tool_arguments_are_only_the_declared_parameters() -> None:
    def tool(a: int, b: int = 0, __user__: dict[str, Any] | None = None, **kwargs: Any) -> None: ...

    assert tool_arguments(tool, {"a": 1}) == {"a": 1}
    with pytest.raises(InvalidToolArguments, match=r"'__user__', 'c'.*declares a, b") as refused:
        tool_arguments(tool, {"a": 1, "c": 2, "__user__": {}})
    assert refused.value.code == "invalid_arguments"
    with pytest.raises(InvalidToolArguments, match="missing required argument 'a'"):
        tool_arguments(tool, {"b": 1})
