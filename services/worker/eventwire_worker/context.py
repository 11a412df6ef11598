"""Context injection by signature, as Open WebUI does it.

A plugin method receives only the ``__x__`` parameters it declares, or all of them through
``**kwargs``; the injected values always win over same-named arguments. A tool call's
arguments must be the method's declared parameters (Open WebUI passes a tool only what its
spec declares). Sync methods run in a thread (``threads.in_thread``, counted per run), so they
never block the worker's event loop.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from eventwire.errors import InvalidToolArguments

from .threads import in_thread

_DONE = object()
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def accepts(fn: Callable[..., Any], available: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``available`` that ``fn``'s signature takes (all of it with ``**kwargs``)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(available)
    return {name: value for name, value in available.items() if name in params}


def tool_arguments(fn: Callable[..., Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` if they are ``fn``'s declared parameters (its spec), else refused.

    ``__x__`` names are never parameters a caller fills, even when declared: they are the
    context eventwire injects. ``**kwargs`` declares nothing.
    """
    params = inspect.signature(fn).parameters
    declared = [n for n, p in params.items() if p.kind in _NAMED and not n.startswith("__")]
    name = getattr(fn, "__name__", "tool")
    undeclared = sorted(set(arguments) - set(declared))
    if undeclared:
        raise InvalidToolArguments(
            f"{name}() takes no argument {', '.join(map(repr, undeclared))}; "
            f"it declares {', '.join(declared) or 'none'}"
        )
    missing = [n for n in declared if params[n].default is params[n].empty and n not in arguments]
    if missing:
        raise InvalidToolArguments(
            f"{name}() is missing required argument {', '.join(map(repr, missing))}"
        )
    return arguments


async def invoke(fn: Callable[..., Any], args: dict[str, Any], extras: dict[str, Any]) -> Any:
    """Call ``fn`` with its own ``args`` plus the context parameters it declares.

    Injected context wins: an argument named like a context parameter never replaces it.
    """
    kwargs = {**accepts(fn, args), **accepts(fn, extras)}
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        result = fn(**kwargs)
    else:
        result = await in_thread(fn, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def chunks(result: Any) -> AsyncIterator[Any]:
    """What a Pipe returned, as a stream: a value, a generator, or an async generator."""
    if inspect.isasyncgen(result) or hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif inspect.isgenerator(result) or isinstance(result, Iterator):
        while (item := await in_thread(next, result, _DONE)) is not _DONE:
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
