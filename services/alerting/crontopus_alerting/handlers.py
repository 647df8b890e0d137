"""Thin handlers: the gateway's requests, and the notices the service produces handed to dispatch."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.nats import NatsBroker, NatsRouter
from nats.js import JetStreamContext

from crontopus_alerting import badges, channels, dispatch, incidents, service, silences
from crontopus_alerting.models import Incident
from crontopus_alerting.service import Notice
from crontopus_alerting.settings import AlertingSettings
from crontopus_kit.broker import jetstream, rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects
from crontopus_schemas.alerting import (
    AlertRules,
    AlertRulesUpdate,
    ChannelCreateRequest,
    ChannelList,
    ChannelPublic,
    ChannelRef,
    DeliveryPublic,
    IncidentAction,
    IncidentChanged,
    IncidentDetail,
    IncidentList,
    IncidentListRequest,
    IncidentPublic,
    SilenceCreateRequest,
    SilenceList,
    SilencePublic,
    SilenceRef,
)
from crontopus_schemas.badges import BadgeKeyList, BadgeListRequest, BadgeResolveRequest, BadgeState
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import AlertingRpc

Q = AlertingRpc.QUEUE
log = get_logger(__name__)


# What each kind of notice tells the console's live events about its incident.
CHANGE_OF = {"trigger": "opened", "resolve": "resolved", "renotify": "notified", "escalate": "escalated"}


class Notifier:
    """Announces every incident change (``IncidentChanged`` on the INCIDENTS stream) and turns the
    notices of incidents that are not silenced into deliveries: one per channel it goes to
    (``service.recipients``), through the NOTIFICATIONS stream."""

    def __init__(self, *, db: Database, broker: NatsBroker) -> None:
        self.db = db
        self.broker = broker

    @property
    def js(self) -> JetStreamContext:
        return jetstream(self.broker)

    async def send(self, notices: Sequence[Notice]) -> None:
        for notice in notices:
            await self.announce(notice.incident, CHANGE_OF[notice.event])
            if notice.incident.silenced:
                continue  # recorded and shown, nobody told
            try:
                await self._send_one(notice)
            except Exception:
                log.exception("notification not queued", incident_id=notice.incident.id, event_kind=notice.event)

    async def announce(self, incident: Incident, change: str) -> None:
        """The incident as it is now, for whoever watches the team live. Published after the
        change is committed; one lost to a NATS outage is only a late update of an open page
        (the incident itself is stored), so it is logged, not retried."""
        event = IncidentChanged(**incidents.incident_public(incident).model_dump(), change=change)  # type: ignore[arg-type]
        try:
            await self.js.publish(
                subjects.incident_changed_subject(incident.tenant_id), event.model_dump_json().encode(),
                stream=subjects.INCIDENTS_STREAM.name, headers={"Nats-Msg-Id": str(event.event_id)},
            )  # fmt: skip
        except Exception:
            log.warning("incident event not published", incident_id=incident.id, change=change, exc_info=True)

    async def _send_one(self, notice: Notice) -> None:
        async with self.db.session() as session:
            routed = await service.recipients(session=session, notice=notice)
            if routed:
                await dispatch.enqueue(
                    session=session, js=self.js, tenant_id=notice.incident.tenant_id, event=notice.event,  # type: ignore[arg-type]
                    channel_ids=[channel.id for channel in routed], incident_id=notice.incident.id,
                )  # fmt: skip
        log.info("incident notice", incident_id=notice.incident.id, job=notice.incident.job,
                 cause=notice.incident.cause, event_kind=notice.event, channels=len(routed))  # fmt: skip


def build_router(*, db: Database, settings: AlertingSettings, notifier: Notifier) -> NatsRouter:
    router = NatsRouter()
    _add_rules_handlers(router, db)
    _add_incident_handlers(router, db, notifier)
    _add_channel_handlers(router, db, settings, notifier)
    _add_silence_handlers(router, db)
    _add_badge_handlers(router, db)
    return router


def _add_rules_handlers(router: NatsRouter, db: Database) -> None:
    @router.subscriber(AlertingRpc.RULES_GET, queue=Q)
    @rpc_handler(TenantScoped)
    async def get_rules(request: TenantScoped) -> AlertRules:
        async with db.session() as session:
            return await service.get_rules(session=session, tenant_id=request.tenant_id)

    @router.subscriber(AlertingRpc.RULES_UPDATE, queue=Q)
    @rpc_handler(AlertRulesUpdate)
    async def update_rules(request: AlertRulesUpdate) -> AlertRules:
        async with db.session() as session:
            return await service.update_rules(session=session, tenant_id=request.tenant_id, new=request.rules)


def _add_incident_handlers(router: NatsRouter, db: Database, notifier: Notifier) -> None:
    @router.subscriber(AlertingRpc.INCIDENTS_LIST, queue=Q)
    @rpc_handler(IncidentListRequest)
    async def list_incidents(request: IncidentListRequest) -> IncidentList:
        async with db.session() as session:
            return await incidents.list_incidents(session=session, request=request)

    @router.subscriber(AlertingRpc.INCIDENT_GET, queue=Q)
    @rpc_handler(IncidentAction)
    async def get_incident(request: IncidentAction) -> IncidentDetail:
        async with db.session() as session:
            found = await incidents.get_incident(
                session=session, tenant_id=request.tenant_id, incident_id=request.incident_id
            )
            sent = await dispatch.deliveries_of(session=session, tenant_id=request.tenant_id, incident_id=found.id)
            return incidents.incident_detail(found, sent)

    @router.subscriber(AlertingRpc.INCIDENT_ACK, queue=Q)
    @rpc_handler(IncidentAction)
    async def acknowledge(request: IncidentAction) -> IncidentPublic:
        async with db.session() as session:
            acked, changed = await incidents.acknowledge(
                session=session, tenant_id=request.tenant_id, incident_id=request.incident_id, user_id=request.user_id
            )
        if changed:
            await notifier.announce(acked, "acknowledged")
        return incidents.incident_public(acked)

    @router.subscriber(AlertingRpc.INCIDENT_RESOLVE, queue=Q)
    @rpc_handler(IncidentAction)
    async def resolve(request: IncidentAction) -> IncidentPublic:
        async with db.session() as session:
            resolved, changed = await incidents.resolve_by_hand(
                session=session, tenant_id=request.tenant_id, incident_id=request.incident_id, user_id=request.user_id
            )
        if changed:
            await notifier.send([Notice(resolved, "resolve")])  # to the channels told of it
        return incidents.incident_public(resolved)


def _add_channel_handlers(router: NatsRouter, db: Database, settings: AlertingSettings, notifier: Notifier) -> None:
    secret = settings.secret_bytes()

    @router.subscriber(AlertingRpc.CHANNEL_CREATE, queue=Q)
    @rpc_handler(ChannelCreateRequest)
    async def create_channel(request: ChannelCreateRequest) -> ChannelPublic:
        async with db.session() as session:
            return await channels.create_channel(
                session=session, tenant_id=request.tenant_id, body=request.body, secret=secret,
                allow_private=settings.allow_private_networks,
            )  # fmt: skip

    @router.subscriber(AlertingRpc.CHANNELS_LIST, queue=Q)
    @rpc_handler(TenantScoped)
    async def list_channels(request: TenantScoped) -> ChannelList:
        async with db.session() as session:
            return ChannelList(channels=await channels.list_channels(session=session, tenant_id=request.tenant_id))

    @router.subscriber(AlertingRpc.CHANNEL_GET, queue=Q)
    @rpc_handler(ChannelRef)
    async def get_channel(request: ChannelRef) -> ChannelPublic:
        async with db.session() as session:
            return await channels.get_channel(
                session=session, tenant_id=request.tenant_id, channel_id=request.channel_id
            )

    @router.subscriber(AlertingRpc.CHANNEL_DELETE, queue=Q)
    @rpc_handler(ChannelRef)
    async def delete_channel(request: ChannelRef) -> None:
        async with db.session() as session:
            await channels.delete_channel(session=session, tenant_id=request.tenant_id, channel_id=request.channel_id)

    @router.subscriber(AlertingRpc.CHANNEL_TEST, queue=Q)
    @rpc_handler(ChannelRef)
    async def test_channel(request: ChannelRef) -> DeliveryPublic:
        async with db.session() as session:
            return await dispatch.send_test(
                session=session, js=notifier.js, tenant_id=request.tenant_id, channel_id=request.channel_id
            )


def _add_silence_handlers(router: NatsRouter, db: Database) -> None:
    @router.subscriber(AlertingRpc.SILENCE_CREATE, queue=Q)
    @rpc_handler(SilenceCreateRequest)
    async def create_silence(request: SilenceCreateRequest) -> SilencePublic:
        async with db.session() as session:
            return await silences.create_silence(session=session, request=request)

    @router.subscriber(AlertingRpc.SILENCES_LIST, queue=Q)
    @rpc_handler(TenantScoped)
    async def list_silences(request: TenantScoped) -> SilenceList:
        async with db.session() as session:
            return SilenceList(silences=await silences.list_silences(session=session, tenant_id=request.tenant_id))

    @router.subscriber(AlertingRpc.SILENCE_DELETE, queue=Q)
    @rpc_handler(SilenceRef)
    async def delete_silence(request: SilenceRef) -> None:
        async with db.session() as session:
            await silences.delete_silence(session=session, tenant_id=request.tenant_id, silence_id=request.silence_id)


def _add_badge_handlers(router: NatsRouter, db: Database) -> None:
    @router.subscriber(AlertingRpc.BADGES_LIST, queue=Q)
    @rpc_handler(BadgeListRequest)
    async def list_badges(request: BadgeListRequest) -> BadgeKeyList:
        async with db.session() as session:
            return await badges.list_badges(session=session, tenant_id=request.tenant_id, job=request.job)

    @router.subscriber(AlertingRpc.BADGES_ROTATE, queue=Q)
    @rpc_handler(BadgeListRequest)
    async def rotate_badge_key(request: BadgeListRequest) -> BadgeKeyList:
        async with db.session() as session:
            await badges.rotate(session=session, tenant_id=request.tenant_id)
            return await badges.list_badges(session=session, tenant_id=request.tenant_id)

    @router.subscriber(AlertingRpc.BADGE_RESOLVE, queue=Q)
    @rpc_handler(BadgeResolveRequest)
    async def resolve_badge(request: BadgeResolveRequest) -> BadgeState:
        async with db.session() as session:
            return await badges.resolve(session=session, request=request)
