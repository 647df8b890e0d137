"""Subject, stream, durable and queue-group names: the one place they are spelled.

Naming: ``crontopus.<area>.v<version>.<...>``. A breaking change to a payload gets a
new version segment instead of changing the old subject.
Tenant and agent ids are UUID hex strings (no dots), so they are safe as tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "crontopus"


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream this system owns; created or updated at start-up."""

    name: str
    subjects: tuple[str, ...]
    max_age_seconds: int
    duplicate_window_seconds: int = 120
    max_message_bytes: int = -1  # JetStream refuses a larger message (-1: the server's max_payload)


# --- check-ins -------------------------------------------------------------
# crontopus.checkins.v1.<tenant_id>.<source>; source is "api", "ping" or an agent id.
CHECKINS_ROOT = f"{PREFIX}.checkins.v1"
CHECKINS_STREAM = StreamSpec(
    name="CHECKINS",
    subjects=(f"{CHECKINS_ROOT}.>",),
    max_age_seconds=7 * 24 * 3600,
    duplicate_window_seconds=600,
    # An agent publishes here itself: without a bound, the server's 8 MB max_payload. A check-in
    # carries at most the stored tail of its output (64 KiB; 100 KiB from a ping), even escaped.
    max_message_bytes=1024 * 1024,
)
RUNS_CHECKINS_DURABLE = "runs-checkins"
CHECKINS_WILDCARD = f"{CHECKINS_ROOT}.*.*"  # every tenant's and source's check-ins


def checkin_subject(tenant_id: str, source: str) -> str:
    return f"{CHECKINS_ROOT}.{tenant_id}.{source}"


def tenant_from_checkin_subject(subject: str) -> str:
    """The tenant is taken from the subject (the credential), never from the payload."""
    parts = subject.split(".")
    if len(parts) != 5 or ".".join(parts[:3]) != CHECKINS_ROOT:
        raise ValueError(f"not a check-in subject: {subject!r}")
    return parts[3]


def checkin_msg_id(tenant_id: str, source: str, run_id: str, status: str) -> str:
    """JetStream de-duplication id: one message per tenant, source, run and phase.

    JetStream de-duplicates on this header across the whole stream, whoever published it, so
    the id carries the tenant and the source: the same run id used by two teams (or by an
    agent and the API) never suppresses the other. An agent publishes this id as it is; its run
    ids are random. The gateway publishes a keyed digest of it instead (``run_id`` there is
    chosen by a team's script, and any agent may put any id on its own publish), see
    ``crontopus_gateway.routes.checkins``."""
    phase = "start" if status == "running" else "finish"
    return f"{tenant_id}:{source}:{run_id}:{phase}"


# --- run events ------------------------------------------------------------
RUNS_ROOT = f"{PREFIX}.runs.v1"
RUNS_STREAM = StreamSpec(
    name="RUNS",
    subjects=(f"{RUNS_ROOT}.>",),
    max_age_seconds=7 * 24 * 3600,
)


def run_recorded_subject(tenant_id: str) -> str:
    return f"{RUNS_ROOT}.recorded.{tenant_id}"


# --- tenants -----------------------------------------------------------------
TENANTS_ROOT = f"{PREFIX}.tenants.v1"
TENANTS_STREAM = StreamSpec(name="TENANTS", subjects=(f"{TENANTS_ROOT}.>",), max_age_seconds=30 * 24 * 3600)
GITOPS_TENANTS_DURABLE = "gitops-tenants"


def tenant_created_subject(tenant_id: str) -> str:
    return f"{TENANTS_ROOT}.created.{tenant_id}"


# --- gitops ----------------------------------------------------------------
GITOPS_ROOT = f"{PREFIX}.gitops.v1"
GITOPS_STREAM = StreamSpec(name="GITOPS", subjects=(f"{GITOPS_ROOT}.changed.>",), max_age_seconds=7 * 24 * 3600)


def manifests_changed_subject(tenant_id: str) -> str:
    """The agents' sync nudge and the alerting service's schedule source."""
    return f"{GITOPS_ROOT}.changed.{tenant_id}"


def repository_location_subject(tenant_id: str, agent_id: str) -> str:
    """Core NATS request-reply: an agent asks where its team's jobs are (``RepositoryLocation``
    in an ``RpcReply``), on every (re)connect, since it may have been offline when a nudge said
    they moved. Tenant and agent are in the subject, so an agent may ask only as itself. The
    reply subject is the asker's choice, and an answer sent wherever it says would be a message
    the agent could not publish itself (on another team's subjects, on ``$JS.API``): gitops
    answers only a request that came through the agents' service import
    (``is_service_import_reply``), whose answer goes back into the agents' account only.
    (Until 2026-12 the subject was ``...location.<tenant_id>``; nothing answers there now.)"""
    return f"{GITOPS_ROOT}.location.{tenant_id}.{agent_id}"


REPOSITORY_LOCATION_WILDCARD = f"{GITOPS_ROOT}.location.*.*"
MANIFESTS_CHANGED_WILDCARD = f"{GITOPS_ROOT}.changed.*"  # the nudges agents subscribe to


def tenant_and_agent_from_location_subject(subject: str) -> tuple[str, str]:
    """(tenant, agent) of a repository location request: the server's permissions decided them."""
    parts = subject.split(".")
    if len(parts) != 6 or ".".join(parts[:4]) != f"{GITOPS_ROOT}.location":
        raise ValueError(f"not a repository location subject: {subject!r}")
    return parts[4], parts[5]


def pushed_subject(tenant_id: str) -> str:
    """Core NATS: a repository's post-receive hook says "look now"; losing one is covered by the poll."""
    return f"{GITOPS_ROOT}.pushed.{tenant_id}"


PUSHED_WILDCARD = f"{GITOPS_ROOT}.pushed.*"


def tenant_from_subject(subject: str) -> str:
    """The last token of a per-tenant subject."""
    return subject.rsplit(".", 1)[-1]


# --- agents ------------------------------------------------------------------
# What an agent publishes is core NATS (latest state wins; the next heartbeat repeats it):
#   crontopus.agents.v1.heartbeat.<tenant_id>.<agent_id>
#   crontopus.agents.v1.report.<tenant_id>.<agent_id>      (after each sync: commit, drift, errors)
# What the agents service publishes about agents is a JetStream event (alerting consumes it):
#   crontopus.agents.v1.events.<tenant_id>
AGENTS_ROOT = f"{PREFIX}.agents.v1"
AGENTS_STREAM = StreamSpec(name="AGENTS", subjects=(f"{AGENTS_ROOT}.events.>",), max_age_seconds=30 * 24 * 3600)
AGENT_HEARTBEAT_WILDCARD = f"{AGENTS_ROOT}.heartbeat.*.*"
AGENT_REPORT_WILDCARD = f"{AGENTS_ROOT}.report.*.*"


def agent_heartbeat_subject(tenant_id: str, agent_id: str) -> str:
    return f"{AGENTS_ROOT}.heartbeat.{tenant_id}.{agent_id}"


def agent_report_subject(tenant_id: str, agent_id: str) -> str:
    return f"{AGENTS_ROOT}.report.{tenant_id}.{agent_id}"


def agent_event_subject(tenant_id: str) -> str:
    return f"{AGENTS_ROOT}.events.{tenant_id}"


def tenant_and_agent_from_subject(subject: str) -> tuple[str, str]:
    """(tenant, agent) from a heartbeat or report subject: the server's permissions decided them."""
    parts = subject.split(".")
    if len(parts) != 6 or ".".join(parts[:3]) != AGENTS_ROOT:
        raise ValueError(f"not an agent subject: {subject!r}")
    return parts[4], parts[5]


def agent_inbox_prefix(agent_id: str) -> str:
    """Each agent gets its own reply inbox, so it can never read replies meant for others."""
    return f"_INBOX_{agent_id}"


# Agents have their own NATS account and reach the services through service imports: the NATS
# server hands a request that came through an import to the services with a reply subject of
# its own making (``_R_.<random>.<random>``), which leads back only into the agents' account, to
# the reply subject the agent named there. No client may publish with such a reply subject.
SERVICE_IMPORT_REPLY_PREFIX = "_R_."


def is_service_import_reply(reply: str) -> bool:
    """Whether ``reply`` was made by the NATS server for a request that came through an import."""
    return reply.startswith(SERVICE_IMPORT_REPLY_PREFIX)


# In the agents' account, a message on a nudge subject that did not come through the import of
# the GITOPS stream (the answer to a request, which an agent may aim at another team's nudge
# subject) is moved here, where nothing listens.
DISCARDED_ROOT = f"{PREFIX}.discarded.v1"


# The NATS server asks this subject who a connecting client is (auth callout, NATS >= 2.10).
NATS_AUTH_CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH"


# --- alerting ----------------------------------------------------------------
# crontopus.alerting.v1.notify.<tenant_id>: one message per delivery (one notification to one
# channel), published and consumed by the alerting service itself, so a failing channel is
# retried on its own schedule and never holds up the others.
ALERTING_ROOT = f"{PREFIX}.alerting.v1"
NOTIFICATIONS_STREAM = StreamSpec(
    name="NOTIFICATIONS", subjects=(f"{ALERTING_ROOT}.notify.>",), max_age_seconds=7 * 24 * 3600
)
ALERTING_NOTIFY_DURABLE = "alerting-notify"
# What alerting consumes (durable pull consumers of other services' streams).
ALERTING_RUNS_DURABLE = "alerting-runs"
ALERTING_GITOPS_DURABLE = "alerting-gitops"
ALERTING_AGENTS_DURABLE = "alerting-agents"
NOTIFY_WILDCARD = f"{ALERTING_ROOT}.notify.*"


def notify_subject(tenant_id: str) -> str:
    return f"{ALERTING_ROOT}.notify.{tenant_id}"


# crontopus.alerting.v1.incidents.<tenant_id>: an incident opened, was acknowledged, reminded,
# escalated or resolved (``IncidentChanged``); what the web console's live events relay.
INCIDENTS_STREAM = StreamSpec(
    name="INCIDENTS", subjects=(f"{ALERTING_ROOT}.incidents.>",), max_age_seconds=7 * 24 * 3600
)


def incident_changed_subject(tenant_id: str) -> str:
    return f"{ALERTING_ROOT}.incidents.{tenant_id}"


# --- request-reply (core NATS, queue groups so instances share load) -------
RPC_ROOT = f"{PREFIX}.rpc"


class IdentityRpc:
    QUEUE = "identity"
    REGISTER = f"{RPC_ROOT}.identity.register"
    LOGIN = f"{RPC_ROOT}.identity.login"
    REFRESH = f"{RPC_ROOT}.identity.refresh"
    LOGOUT = f"{RPC_ROOT}.identity.logout"
    ME = f"{RPC_ROOT}.identity.me"
    JWKS = f"{RPC_ROOT}.identity.jwks"
    API_KEY_CREATE = f"{RPC_ROOT}.identity.api-keys.create"
    API_KEY_LIST = f"{RPC_ROOT}.identity.api-keys.list"
    API_KEY_REVOKE = f"{RPC_ROOT}.identity.api-keys.revoke"
    API_KEY_VERIFY = f"{RPC_ROOT}.identity.api-keys.verify"
    TEAMS_LIST = f"{RPC_ROOT}.identity.teams.list"
    TEAM_SWITCH = f"{RPC_ROOT}.identity.teams.switch"
    MEMBERS_LIST = f"{RPC_ROOT}.identity.members.list"
    MEMBER_ROLE = f"{RPC_ROOT}.identity.members.role"
    MEMBER_REMOVE = f"{RPC_ROOT}.identity.members.remove"
    INVITATION_CREATE = f"{RPC_ROOT}.identity.invitations.create"
    INVITATIONS_LIST = f"{RPC_ROOT}.identity.invitations.list"
    INVITATION_REVOKE = f"{RPC_ROOT}.identity.invitations.revoke"
    INVITATION_ACCEPT = f"{RPC_ROOT}.identity.invitations.accept"
    PASSWORD_RESET = f"{RPC_ROOT}.identity.password-reset"
    PASSWORD_RESET_CONFIRM = f"{RPC_ROOT}.identity.password-reset.confirm"
    VERIFY_EMAIL = f"{RPC_ROOT}.identity.verify-email"
    EMAIL_CHANGE = f"{RPC_ROOT}.identity.email-change"
    AUDIT_LIST = f"{RPC_ROOT}.identity.audit.list"
    SSO_SIGN_IN = f"{RPC_ROOT}.identity.sso.sign-in"
    TEAM_GET = f"{RPC_ROOT}.identity.team.get"
    TEAM_SSO = f"{RPC_ROOT}.identity.team.sso"


class GitopsRpc:
    QUEUE = "gitops"
    TENANTS_LIST = f"{RPC_ROOT}.gitops.tenants.list"
    JOBS_LIST = f"{RPC_ROOT}.gitops.jobs.list"
    JOBS_GET = f"{RPC_ROOT}.gitops.jobs.get"
    JOBS_UPCOMING = f"{RPC_ROOT}.gitops.jobs.upcoming"
    JOB_STATES = f"{RPC_ROOT}.gitops.jobs.states"
    JOB_CREATE = f"{RPC_ROOT}.gitops.jobs.create"
    JOB_UPDATE = f"{RPC_ROOT}.gitops.jobs.update"
    JOB_DELETE = f"{RPC_ROOT}.gitops.jobs.delete"
    REPOSITORY_GET = f"{RPC_ROOT}.gitops.repository.get"
    REPOSITORY_UPDATE = f"{RPC_ROOT}.gitops.repository.update"
    WEBHOOK = f"{RPC_ROOT}.gitops.webhook"
    PING_RESOLVE = f"{RPC_ROOT}.gitops.ping.resolve"


class AgentsRpc:
    QUEUE = "agents"
    ENROLLMENT_TOKEN_CREATE = f"{RPC_ROOT}.agents.enrollment-tokens.create"
    ENROLLMENT_CHECK = f"{RPC_ROOT}.agents.enroll.check"
    ENROLL = f"{RPC_ROOT}.agents.enroll"
    LIST = f"{RPC_ROOT}.agents.list"
    GET = f"{RPC_ROOT}.agents.get"
    REVOKE = f"{RPC_ROOT}.agents.revoke"


class AlertingRpc:
    QUEUE = "alerting"
    RULES_GET = f"{RPC_ROOT}.alerting.rules.get"
    RULES_UPDATE = f"{RPC_ROOT}.alerting.rules.update"
    INCIDENTS_LIST = f"{RPC_ROOT}.alerting.incidents.list"
    INCIDENT_GET = f"{RPC_ROOT}.alerting.incidents.get"
    INCIDENT_ACK = f"{RPC_ROOT}.alerting.incidents.ack"
    INCIDENT_RESOLVE = f"{RPC_ROOT}.alerting.incidents.resolve"
    CHANNEL_CREATE = f"{RPC_ROOT}.alerting.channels.create"
    CHANNELS_LIST = f"{RPC_ROOT}.alerting.channels.list"
    CHANNEL_GET = f"{RPC_ROOT}.alerting.channels.get"
    CHANNEL_DELETE = f"{RPC_ROOT}.alerting.channels.delete"
    CHANNEL_TEST = f"{RPC_ROOT}.alerting.channels.test"
    SILENCE_CREATE = f"{RPC_ROOT}.alerting.silences.create"
    SILENCES_LIST = f"{RPC_ROOT}.alerting.silences.list"
    SILENCE_DELETE = f"{RPC_ROOT}.alerting.silences.delete"
    BADGES_LIST = f"{RPC_ROOT}.alerting.badges.list"
    BADGES_ROTATE = f"{RPC_ROOT}.alerting.badges.rotate"
    BADGE_RESOLVE = f"{RPC_ROOT}.alerting.badges.resolve"


class RunsRpc:
    QUEUE = "runs"
    LIST = f"{RPC_ROOT}.runs.list"
    GET = f"{RPC_ROOT}.runs.get"
    LAST_STATUS = f"{RPC_ROOT}.runs.last-status"
    STATS = f"{RPC_ROOT}.runs.stats"


# --- access changes ------------------------------------------------------------
# crontopus.identity.v1.access.<tenant_id>.<user_id>: a member's role changed or they left.
# Kept longer than any access token lives, so a gateway starting up replays what it must refuse.
ACCESS_ROOT = f"{PREFIX}.identity.v1.access"
ACCESS_STREAM = StreamSpec(name="ACCESS", subjects=(f"{ACCESS_ROOT}.>",), max_age_seconds=24 * 3600)


def access_changed_subject(tenant_id: str, user_id: str) -> str:
    return f"{ACCESS_ROOT}.{tenant_id}.{user_id}"


# --- audit log -----------------------------------------------------------------
# crontopus.audit.v1.<tenant_id>: one AuditEvent per change, collected by identity (durable
# identity-audit) into its append-only table.
AUDIT_ROOT = f"{PREFIX}.audit.v1"
AUDIT_STREAM = StreamSpec(name="AUDIT", subjects=(f"{AUDIT_ROOT}.>",), max_age_seconds=7 * 24 * 3600)
IDENTITY_AUDIT_DURABLE = "identity-audit"
AUDIT_WILDCARD = f"{AUDIT_ROOT}.*"


def audit_subject(tenant_id: str) -> str:
    return f"{AUDIT_ROOT}.{tenant_id}"


# --- mail to people ------------------------------------------------------------
# crontopus.mail.v1.<kind>: a mail to send (crontopus_schemas.mail.MailRequested), sent by
# identity's mail sender (durable identity-mail) with retries.
MAIL_ROOT = f"{PREFIX}.mail.v1"
MAIL_STREAM = StreamSpec(name="MAIL", subjects=(f"{MAIL_ROOT}.>",), max_age_seconds=3 * 24 * 3600)
IDENTITY_MAIL_DURABLE = "identity-mail"
MAIL_WILDCARD = f"{MAIL_ROOT}.*"


def mail_subject(kind: str) -> str:
    return f"{MAIL_ROOT}.{kind}"


# --- broadcast notices (core NATS, no persistence needed) -------------------
# Published by identity when an API key is revoked so gateways drop cached verdicts.
API_KEY_REVOKED = f"{PREFIX}.identity.v1.api-key-revoked"


# --- NATS's own API, spelled here too: a search for a subject finds every one ----------------


def server_kick_subject(server_id: str) -> str:
    """Asks one nats-server (system account) to drop a connection: a revoked agent's."""
    return f"$SYS.REQ.SERVER.{server_id}.KICK"


def consumer_next_subject(stream: str, durable: str) -> str:
    """A pull request for a durable consumer's next messages."""
    return f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"


def discarded_nudges_mapping() -> str:
    """Where, in the agents' account, anything published on a nudge subject goes, other than
    what arrives through the stream import (an account's mappings do not apply to that): the
    server delivers the answer to an agent's request on whatever reply subject the agent named,
    in the agents' account, and on another team's nudge subject that team's agents would take
    it for a nudge. A subject mapping, so ``{{wildcard(1)}}`` is nats-server's syntax."""
    return f"{DISCARDED_ROOT}.changed.{{{{wildcard(1)}}}}"
