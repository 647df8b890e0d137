import { CircleCheck, CircleOff, Ban } from "lucide-react";

import { api, type Schemas } from "../../api/client";
import { CopyLine } from "../../components/CopyButton";
import { Labels } from "../../components/Labels";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { shortSha } from "../../lib/format";

const LOOK = {
  online: { Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
  offline: { Icon: CircleOff, className: "text-red-700 dark:text-red-400" },
  revoked: { Icon: Ban, className: "text-zinc-600 dark:text-zinc-400" },
} as const;

export function AgentStatus({ status }: { status: Schemas["AgentPublic"]["status"] }) {
  const { Icon, className } = LOOK[status];
  return (
    <span className={`inline-flex items-center gap-1 font-medium ${className}`}>
      <Icon aria-hidden="true" className="size-4" />
      {status}
    </span>
  );
}

export function Component() {
  useTitle("Agents");
  const agents = api.useQuery("get", "/api/agents", {});
  return (
    <>
      <PageHeader title="Agents" subtitle="The hosts that run your jobs." />
      <QueryState query={agents} label="Loading agents…">
        {({ agents: list }) =>
          list.length === 0 ? (
            <Empty title="No agent yet.">
              <p>Enroll a host with a one-time token (docs/agents.md):</p>
              <div className="mt-2 space-y-2">
                <CopyLine label="Copy the command that creates a token" text="crontopus agents enrollment-token" />
                <CopyLine label="Copy the enroll command" text="crontopus-agent enroll --server <this server's URL> --token <token>" />
              </div>
            </Empty>
          ) : (
            <div className="relative overflow-x-auto">
              <table className="data-table">
                <caption className="sr-only">Agents</caption>
                <thead>
                  <tr>
                    <th scope="col">Status</th>
                    <th scope="col">Name</th>
                    <th scope="col" className="hidden sm:table-cell">Host</th>
                    <th scope="col">Last seen</th>
                    <th scope="col" className="hidden md:table-cell">Jobs</th>
                    <th scope="col" className="hidden lg:table-cell">Applied commit</th>
                    <th scope="col" className="hidden lg:table-cell">Labels</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((agent) => (
                    <tr key={agent.id}>
                      <td>
                        <AgentStatus status={agent.status} />
                      </td>
                      <td>
                        <span className="font-medium">{agent.name}</span>
                        {agent.sync_error && <p className="text-xs text-red-700 dark:text-red-400">{agent.sync_error}</p>}
                        {agent.drift.length > 0 && (
                          <p className="text-xs text-amber-700 dark:text-amber-400">{agent.drift.length} drifted entr{agent.drift.length === 1 ? "y" : "ies"}</p>
                        )}
                      </td>
                      <td className="hidden sm:table-cell">
                        {agent.hostname}
                        <span className="muted block text-xs">
                          {agent.platform}
                          {agent.scheduler ? ` · ${agent.scheduler}` : ""}
                        </span>
                      </td>
                      <td className="whitespace-nowrap">
                        <RelativeTime value={agent.last_seen_at} empty="never" />
                      </td>
                      <td className="hidden tabular-nums md:table-cell">{agent.jobs.length}</td>
                      <td className="mono hidden lg:table-cell">{shortSha(agent.applied_commit)}</td>
                      <td className="hidden lg:table-cell">
                        <Labels labels={agent.labels} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
    </>
  );
}
