"""The demo chat page: ``/`` and ``/static/``, plain HTML and JavaScript beside this module.

Its Socket.IO client is the official ``socket.io-client`` build, never hand-written: ``make``
installs the npm package pinned in ``services/edge/package.json`` and copies its
``dist/socket.io.min.js`` to ``static/vendor/`` (not committed).
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
CLIENT_JS = STATIC_DIR / "vendor" / "socket.io.min.js"

# The page runs plugin code on `execute` (as Open WebUI does), hence 'unsafe-eval'; nothing
# else may load scripts, and the page talks only to this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self'; "
    "img-src * data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def register_page(app: web.Application) -> None:
    if not CLIENT_JS.is_file():
        log.warning(
            "the demo page's Socket.IO client %s is missing: run `make` (it is built from the "
            "npm package socket.io-client); the page will say so too",
            CLIENT_JS,
        )
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC_DIR)


async def _index(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC_DIR / "index.html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )
