"""Mail the platform sends to people (not alert notifications: those are alerting's channels).

A service that wants a mail sent publishes ``MailRequested`` on the MAIL stream; identity's mail
sender renders it (text + HTML) and delivers it over SMTP, or into the outbox without SMTP, with
retries. The event holds no secret: a link's token is derived from ``ref`` by the sender with the
server secret (crontopus_identity.links), so the stream on disk gives nobody a usable link."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MailKind = Literal["invitation", "password-reset", "verify-email", "welcome"]


class MailRequested(BaseModel):
    id: str = Field(description="unique per mail: JetStream de-duplicates on it")
    kind: MailKind
    to: str = Field(max_length=320)
    ref: str | None = Field(default=None, description="the row the mail's link acts on (an invitation, a token)")
    values: dict[str, str] = Field(default_factory=dict, description="what the template shows: team, role, ...")
