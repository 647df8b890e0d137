"""The identity service's tables (private to it). Secrets are stored only as hashes:
passwords as Argon2id, refresh tokens and API keys as HMAC-SHA256 keyed with the server secret."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel


def _at(nullable: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=63, unique=True)
    created_at: datetime = Field(sa_column=_at(False))
    sso_required: bool = False  # members sign in to it with single sign-on only


class User(SQLModel, table=True):
    """A person. Their teams and roles are memberships; ``default_tenant_id`` is the team a
    sign-in acts for (the one they last switched to, or signed up with) while they belong to it."""

    __tablename__ = "users"

    id: str = Field(primary_key=True, max_length=32)
    default_tenant_id: str = Field(max_length=32, foreign_key="tenants.id", index=True)
    username: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=_at(False))
    email_verified_at: datetime | None = Field(default=None, sa_column=_at())


class ExternalIdentity(SQLModel, table=True):
    """An account at a single sign-on provider (its ``subject`` there) linked to a user."""

    __tablename__ = "external_identities"

    provider: str = Field(primary_key=True, max_length=32)
    subject: str = Field(primary_key=True, max_length=255)
    user_id: str = Field(max_length=32, foreign_key="users.id", index=True)
    created_at: datetime = Field(sa_column=_at(False))


class Membership(SQLModel, table=True):
    """A person in a team, with a role (crontopus_schemas.identity.Role)."""

    __tablename__ = "memberships"

    tenant_id: str = Field(primary_key=True, max_length=32, foreign_key="tenants.id")
    user_id: str = Field(primary_key=True, max_length=32, foreign_key="users.id", index=True)
    role: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=_at(False))


class Invitation(SQLModel, table=True):
    """An invitation to a team, mailed to ``email``; its link's token is derived from the id
    (crontopus_identity.links), so nothing secret is stored. Pending while neither accepted nor
    revoked and before ``expires_at``."""

    __tablename__ = "invitations"

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=32, foreign_key="tenants.id", index=True)
    email: str = Field(max_length=320)
    role: str = Field(max_length=16)
    invited_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_at(False))
    expires_at: datetime = Field(sa_column=_at(False))
    accepted_at: datetime | None = Field(default=None, sa_column=_at())
    accepted_by: str | None = Field(default=None, max_length=32)
    revoked_at: datetime | None = Field(default=None, sa_column=_at())


class UserToken(SQLModel, table=True):
    """A mailed link acting on an account (``purpose``: password-reset, verify-email); its token
    is derived from the id (crontopus_identity.links). Good once, before ``expires_at``."""

    __tablename__ = "user_tokens"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(max_length=32, foreign_key="users.id", index=True)
    purpose: str = Field(max_length=16)
    email: str = Field(max_length=320)
    created_at: datetime = Field(sa_column=_at(False))
    expires_at: datetime = Field(sa_column=_at(False))
    used_at: datetime | None = Field(default=None, sa_column=_at())


class RefreshToken(SQLModel, table=True):
    __tablename__ = "refresh_tokens"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(max_length=32, foreign_key="users.id", index=True)
    tenant_id: str = Field(max_length=32)
    family_id: str = Field(max_length=32, index=True)
    via: str = Field(default="password", max_length=16)  # how the sign-in began: password or sso
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=_at(False))
    expires_at: datetime = Field(sa_column=_at(False))
    used_at: datetime | None = Field(default=None, sa_column=_at())
    revoked_at: datetime | None = Field(default=None, sa_column=_at())


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=32, foreign_key="tenants.id", index=True)
    name: str = Field(max_length=100)
    scope: str = Field(max_length=8)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_at(False))
    last_used_at: datetime | None = Field(default=None, sa_column=_at())
    revoked_at: datetime | None = Field(default=None, sa_column=_at())


class SigningKey(SQLModel, table=True):
    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    private_pem: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_at(False))
    active: bool = True


class LoginThrottle(SQLModel, table=True):
    """Counters shared by every identity instance, so limits hold however many run. key is
    ``user:<user id>`` (failures from unknown clients), ``device:<nonce>`` (failures from a client
    with a device token), ``name:<typed name>`` (failures for a name no account has),
    ``ip:<address>`` (sign-in attempts), ``register-ip:<address>`` (sign-ups), ``reset-ip:<address>``
    (password resets asked for), ``reset:<user id>`` (reset mails to one account, per hour),
    ``invite:<tenant>:<email>`` and ``invite-team:<tenant>`` (invitation mails, per hour)."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=400)
    count: int = 0
    window_started_at: datetime = Field(sa_column=_at(False))
    locked_until: datetime | None = Field(default=None, sa_column=_at())


class AuditEntry(SQLModel, table=True):
    """The audit log: appended to by the collector (crontopus_identity.audit), never changed;
    rows older than CRONTOPUS_AUDIT_RETENTION_DAYS are deleted."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_tenant_at", "tenant_id", "at"),)

    id: str = Field(primary_key=True, max_length=32)
    tenant_id: str = Field(max_length=32)
    at: datetime = Field(sa_column=_at(False))
    actor_type: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64)
    actor: str | None = Field(default=None, max_length=320)
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=320)
    outcome: str = Field(max_length=8)
    source: str | None = Field(default=None, max_length=64)
    correlation_id: str | None = Field(default=None, max_length=128)
    details: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
