import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi, type Handler } from "../../test/render";
import { TYPING_PAUSE_MS } from "../../lib/url";
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

const events: Handler = () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } });

function jobsApi(jobs: ReturnType<typeof job>[]) {
  return mockApi({
    "POST /api/auth/refresh": () => json(pair),
    "GET /api/auth/me": () => json(me),
    "GET /api/agents": () => json({ agents: [] }),
    "GET /api/events": events,
    "GET /api/jobs": (request) => {
      const label = new URL(request.url).searchParams.get("label");
      if (label && !/^[^=]+=/.test(label)) return json({ detail: "label.0: String should match pattern '^[^=]+='" }, 422);
      return json({ jobs: label ? jobs.filter((j) => Object.entries(j.labels).some(([k, v]) => `${k}=${v}` === label)) : jobs });
    },
  });
}

describe("the filter boxes", () => {
  // On a busy machine the URL lands well after the key that changed it; a box that showed the URL
  // lost what was typed meanwhile ("billing/job-08" typed fast became "8").
  it("keep every character typed fast while the URL lands late, and the URL follows them", async () => {
    jobsApi([job(1)]);
    const { router } = await renderFresh("/jobs", { navigationDelayMs: 30 });
    const search = await screen.findByRole("searchbox", { name: "Search" });
    const user = userEvent.setup({ delay: 5 });

    await user.type(search, "billing/job-08");
    expect(search).toHaveValue("billing/job-08");
    await user.type(screen.getByRole("textbox", { name: "Label" }), "team=billing");
    expect(screen.getByRole("textbox", { name: "Label" })).toHaveValue("team=billing");

    await waitFor(() => expect(Object.fromEntries(new URLSearchParams(router.state.location.search))).toEqual({ q: "billing/job-08", label: "team=billing" }));
    expect(search).toHaveValue("billing/job-08");
  });

  it("follow the URL when it moves by navigation, not by typing", async () => {
    jobsApi([job(1)]);
    const { router } = await renderFresh("/jobs?q=first");
    const search = await screen.findByRole("searchbox", { name: "Search" });
    expect(search).toHaveValue("first");
    await router.navigate("/jobs?q=second&label=team%3Dweb");
    await waitFor(() => expect(search).toHaveValue("second"));
    expect(screen.getByRole("textbox", { name: "Label" })).toHaveValue("team=web");

    // "Clear the filters" right after typing: the typing not sent yet does not land after it.
    await router.navigate("/jobs");
    await waitFor(() => expect(search).toHaveValue(""));
    await userEvent.type(search, "nothing");
    await userEvent.click(await screen.findByRole("button", { name: "Clear the filters" }));
    expect(search).toHaveValue("");
    await new Promise((resolve) => setTimeout(resolve, TYPING_PAUSE_MS + 100));
    expect(router.state.location.search).toBe("");
    expect(search).toHaveValue("");
  });

  it("keeps the list and says what to write while a label is half typed, and sends only a whole one", async () => {
    const api = jobsApi([job(1), { ...job(2), labels: { team: "web" } }]);
    await renderFresh("/jobs");
    expect(await screen.findByRole("table", { name: "Jobs, 2 of 2 shown" })).toBeInTheDocument();

    const label = screen.getByRole("textbox", { name: "Label" });
    await userEvent.type(label, "team");
    expect(await screen.findByText("Write key=value, e.g. team=billing.")).toBeInTheDocument();
    expect(screen.getByRole("table", { name: "Jobs, 2 of 2 shown" })).toBeInTheDocument();

    await userEvent.type(label, "=web");
    expect(await screen.findByRole("table", { name: "Jobs matching the filters, 1 of 1 shown" })).toBeInTheDocument();
    expect(screen.queryByText("Write key=value, e.g. team=billing.")).not.toBeInTheDocument();
    const labels = api.calls("GET /api/jobs").map((r) => new URL(r.url).searchParams.get("label"));
    expect(labels.filter(Boolean)).toEqual(["team=web"]);
  });

  it("does not send a label from the URL that is not key=value", async () => {
    const api = jobsApi([job(1)]);
    await renderFresh("/jobs?label=nonsense");
    expect(await screen.findByRole("table", { name: "Jobs, 1 of 1 shown" })).toBeInTheDocument();
    expect(screen.getByText("Write key=value, e.g. team=billing.")).toBeInTheDocument();
    expect(screen.getByRole("textbox", { name: "Label" })).toHaveValue("nonsense");
    expect(api.calls("GET /api/jobs").every((r) => !new URL(r.url).searchParams.has("label"))).toBe(true);
  });
});
