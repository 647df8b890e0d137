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

const RANKS = { viewer: 0, member: 1, admin: 2, owner: 3 } as const;
export type Role = keyof typeof RANKS;
export const ROLES = Object.keys(RANKS) as Role[];

/** Whether ``role`` reaches ``needed`` (permissions.py); no role is a viewer's. */
export function roleAtLeast(role: string | undefined, needed: Role): boolean {
  return RANKS[(role ?? "viewer") as Role] >= RANKS[needed];
}

/** Whether the signed-in person's role in this team is at least ``needed`` (the API decides;
 * this only hides what it would refuse). False until /api/auth/me has answered. */
export function useRoleAtLeast(needed: Role): boolean {
  return useRoleCheck(needed) === true;
}

/** As useRoleAtLeast, but undefined while /api/auth/me has not answered: for a page that shows
 * "your role cannot do this" instead of a form, without flashing it before the answer. */
export function useRoleCheck(needed: Role): boolean | undefined {
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const role = me.data?.role as Role | undefined;
  return role === undefined ? undefined : roleAtLeast(role, needed);
}
