/** Keeps the open pages current from `/api/events`: each event invalidates the queries whose
 * answers it can change, so TanStack Query refetches them in place. */
import type { QueryClient, QueryKey } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { subscribeEvents, type ServerEvent } from "./events";
import { session } from "./session";

type Key = readonly ["get", string];

const RUNS: Key[] = [
  ["get", "/api/runs"],
  ["get", "/api/runs/{run_id}"],
  ["get", "/api/runs/stats"],
  ["get", "/api/jobs"],
  ["get", "/api/jobs/summary"],
  ["get", "/api/jobs/{namespace}/{name}"],
  ["get", "/api/badges"], // a run may end lateness
];
const MANIFESTS: Key[] = [
  ["get", "/api/jobs"],
  ["get", "/api/jobs/summary"],
  ["get", "/api/jobs/{namespace}/{name}"],
  ["get", "/api/jobs/upcoming"],
  ["get", "/api/gitops/repository"],
  ["get", "/api/badges"],
];
const INCIDENTS: Key[] = [
  ["get", "/api/incidents"],
  ["get", "/api/incidents/{incident_id}"],
  ["get", "/api/badges"], // down while an incident is open
];
const AGENTS: Key[] = [
  ["get", "/api/agents"],
  ["get", "/api/agents/{agent_id}"],
];

export const AFFECTED: Record<string, Key[]> = {
  "runs.recorded": RUNS,
  "manifests.changed": MANIFESTS,
  incident: INCIDENTS,
  agent: AGENTS,
};

/** Invalidations gathered over `windowMs`, so a burst of check-ins costs one refetch per query. */
export function createInvalidator(queryClient: QueryClient, windowMs = 300) {
  const pending = new Map<string, QueryKey>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    const keys = [...pending.values()];
    pending.clear();
    for (const queryKey of keys) void queryClient.invalidateQueries({ queryKey });
  };
  return {
    onEvent(event: ServerEvent) {
      for (const key of AFFECTED[event.type] ?? []) pending.set(key.join(" "), key);
      if (pending.size > 0) timer ??= setTimeout(flush, windowMs);
    },
    /** Events were missed: everything the stream keeps current may be stale. */
    onGap() {
      for (const keys of Object.values(AFFECTED)) for (const key of keys) pending.set(key.join(" "), key);
      timer ??= setTimeout(flush, windowMs);
    },
    dispose() {
      clearTimeout(timer);
    },
  };
}

export type LiveStatus = "connecting" | "open" | "closed";

export function useLiveEvents(queryClient: QueryClient, enabled: boolean): LiveStatus {
  const [status, setStatus] = useState<LiveStatus>("connecting");
  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const invalidator = createInvalidator(queryClient);
    void subscribeEvents({
      fetch: session.fetch,
      signal: controller.signal,
      onEvent: invalidator.onEvent,
      onGap: invalidator.onGap,
      onStatus: setStatus,
    });
    return () => {
      controller.abort();
      invalidator.dispose();
    };
  }, [queryClient, enabled]);
  return status;
}
