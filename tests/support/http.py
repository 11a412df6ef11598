"""Calling the edge's HTTP API as a client would."""

from __future__ import annotations

import io
from typing import Any

import aiohttp


async def post(
    url: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        kwargs: dict[str, Any] = {"data": io.BytesIO(raw)} if raw is not None else {"json": body}
        async with http.post(url, headers=headers, **kwargs) as response:
            return response.status, await response.json()
