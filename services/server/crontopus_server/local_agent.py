"""`make run`'s own agent: once the first team signs up, an agent is enrolled into it and started
(built-in scheduler by default), so a newcomer sees jobs run without setting anything up.

It is a real `crontopus-agent run` child process with its own credentials, connecting through the
auth callout like any remote agent; only its enrollment is done in-process (no token to paste).
Its home is `<data dir>/agent` (credentials, repository checkout, spool) and its log
`<data dir>/agent/agent.log`.

Its jobs run as the server's user, beside every team's data (the databases, the server secret):
whoever may edit the team's jobs could read them. So it serves a server of one team only: `run
all` caps the teams at one while it runs (CRONTOPUS_IDENTITY_MAX_TEAMS), and should the server
host more (the cap lifted, data from before), the agent is not started, or stops and removes the
jobs it installed. It gets the server's environment without any CRONTOPUS_ setting but its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from dataclasses import replace

from faststream.nats import NatsBroker, NatsRouter

from crontopus_agent.daemon import choose_scheduler
from crontopus_agent.home import Credentials
from crontopus_agents.settings import AgentsSettings
from crontopus_agents.unit import agent_nats_urls
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.broker import rpc_call
from crontopus_kit.errors import Conflict
from crontopus_kit.logging import get_logger
from crontopus_kit.nats_server import die_with_parent
from crontopus_kit.unit import cancel_and_wait
from crontopus_schemas.agents import (
    AgentList,
    AgentRef,
    EnrolledAgent,
    EnrollmentTokenCreate,
    EnrollmentTokenCreated,
    EnrollmentTokenCreateRequest,
    EnrollRequest,
)
from crontopus_schemas.gitops import RepositoryPublic, TenantList, TenantListRequest
from crontopus_schemas.private_files import private_dir, private_file
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import AgentsRpc, GitopsRpc

log = get_logger(__name__)
WAIT_FOR_TEAM_SECONDS = 2.0
RESTART_AFTER_SECONDS = 5.0
CHECK_TEAMS_SECONDS = 5.0
NAME = "local"
ONE_TEAM_ONLY = (
    "the local agent serves a server of one team only (its jobs could read every team's data): "
    "it is not running; give the team a real agent (docs/agents.md), or set CRONTOPUS_LOCAL_AGENT=off"
)


class OtherTeams(Exception):
    """The server hosts more than one team."""


class LocalAgentUnit:
    """A unit of the all-in-one process: no router of its own, just the agent's supervisor."""

    name = "local-agent"
    streams = ()

    def __init__(self, settings: GatewaySettings, *, broker: NatsBroker, scheduler: str) -> None:
        self.settings = settings
        self.broker = broker
        self.home = settings.data_dir.resolve() / "agent"
        self.scheduler = scheduler
        self.server_url = settings.base_url
        self.router = NatsRouter()
        self._task: asyncio.Task[None] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    async def prepare(self) -> None:
        private_dir(self.home)

    async def started(self) -> None:
        self._task = asyncio.create_task(self._supervise(self.broker), name="local agent")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        if self._process and self._process.poll() is None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self._process.wait, 10)

    async def _supervise(self, broker: NatsBroker) -> None:
        try:
            await self._keep_running(broker)
        except OtherTeams:
            await self._stand_down()

    async def _keep_running(self, broker: NatsBroker) -> None:
        while not (self.home / "credentials.json").exists():
            try:
                await self._enroll(broker, await self._only_team(broker))
            except OtherTeams:
                raise
            except Exception:
                log.exception("local agent not enrolled; trying again", retry_in=RESTART_AFTER_SECONDS)
                await asyncio.sleep(RESTART_AFTER_SECONDS)
        while True:
            if not await self._alone(broker):
                await asyncio.sleep(RESTART_AFTER_SECONDS)
                continue
            self._follow_nats()
            self._process = self._spawn()
            while (code := self._process.poll()) is None:
                await asyncio.sleep(CHECK_TEAMS_SECONDS)
                await self._alone(broker)
            # Waiting first: when a Ctrl-C of the whole process group stopped it, close() ends this meanwhile.
            await asyncio.sleep(RESTART_AFTER_SECONDS)
            log.warning("local agent exited; restarting", exit_code=code, log=str(self.home / "agent.log"))

    async def _only_team(self, broker: NatsBroker) -> str:
        """The server's one team, once there is one; OtherTeams when there are more."""
        while True:
            found = await rpc_call(broker, GitopsRpc.TENANTS_LIST, TenantListRequest(), TenantList)
            if len(found.tenant_ids) > 1:
                raise OtherTeams()
            if found.tenant_ids:
                return found.tenant_ids[0]
            await asyncio.sleep(WAIT_FOR_TEAM_SECONDS)

    async def _alone(self, broker: NatsBroker) -> bool:
        """Whether the server hosts its one team still (OtherTeams when it hosts more); False when
        gitops cannot say just now, for the next check to tell."""
        try:
            await self._only_team(broker)
        except OtherTeams:
            raise
        except Exception as exc:
            log.warning("cannot tell how many teams the server hosts; asking again", error=str(exc))
            return False
        return True

    async def _stand_down(self) -> None:
        """Stops the agent and takes out the jobs it installed (a crontab's would run on)."""
        log.error(ONE_TEAM_ONLY)
        if self._process and self._process.poll() is None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self._process.wait, 10)
        if (self.home / "credentials.json").exists():
            await asyncio.to_thread(choose_scheduler(self.scheduler, self.home).reconcile, [])

    async def _enroll(self, broker: NatsBroker, tenant_id: str) -> None:
        token = await rpc_call(
            broker, AgentsRpc.ENROLLMENT_TOKEN_CREATE,
            EnrollmentTokenCreateRequest(tenant_id=tenant_id, created_by="make-run", body=EnrollmentTokenCreate()),
            EnrollmentTokenCreated,
        )  # fmt: skip
        request = EnrollRequest(token=token.token, name=NAME, hostname="localhost", platform=sys.platform)
        try:
            agent = await rpc_call(broker, AgentsRpc.ENROLL, request, EnrolledAgent)
        except Conflict:  # its home was deleted: the old identity is useless, replace it
            await self._revoke_previous(broker, tenant_id)
            agent = await rpc_call(broker, AgentsRpc.ENROLL, request, EnrolledAgent)
        repository = await rpc_call(
            broker, GitopsRpc.REPOSITORY_GET, TenantScoped(tenant_id=tenant_id), RepositoryPublic
        )
        Credentials(
            agent_id=agent.agent_id, tenant_id=agent.tenant_id, name=agent.name, nats_urls=agent.nats_urls,
            nats_user=agent.nats_user, nats_password=agent.nats_password, server_url=self.server_url,
            clone_url=repository.clone_url, branch=repository.branch, folder=repository.folder, labels=agent.labels,
        ).save(self.home)  # fmt: skip
        log.info("local agent enrolled into the first team", agent_id=agent.agent_id, tenant_id=tenant_id)

    async def _revoke_previous(self, broker: NatsBroker, tenant_id: str) -> None:
        agents = await rpc_call(broker, AgentsRpc.LIST, TenantScoped(tenant_id=tenant_id), AgentList)
        for agent in agents.agents if agents else []:
            if agent.name == NAME and agent.status != "revoked":
                await rpc_call(broker, AgentsRpc.REVOKE, AgentRef(tenant_id=tenant_id, agent_id=agent.id))
                log.warning("revoked the previous local agent (its credentials were gone)", agent_id=agent.id)

    def _follow_nats(self) -> None:
        """Its credentials name the NATS of its enrollment; the embedded one listens elsewhere
        once its port of last time was taken at a start. Other agents would have to enroll
        again; this one is the server's own to tell."""
        credentials = Credentials.load(self.home)
        current = agent_nats_urls(AgentsSettings())
        if current and credentials.nats_urls != current:
            replace(credentials, nats_urls=current).save(self.home)
            log.info("the local agent connects to NATS at its new address", nats_urls=current)

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable,
            "-m",
            "crontopus_agent",
            "run",
            "--home",
            str(self.home),
            "--scheduler",
            self.scheduler,
        ]
        with open(private_file(self.home / "agent.log"), "ab") as output:
            return subprocess.Popen(
                command, env=_agent_environment(), stdout=output, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )


def _agent_environment() -> dict[str, str]:
    """The server's environment without its settings (a database URL with its password, the
    secret...), which the agent's jobs would inherit; the agent's own (CRONTOPUS_AGENT_) stay."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CRONTOPUS_") or name.startswith("CRONTOPUS_AGENT_")
    }
