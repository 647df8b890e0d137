"""Thin NATS handlers: request -> service -> reply (and the revocation broadcast)."""

from __future__ import annotations

from typing import Literal

from faststream.nats import NatsRouter

from crontopus_identity import audit, invitations, members, recovery, service, sso
from crontopus_identity.mail import MailQueue
from crontopus_identity.service import Context
from crontopus_kit.audit import audit_event, publish_audit
from crontopus_kit.broker import Publisher, rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.errors import Unauthorized
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects
from crontopus_schemas.audit import AuditPage, AuditQuery
from crontopus_schemas.gitops import TenantCreated
from crontopus_schemas.identity import (
    AcceptInvitation,
    AccessChanged,
    ActingMember,
    ApiKeyCreated,
    ApiKeyCreateRequest,
    ApiKeyList,
    ApiKeyRevokeRequest,
    ApiKeyVerifyRequest,
    EmailChange,
    InvitationCreate,
    InvitationList,
    InvitationPublic,
    InvitationRef,
    JwksReply,
    JwksRequest,
    LoginRequest,
    LoginResult,
    LogoutRequest,
    MemberList,
    MemberPublic,
    MemberRoleChange,
    MeRequest,
    PasswordResetAccepted,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    RegisterCommand,
    SsoRequirement,
    SsoSignIn,
    SwitchTeamRequest,
    TeamList,
    TeamSettings,
    TokenPair,
    UserPublic,
    UserScoped,
    VerifyEmailBody,
)
from crontopus_schemas.mail import MailRequested
from crontopus_schemas.rpc import Principal, TenantScoped
from crontopus_schemas.subjects import IdentityRpc

Q = IdentityRpc.QUEUE
log = get_logger(__name__)


def build_router(
    *, db: Database, ctx: Context, announcer: TenantAnnouncer, access: AccessAnnouncer, mail: MailQueue,
    auditor: Auditor,
) -> NatsRouter:  # fmt: skip
    router = NatsRouter()
    _add_account_handlers(router, db, ctx, announcer, mail, auditor)
    _add_team_handlers(router, db, ctx, access)
    _add_invitation_handlers(router, db, ctx, mail, auditor)
    _add_recovery_handlers(router, db, ctx, access, mail, auditor)
    _add_api_key_handlers(router, db, ctx)
    _add_audit_handlers(router, db)
    return router


class Auditor:
    """Records what identity sees done without the gateway seeing who did it: sign-ins (and
    failed ones), sign-ups, password resets and accepted invitations."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def record(
        self, *, tenant_id: str, user_id: str, action: str, source: str | None = None, target: str | None = None,
        outcome: Literal["success", "failure"] = "success", details: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        event = audit_event(tenant_id=tenant_id, actor_type="user", actor_id=user_id, action=action,
                            target=target, outcome=outcome, source=source, details=details or {})  # fmt: skip
        await publish_audit(self.publisher, event)

    async def sign_in(self, db: Database, request: LoginRequest, *, outcome: Literal["success", "failure"]) -> None:
        """In the team the sign-in opened (or, failed, the account's default team); a name that
        is no account's belongs to no team and is not recorded here (only counted)."""
        async with db.session() as session:
            user = await service.find_user(session, request.username)
        if user is not None:
            await self.record(tenant_id=user.default_tenant_id, user_id=user.id, action="auth.sign-in",
                              outcome=outcome, source=request.client_ip, target=user.username)  # fmt: skip


async def send_quietly(mail: MailQueue, request: MailRequested | None) -> None:
    """For mails that come with a request which stands without them (a sign-up, a reset asked for):
    one that cannot be queued is logged, and the request still answers."""
    if request is None:
        return
    try:
        await mail.send(request)
    except Exception:
        log.warning("mail not queued", kind=request.kind, exc_info=True)


class AccessAnnouncer:
    """Publishes AccessChanged on JetStream, where every gateway (one starting later too) reads
    it and refuses the member's older access tokens for the team."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def announce(self, change: AccessChanged) -> None:
        """An empty acknowledgement is retried by the broker's middleware (crontopus_kit.broker)."""
        subject = subjects.access_changed_subject(change.tenant_id, change.user_id)
        try:
            await self.publisher.publish(change.model_dump_json().encode(), subject, stream=subjects.ACCESS_STREAM.name)
        except Exception:
            # The change itself is stored and the member's refresh tokens obey it; only access
            # tokens already out keep their old role until they expire.
            log.error("access change not published", tenant_id=change.tenant_id, user_id=change.user_id,
                      exc_info=True)  # fmt: skip


class TenantAnnouncer:
    """Publishes TenantCreated so other services set a new team up (gitops: its repository).
    If one is lost, they still do it lazily on the team's first request."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def announce(self, user: UserPublic) -> None:
        event = TenantCreated(tenant_id=user.tenant_id, name=user.tenant)
        try:
            await self.publisher.publish(
                event.model_dump_json().encode(),
                subjects.tenant_created_subject(user.tenant_id),
                headers={"Nats-Msg-Id": f"tenant-created:{user.tenant_id}"},
                stream=subjects.TENANTS_STREAM.name,
            )
        except Exception:
            log.warning("tenant-created event not published", tenant_id=user.tenant_id, exc_info=True)


def _add_account_handlers(
    router: NatsRouter, db: Database, ctx: Context, announcer: TenantAnnouncer, mail: MailQueue, auditor: Auditor
) -> None:
    @router.subscriber(IdentityRpc.REGISTER, queue=Q)
    @rpc_handler(RegisterCommand)
    async def register(request: RegisterCommand) -> UserPublic:
        async with db.session() as session:
            user = await service.register(
                session=session, request=request, settings=ctx.settings, client_ip=request.client_ip
            )
            verification = await recovery.verification_mail(session=session, user_id=user.id, now=service.utcnow())
        await announcer.announce(user)
        await auditor.record(tenant_id=user.tenant_id, user_id=user.id, action="team.create", target=user.tenant,
                             source=request.client_ip)  # fmt: skip
        await send_quietly(mail, verification)
        return user

    @router.subscriber(IdentityRpc.LOGIN, queue=Q)
    @rpc_handler(LoginRequest)
    async def login(request: LoginRequest) -> LoginResult:
        try:
            async with db.session() as session:
                result = await service.login(session=session, ctx=ctx, request=request)
        except Unauthorized:
            await auditor.sign_in(db, request, outcome="failure")
            raise
        await auditor.sign_in(db, request, outcome="success")
        return result

    @router.subscriber(IdentityRpc.SSO_SIGN_IN, queue=Q)
    @rpc_handler(SsoSignIn)
    async def sso_sign_in(request: SsoSignIn) -> TokenPair:
        async with db.session() as session:
            pair, user, created = await sso.sign_in(session=session, ctx=ctx, request=request, now=service.utcnow())
        if created is not None:
            await announcer.announce(created)
        await auditor.record(tenant_id=user.default_tenant_id, user_id=user.id, action="auth.sign-in",
                             source=request.client_ip, target=user.username,
                             details={"via": request.provider})  # fmt: skip
        return pair

    @router.subscriber(IdentityRpc.REFRESH, queue=Q)
    @rpc_handler(RefreshRequest)
    async def refresh(request: RefreshRequest) -> TokenPair:
        async with db.session() as session:
            return await service.refresh(session=session, ctx=ctx, token=request.refresh_token)

    @router.subscriber(IdentityRpc.LOGOUT, queue=Q)
    @rpc_handler(LogoutRequest)
    async def logout(request: LogoutRequest) -> None:
        async with db.session() as session:
            await service.logout(session=session, secret=ctx.secret, token=request.refresh_token)

    @router.subscriber(IdentityRpc.ME, queue=Q)
    @rpc_handler(MeRequest)
    async def me(request: MeRequest) -> UserPublic:
        async with db.session() as session:
            return await service.me(session=session, tenant_id=request.tenant_id, user_id=request.user_id)

    @router.subscriber(IdentityRpc.JWKS, queue=Q)
    @rpc_handler(JwksRequest)
    async def jwks(_: JwksRequest) -> JwksReply:
        return ctx.issuer.jwks()


def _add_team_handlers(router: NatsRouter, db: Database, ctx: Context, access: AccessAnnouncer) -> None:
    @router.subscriber(IdentityRpc.TEAMS_LIST, queue=Q)
    @rpc_handler(UserScoped)
    async def list_teams(request: UserScoped) -> TeamList:
        async with db.session() as session:
            return await members.list_teams(session=session, user_id=request.user_id)

    @router.subscriber(IdentityRpc.TEAM_SWITCH, queue=Q)
    @rpc_handler(SwitchTeamRequest)
    async def switch_team(request: SwitchTeamRequest) -> TokenPair:
        async with db.session() as session:
            return await service.switch_team(session=session, ctx=ctx, request=request)

    @router.subscriber(IdentityRpc.TEAM_GET, queue=Q)
    @rpc_handler(TenantScoped)
    async def team_settings(request: TenantScoped) -> TeamSettings:
        async with db.session() as session:
            return await members.team_settings(session=session, tenant_id=request.tenant_id)

    @router.subscriber(IdentityRpc.TEAM_SSO, queue=Q)
    @rpc_handler(SsoRequirement)
    async def require_sso(request: SsoRequirement) -> TeamSettings:
        async with db.session() as session:
            team, notices = await members.require_sso(session=session, request=request, now=service.utcnow())
        for notice in notices:
            await access.announce(notice)
        return team

    @router.subscriber(IdentityRpc.MEMBERS_LIST, queue=Q)
    @rpc_handler(TenantScoped)
    async def list_members(request: TenantScoped) -> MemberList:
        async with db.session() as session:
            return await members.list_members(session=session, tenant_id=request.tenant_id)

    @router.subscriber(IdentityRpc.MEMBER_ROLE, queue=Q)
    @rpc_handler(MemberRoleChange)
    async def change_role(request: MemberRoleChange) -> MemberPublic:
        async with db.session() as session:
            member, change = await members.change_role(session=session, request=request, now=service.utcnow())
        if change is not None:
            await access.announce(change)
        return member

    @router.subscriber(IdentityRpc.MEMBER_REMOVE, queue=Q)
    @rpc_handler(ActingMember)
    async def remove_member(request: ActingMember) -> None:
        async with db.session() as session:
            change = await members.remove_member(session=session, request=request, now=service.utcnow())
        await access.announce(change)


def _add_invitation_handlers(router: NatsRouter, db: Database, ctx: Context, mail: MailQueue, auditor: Auditor) -> None:
    @router.subscriber(IdentityRpc.INVITATION_CREATE, queue=Q)
    @rpc_handler(InvitationCreate)
    async def create_invitation(request: InvitationCreate) -> InvitationPublic:
        async with db.session() as session:
            invitation, message = await invitations.create(session=session, request=request, now=service.utcnow())
            await mail.send(message)  # queued first: no invitation is stored that no mail carries
            await session.commit()
        return invitation

    @router.subscriber(IdentityRpc.INVITATIONS_LIST, queue=Q)
    @rpc_handler(TenantScoped)
    async def list_invitations(request: TenantScoped) -> InvitationList:
        async with db.session() as session:
            return await invitations.list_pending(session=session, tenant_id=request.tenant_id, now=service.utcnow())

    @router.subscriber(IdentityRpc.INVITATION_REVOKE, queue=Q)
    @rpc_handler(InvitationRef)
    async def revoke_invitation(request: InvitationRef) -> None:
        async with db.session() as session:
            await invitations.revoke(session=session, request=request, now=service.utcnow())

    @router.subscriber(IdentityRpc.INVITATION_ACCEPT, queue=Q)
    @rpc_handler(AcceptInvitation)
    async def accept_invitation(request: AcceptInvitation) -> TokenPair:
        async with db.session() as session:
            pair, welcome, joined = await invitations.accept(
                session=session, ctx=ctx, request=request, now=service.utcnow()
            )
        await auditor.record(tenant_id=joined.tenant_id, user_id=joined.accepted_by or "", action="invitation.accept",
                             target=joined.email, details={"role": joined.role}, source=request.client_ip)  # fmt: skip
        await send_quietly(mail, welcome)
        return pair


def _add_recovery_handlers(
    router: NatsRouter, db: Database, ctx: Context, access: AccessAnnouncer, mail: MailQueue, auditor: Auditor
) -> None:
    @router.subscriber(IdentityRpc.PASSWORD_RESET, queue=Q)
    @rpc_handler(PasswordResetRequest)
    async def request_reset(request: PasswordResetRequest) -> PasswordResetAccepted:
        async with db.session() as session:
            message = await recovery.request_reset(session=session, ctx=ctx, request=request, now=service.utcnow())
        await send_quietly(mail, message)  # the answer is the same either way
        return PasswordResetAccepted(detail=recovery.RESET_ACCEPTED)

    @router.subscriber(IdentityRpc.PASSWORD_RESET_CONFIRM, queue=Q)
    @rpc_handler(PasswordResetConfirm)
    async def reset_password(request: PasswordResetConfirm) -> None:
        async with db.session() as session:
            changes = await recovery.reset_password(session=session, ctx=ctx, request=request, now=service.utcnow())
        for change in changes:
            await access.announce(change)
            await auditor.record(tenant_id=change.tenant_id, user_id=change.user_id, action="auth.password-reset")

    @router.subscriber(IdentityRpc.EMAIL_CHANGE, queue=Q)
    @rpc_handler(EmailChange)
    async def change_email(request: EmailChange) -> UserPublic:
        async with db.session() as session:
            user, verification = await recovery.change_email(session=session, request=request, now=service.utcnow())
        await send_quietly(mail, verification)
        return user

    @router.subscriber(IdentityRpc.VERIFY_EMAIL, queue=Q)
    @rpc_handler(VerifyEmailBody)
    async def verify_email(request: VerifyEmailBody) -> None:
        async with db.session() as session:
            welcome = await recovery.verify_email(session=session, ctx=ctx, token=request.token, now=service.utcnow())
        await send_quietly(mail, welcome)


def _add_audit_handlers(router: NatsRouter, db: Database) -> None:
    @router.subscriber(IdentityRpc.AUDIT_LIST, queue=Q)
    @rpc_handler(AuditQuery)
    async def list_audit(request: AuditQuery) -> AuditPage:
        async with db.session() as session:
            return await audit.list_entries(session=session, query=request)


def _add_api_key_handlers(router: NatsRouter, db: Database, ctx: Context) -> None:
    revoked_notice = router.publisher(subjects.API_KEY_REVOKED)

    @router.subscriber(IdentityRpc.API_KEY_CREATE, queue=Q)
    @rpc_handler(ApiKeyCreateRequest)
    async def create_api_key(request: ApiKeyCreateRequest) -> ApiKeyCreated:
        async with db.session() as session:
            return await service.create_api_key(session=session, secret=ctx.secret, request=request)

    @router.subscriber(IdentityRpc.API_KEY_LIST, queue=Q)
    @rpc_handler(TenantScoped)
    async def list_api_keys(request: TenantScoped) -> ApiKeyList:
        async with db.session() as session:
            return await service.list_api_keys(session=session, tenant_id=request.tenant_id)

    @router.subscriber(IdentityRpc.API_KEY_REVOKE, queue=Q)
    @rpc_handler(ApiKeyRevokeRequest)
    async def revoke_api_key(request: ApiKeyRevokeRequest) -> None:
        async with db.session() as session:
            notice = await service.revoke_api_key(session=session, tenant_id=request.tenant_id, key_id=request.key_id)
        # Sent before the reply, so gateways drop cached verdicts as early as possible.
        await revoked_notice.publish(notice.model_dump(mode="json"))

    @router.subscriber(IdentityRpc.API_KEY_VERIFY, queue=Q)
    @rpc_handler(ApiKeyVerifyRequest)
    async def verify_api_key(request: ApiKeyVerifyRequest) -> Principal:
        async with db.session() as session:
            return await service.verify_api_key(session=session, secret=ctx.secret, key=request.key)
