import { useQueryClient } from "@tanstack/react-query";
import { Ban, TriangleAlert } from "lucide-react";
import { useState, type ReactNode } from "react";
import { Link, useParams } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, statusOf } from "../../api/client";
import { jobPath, useRoleAtLeast } from "../../api/hooks";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Labels } from "../../components/Labels";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, ErrorState, Loading } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { AgentStatus, CommitCell, driftRestored, refreshInterval, type Agent } from "../agents/parts";

const JOB_REF = /^[^/\s]+\/[^/\s]+$/;

export function Component() {
  const { id = "" } = useParams();
  const repository = api.useQuery("get", "/api/gitops/repository", {}, { staleTime: 60_000 });
  const head = repository.data?.head_commit;
  const agent = api.useQuery(
    "get",
    "/api/agents/{agent_id}",
    { params: { path: { agent_id: id } } },
    { refetchInterval: (query) => (query.state.data ? refreshInterval([query.state.data], head) : false) },
  );
  useTitle(agent.data?.name ?? "Agent");
  if (agent.isPending) return <Loading label="Loading the agent…" />;
  if (agent.isError) {
    if (statusOf(agent.error) === 404) {
      return (
        <>
          <PageHeader title="Agent not found" />
          <Empty title="Your team has no agent with this id.">
            <p>It may belong to another team, or the address is mistyped.</p>
            <Link to="/agents" className="link">
              Back to the agents
            </Link>
          </Empty>
        </>
      );
    }
    return <ErrorState error={agent.error} retry={() => void agent.refetch()} />;
  }
  return <AgentView agent={agent.data} head={head} />;
}

function AgentView({ agent, head }: { agent: Agent; head: string | null | undefined }) {
  const mayConfigure = useRoleAtLeast("admin");
  return (
    <>
      <p className="mb-1 text-sm">
        <Link to="/agents" className="link">
          All agents
        </Link>
      </p>
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            <span className="break-all">{agent.name}</span>
            <AgentStatus status={agent.status} className="text-base" />
          </span>
        }
        subtitle={
          <>
            {agent.hostname || "unknown host"} · {agent.platform || "unknown platform"}
            {agent.version ? ` · agent ${agent.version}` : ""}
          </>
        }
        actions={mayConfigure && agent.status !== "revoked" ? <Revoke agent={agent} /> : undefined}
      />
      {agent.status === "revoked" && (
        <p role="status" className="mb-4 flex gap-2 rounded-md border border-zinc-300 bg-zinc-100 px-3 py-2 text-sm dark:border-zinc-700 dark:bg-zinc-900">
          <Ban aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
          <span>
            Revoked <RelativeTime value={agent.revoked_at} />: the server refuses its credentials. The host keeps its scheduler entries and runs them until you
            remove them there (docs/agents.md, "Revoking an agent").
          </span>
        </p>
      )}
      {agent.sync_error && (
        <div role="alert" className="mb-4 flex gap-2 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
          <TriangleAlert aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
          <div className="min-w-0">
            <p className="font-semibold">The last sync failed</p>
            <p className="break-words">{agent.sync_error}</p>
            <p className="mt-1">The jobs of the last commit it fetched stay installed.</p>
          </div>
        </div>
      )}
      <div className="grid gap-4 lg:grid-cols-2">
        <section className="card" aria-labelledby="agent-overview">
          <h2 id="agent-overview" className="mb-3 font-semibold">
            Overview
          </h2>
          <dl className="grid grid-cols-[minmax(0,8rem)_minmax(0,1fr)] gap-x-3 gap-y-2 text-sm">
            <Row term="Status">
              <AgentStatus status={agent.status} />
            </Row>
            <Row term="Scheduler">{agent.scheduler ?? <span className="muted">not yet reported</span>}</Row>
            <Row term="Labels">{Object.keys(agent.labels).length > 0 ? <Labels labels={agent.labels} /> : <span className="muted">none</span>}</Row>
            <Row term="Version">{agent.version || <span className="muted">unknown</span>}</Row>
            <Row term="Enrolled">
              <RelativeTime value={agent.enrolled_at} />
            </Row>
            <Row term="Last seen">
              <RelativeTime value={agent.last_seen_at} empty="never" />
            </Row>
            {agent.revoked_at && (
              <Row term="Revoked">
                <RelativeTime value={agent.revoked_at} />
              </Row>
            )}
            <Row term="Id">
              <span className="mono break-all">{agent.id}</span>
            </Row>
          </dl>
        </section>
        <section className="card" aria-labelledby="agent-sync">
          <h2 id="agent-sync" className="mb-3 font-semibold">
            Sync
          </h2>
          <dl className="grid grid-cols-[minmax(0,8rem)_minmax(0,1fr)] gap-x-3 gap-y-2 text-sm">
            <Row term="Applied commit">
              <CommitCell applied={agent.applied_commit} head={head} />
            </Row>
            <Row term="Last sync">
              <RelativeTime value={agent.last_sync_at} empty="never" />
            </Row>
            <Row term="Sync error">{agent.sync_error ? <span className="text-red-700 dark:text-red-400">{agent.sync_error}</span> : <span className="muted">none</span>}</Row>
            <Row term="Spool">
              <span className="tabular-nums">{agent.spool_pending}</span> check-in{agent.spool_pending === 1 ? "" : "s"} waiting on the host to be sent
              <span className={`block ${agent.spool_dropped > 0 ? "font-medium text-red-700 dark:text-red-400" : "muted"}`}>
                <span className="tabular-nums">{agent.spool_dropped}</span> lost to a full spool
              </span>
            </Row>
          </dl>
        </section>
      </div>
      <InstalledJobs agent={agent} />
      <Drift agent={agent} />
    </>
  );
}

function Row({ term, children }: { term: string; children: ReactNode }) {
  return (
    <>
      <dt className="muted">{term}</dt>
      <dd className="min-w-0">{children}</dd>
    </>
  );
}

function JobLink({ job }: { job: string }) {
  return JOB_REF.test(job) ? (
    <Link to={jobPath(job)} className="link mono [overflow-wrap:anywhere]">
      {job}
    </Link>
  ) : (
    <span className="mono [overflow-wrap:anywhere]">{job}</span>
  );
}

function InstalledJobs({ agent }: { agent: Agent }) {
  return (
    <section className="card mt-4" aria-labelledby="agent-jobs">
      <h2 id="agent-jobs" className="mb-3 font-semibold">
        Installed jobs <span className="muted font-normal">({agent.jobs.length})</span>
      </h2>
      {agent.jobs.length === 0 ? (
        <p className="muted text-sm">
          {agent.last_sync_at
            ? "None: no enabled job's spec.target.matchLabels matches this agent's labels (a job without a target runs on every agent)."
            : "None yet: the agent has not reported a sync."}
        </p>
      ) : (
        <ul className="grid gap-1 text-sm sm:grid-cols-2 lg:grid-cols-3">
          {agent.jobs.map((job) => (
            <li key={job}>
              <JobLink job={job} />
            </li>
          ))}
        </ul>
      )}
      {agent.errors.length > 0 && (
        <>
          <h3 className="mt-4 mb-1 text-sm font-semibold text-red-700 dark:text-red-400">Not installed</h3>
          <ul className="space-y-1 text-sm">
            {agent.errors.map((error) => (
              <li key={error} className="break-words">
                {error}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function Drift({ agent }: { agent: Agent }) {
  return (
    <section className="card mt-4" aria-labelledby="agent-drift">
      <h2 id="agent-drift" className="mb-1 font-semibold">
        Drift repaired
      </h2>
      <p className="muted mb-3 text-sm">
        Scheduler entries changed on the host by hand, found and restored to what Git says at the last sync.
        {agent.drift_detected_at && (
          <>
            {" "}
            Last found <RelativeTime value={agent.drift_detected_at} />.
          </>
        )}
      </p>
      {agent.drift.length === 0 ? (
        <p className="text-sm">
          {agent.scheduler === "builtin"
            ? "None: the built-in scheduler writes nothing on the host, so nothing there can drift."
            : agent.last_sync_at
              ? "None at the last sync: the scheduler held exactly what Git says."
              : "Nothing reported yet."}
        </p>
      ) : (
        <div className="relative overflow-x-auto">
          <table className="data-table">
            <caption className="sr-only">Drift repaired at the last sync</caption>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Found</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {agent.drift.map((item, index) => (
                <tr key={`${item.ref}-${item.kind}-${index}`}>
                  <td className="whitespace-nowrap">
                    <JobLink job={item.ref} />
                  </td>
                  <td>
                    <span className="font-medium text-amber-700 dark:text-amber-400">{item.kind}</span>
                    <span className="block text-xs">{driftRestored(item.kind)}</span>
                  </td>
                  <td className="min-w-48 [overflow-wrap:anywhere]">{item.detail || <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Revoke({ agent }: { agent: Agent }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function revoke() {
    setBusy(true);
    setError(undefined);
    try {
      const { data } = await client.DELETE("/api/agents/{agent_id}", { params: { path: { agent_id: agent.id } } });
      if (data) queryClient.setQueryData(["get", "/api/agents/{agent_id}", { params: { path: { agent_id: agent.id } } }], data);
      toast.success(`Revoked ${agent.name}: the server no longer accepts it.`);
      setOpen(false);
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/agents"] });
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" className="btn-danger" onClick={() => setOpen(true)}>
        <Ban aria-hidden="true" className="size-4" /> Revoke
      </button>
      <ConfirmDialog
        open={open}
        onOpenChange={(next) => {
          setOpen(next);
          if (!next) setError(undefined);
        }}
        title={`Revoke ${agent.name}?`}
        confirmLabel={`Revoke ${agent.name}`}
        onConfirm={() => void revoke()}
        danger
        busy={busy}
      >
        <p>
          The server stops accepting <b>{agent.name}</b> ({agent.hostname || agent.id}) at once and closes its connection; it can never come back with these
          credentials. Its name becomes free.
        </p>
        <p className="mt-2">
          The host is not touched: its {agent.scheduler === "builtin" ? "agent" : "scheduler entries"} keep running the {agent.jobs.length} installed job
          {agent.jobs.length === 1 ? "" : "s"}, and their check-ins wait on the host. To retire it, stop the agent and remove its entries there.
        </p>
        {error && (
          <p role="alert" className="mt-3 text-red-700 dark:text-red-400">
            {error}
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}
