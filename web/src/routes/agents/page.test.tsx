import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi, type Handler } from "../../test/render";
import { matchesAgent, sortAgents } from "./page";
import { CATCHING_UP_MS, refreshInterval, REFRESH_MS, type Agent } from "./parts";

const HEAD = "d0de6d332413c481de2aa29c2e9a7c912f8aed4b";

function agent(name: string, overrides: Partial<Agent> = {}): Agent {
  return {
    id: `${name}-id`.padEnd(32, "0").slice(0, 32),
    name,
    hostname: `${name}.example`,
    platform: "linux-x86_64",
    version: "0.1.0",
    labels: { role: "db" },
    status: "online",
    enrolled_at: "2026-12-01T10:00:00Z",
    last_seen_at: new Date().toISOString(),
    revoked_at: null,
    scheduler: "crontab",
    applied_commit: HEAD,
    last_sync_at: new Date().toISOString(),
    sync_error: null,
    jobs: ["ops/backup"],
    drift: [],
    drift_detected_at: null,
    errors: [],
    spool_pending: 0,
    spool_dropped: 0,
    ...overrides,
  };
}

const repository = { kind: "embedded", clone_url: "/repo", branch: "main", folder: "", head_commit: HEAD, last_sync_at: null, last_error: null, errors: [] };
const events: Handler = () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } });

function api(agents: Agent[], role = "owner", extra: Record<string, Handler> = {}) {
  return mockApi({
    "POST /api/auth/refresh": () => json(pair),
    "GET /api/auth/me": () => json({ ...me, role }),
    "GET /api/events": events,
    "GET /api/gitops/repository": () => json(repository),
    "GET /api/agents": () => json({ agents }),
    ...extra,
  });
}

afterEach(cleanupFreshApp);

describe("the agents list", () => {
  it("shows offline agents first, each applied commit against the head, and filters by status in the URL", async () => {
    api([
      agent("web-1"),
      agent("db-1", { status: "offline", applied_commit: "1111111111111111111111111111111111111111", spool_dropped: 2 }),
      agent("new-1", { applied_commit: null, scheduler: null, last_seen_at: null }),
      agent("old-1", { status: "revoked" }),
    ]);
    const { router } = await renderFresh("/agents");
    const table = await screen.findByRole("table", { name: "Agents, 4 of 4" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => within(row).getByRole("link").textContent)).toEqual(["db-1", "new-1", "web-1", "old-1"]);
    expect(rows[0]).toHaveTextContent("offline");
    expect(rows[0]).toHaveTextContent("behind");
    expect(rows[0]).toHaveTextContent("2 dropped");
    expect(rows[1]).toHaveTextContent("never synced");
    expect(rows[2]).toHaveTextContent("at head");
    expect(within(rows[2]!).getByRole("link", { name: "web-1" })).toHaveAttribute("href", `/agents/${agent("web-1").id}`);

    await userEvent.selectOptions(screen.getByRole("combobox", { name: "Status" }), "revoked");
    expect(await screen.findByRole("table", { name: "Agents matching the filters, 1 of 4" })).toBeInTheDocument();
    expect(router.state.location.search).toBe("?status=revoked");
  });

  it("teaches how to add an agent when there is none, with the button for those who may", async () => {
    api([], "admin");
    await renderFresh("/agents");
    expect(await screen.findByText("No agent yet.")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Add an agent" })).toBeInTheDocument();
  });

  it("has no Add an agent button for a member", async () => {
    api([], "member");
    await renderFresh("/agents");
    expect(await screen.findByText(/Admins and owners of the team add agents/)).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Add an agent" })).not.toBeInTheDocument();
  });

  it("creates a one-time token with labels and a lifetime, and shows the commands with it", async () => {
    const created = { id: "t1", token: "ctpe_secret-token", expires_at: "2026-12-08T10:00:00Z", max_uses: 1 };
    const { calls } = api([], "owner", { "POST /api/agents/enrollment-tokens": () => json(created, 201) });
    await renderFresh("/agents");
    await userEvent.click(await screen.findByRole("button", { name: "Add an agent" }));
    const dialog = await screen.findByRole("dialog", { name: "Add an agent" });
    await userEvent.type(within(dialog).getByLabelText("Labels"), "role=db zone");
    expect(within(dialog).getByText('"zone" is not key=value')).toBeInTheDocument();
    expect(within(dialog).getByRole("button", { name: "Create enrollment token" })).toBeDisabled();
    await userEvent.type(within(dialog).getByLabelText("Labels"), "=eu");
    await userEvent.selectOptions(within(dialog).getByLabelText("Token valid for"), "1 day");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create enrollment token" }));

    const linux = await within(dialog).findByRole("region", { name: "Linux with cron" });
    expect(await calls("POST /api/agents/enrollment-tokens")[0]!.json()).toEqual({ ttl_seconds: 86_400, max_uses: 1, labels: { role: "db", zone: "eu" } });
    expect(linux).toHaveTextContent(`crontopus-agent enroll --server ${window.location.origin} --token ctpe_secret-token`);
    expect(within(dialog).getByRole("region", { name: "Container, built-in scheduler" })).toHaveTextContent("--scheduler builtin");
    expect(within(dialog).getByRole("region", { name: "Windows (Task Scheduler)" })).toHaveTextContent("--scheduler windows");

    await userEvent.type(within(dialog).getByLabelText("Agent name"), "db-7");
    expect(linux).toHaveTextContent("--token ctpe_secret-token --name db-7");

    await userEvent.click(within(dialog).getByRole("button", { name: "Done" }));
    await userEvent.click(screen.getByRole("button", { name: "Add an agent" }));
    expect(await screen.findByRole("button", { name: "Create enrollment token" })).toBeInTheDocument(); // the token is gone
    expect(screen.queryByText(/ctpe_secret-token/)).not.toBeInTheDocument();
  });

  it("shows the server's message when the token is refused", async () => {
    api([], "owner", { "POST /api/agents/enrollment-tokens": () => json({ detail: "labels: invalid key" }, 422) });
    await renderFresh("/agents");
    await userEvent.click(await screen.findByRole("button", { name: "Add an agent" }));
    await userEvent.click(await screen.findByRole("button", { name: "Create enrollment token" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("labels: invalid key");
  });
});

describe("sorting and searching", () => {
  it("keeps every character typed fast into Search while the URL lands late", async () => {
    api([agent("web-1"), agent("db-primary")]);
    const { router } = await renderFresh("/agents", { navigationDelayMs: 30 });
    const search = await screen.findByRole("searchbox", { name: "Search" });
    await userEvent.setup({ delay: 5 }).type(search, "db-primary");
    expect(search).toHaveValue("db-primary");
    expect(await screen.findByRole("table", { name: "Agents matching the filters, 1 of 2" })).toBeInTheDocument();
    await waitFor(() => expect(router.state.location.search).toBe("?q=db-primary"));
  });

  it("searches name, host and labels", () => {
    expect(matchesAgent(agent("web-1"), "role=db")).toBe(true);
    expect(matchesAgent(agent("web-1"), "WEB-1.example")).toBe(true);
    expect(matchesAgent(agent("web-1"), "zone=eu")).toBe(false);
    expect(sortAgents([agent("b"), agent("a", { status: "revoked" }), agent("c", { status: "offline" })]).map((a) => a.name)).toEqual(["c", "b", "a"]);
  });
});

describe("how often the pages ask again", () => {
  it("asks every few seconds only while an online, healthy agent has not applied the head yet", () => {
    const behind = agent("a", { applied_commit: "1".repeat(40) });
    expect(refreshInterval([agent("b")], HEAD)).toBe(REFRESH_MS);
    expect(refreshInterval([agent("b"), behind], HEAD)).toBe(CATCHING_UP_MS);
    expect(refreshInterval([{ ...behind, status: "offline" }], HEAD)).toBe(REFRESH_MS);
    expect(refreshInterval([{ ...behind, sync_error: "cannot fetch" }], HEAD)).toBe(REFRESH_MS);
    expect(refreshInterval([behind], null)).toBe(REFRESH_MS);
    expect(refreshInterval(undefined, HEAD)).toBe(REFRESH_MS);
  });
});

describe("an agent's page", () => {
  const one = agent("db-1", {
    drift: [
      { ref: "ops/backup", kind: "edited", detail: "the line read '0 5 * * *'" },
      { ref: "ops/gone", kind: "unknown", detail: "" },
    ],
    drift_detected_at: "2026-12-07T09:00:00Z",
    errors: ["ops/long: its crontab command is 1200 characters; cron takes at most 998"],
    sync_error: "cannot fetch: connection refused",
    spool_pending: 3,
  });

  it("shows its jobs linked, sync error, drift with what was restored, spool and version", async () => {
    api([one], "viewer", { [`GET /api/agents/${one.id}`]: () => json(one) });
    await renderFresh(`/agents/${one.id}`);
    expect(await screen.findByRole("heading", { name: /db-1/ })).toBeInTheDocument();
    expect(screen.getByText(/agent 0\.1\.0/)).toBeInTheDocument();
    expect(screen.getAllByRole("link", { name: "ops/backup" })[0]).toHaveAttribute("href", "/jobs/ops/backup");
    expect(screen.getByRole("alert")).toHaveTextContent("cannot fetch: connection refused");
    const drift = screen.getByRole("table", { name: "Drift repaired at the last sync" });
    expect(drift).toHaveTextContent("changed by hand; restored as Git says");
    expect(drift).toHaveTextContent("not a job of this agent; removed");
    expect(screen.getByText(/1200 characters/)).toBeInTheDocument();
    const spool = screen.getByText(/check-ins waiting on the host/);
    expect(spool).toHaveTextContent("3 check-ins waiting on the host to be sent");
    expect(spool).toHaveTextContent("0 lost to a full spool");
    expect(screen.queryByRole("button", { name: "Revoke" })).not.toBeInTheDocument(); // a viewer
  });

  it("revokes after a confirmation naming the agent, then shows it revoked", async () => {
    const revoked = { ...one, status: "revoked" as const, revoked_at: new Date().toISOString() };
    const { calls } = api([one], "admin", {
      [`GET /api/agents/${one.id}`]: () => json(one),
      [`DELETE /api/agents/${one.id}`]: () => json(revoked),
    });
    await renderFresh(`/agents/${one.id}`);
    await userEvent.click(await screen.findByRole("button", { name: "Revoke" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Revoke db-1?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Revoke db-1" }));
    expect(await screen.findByText(/the server refuses its credentials/)).toBeInTheDocument();
    expect(calls(`DELETE /api/agents/${one.id}`)).toHaveLength(1);
    expect(screen.queryByRole("button", { name: "Revoke" })).not.toBeInTheDocument();
  });

  it("says not found for an id the team does not have", async () => {
    api([], "owner", { "GET /api/agents/nope": () => json({ detail: "no agent nope" }, 404) });
    await renderFresh("/agents/nope");
    expect(await screen.findByRole("heading", { name: "Agent not found" })).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Back to the agents" })).toHaveAttribute("href", "/agents");
  });
});
