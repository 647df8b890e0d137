import { screen, waitFor, within } from "@testing-library/react";
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

const agent = (id: string, name: string, status = "online") => ({ id, name, status, hostname: `${name}.example`, labels: {}, jobs: [] });

function runsApi(agents: ReturnType<typeof agent>[] = []) {
  return mockApi({
    "POST /api/auth/refresh": () => json(pair),
    "GET /api/auth/me": () => json(me),
    "GET /api/jobs": () => json({ jobs: [] }),
    "GET /api/agents": () => json({ agents }),
    "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
    "GET /api/runs": (request) => {
      const job = new URL(request.url).searchParams.get("job");
      if (job && !job.includes("/")) return json({ detail: "job: String should match pattern" }, 422);
      return json({ runs: [run("r1")], next_cursor: null, prev_cursor: null });
    },
  });
}

const asked = (api: ReturnType<typeof mockApi>, key: string) => api.calls("GET /api/runs").map((r) => new URL(r.url).searchParams.get(key));

describe("the runs filters", () => {
  it("keep every character typed fast into Job while the URL lands late, and send only a whole namespace/name", async () => {
    const api = runsApi();
    const { router } = await renderFresh("/runs", { navigationDelayMs: 30 });
    const box = await screen.findByRole("combobox", { name: "Job" });
    await userEvent.setup({ delay: 5 }).type(box, "billing/job-08");
    expect(box).toHaveValue("billing/job-08");
    await waitFor(() => expect(router.state.location.search).toBe("?job=billing%2Fjob-08"));
    await waitFor(() => expect(asked(api, "job")).toContain("billing/job-08"));
    expect(asked(api, "job").filter(Boolean)).toEqual(["billing/job-08"]);
  });

  it("says what to write for a job that is not namespace/name, and keeps the list", async () => {
    const api = runsApi();
    await renderFresh("/runs?job=billing");
    expect(await screen.findByRole("table", { name: "Runs, newest first" })).toBeInTheDocument();
    expect(screen.getByText("Write namespace/name, e.g. billing/invoices.")).toBeInTheDocument();
    expect(asked(api, "job").every((job) => job === null)).toBe(true);
  });

  it("chooses the source among the team's agents by name and sends the agent's id", async () => {
    const api = runsApi([agent("a".repeat(32), "web-1"), agent("b".repeat(32), "db-1"), agent("c".repeat(32), "old-1", "revoked")]);
    const { router } = await renderFresh("/runs");
    const source = await screen.findByRole("combobox", { name: "Source" });
    await waitFor(() => expect(within(source).getAllByRole("option").map((o) => o.textContent)).toEqual(["Any source", "ping (a ping URL)", "api (an API client)", "db-1", "web-1", "old-1 (revoked)"]));

    await userEvent.selectOptions(source, "web-1");
    await waitFor(() => expect(router.state.location.search).toBe(`?source=${"a".repeat(32)}`));
    await waitFor(() => expect(asked(api, "source")).toContain("a".repeat(32)));
    expect(source).toHaveDisplayValue("web-1");

    await userEvent.selectOptions(source, "ping (a ping URL)");
    await waitFor(() => expect(asked(api, "source")).toContain("ping"));
  });

  it("takes an agent's name in the URL for that agent", async () => {
    const api = runsApi([agent("b".repeat(32), "db-1")]);
    await renderFresh("/runs?source=db-1");
    await waitFor(() => expect(asked(api, "source")).toContain("b".repeat(32)));
    expect(screen.getByRole("combobox", { name: "Source" })).toHaveDisplayValue("db-1");
  });
});
