"""A load process: holds light clients and records when each benchmark event arrives.

Requests: ``connect`` (clients to open), ``storm`` (the clients of a killed server reconnect
elsewhere), ``reset``, ``report`` (what arrived since the last
reset), ``count``, ``close``. Events carry ``data.data = {"s": seq, "t": monotonic ns}``.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from typing import Any

import aiohttp

from tests.bench.control import now_ns, run
from tests.bench.wsclient import LightClient
from tests.support.procs import serve


def _ws(url: str) -> str:
    return url.replace("http://", "ws://", 1).rstrip("/")


class Load:
    def __init__(self) -> None:
        self.clients: list[LightClient] = []
        self.http: aiohttp.ClientSession | None = None
        self.seqs = array("q")
        self.recv = array("q")
        self.lat = array("q")
        self.calls = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def on_event(self, client: LightClient, event: str, data: Any, ack_id: int | None) -> None:
        t = now_ns()
        try:
            mark = data["data"]["data"]
            seq, sent = mark["s"], mark["t"]
        except (TypeError, KeyError):
            return
        self.seqs.append(seq)
        self.recv.append(t)
        self.lat.append(t - sent)
        if ack_id is not None:
            self.calls += 1
            task = asyncio.create_task(client.ack(ack_id, {"ok": True, "s": seq}))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def connect(self, targets: list[list[str]], concurrency: int = 50) -> dict[str, Any]:
        """``targets``: [url, user, token] per client; returns their sids and the time taken."""
        if self.http is None:
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            self.http = aiohttp.ClientSession(connector=connector)
        http = self.http
        gate = asyncio.Semaphore(concurrency)
        started = time.perf_counter()

        async def one(url: str, user: str, token: str) -> LightClient:
            async with gate:
                return await LightClient(url, token, self.on_event, user=user).connect(http)

        opened = await asyncio.gather(*(one(*t) for t in targets))
        elapsed = time.perf_counter() - started
        self.clients.extend(opened)
        return {
            "seconds": elapsed,
            "clients": [[c.user, c.sid, c.url] for c in opened],
        }

    async def storm(
        self, urls: list[str], dead: str, concurrency: int = 500, timeout: float = 120.0
    ) -> dict[str, Any]:
        """Every client that was on ``dead`` (now killed) reconnects to one of ``urls``, all
        at once (bounded by ``concurrency``), as tabs do when their edge dies."""
        if self.http is None:
            raise RuntimeError("connect first")
        http = self.http
        gate = asyncio.Semaphore(concurrency)
        victims = [c for c in self.clients if c.url.startswith(_ws(dead))]
        started = time.perf_counter()

        async def one(i: int, client: LightClient) -> None:
            async with asyncio.timeout(timeout):
                await client.dropped.wait()  # noticed the dead edge, as the browser does
            async with gate:
                await client.reconnect(http, urls[i % len(urls)])

        await asyncio.gather(*(one(i, c) for i, c in enumerate(victims)))
        return {
            "reconnected": len(victims),
            "recovered": sum(1 for c in victims if c.recovered),
            "seconds": time.perf_counter() - started,
        }

    async def reset(self) -> dict[str, Any]:
        self.seqs, self.recv, self.lat = array("q"), array("q"), array("q")
        self.calls = 0
        return {}

    async def count(self) -> dict[str, Any]:
        return {"received": len(self.seqs)}

    async def report(self, samples: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "received": len(self.seqs),
            "first_recv": min(self.recv) if self.recv else None,
            "last_recv": max(self.recv) if self.recv else None,
            "seqs": self.seqs.tolist(),
        }
        if samples:
            out["latency_us"] = [v // 1000 for v in self.lat]
        return out

    async def sids(self) -> dict[str, Any]:
        return {"sids": [c.sid for c in self.clients if c.sid]}

    async def close(self) -> dict[str, Any]:
        started = time.perf_counter()
        closed = len(self.clients)
        await asyncio.gather(*(c.close() for c in self.clients))
        self.clients.clear()
        if self.http is not None:
            await self.http.close()
            self.http = None
        return {"closed": closed, "seconds": time.perf_counter() - started}


async def main() -> None:
    load = Load()
    handlers = {
        "connect": load.connect,
        "storm": load.storm,
        "reset": load.reset,
        "count": load.count,
        "report": load.report,
        "close": load.close,
        "sids": load.sids,
    }
    try:
        await serve(handlers, {"pid_role": "load"})
    finally:
        await load.close()


if __name__ == "__main__":
    run(main())
