import { screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";
import { DASHBOARD_REQUESTS } from "./requests";

afterEach(cleanupFreshApp);

// One job timed out, eleven failed: more than the card lists.
const failing = [{ job: "ops/backup", last_status: "timeout" }, ...Array.from({ length: 11 }, (_, i) => ({ job: `ops/report-${i}`, last_status: "failure" }))];

describe("the dashboard", () => {
  it("asks the API exactly what src/boot.ts sends ahead of it on a reload", async () => {
    const stats = { bucket: "hour", timezone: "UTC", totals: { runs: 0, success: 0, failure: 0, timeout: 0, running: 0, success_rate: null }, buckets: [] };
    const api = mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json(me),
      "GET /api/jobs/summary": () => json({ jobs: 12, paused: 1, disabled: 0, failing }),
      "GET /api/agents": () => json({ agents: [] }),
      "GET /api/incidents": () => json({ incidents: [] }),
      "GET /api/runs/stats": () => json(stats),
      "GET /api/jobs/upcoming": () => json({ runs: [] }),
      "GET /api/runs": () => json({ runs: [], next_cursor: null, prev_cursor: null }),
      "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
    });
    await renderFresh("/");
    expect(await screen.findByText("No runs yet.")).toBeInTheDocument();
    const jobs = screen.getByRole("region", { name: "Jobs" });
    expect(within(jobs).getByText("12")).toBeInTheDocument();
    expect(within(jobs).getByText("12 failing")).toBeInTheDocument();
    const list = screen.getByRole("region", { name: "Failing now" });
    expect(within(list).getAllByRole("listitem")).toHaveLength(10);
    expect(list).toHaveTextContent("ops/backup");
    expect(list).toHaveTextContent("timeout");
    expect(within(list).getByRole("link", { name: "All 12 failing jobs" })).toHaveAttribute("href", "/jobs");
    const asked = api.requests
      .filter((request) => request.method === "GET" && !request.url.includes("/api/events"))
      .map((request) => {
        const url = new URL(request.url);
        return url.pathname + url.search;
      });
    expect(new Set(asked)).toEqual(new Set(DASHBOARD_REQUESTS));
  });
});
