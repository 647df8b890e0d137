"""The gateway's runtime: its broker, settings and authenticator, shared by every route."""

from __future__ import annotations

from typing import TypeVar

from faststream.nats import NatsBroker
from pydantic import BaseModel

from crontopus_gateway.events import STREAMS, EventRelay
from crontopus_gateway.ping_keys import KeyCache
from crontopus_gateway.security import Authenticator
from crontopus_gateway.settings import GatewaySettings
from crontopus_gateway.sso import SsoClient
from crontopus_kit.broker import rpc_call
from crontopus_kit.crypto import derive_key
from crontopus_kit.errors import NotFound
from crontopus_schemas.pings import PingResolveRequest, PingTarget
from crontopus_schemas.subjects import ACCESS_STREAM, AUDIT_STREAM, GitopsRpc

T = TypeVar("T", bound=BaseModel)

CHECKIN_ID_PURPOSE = "gateway:checkin-msg-id"


class Gateway:
    name = "gateway"
    # What GET /api/events and the access check read and the audit log is published to: declared, so
    # a gateway alone may start first.
    streams = (*STREAMS, ACCESS_STREAM, AUDIT_STREAM)  # AUDIT: it publishes there

    def __init__(self, *, settings: GatewaySettings, broker: NatsBroker) -> None:
        self.settings = settings
        self.broker = broker
        self.authenticator = Authenticator(broker=broker, settings=settings)
        self.sso = SsoClient(
            providers=settings.sso_providers, secret=settings.secret_bytes(), base_url=settings.base_url
        )
        self.router = self.authenticator.router
        # Derived once: every check-in's de-duplication id is keyed with it (routes/checkins.py).
        self.checkin_id_key = derive_key(settings.secret_bytes(), CHECKIN_ID_PURPOSE)
        self.ping_keys = KeyCache(router=self.router, lookup=self._ping_target)
        self.events = EventRelay(
            broker=broker, max_streams_per_team=settings.events_max_streams, keepalive_seconds=settings.events_keepalive
        )

    async def rpc(self, subject: str, request: BaseModel, result_model: type[T], *, timeout: float | None = None) -> T:
        """``timeout``: for requests known to take longer than CRONTOPUS_GATEWAY_RPC_TIMEOUT."""
        return await rpc_call(
            self.broker, subject, request, result_model, timeout=max(timeout or 0, self.settings.rpc_timeout)
        )

    async def rpc_no_result(self, subject: str, request: BaseModel) -> None:
        await rpc_call(self.broker, subject, request, None, timeout=self.settings.rpc_timeout)

    async def _ping_target(self, key: str) -> PingTarget | None:
        try:
            return await self.rpc(GitopsRpc.PING_RESOLVE, PingResolveRequest(key=key), PingTarget)
        except NotFound:
            return None

    async def prepare(self) -> None:
        """The gateway owns no database."""

    async def started(self) -> None:
        await self.authenticator.access_changes.start()

    async def close(self) -> None:
        await self.authenticator.access_changes.stop()
