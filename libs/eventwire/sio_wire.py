"""python-socketio's argument conventions, to and from what travels in a ``SioEmit``.

python-socketio expands a tuple into several event arguments, sends ``None`` as none and
anything else as one argument; the bus carries the argument list as given (msgpack keeps
bytes as bytes), and the receiving server turns it back into the same ``data``. Shared by
the edge's ``EventwireManager`` and the SDK's ``SioPeer`` (``sio_peer.py``), which speaks the
same wire without python-socketio.
"""

from __future__ import annotations

from typing import Any


def as_args(data: Any) -> list[Any]:
    if isinstance(data, tuple):
        return list(data)
    return [] if data is None else [data]


def as_data(args: list[Any]) -> Any:
    """The ``data`` python-socketio expands back into ``args``."""
    if not args:
        return None
    if len(args) == 1 and args[0] is not None:
        return args[0]
    return tuple(args)  # several arguments, or a lone None (which `None` would drop)


def rooms_of(target: Any) -> list[str] | None:
    """The rooms an emit addresses (None: the whole namespace), without repeats."""
    if target is None:
        return None
    rooms = [target] if isinstance(target, str) else list(target)
    for room in rooms:
        if not isinstance(room, str):
            raise TypeError(f"rooms and sids are strings here, not {type(room).__name__}")
    return list(dict.fromkeys(rooms))


def skips_of(skip_sid: Any) -> list[str]:
    if skip_sid is None:
        return []
    if isinstance(skip_sid, str):
        return [skip_sid]
    return [str(sid) for sid in skip_sid if sid is not None]


def result_of(args: tuple[Any, ...] | list[Any]) -> Any:
    """What ``AsyncServer.call`` returns for an acknowledgement with ``args``."""
    if len(args) > 1:
        return tuple(args)
    return args[0] if args else None
