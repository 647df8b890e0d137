"""Identity request-reply payloads (subjects in subjects.IdentityRpc)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StrictBool, StringConstraints

from crontopus_schemas.names import DNS_LABEL, LABEL_RULE, in_words
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.times import UtcDateTime

Username = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$"),
    in_words("2 to 64 letters, digits, '_', '.' and '-', beginning with a letter or digit"),
]
TenantSlug = Annotated[str, StringConstraints(pattern=DNS_LABEL), in_words(LABEL_RULE)]
# A new password; the identity service also refuses one that is easy to guess (its passwords.py).
Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]
KeyScope = Literal["read", "write"]
# A membership's role, least to most: viewer reads; member edits jobs and acknowledges incidents;
# admin also configures alerting, agents, API keys, the repository and members; owner also
# manages owners. What each may call: crontopus_gateway.permissions.
Role = Literal["viewer", "member", "admin", "owner"]
ROLES: tuple[Role, ...] = ("viewer", "member", "admin", "owner")


def role_rank(role: str) -> int:
    return ROLES.index(role)  # type: ignore[arg-type]


# Access tokens: JWTs signed with Ed25519, named by RFC 9864's fully specified algorithm
# ("EdDSA" is the deprecated polymorphic name). Verifiers accept this algorithm only.
TOKEN_ALGORITHM = "Ed25519"
TOKEN_AUDIENCE = "crontopus-api"


class RegisterRequest(BaseModel):
    username: Username
    email: EmailStr
    password: Password
    tenant: TenantSlug = Field(description="name of a new team; lowercase letters, digits, '-'")


class RegisterCommand(RegisterRequest):
    """What the gateway sends identity: the sign-up and where it came from (for throttling)."""

    client_ip: str = "unknown"


class UserPublic(BaseModel):
    id: str
    username: str
    email: str
    tenant_id: str
    tenant: str
    role: Role = Field(description="the role in the team this token acts for")
    email_verified: bool = Field(default=False, description="the address was confirmed through a mailed link")
    created_at: UtcDateTime


DEVICE_TOKEN_MAX_LENGTH = 512


class LoginRequest(BaseModel):
    username: str = Field(max_length=320, description="username or email")
    password: str = Field(max_length=256)
    client_ip: str = "unknown"
    device_token: str | None = Field(
        default=None, max_length=DEVICE_TOKEN_MAX_LENGTH,
        description="what an earlier sign-in of this client returned as device_token, if any",
    )  # fmt: skip


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    refresh_token: str = Field(
        description="trade it for a new pair at POST /api/auth/refresh (once); empty for the web console, "
        "which gets it as the HttpOnly cookie crontopus_refresh instead"
    )
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_expires_in: int | None = Field(default=None, description="seconds the refresh token is valid")


class LoginResult(TokenPair):
    """A sign-in's token pair plus this client's device token (OWASP's device cookie): sent back
    with the next sign-in, it lets this client in while the account is locked for other clients."""

    device_token: str = Field(
        description="keep it and send it back on the next sign-in (the web console gets it as the "
        "HttpOnly cookie crontopus_device); while the account is locked against unknown clients after "
        "repeated failures, a client holding it can still sign in with the right password"
    )
    device_token_expires_in: int = Field(description="seconds the device token is honoured")


REFRESH_TOKEN_MAX_LENGTH = 512


class RefreshRequest(BaseModel):
    refresh_token: str = Field(max_length=REFRESH_TOKEN_MAX_LENGTH)


class LogoutRequest(BaseModel):
    refresh_token: str = Field(max_length=REFRESH_TOKEN_MAX_LENGTH)


class MeRequest(TenantScoped):
    user_id: str


class JwksRequest(BaseModel):
    """Asks for the public keys that verify access tokens; no fields."""


class JwksReply(BaseModel):
    issuer: str
    audience: str
    keys: list[dict[str, str]]


# --- teams and members -----------------------------------------------------------


class TeamPublic(BaseModel):
    id: str
    name: str
    role: Role


class TeamList(BaseModel):
    teams: list[TeamPublic]


class UserScoped(BaseModel):
    """A request about the signed-in user, across their teams."""

    user_id: str


class SwitchTeamBody(BaseModel):
    team_id: str = Field(max_length=64, description="one of the ids GET /api/teams lists")


class SwitchTeamRequest(UserScoped, SwitchTeamBody):
    via: str = Field(default="password", description="how the current sign-in began: password or sso")


class MemberPublic(BaseModel):
    user_id: str
    username: str
    email: str
    role: Role
    joined_at: UtcDateTime


class MemberList(BaseModel):
    members: list[MemberPublic]


class MemberRoleBody(BaseModel):
    role: Role


class ActingMember(TenantScoped):
    """A change to a team's members, and who makes it (their role bounds what they may do)."""

    actor_id: str
    actor_role: Role
    user_id: str


class MemberRoleChange(ActingMember):
    role: Role


class AccessChanged(BaseModel):
    """On subjects.ACCESS_STREAM when a member's role changes or they leave a team: gateways
    refuse that member's access tokens for the team issued before ``at`` (a refresh gets a token
    with the new role, or fails for someone who left)."""

    tenant_id: str
    user_id: str
    at: UtcDateTime


# --- invitations and mailed links ---------------------------------------------------

LinkToken = Annotated[str, StringConstraints(min_length=10, max_length=200)]


class InvitationBody(BaseModel):
    email: EmailStr
    role: Role = "member"


class InvitationCreate(TenantScoped, InvitationBody):
    actor_id: str
    actor_role: Role


class InvitationPublic(BaseModel):
    id: str
    email: str
    role: Role
    invited_by: str | None = Field(default=None, description="the username of who invited")
    created_at: UtcDateTime
    expires_at: UtcDateTime


class InvitationList(BaseModel):
    invitations: list[InvitationPublic]


class InvitationRef(TenantScoped):
    invitation_id: str


class AcceptInvitationBody(BaseModel):
    """Signed in: only the token (the account's email must be the invitation's). Not signed in:
    the token, a username and a password make a new account with the invitation's email."""

    token: LinkToken
    username: Username | None = None
    password: Password | None = None


class AcceptInvitation(AcceptInvitationBody):
    user_id: str | None = Field(default=None, description="the signed-in user accepting, if any")
    via: str = Field(default="password", description="how that user's sign-in began: password or sso")
    client_ip: str = "unknown"


class PasswordResetBody(BaseModel):
    email: EmailStr


class PasswordResetRequest(PasswordResetBody):
    client_ip: str = "unknown"


class PasswordResetAccepted(BaseModel):
    detail: str


class PasswordResetConfirm(BaseModel):
    token: LinkToken
    password: Password


class EmailChangeBody(BaseModel):
    email: EmailStr
    password: str = Field(
        max_length=256, description="your current password: a stolen session alone cannot move the account"
    )


class EmailChange(TenantScoped, EmailChangeBody):
    user_id: str


class VerifyEmailBody(BaseModel):
    token: LinkToken


class TeamSettings(BaseModel):
    id: str
    name: str
    sso_required: bool = Field(description="members sign in to this team with single sign-on only")


class SsoRequirementBody(BaseModel):
    required: StrictBool


class SsoRequirement(TenantScoped, SsoRequirementBody):
    via: str = Field(description="how the owner's own sign-in began: turning it on needs sso")


class SsoSignIn(BaseModel):
    """An identity a provider vouched for (the gateway verified its ID token)."""

    provider: str = Field(max_length=32)
    subject: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    email_verified: bool = False
    name: str | None = Field(default=None, max_length=200)
    client_ip: str = "unknown"


class ApiKeyCreateRequest(TenantScoped):
    created_by: str
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    scope: KeyScope = "read"


class ApiKeyPublic(BaseModel):
    id: str
    name: str
    scope: KeyScope
    prefix: str
    created_at: UtcDateTime
    created_by: str | None = Field(default=None, description="the username of who created it")
    last_used_at: UtcDateTime | None = None


class ApiKeyCurrent(ApiKeyPublic):
    """The API key a request is made with, and its team (`GET /api/api-keys/current`)."""

    tenant: str | None = Field(default=None, description="the team's name")
    tenant_id: str


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the secret key; shown once, only its keyed hash is stored")


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyPublic]


class ApiKeyRevokeRequest(TenantScoped):
    key_id: str


class ApiKeyVerifyRequest(BaseModel):
    key: str = Field(max_length=512)


class ApiKeyRevoked(BaseModel):
    """Broadcast on subjects.API_KEY_REVOKED."""

    key_id: str
    tenant_id: str
