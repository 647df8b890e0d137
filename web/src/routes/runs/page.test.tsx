import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

const run = (id: string, status = "success") => ({
  run_id: id,
  job: "staging/hello",
  status,
  started_at: "2026-12-06T10:00:00Z",
  finished_at: "2026-12-06T10:00:01Z",
  duration_ms: 1200,
  exit_code: status === "success" ? 0 : 1,
  source: "ping",
  manifest_commit: "abcdef1234",
});

afterEach(cleanupFreshApp);

describe("the runs page", () => {
  it("sends the filters in the URL to the API and pages both ways with the cursors it answers", async () => {
    const api = mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json(me),
      "GET /api/jobs": () => json({ jobs: [] }),
      "GET /api/agents": () => json({ agents: [] }),
      "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
      "GET /api/runs": (request) => {
        const cursor = new URL(request.url).searchParams.get("cursor");
        if (cursor === "older-1") return json({ runs: [run("r2", "failure")], next_cursor: null, prev_cursor: "newer-2" });
        return json({ runs: [run("r1")], next_cursor: "older-1", prev_cursor: null });
      },
    });
    const { router } = await renderFresh("/runs?status=failure&job=staging/hello&source=ping");
    expect(await screen.findByRole("table", { name: "Runs, newest first" })).toHaveTextContent("success");
    const first = new URL(api.calls("GET /api/runs")[0]!.url).searchParams;
    expect(Object.fromEntries(first)).toMatchObject({ status: "failure", job: "staging/hello", source: "ping", limit: "50" });
    expect(screen.getByRole("button", { name: "Newer" })).toBeDisabled();

    await userEvent.click(screen.getByRole("button", { name: "Older" }));
    await waitFor(() => expect(router.state.location.search).toContain("cursor=older-1"));
    expect(await screen.findByText("failure", { selector: "td *" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Older" })).toBeDisabled();

    await userEvent.click(screen.getByRole("button", { name: "Newer" }));
    await waitFor(() => expect(router.state.location.search).toContain("cursor=newer-2"));
  });

  it("teaches where runs come from when there are none", async () => {
    mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json(me),
      "GET /api/jobs": () => json({ jobs: [] }),
      "GET /api/agents": () => json({ agents: [] }),
      "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
      "GET /api/runs": () => json({ runs: [], next_cursor: null, prev_cursor: null }),
    });
    await renderFresh("/runs");
    expect(await screen.findByText("No runs yet.")).toBeInTheDocument();
  });
});
