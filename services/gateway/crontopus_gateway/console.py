"""The web console, served by the gateway at ``/`` (same origin as the API): the files of the
built console (``web/dist``, or ``CRONTOPUS_WEB_DIR``) by path, and ``index.html`` for every other
GET that no API route answers, so client-side routes (``/jobs/production/backup``) load the app.

Installed as the router's default handler: it sees only requests that matched no route, so every
route of the API (and its 404s and 405s) answers exactly as before. Paths of the API's areas
(``/api/...``, ``/ping/...``, ``/docs`` ...) still get the API's JSON 404, never the console.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

import crontopus_gateway

# Paths the console never answers: the API's own areas. A typo in an API path is a JSON 404.
API_PREFIXES = ("/api/", "/ping/", "/badge/", "/docs/", "/redoc/")
API_PATHS = frozenset({"/api", "/ping", "/metrics", "/health", "/docs", "/redoc", "/openapi.json"})
ASSETS_PREFIX = "assets/"

# Vite names what it puts in assets/ by content hash: a changed file is a new URL.
IMMUTABLE = "public, max-age=31536000, immutable"
# index.html (and the other unhashed files) must be asked for again, or a browser keeps running
# an old build whose assets are gone.
REVALIDATE = "no-cache"
# No inline script, ever; inline styles are allowed (libraries set style attributes).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

NOT_BUILT_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Crontopus: the web console is not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>The web console is not built</h1>
<p>This server has no built console to show (looked in <code>{folder}</code>).</p>
<p>Build it with <code>make run</code> on a machine with Node.js 20 or newer (it builds the console
when its sources changed), or with <code>make web</code>; or point <code>CRONTOPUS_WEB_DIR</code> at a
built console.</p>
<p>The API works without it: see <a href="/docs">/docs</a>, or use the <code>crontopus</code> CLI.</p>
</body>
</html>
"""


def default_web_dir() -> Path:
    """``web/dist`` of the checkout this gateway runs from (services/gateway/crontopus_gateway/
    -> the repository's root)."""
    return Path(crontopus_gateway.__file__).resolve().parents[3] / "web" / "dist"


def is_api_path(path: str) -> bool:
    return path in API_PATHS or path.startswith(API_PREFIXES)


class ConsoleFiles(StaticFiles):
    """The built console's files with their cache headers and CSP; ``index.html`` for any other
    path outside ``assets/``; a page saying how to build it where there is none.

    StaticFiles keeps every lookup inside the folder (``..``, encoded or not, and symlinks out
    of it find nothing)."""

    def __init__(self, *, directory: Path, not_found: ASGIApp) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.folder = directory
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or is_api_path(path):
            await self.not_found(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def check_config(self) -> None:
        """A missing folder is the "not built" page, not an error."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or path.replace(os.sep, "/").startswith(ASSETS_PREFIX):
                raise  # a hashed asset that is not there is a 404, never a page of HTML
            response = await self._index(scope)
        else:
            cache = IMMUTABLE if path.replace(os.sep, "/").startswith(ASSETS_PREFIX) else REVALIDATE
            response.headers["cache-control"] = cache
        response.headers["content-security-policy"] = CONSOLE_CSP
        return response

    async def _index(self, scope: Scope) -> Response:
        try:
            response = await super().get_response("index.html", scope)
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            response = HTMLResponse(NOT_BUILT_PAGE.format(folder=html.escape(str(self.folder))))
        response.headers["cache-control"] = REVALIDATE
        return response
