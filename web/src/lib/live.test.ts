import { QueryClient } from "@tanstack/react-query";
import { afterEach, describe, expect, it, vi } from "vitest";

import { createInvalidator } from "./live";

afterEach(() => vi.useRealTimers());

function cached(client: QueryClient, ...keys: unknown[][]) {
  for (const key of keys) client.setQueryData(key, { cached: true });
}

describe("createInvalidator", () => {
  it("marks runs, statistics and jobs stale when runs are recorded, and leaves agents alone", async () => {
    vi.useFakeTimers();
    const client = new QueryClient();
    cached(
      client,
      ["get", "/api/runs", { params: { query: { limit: 10 } } }],
      ["get", "/api/runs/stats", { params: { query: { bucket: "hour" } } }],
      ["get", "/api/jobs", {}],
      ["get", "/api/agents", {}],
    );
    const invalidator = createInvalidator(client, 300);
    invalidator.onEvent({ id: "1", type: "runs.recorded", data: "{}" });
    await vi.advanceTimersByTimeAsync(300);
    const stale = (key: unknown[]) => client.getQueryState(key)?.isInvalidated;
    expect(stale(["get", "/api/runs", { params: { query: { limit: 10 } } }])).toBe(true);
    expect(stale(["get", "/api/runs/stats", { params: { query: { bucket: "hour" } } }])).toBe(true);
    expect(stale(["get", "/api/jobs", {}])).toBe(true);
    expect(stale(["get", "/api/agents", {}])).toBe(false);
  });

  it("gathers a burst of events into one invalidation per query", async () => {
    vi.useFakeTimers();
    const client = new QueryClient();
    const spy = vi.spyOn(client, "invalidateQueries");
    const invalidator = createInvalidator(client, 300);
    for (let i = 0; i < 50; i++) invalidator.onEvent({ id: String(i), type: "incident", data: "{}" });
    await vi.advanceTimersByTimeAsync(300);
    expect(spy).toHaveBeenCalledTimes(3); // the incidents list, an incident's page and the status badges
  });

  it("ignores event types it does not know", async () => {
    vi.useFakeTimers();
    const client = new QueryClient();
    const spy = vi.spyOn(client, "invalidateQueries");
    createInvalidator(client, 300).onEvent({ id: "1", type: "something.new", data: "{}" });
    await vi.advanceTimersByTimeAsync(1000);
    expect(spy).not.toHaveBeenCalled();
  });
});
