"""HTTP client for the gateway: credentials, one token refresh on 401, and error mapping.

Every expected failure (server down, rejected credentials, a 4xx with a `detail`) becomes a
`CliError` with a sentence a user can act on; commands never see an httpx exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from crontopus_cli import __version__
from crontopus_cli.config import Config, save_config
from crontopus_cli.errors import CliError

DEFAULT_SERVER = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 15.0
DEVICE_COOKIE = "crontopus_device"
SESSION_EXPIRED = "your session expired: run `crontopus auth login`"
# Statuses with which /api/auth/refresh says "this refresh token is no good" (anything else is an outage).
REFRESH_REJECTED = {400, 401, 403, 404, 422}


def normalize_server(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"the server URL {url!r} must start with http:// or https://")
    return url


class ApiClient:
    """Talks to one server. Uses the API key if given, else the stored session, but the stored
    session only if it was issued by this very server (tokens never leak to another host)."""

    def __init__(
        self,
        *,
        server: str,
        config: Config,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.server = normalize_server(server)
        self.config = config
        self.api_key = api_key
        self._http = httpx.Client(
            base_url=self.server,
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"crontopus-cli/{__version__}", "Accept": "application/json"},
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def has_session(self) -> bool:
        stored = self.config.server and normalize_server(self.config.server) == self.server
        return bool(stored and self.config.signed_in)

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        return self.request("POST", path, auth=auth, **kwargs)

    def request(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        """Send, refresh the session once on 401, and return the decoded JSON body (or None)."""
        response = self.send(method, path, auth=auth, **kwargs)
        if response.status_code == 401 and auth and self._can_refresh():
            self.refresh()
            response = self.send(method, path, auth=auth, **kwargs)
        if response.status_code == 401 and auth:
            raise CliError(self._unauthorized_message(response))
        return decode(response)

    def refresh(self) -> None:
        """Trade the stored refresh token for a new pair and store it."""
        response = self.send("POST", "/api/auth/refresh", auth=False, json={"refresh_token": self.config.refresh_token})
        if response.status_code in REFRESH_REJECTED:
            raise CliError(SESSION_EXPIRED)
        pair = decode(response)
        if not isinstance(pair, dict) or not pair.get("access_token"):
            raise CliError(f"the server at {self.server} answered the token refresh with something unexpected")
        self.store_tokens(pair)

    def store_tokens(self, pair: Mapping[str, Any]) -> None:
        self.config.server = self.server
        self.config.access_token = pair["access_token"]
        # A server may rotate the refresh token or keep the old one valid; keep whichever is newest.
        self.config.refresh_token = pair.get("refresh_token") or self.config.refresh_token
        self.config.device_token = pair.get("device_token") or self.config.device_token
        save_config(self.config)

    def device_cookie(self) -> dict[str, str]:
        """The stored device token as the gateway's sign-in cookie, only for the server it came from."""
        stored = self.config.server and normalize_server(self.config.server) == self.server
        return {"Cookie": f"{DEVICE_COOKIE}={self.config.device_token}"} if stored and self.config.device_token else {}

    def _can_refresh(self) -> bool:
        return not self.api_key and self.has_session and bool(self.config.refresh_token)

    def _auth_headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-Api-Key": self.api_key}
        if self.has_session and self.config.access_token:
            return {"Authorization": f"Bearer {self.config.access_token}"}
        return {}

    def send(
        self, method: str, path: str, *, auth: bool, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {**(self._auth_headers() if auth else {}), **(headers or {})}
        try:
            return self._http.request(method, path, headers=headers, **kwargs)
        except httpx.ConnectTimeout:
            raise CliError(self._unreachable("connection timed out")) from None
        except httpx.TimeoutException:
            raise CliError(f"the Crontopus server at {self.server} did not answer in time") from None
        except httpx.TransportError as exc:
            raise CliError(self._unreachable(str(exc) or type(exc).__name__)) from None

    def _unreachable(self, reason: str) -> str:
        return f"cannot reach the Crontopus server at {self.server} ({reason}): is it running? (`make run`)"

    def _unauthorized_message(self, response: httpx.Response) -> str:
        if self.api_key:
            return f"the server rejected the API key in CRONTOPUS_API_KEY: {error_detail(response)}"
        if self.has_session:
            return SESSION_EXPIRED
        hint = "" if self.server == DEFAULT_SERVER else f" --server {self.server}"
        return f"not signed in to {self.server}: run `crontopus auth login{hint}` (or set CRONTOPUS_API_KEY)"


def decode(response: httpx.Response) -> Any:
    """The JSON body of a successful response; a CliError with the server's reason otherwise."""
    if response.status_code >= 400:
        raise CliError(error_message(response), status=response.status_code)
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise CliError(
            f"the server at {response.request.url.copy_with(path='/', query=None)} did not answer with JSON: "
            "is --server pointing at Crontopus?"
        ) from None


def error_message(response: httpx.Response) -> str:
    detail = error_detail(response)
    if response.status_code >= 500:
        return f"the server failed (HTTP {response.status_code}): {detail}"
    if response.status_code == 429 and (retry := response.headers.get("Retry-After")):
        return f"{detail} (retry in {retry}s)"
    return detail


def error_detail(response: httpx.Response) -> str:
    """The `detail` of a FastAPI error, readable: 422 lists become one line per field."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        return "the server rejected the request:\n" + "\n".join(f"  - {_validation_line(item)}" for item in detail)
    if detail:
        return json.dumps(detail)
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def _validation_line(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc") or []]
    # ("query", "limit") says more as "limit"; keep the origin only when it is all there is.
    if len(loc) > 1 and loc[0] in {"body", "query", "path", "header", "cookie"}:
        loc = loc[1:]
    message = item.get("msg") or "invalid"
    return f"{'.'.join(loc)}: {message}" if loc else message
