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

  it("draws the status strip oldest first by start time, whatever order the runs arrived in", async () => {
    const at = (day: number) => `2026-12-0${day}T10:00:00Z`;
    const run = (id: string, day: number, status = "success") => ({ run_id: id, job: "staging/hello", status, started_at: at(day), finished_at: at(day), duration_ms: 1000 * day, source: "api" });
    // As the API lists them, by arrival: the newest arrival first, a backfilled run (day 1) among them.
    const runs = [run("r4", 4), run("r1", 1, "failure"), run("r5", 5), run("r2", 2), run("r3", 3)];
    mockApi({ ...base, "GET /api/runs": () => json({ runs, next_cursor: null, prev_cursor: null }) });
    await renderFresh("/jobs/staging/hello");
    const strip = await screen.findByRole("list", { name: /^The last 5 runs, oldest first/ });
    const links = within(strip).getAllByRole("link");
    expect(links.map((link) => link.getAttribute("href"))).toEqual(["/runs/r1", "/runs/r2", "/runs/r3", "/runs/r4", "/runs/r5"]);
  });

  it("shows the manifest with each line number in the row of its line", async () => {
    mockApi(base);
    await renderFresh("/jobs/staging/hello");
    const view = () => screen.getByRole("region", { name: "Manifest of staging/hello (read-only)" });
    await waitFor(() => expect(view().querySelectorAll("pre > div")).toHaveLength(6)); // the highlighted view, not the plain fallback
    const manifest = view();
    const rows = [...manifest.querySelectorAll("pre > div")].map((row) => [...row.children].map((cell) => cell.textContent));
    expect(rows[0]).toEqual(["1", "apiVersion: crontopus.io/v1"]);
    expect(rows[3]).toEqual(["4", "spec:"]);
    expect(within(manifest).getByText("apiVersion")).toHaveClass("yaml-key");
  });
});
