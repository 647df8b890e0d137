/** Small shared queries. */
import { api, type Schemas } from "./client";

/** Agent id → agent, to write "web-1 (agent)" where a run's source is an agent's id. */
export function useAgents(): Map<string, Schemas["AgentPublic"]> {
  const agents = api.useQuery("get", "/api/agents", {}, { staleTime: 60_000 });
  return new Map((agents.data?.agents ?? []).map((agent) => [agent.id, agent]));
}

export function sourceLabel(source: string | null | undefined, agents: Map<string, Schemas["AgentPublic"]>): string {
  if (!source) return "—";
  const agent = agents.get(source);
  return agent ? `${agent.name} (agent)` : source;
}

export function jobPath(job: string): string {
  const [namespace, name] = job.split("/");
  return `/jobs/${encodeURIComponent(namespace ?? "")}/${encodeURIComponent(name ?? "")}`;
}
