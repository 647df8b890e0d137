"""Generate the contract documents: the REST API (OpenAPI), the events (AsyncAPI) and the job
manifest's JSON Schema (for editors: validation and completion while writing YAML).

`crontopus-server docs` writes them into docs/; a test fails when the committed copies are stale.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from crontopus_kit.broker import make_broker
from crontopus_schemas import subjects
from crontopus_schemas.agents import AgentEvent, AgentStatusReport
from crontopus_schemas.alerting import IncidentChanged
from crontopus_schemas.audit import AuditEvent
from crontopus_schemas.events import CheckInEvent, RunsRecorded
from crontopus_schemas.gitops import ManifestsChanged
from crontopus_schemas.identity import AccessChanged
from crontopus_schemas.mail import MailRequested
from crontopus_schemas.manifest import json_schema as manifest_json_schema
from crontopus_server.platform import all_in_one_app, build_units

VERSION = "0.1.0"
PLACEHOLDER_NATS = "nats://nats:4222"  # nothing connects: the documents only describe


def openapi_document() -> dict[str, Any]:
    return all_in_one_app(PLACEHOLDER_NATS).openapi()


def asyncapi_document() -> dict[str, Any]:
    broker = make_broker(PLACEHOLDER_NATS, name="crontopus")
    for unit in build_units(broker):
        broker.include_router(unit.router)
    _describe_stream_events(broker)
    spec = AsyncAPI(broker, title="Crontopus events", version=VERSION, schema_version="3.0.0")
    return json.loads(spec.to_specification().to_json())


def _describe_stream_events(broker: NatsBroker) -> None:
    """The JetStream events, with their payload schemas (their consumers pull them directly)."""
    broker.publisher(
        subjects.checkin_subject("{tenant_id}", "{source}"),
        schema=CheckInEvent,
        title="check-in",
        description="A run's start or finish; stream CHECKINS, "
        "Nats-Msg-Id <tenant_id>:<agent_id>:<run_id>:<start|finish> from an agent, "
        "an HMAC of <tenant_id>:<source>:<run_id>:<start|finish> from the gateway. "
        "Published by the gateway (source api/ping) and agents; consumed by runs (durable runs-checkins).",
    )
    broker.publisher(
        subjects.run_recorded_subject("{tenant_id}"),
        schema=RunsRecorded,
        title="runs recorded",
        description="The runs of one tenant whose state a stored check-in batch changed; stream RUNS.",
    )
    broker.publisher(
        subjects.manifests_changed_subject("{tenant_id}"),
        schema=ManifestsChanged,
        title="manifests changed",
        description="A tenant's jobs changed at a new commit; stream GITOPS. Agents receive it on a core "
        "subscription as their sync nudge.",
    )
    broker.publisher(
        subjects.access_changed_subject("{tenant_id}", "{user_id}"),
        schema=AccessChanged,
        title="access changed",
        description="A member's role in a team changed or they left it; stream ACCESS (kept a day). Published "
        "by identity; every gateway reads the stream from its start and refuses that member's access tokens "
        "for the team issued before `at`.",
    )
    broker.publisher(
        subjects.audit_subject("{tenant_id}"),
        schema=AuditEvent,
        title="audit event",
        description="A change in a team (through the API, a sign-in, a reset, an accepted invitation, an "
        "operator's); stream AUDIT, Nats-Msg-Id audit:<id>. Published by the gateway and identity; stored once "
        "by identity's collector (durable identity-audit) in its append-only audit log (GET /api/audit).",
    )
    broker.publisher(
        subjects.mail_subject("{kind}"),
        schema=MailRequested,
        title="mail requested",
        description="A mail to a person (invitation, password-reset, verify-email, welcome); stream MAIL, "
        "Nats-Msg-Id mail:<id>. Published by identity; sent by identity's mail sender (durable identity-mail) "
        "over SMTP or into the outbox, with retries. It holds no secret: the link's token is derived from "
        "`ref` with the server secret when the mail is rendered.",
    )
    _describe_agent_events(broker)


def _describe_agent_events(broker: NatsBroker) -> None:
    for kind, subject in (
        ("heartbeat", subjects.agent_heartbeat_subject("{tenant_id}", "{agent_id}")),
        ("report", subjects.agent_report_subject("{tenant_id}", "{agent_id}")),
    ):
        broker.publisher(
            subject,
            schema=AgentStatusReport,
            title=f"agent {kind}",
            description=f"Core NATS, published by the agent ({kind}: "
            + ("every 30 s" if kind == "heartbeat" else "after each sync")
            + "); only that agent may publish here (auth callout permissions). Consumed by agents.",
        )
    broker.publisher(
        subjects.agent_event_subject("{tenant_id}"),
        schema=AgentEvent,
        title="agent event",
        description="An agent was enrolled, came online, went offline, was revoked or repaired drift; "
        "stream AGENTS. Published by agents; for alerting and the gateway's live events.",
    )
    broker.publisher(
        subjects.incident_changed_subject("{tenant_id}"),
        schema=IncidentChanged,
        title="incident changed",
        description="An incident as it is after it opened, was acknowledged, reminded (notified), escalated "
        "or resolved, silenced ones included; stream INCIDENTS, Nats-Msg-Id the event id. Published by "
        "alerting; relayed by the gateway's live events (GET /api/events).",
    )


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def documents() -> dict[str, str]:
    """File name -> content. Units only describe themselves here; a throwaway data dir keeps
    them from leaving anything (such as a generated secret) in the real one."""
    with tempfile.TemporaryDirectory() as data_dir, mock.patch.dict(os.environ, {"CRONTOPUS_DATA_DIR": data_dir}):
        return {
            "openapi.json": render(openapi_document()),
            "asyncapi.json": render(asyncapi_document()),
            "job-manifest.schema.json": render(manifest_json_schema()),
        }


def write_docs(out: Path) -> list[Path]:
    written = []
    for name, content in documents().items():
        path = out / name
        path.write_text(content)
        written.append(path)
    return written
