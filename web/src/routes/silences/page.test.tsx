import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

const job = (ref: string, labels: Record<string, string> = {}) => {
  const [namespace, name] = ref.split("/");
  return { job: ref, namespace, name, schedule: "* * * * *", schedule_description: "Every minute", timezone: "UTC", enabled: true, paused: false, labels, command: "/bin/true", commit: "aaaa111", file: `${ref}.yaml`, ping_url: null, last_status: "success", next_run: null };
};

const silence = (overrides: Record<string, unknown>) => ({
  id: "s".repeat(32),
  scope: "team",
  job: null,
  namespace: null,
  match_labels: {},
  starts_at: new Date(Date.now() - 10 * 60_000).toISOString(),
  ends_at: new Date(Date.now() + 80 * 60_000 + 30_000).toISOString(),
  reason: "",
  created_by: "u1",
  ...overrides,
});

const base = (role: string, silences: unknown[]) => ({
  "POST /api/auth/refresh": () => json(pair),
  "GET /api/auth/me": () => json({ ...me, role }),
  "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
  "GET /api/jobs": () => json({ jobs: [job("ops/etl", { team: "data" }), job("ops/report", { team: "data" }), job("web/site")] }),
  "GET /api/members": () => json({ members: [{ user_id: "u2", username: "bob", email: "b@example.com", role: "member", joined_at: "2026-01-01T00:00:00Z" }] }),
  "GET /api/api-keys": () => json({ api_keys: [] }),
  "GET /api/silences": () => json({ silences }),
});

afterEach(cleanupFreshApp);

describe("the silences page", () => {
  it("teaches what a silence does when there is none", async () => {
    mockApi(base("member", []));
    await renderFresh("/alerts/silences");
    expect(await screen.findByText("No silences right now.")).toBeInTheDocument();
    expect(screen.getByText(/a maintenance window or a snooze/)).toBeInTheDocument();
  });

  it("lists what each silence covers, who made it and how long it has left", async () => {
    const list = [silence({ id: "a".repeat(32), scope: "namespace", namespace: "ops", reason: "db move", created_by: "u2" }), silence({ id: "b".repeat(32), scope: "labels", match_labels: { team: "data" } })];
    mockApi(base("member", list));
    await renderFresh("/alerts/silences");
    const table = await screen.findByRole("table", { name: "Current and upcoming silences" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows[0]).toHaveTextContent("namespace ops");
    expect(rows[0]).toHaveTextContent("db move");
    await waitFor(() => expect(rows[0]).toHaveTextContent("bob"));
    expect(rows[0]).toHaveTextContent("ends in 1 h 20 min");
    expect(rows[1]).toHaveTextContent("jobs with");
    expect(rows[1]).toHaveTextContent("team=data");
    expect(rows[1]).toHaveTextContent("you");
  });

  it("shows a viewer the list only", async () => {
    mockApi(base("viewer", [silence({})]));
    await renderFresh("/alerts/silences");
    expect(await screen.findByText("every job")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Create silence/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /End now/ })).not.toBeInTheDocument();
  });

  it("creates a label silence, previews what it catches and sends days as hours", async () => {
    const api = mockApi({ ...base("member", []), "POST /api/silences": () => json(silence({ scope: "labels", match_labels: { team: "data" } }), 201) });
    await renderFresh("/alerts/silences");
    await userEvent.click(await screen.findByRole("radio", { name: "Jobs with labels" }));
    await userEvent.type(screen.getByLabelText("Labels"), "team=data");
    expect(await screen.findByText(/Covers 2 jobs today: ops\/etl, ops\/report/)).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText("Duration"));
    await userEvent.type(screen.getByLabelText("Duration"), "1d");
    await userEvent.type(screen.getByLabelText("Reason"), "warehouse upgrade");
    await userEvent.click(screen.getByRole("button", { name: /Create silence/ }));
    await waitFor(() => expect(api.calls("POST /api/silences")).toHaveLength(1));
    expect(await api.calls("POST /api/silences")[0]?.json()).toEqual({ match_labels: { team: "data" }, duration: "24h", reason: "warehouse upgrade" });
  });

  it("shows the server's refusal next to the field it names", async () => {
    const refusal = { detail: [{ loc: ["body", "namespace"], msg: "String should match pattern '^[a-z0-9]$'", type: "string_pattern_mismatch" }] };
    mockApi({ ...base("member", []), "POST /api/silences": () => json(refusal, 422) });
    await renderFresh("/alerts/silences");
    await userEvent.click(await screen.findByRole("radio", { name: "A namespace" }));
    await userEvent.type(screen.getByLabelText("Namespace"), "Bad_NS");
    await userEvent.click(screen.getByRole("button", { name: /Create silence/ }));
    expect(await screen.findByText(/String should match pattern/)).toBeInTheDocument();
    expect(screen.getByLabelText("Namespace")).toHaveAttribute("aria-invalid", "true");
  });

  it("asks once, naming what it covers, before ending a silence", async () => {
    const api = mockApi({ ...base("member", [silence({ scope: "namespace", namespace: "ops" })]), [`DELETE /api/silences/${"s".repeat(32)}`]: () => new Response(null, { status: 204 }) });
    await renderFresh("/alerts/silences");
    // One button in the status cell for phones and one in its own column from 640 px (CSS shows one).
    await userEvent.click((await screen.findAllByRole("button", { name: "End now: namespace ops" }))[0]!);
    const dialog = await screen.findByRole("alertdialog");
    expect(dialog).toHaveTextContent("End the silence of namespace ops now?");
    await userEvent.click(within(dialog).getByRole("button", { name: "End silence" }));
    await waitFor(() => expect(api.calls(`DELETE /api/silences/${"s".repeat(32)}`)).toHaveLength(1));
  });
});
