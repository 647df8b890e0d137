import { screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

const detail = (fields: Record<string, unknown> = {}) => ({
  run_id: "r1",
  job: "ops/sync",
  status: "failure",
  started_at: "2026-12-06T10:00:00Z",
  finished_at: "2026-12-06T10:05:00Z",
  duration_ms: 300_000,
  exit_code: 143,
  source: "ping",
  manifest_commit: "abcdef1234",
  output: "syncing\n[crontopus] stopped: a newer run of this job replaced it (concurrency: replace)\n",
  output_truncated: false,
  ...fields,
});

function serve(run: ReturnType<typeof detail>) {
  mockApi({
    "POST /api/auth/refresh": () => json(pair),
    "GET /api/auth/me": () => json(me),
    "GET /api/agents": () => json({ agents: [] }),
    "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
    "GET /api/runs/r1": () => json(run),
  });
}

afterEach(cleanupFreshApp);

describe("a run's page", () => {
  it("says which newer run replaced a run stopped by concurrency: replace, with a link to it", async () => {
    serve(detail({ replaced_by: "r2" }));
    await renderFresh("/runs/r1");
    const link = await screen.findByRole("link", { name: "run r2" });
    expect(link).toHaveAttribute("href", "/runs/r2");
    expect(screen.getByText(/Stopped when a newer run of this job started/)).toHaveTextContent("Alerting does not count it as a failure.");
  });

  it("says nothing of replacement for an ordinary failure", async () => {
    serve(detail({ replaced_by: null, exit_code: 1, output: "boom\n" }));
    await renderFresh("/runs/r1");
    expect(await screen.findByText("Exit code")).toBeInTheDocument();
    expect(screen.queryByText(/Stopped when a newer run/)).not.toBeInTheDocument();
  });
});
