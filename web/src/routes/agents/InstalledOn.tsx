import { Link } from "react-router";

import { api, describeError, type Schemas } from "../../api/client";
import { AgentStatus } from "./parts";

/** The agents whose last report lists the job in their scheduler, or why none may have it. */
export function InstalledOn({ job }: { job: Schemas["JobDetail"] }) {
  const agents = api.useQuery("get", "/api/agents", { params: { query: { job: job.job } } });
  if (agents.isPending) return <span className="muted">…</span>;
  if (agents.isError) return <span className="muted">unknown ({describeError(agents.error)})</span>;
  if (agents.data.agents.length) {
    return (
      <ul className="flex flex-wrap gap-x-4 gap-y-1">
        {agents.data.agents.map((agent) => (
          <li key={agent.id} className="inline-flex items-center gap-1.5">
            <Link to={`/agents/${agent.id}`} className="link">
              {agent.name}
            </Link>
            <AgentStatus status={agent.status} />
          </li>
        ))}
      </ul>
    );
  }
  if (job.paused || !job.enabled) return <span className="muted">no agent: it is {job.paused ? "paused" : "disabled"}</span>;
  const wanted = ((job.manifest.spec ?? {}) as { target?: { matchLabels?: Record<string, string> } }).target?.matchLabels ?? {};
  return (
    <span>
      <span className="font-medium text-amber-700 dark:text-amber-400">No agent has installed it</span>
      {Object.keys(wanted).length ? (
        <span className="muted">
          : agents labelled{" "}
          <span className="mono">
            {Object.entries(wanted)
              .map(([key, value]) => `${key}=${value}`)
              .join(", ")}
          </span>{" "}
          install it at their next sync (
          <Link to="/agents" className="link">
            see the agents
          </Link>
          ).
        </span>
      ) : (
        <span className="muted">
          {" "}
          yet: every agent installs it at its next sync (
          <Link to="/agents" className="link">
            add an agent
          </Link>
          ).
        </span>
      )}
    </span>
  );
}
