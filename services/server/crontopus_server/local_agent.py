"""`make run`'s own agent: once the first team signs up, an agent is enrolled into it and started
(built-in scheduler by default), so a newcomer sees jobs run without setting anything up.

It is a real `crontopus-agent run` child process with its own credentials, connecting through the
auth callout like any remote agent; only its enrollment is done in-process (no token to paste).
Its home is `<data dir>/agent` (credentials, repository checkout, spool) and its log
`<data dir>/agent/agent.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

from faststream.nats import NatsBroker, NatsRouter

from crontopus_agent.home import Credentials
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.broker import jetstream, rpc_call
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
from crontopus_schemas.gitops import RepositoryPublic, TenantCreated
from crontopus_schemas.private_files import private_dir, private_file
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import TENANTS_STREAM, AgentsRpc, GitopsRpc

log = get_logger(__name__)
WAIT_FOR_TEAM_SECONDS = 2.0
RESTART_AFTER_SECONDS = 5.0
NAME = "local"


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
        while not (self.home / "credentials.json").exists():
            try:
                await self._enroll(broker, await self._first_team(broker))
            except Exception:
                log.exception("local agent not enrolled; trying again", retry_in=RESTART_AFTER_SECONDS)
                await asyncio.sleep(RESTART_AFTER_SECONDS)
        while True:
            self._process = self._spawn()
            code = await asyncio.to_thread(self._process.wait)
            log.warning("local agent exited; restarting", exit_code=code, log=str(self.home / "agent.log"))
            await asyncio.sleep(RESTART_AFTER_SECONDS)

    async def _first_team(self, broker: NatsBroker) -> str:
        """The tenant of the first sign-up (the TENANTS stream's first event); waits for one."""
        js = jetstream(broker)
        while True:
            info = await js.stream_info(TENANTS_STREAM.name)
            if info.state.messages:
                message = await js.get_msg(TENANTS_STREAM.name, info.state.first_seq)
                return TenantCreated.model_validate_json(message.data or b"{}").tenant_id
            await asyncio.sleep(WAIT_FOR_TEAM_SECONDS)

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
            return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
