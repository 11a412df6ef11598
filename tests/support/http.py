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


async def get(url: str, *, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    """Status, body (JSON when it is, else text) and headers."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as response:
        if response.content_type == "application/json":
            body: Any = await response.json()
        else:
            body = await response.text()
        return response.status, body, dict(response.headers)
