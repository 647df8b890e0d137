"""Identity request-reply payloads (subjects in subjects.IdentityRpc)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from crontopus_schemas.names import DNS_LABEL
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.times import UtcDateTime

Username = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")]
TenantSlug = Annotated[str, StringConstraints(pattern=DNS_LABEL)]
# A new password; the identity service also refuses one that is easy to guess (its passwords.py).
Password = Annotated[str, StringConstraints(min_length=12, max_length=256)]
KeyScope = Literal["read", "write"]

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
    role: str
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
    last_used_at: UtcDateTime | None = None


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
