import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

const file = [
  "apiVersion: crontopus.io/v1",
  "kind: Job",
  "metadata: {name: hello, namespace: staging}",
  "spec:",
  '  schedule: "* * * * *"',
  "  command: /bin/true",
  "---",
  "apiVersion: crontopus.io/v1",
  "kind: Job",
  "metadata: {name: other, namespace: staging}",
  "spec:",
  '  schedule: "0 4 * * 0"',
  "  command: find",
  "",
].join("\n");

const job = {
  job: "staging/hello",
  namespace: "staging",
  name: "hello",
  schedule: "* * * * *",
  schedule_description: "Every minute",
  timezone: "UTC",
  enabled: true,
  paused: false,
  labels: {},
  command: "/bin/true",
  commit: "aaaa111",
  file: "staging/hello.yaml",
  manifest: { spec: {} },
  yaml: file,
  ping_url: "http://console.test/ping/abc",
  last_status: "failure",
  next_run: "2026-12-06T12:01:00+00:00",
  next_runs: [{ at: "2026-12-06T12:01:00+00:00", note: null }],
  history: [{ sha: "aaaa111", author: "alice", message: "Example jobs", committed_at: "2026-12-06T10:00:00Z" }],
};

const base = {
  "POST /api/auth/refresh": () => json(pair),
  "GET /api/auth/me": () => json(me),
  "GET /api/agents": () => json({ agents: [] }),
  "GET /api/gitops/repository": () => json({ kind: "embedded", clone_url: "/x.git", branch: "main", folder: "", head_commit: "aaaa111", last_sync_at: null, last_error: null, errors: [] }),
  "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
  "GET /api/runs": () => json({ runs: [], next_cursor: null, prev_cursor: null }),
  "GET /api/jobs": () => json({ jobs: [] }),
  "GET /api/jobs/staging/hello": () => json(job),
};

afterEach(cleanupFreshApp);

describe("a job's page", () => {
  it("teaches the exact curl line when the job has no runs yet", async () => {
    mockApi(base);
    await renderFresh("/jobs/staging/hello");
    expect(await screen.findByText("No runs yet.")).toBeInTheDocument();
    expect(screen.getAllByText("curl -fsS -m 10 --retry 3 -o /dev/null http://console.test/ping/abc").length).toBeGreaterThan(0);
  });

  it("names the agents that have the job installed, asking the server for this job's", async () => {
    const agent = { id: "a1", name: "db-1", status: "online", jobs: ["staging/hello"] };
    const api = mockApi({ ...base, "GET /api/agents": () => json({ agents: [agent] }) });
    await renderFresh("/jobs/staging/hello");
    const link = await screen.findByRole("link", { name: "db-1" });
    expect(link).toHaveAttribute("href", "/agents/a1");
    const asked = api.calls("GET /api/agents").map((r) => new URL(r.url).searchParams.get("job"));
    expect(asked).toContain("staging/hello");
  });

  it("says when no agent has installed the job, and which labels would", async () => {
    mockApi({ ...base, "GET /api/jobs/staging/hello": () => json({ ...job, manifest: { spec: { target: { matchLabels: { role: "db" } } } } }) });
    await renderFresh("/jobs/staging/hello");
    expect(await screen.findByText("No agent has installed it")).toBeInTheDocument();
    expect(screen.getByText("role=db")).toBeInTheDocument();
    expect(screen.getByText(/install it at their next sync/)).toBeInTheDocument();
  });

  it("pauses by committing only this job's document with spec.paused, based on the commit shown", async () => {
    const api = mockApi({ ...base, "PUT /api/jobs/staging/hello": () => json({ ...job, paused: true, commit: "bbbb222" }) });
    await renderFresh("/jobs/staging/hello");
    await userEvent.click(await screen.findByRole("button", { name: "Pause" }));
    await waitFor(() => expect(api.calls("PUT /api/jobs/staging/hello")).toHaveLength(1));
    const body = (await api.calls("PUT /api/jobs/staging/hello")[0]?.json()) as { manifest: string; base_commit: string };
    expect(body.base_commit).toBe("aaaa111");
    expect(body.manifest).toContain("paused: true");
    expect(body.manifest).toContain("name: hello");
    expect(body.manifest).not.toContain("other");
  });

  it("asks once, naming the job, before deleting it", async () => {
    const api = mockApi({ ...base, "DELETE /api/jobs/staging/hello": () => json({ commit: "cccc333" }) });
    const { router } = await renderFresh("/jobs/staging/hello");
    await userEvent.click(await screen.findByRole("button", { name: "Delete" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Delete staging/hello?" });
    expect(api.calls("DELETE /api/jobs/staging/hello")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete staging/hello" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/jobs"));
    expect(new URL(api.calls("DELETE /api/jobs/staging/hello")[0]!.url).searchParams.get("base_commit")).toBe("aaaa111");
  });

  it("offers a viewer no change the API would refuse", async () => {
    mockApi({ ...base, "GET /api/auth/me": () => json({ ...me, role: "viewer" }) });
    await renderFresh("/jobs/staging/hello");
    expect(await screen.findByText("No runs yet.")).toBeInTheDocument();
    for (const name of ["Pause", "Delete"]) expect(screen.queryByRole("button", { name })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Edit YAML" })).not.toBeInTheDocument();
  });
});
