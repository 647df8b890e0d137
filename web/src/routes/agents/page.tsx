import { keepPreviousData } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link } from "react-router";

import { api } from "../../api/client";
import { useRoleAtLeast } from "../../api/hooks";
import { CopyLine } from "../../components/CopyButton";
import { SelectField, TextField } from "../../components/Field";
import { Labels } from "../../components/Labels";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, ErrorState, Loading } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { useUrlState, useUrlText } from "../../lib/url";
import { AddAgent } from "./AddAgent";
import { AgentStatus, CommitCell, refreshInterval, STATUSES, type Agent } from "./parts";

// What needs attention first: offline agents, then online ones; revoked ones last.
const ORDER: Record<Agent["status"], number> = { offline: 0, online: 1, revoked: 2 };

export function sortAgents(list: Agent[]): Agent[] {
  return [...list].sort((a, b) => ORDER[a.status] - ORDER[b.status] || a.name.localeCompare(b.name));
}

export function matchesAgent(agent: Agent, search: string): boolean {
  if (!search) return true;
  const haystack = [agent.name, agent.hostname, agent.platform, agent.scheduler ?? "", agent.id, ...Object.entries(agent.labels).map(([k, v]) => `${k}=${v}`)]
    .join(" ")
    .toLowerCase();
  return search
    .toLowerCase()
    .split(/\s+/)
    .every((word) => haystack.includes(word));
}

export function Component() {
  useTitle("Agents");
  const { get, set } = useUrlState();
  const mayConfigure = useRoleAtLeast("admin");
  const status = (STATUSES as readonly string[]).includes(get("status")) ? (get("status") as Agent["status"]) : undefined;
  const searchBox = useUrlText("q");
  const search = searchBox.text;
  const repository = api.useQuery("get", "/api/gitops/repository", {}, { staleTime: 60_000 });
  const head = repository.data?.head_commit;
  const agents = api.useQuery(
    "get",
    "/api/agents",
    {},
    { refetchInterval: (query) => refreshInterval(query.state.data?.agents, head), placeholderData: keepPreviousData },
  );
  const all = agents.data?.agents;
  const rows = useMemo(() => sortAgents((all ?? []).filter((a) => (!status || a.status === status) && matchesAgent(a, search))), [all, status, search]);
  const filtered = Boolean(status || search);

  return (
    <>
      <PageHeader title="Agents" subtitle="The hosts that run your jobs, and what each has applied from Git." actions={mayConfigure ? <AddAgent /> : undefined} />
      <form className="mb-4 grid grid-cols-2 gap-3 lg:grid-cols-4" role="search" aria-label="Filter agents" onSubmit={(e) => e.preventDefault()}>
        <TextField className="col-span-2" label="Search" type="search" placeholder="Name, host, label…" value={search} onChange={(e) => searchBox.setText(e.target.value)} />
        <SelectField label="Status" value={status ?? ""} onChange={(e) => set({ status: e.target.value })}>
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
      </form>
      {agents.isPending ? (
        <Loading label="Loading agents…" />
      ) : agents.isError ? (
        <ErrorState error={agents.error} retry={() => void agents.refetch()} />
      ) : (all ?? []).length === 0 ? (
        <NoAgents mayConfigure={mayConfigure} />
      ) : rows.length === 0 ? (
        <Empty title="No agent matches these filters.">
          <button type="button" className="link" onClick={() => set({ q: null, status: null })}>
            Clear the filters
          </button>
        </Empty>
      ) : (
        <div className="relative overflow-x-auto" aria-busy={agents.isFetching}>
          <table className="data-table">
            <caption className="sr-only">
              Agents{filtered ? " matching the filters" : ""}, {rows.length} of {(all ?? []).length}
            </caption>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Name</th>
                <th scope="col" className="hidden md:table-cell">
                  Host
                </th>
                <th scope="col" className="hidden lg:table-cell">
                  Scheduler
                </th>
                <th scope="col" className="hidden xl:table-cell">
                  Labels
                </th>
                <th scope="col">Applied commit</th>
                <th scope="col" className="hidden md:table-cell">
                  Drift
                </th>
                <th scope="col" className="hidden lg:table-cell">
                  Spool
                </th>
                <th scope="col" className="hidden sm:table-cell">
                  Last seen
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((agent) => (
                <AgentRow key={agent.id} agent={agent} head={head} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function AgentRow({ agent, head }: { agent: Agent; head: string | null | undefined }) {
  const problems = agent.errors.length;
  return (
    <tr>
      <td>
        <AgentStatus status={agent.status} />
      </td>
      <td className="min-w-32">
        <Link to={`/agents/${encodeURIComponent(agent.id)}`} className="link font-medium break-all">
          {agent.name}
        </Link>
        <span className="muted block text-xs md:hidden">{agent.hostname}</span>
        {agent.sync_error && <p className="text-xs text-red-700 dark:text-red-400">sync error: {agent.sync_error}</p>}
        {problems > 0 && (
          <p className="text-xs text-red-700 dark:text-red-400">
            {problems} job{problems === 1 ? "" : "s"} not installed
          </p>
        )}
        <div className="mt-1 xl:hidden">
          <Labels labels={agent.labels} />
        </div>
      </td>
      <td className="hidden md:table-cell">
        <span className="break-all">{agent.hostname || "—"}</span>
        <span className="muted block text-xs">{agent.platform || "unknown platform"}</span>
      </td>
      <td className="hidden lg:table-cell">{agent.scheduler ?? <span className="muted">not yet reported</span>}</td>
      <td className="hidden xl:table-cell">
        {Object.keys(agent.labels).length > 0 ? <Labels labels={agent.labels} /> : <span className="muted">none</span>}
      </td>
      <td className="min-w-28">
        <CommitCell applied={agent.applied_commit} head={head} />
      </td>
      <td className="hidden md:table-cell">
        {agent.drift.length > 0 ? (
          <span className="font-medium text-amber-700 dark:text-amber-400">{agent.drift.length} repaired</span>
        ) : (
          <span className="muted">none</span>
        )}
        {agent.drift_detected_at && (
          <span className="muted block text-xs whitespace-nowrap">
            last <RelativeTime value={agent.drift_detected_at} />
          </span>
        )}
      </td>
      <td className="hidden whitespace-nowrap tabular-nums lg:table-cell">
        {agent.spool_pending} waiting
        <span className={`block text-xs ${agent.spool_dropped > 0 ? "font-medium text-red-700 dark:text-red-400" : "muted"}`}>{agent.spool_dropped} dropped</span>
      </td>
      <td className="hidden whitespace-nowrap sm:table-cell">
        <RelativeTime value={agent.last_seen_at} empty="never" />
      </td>
    </tr>
  );
}

function NoAgents({ mayConfigure }: { mayConfigure: boolean }) {
  return (
    <Empty title="No agent yet.">
      <p>
        An agent runs your jobs on a host: it reads them from your team's Git repository, writes them into the host's scheduler (cron, Task Scheduler, or
        its own) and reports every run.
      </p>
      {mayConfigure ? (
        <p className="mt-2">
          <b>Add an agent</b> (above) makes a one-time enrollment token and shows the commands to paste on the host: Linux with cron, a container, or
          Windows.
        </p>
      ) : (
        <p className="mt-2">Admins and owners of the team add agents; ask one for an enrollment token.</p>
      )}
      <p className="mt-2">From a terminal, with the CLI:</p>
      <div className="mt-1 space-y-2">
        <CopyLine label="Copy the command that creates an enrollment token" text="crontopus agents enrollment-token" />
        <CopyLine label="Copy the enroll command" text={`crontopus-agent enroll --server ${window.location.origin} --token <token>`} />
      </div>
    </Empty>
  );
}
