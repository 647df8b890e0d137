import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";
import { unsettled } from "./page";

const ID = "0123456789abcdef0123456789abcdef";
const incident = {
  id: ID,
  job: "ops/backup",
  agent_id: null,
  cause: "failed",
  status: "open",
  detail: "exited with 2",
  run_id: "run-42",
  commit: "f204a09c0ffee",
  silenced: false,
  opened_at: "2026-12-06T12:00:00Z",
  acknowledged_at: null,
  acknowledged_by: null,
  resolved_at: null,
  resolved_by: null,
  last_notified_at: null,
  escalated_at: null,
  timeline: [
    { step: "opened", at: "2026-12-06T12:00:00Z", by: null, channels: 0 },
    { step: "notified", at: "2026-12-06T12:00:01Z", by: null, channels: 1 },
  ],
  deliveries: [
    {
      id: "d1",
      incident_id: ID,
      channel_id: "c1",
      channel_name: "ops webhook",
      event: "trigger",
      status: "gave_up",
      attempts: 6,
      last_error: "HTTP 500 from the receiver",
      created_at: "2026-12-06T12:00:01Z",
      sent_at: null,
    },
  ],
};

const base = (role = "owner") => ({
  "POST /api/auth/refresh": () => json(pair),
  "GET /api/auth/me": () => json({ ...me, role }),
  "GET /api/agents": () => json({ agents: [] }),
  "GET /api/members": () => json({ members: [{ user_id: "u1", username: "alice", email: "a@example.com", role, joined_at: "2026-01-01T00:00:00Z" }] }),
  "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
  [`GET /api/incidents/${ID}`]: () => json(incident),
});

afterEach(cleanupFreshApp);

describe("an incident's page", () => {
  it("tells the cause, links the run, shows the commit and each notification with its error", async () => {
    mockApi(base());
    await renderFresh(`/incidents/${ID}`);
    expect(await screen.findByText("ops/backup failed: exited with 2")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Output of run run-42" })).toHaveAttribute("href", "/runs/run-42");
    expect(screen.getByText("f204a09")).toBeInTheDocument();
    const row = screen.getByRole("row", { name: /ops webhook/ });
    expect(within(row).getByText("gave up")).toBeInTheDocument();
    expect(within(row).getByText("HTTP 500 from the receiver")).toBeInTheDocument();
    expect(within(screen.getByRole("list", { name: "Timeline" })).getByText("Notified 1 channel")).toBeInTheDocument();
  });

  it("acknowledges for a member and shows the server's refusal next to the buttons", async () => {
    const api = mockApi({
      ...base("member"),
      [`POST /api/incidents/${ID}/ack`]: () => json({ detail: "the incident service is unavailable" }, 503),
    });
    await renderFresh(`/incidents/${ID}`);
    await userEvent.click(await screen.findByRole("button", { name: "Acknowledge" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not acknowledge it: the incident service is unavailable");
    expect(api.calls(`POST /api/incidents/${ID}/ack`)).toHaveLength(1);
  });

  it("for a missed run, says that no agent has the job installed and which labels would", async () => {
    const missed = { ...incident, cause: "missed", detail: "no run started within 300s of 2026-12-06 12:00 UTC", run_id: null };
    const job = { job: "ops/backup", paused: false, enabled: true, manifest: { spec: { target: { matchLabels: { role: "db" } } } } };
    const api = mockApi({ ...base(), [`GET /api/incidents/${ID}`]: () => json(missed), "GET /api/jobs/ops/backup": () => json(job) });
    await renderFresh(`/incidents/${ID}`);
    expect(await screen.findByText("No agent has installed it")).toBeInTheDocument();
    expect(screen.getByText("role=db")).toBeInTheDocument();
    expect(new URL(api.calls("GET /api/agents").at(-1)!.url).searchParams.get("job")).toBe("ops/backup");
  });

  it("for a missed run of a job since deleted, says so instead", async () => {
    const missed = { ...incident, cause: "missed", run_id: null };
    mockApi({ ...base(), [`GET /api/incidents/${ID}`]: () => json(missed), "GET /api/jobs/ops/backup": () => json({ detail: "no such job" }, 404) });
    await renderFresh(`/incidents/${ID}`);
    expect(await screen.findByText("no agent: the job no longer exists")).toBeInTheDocument();
  });

  it("does not ask where a failed job is installed (its command ran)", async () => {
    const api = mockApi(base());
    await renderFresh(`/incidents/${ID}`);
    expect(await screen.findByText("ops/backup failed: exited with 2")).toBeInTheDocument();
    expect(screen.queryByText("Installed on")).not.toBeInTheDocument();
    expect(api.calls("GET /api/jobs/ops/backup")).toHaveLength(0);
  });

  it("offers no action to a viewer", async () => {
    mockApi(base("viewer"));
    await renderFresh(`/incidents/${ID}`);
    expect(await screen.findByText("ops/backup failed: exited with 2")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Acknowledge" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Resolve" })).not.toBeInTheDocument();
  });

  it("says not found for an id the team does not have", async () => {
    mockApi(base());
    await renderFresh("/incidents/ffffffffffffffffffffffffffffffff");
    expect(await screen.findByRole("heading", { name: "Incident not found" })).toBeInTheDocument();
  });

  it("asks again only while a notification is on its way", () => {
    const at = (status: string) => ({ ...incident, deliveries: [{ ...incident.deliveries[0]!, status }] }) as Parameters<typeof unsettled>[0];
    expect(unsettled(at("pending"))).toBe(true);
    expect(unsettled(at("failed"))).toBe(true);
    expect(unsettled(at("sent"))).toBe(false);
    expect(unsettled(at("gave_up"))).toBe(false);
    expect(unsettled(undefined)).toBe(false);
  });
});

describe("the incidents list", () => {
  it("asks for what is not resolved, and for everything once the switch is on (kept in the URL)", async () => {
    const api = mockApi({ ...base(), "GET /api/incidents": () => json({ incidents: [incident], next_cursor: null }) });
    const { router } = await renderFresh("/incidents");
    const link = await screen.findByRole("link", { name: "failed" });
    expect(link).toHaveAttribute("href", `/incidents/${ID}`);
    expect(new URL(api.calls("GET /api/incidents")[0]!.url).searchParams.getAll("status")).toEqual(["open", "acknowledged"]);
    await userEvent.click(screen.getByRole("switch", { name: "Show resolved incidents too" }));
    await waitFor(() => expect(router.state.location.search).toBe("?show=all"));
    await waitFor(() => expect(new URL(api.calls("GET /api/incidents").at(-1)!.url).searchParams.getAll("status")).toEqual([]));
  });

  it("pages on with the API's cursor, kept in the URL", async () => {
    const cursor = "1796558400000000-0123456789abcdef0123456789abcdef";
    const api = mockApi({ ...base(), "GET /api/incidents": () => json({ incidents: [incident], next_cursor: cursor }) });
    const { router } = await renderFresh("/incidents");
    await userEvent.click(await screen.findByRole("button", { name: "Older" }));
    await waitFor(() => expect(router.state.location.search).toBe(`?cursor=${cursor}`));
    await waitFor(() => expect(new URL(api.calls("GET /api/incidents").at(-1)!.url).searchParams.get("cursor")).toBe(cursor));
    expect(screen.getByRole("button", { name: "Newer" })).toBeEnabled();
  });

  it("is calm when nothing is open", async () => {
    mockApi({ ...base(), "GET /api/incidents": () => json({ incidents: [], next_cursor: null }) });
    await renderFresh("/incidents");
    expect(await screen.findByText("No open incidents: every job behaved.")).toBeInTheDocument();
  });
});
