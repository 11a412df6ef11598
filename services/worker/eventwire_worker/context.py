"""Context injection by signature, as Open WebUI does it.

A plugin method receives only the ``__x__`` parameters it declares, or all of them through
``**kwargs``. Sync methods run in a thread, so they never block the worker's event loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

_DONE = object()


def accepts(fn: Callable[..., Any], available: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``available`` that ``fn``'s signature takes (all of it with ``**kwargs``)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(available)
    return {name: value for name, value in available.items() if name in params}


async def invoke(fn: Callable[..., Any], args: dict[str, Any], extras: dict[str, Any]) -> Any:
    """Call ``fn`` with its own ``args`` plus the context parameters it declares."""
    kwargs = {**accepts(fn, extras), **accepts(fn, args)}
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        result = fn(**kwargs)
    else:
        result = await asyncio.to_thread(fn, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def chunks(result: Any) -> AsyncIterator[Any]:
    """What a Pipe returned, as a stream: a value, a generator, or an async generator."""
    if inspect.isasyncgen(result) or hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif inspect.isgenerator(result) or isinstance(result, Iterator):
        while (item := await asyncio.to_thread(next, result, _DONE)) is not _DONE:
            yield item
    elif result is not None:
        yield result


def chunk_text(chunk: Any) -> str:
    """Text of one streamed item: a string, OpenAI chunk/completion dicts, SSE bytes, models."""
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, bytes):
        return _sse_text(chunk.decode(errors="replace"))
    if hasattr(chunk, "model_dump"):
        chunk = chunk.model_dump()
    if isinstance(chunk, dict):
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices:
            first = choices[0] or {}
            part = first.get("delta") or first.get("message") or {}
            return str(part.get("content") or "")
        if "content" in chunk:
            return str(chunk["content"] or "")
    return str(chunk)


def _sse_text(text: str) -> str:
    import json

    out = []
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data and data != "[DONE]":
                try:
                    out.append(chunk_text(json.loads(data)))
                except json.JSONDecodeError:
                    out.append(data)
    return "".join(out) if out else ("" if text.startswith("data:") else text)
