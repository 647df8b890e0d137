import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";
import { ROWS_AT_FIRST } from "./page";

const job = (i: number) => ({
  job: `ops/job-${String(i).padStart(4, "0")}`,
  namespace: "ops",
  name: `job-${String(i).padStart(4, "0")}`,
  schedule: "*/5 * * * *",
  schedule_description: "Every 5 minutes",
  timezone: "UTC",
  enabled: true,
  paused: false,
  labels: {},
  command: "/bin/true",
  commit: "aaaa111",
  file: `ops/job-${i}.yaml`,
  ping_url: null,
  last_status: "success",
  next_run: "2026-12-06T12:05:00+00:00",
});

afterEach(cleanupFreshApp);

describe("the jobs list", () => {
  it("draws the first rows of a long list at once and the rest on request, and a new filter starts short again", async () => {
    const many = Array.from({ length: 250 }, (_, i) => job(i));
    mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json(me),
      "GET /api/agents": () => json({ agents: [] }),
      "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
      "GET /api/jobs": () => json({ jobs: many }),
    });
    await renderFresh("/jobs");
    const table = await screen.findByRole("table", { name: `Jobs, ${ROWS_AT_FIRST} of 250 shown` });
    expect(within(table).getAllByRole("row")).toHaveLength(ROWS_AT_FIRST + 1); // and the header

    await userEvent.click(screen.getByRole("button", { name: "Show all 250" }));
    expect(within(await screen.findByRole("table", { name: "Jobs, 250 of 250 shown" })).getAllByRole("row")).toHaveLength(251);
    expect(screen.queryByRole("button", { name: /Show all/ })).not.toBeInTheDocument();

    await userEvent.type(screen.getByRole("searchbox", { name: "Search" }), "job-0"); // all 250 match
    expect(await screen.findByRole("table", { name: `Jobs matching the filters, ${ROWS_AT_FIRST} of 250 shown` })).toBeInTheDocument();
  });
});
