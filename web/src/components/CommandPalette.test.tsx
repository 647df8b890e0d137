import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../test/fresh";
import { json, mockApi } from "../test/render";

beforeAll(() => {
  // cmdk measures its list and scrolls the chosen item into view: jsdom does neither.
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
  Element.prototype.scrollIntoView ??= function () {};
});

afterEach(cleanupFreshApp);

const job = { job: "ops/nightly-report", namespace: "ops", name: "nightly-report", schedule: "0 3 * * *", schedule_description: "At 03:00",
  timezone: "UTC", enabled: true, paused: false, labels: {}, command: "/bin/true", commit: "a1", file: "ops/nightly-report.yaml", ping_url: null,
  last_status: null, next_run: null }; // prettier-ignore

function api(role = "owner") {
  return mockApi({
    "POST /api/auth/refresh": () => json(pair),
    "GET /api/auth/me": () => json({ ...me, role }),
    "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
    "GET /api/jobs": () => json({ jobs: [job] }),
    "GET /api/jobs/summary": () => json({ jobs: 1, paused: 0, disabled: 0, failing: [] }),
    "GET /api/agents": () => json({ agents: [] }),
    "GET /api/runs": () => json({ runs: [], next_cursor: null }),
    "GET /api/runs/stats": () => json({ buckets: [] }),
    "GET /api/jobs/upcoming": () => json({ runs: [] }),
    "GET /api/incidents": () => json({ incidents: [] }),
  });
}

async function openPalette() {
  await screen.findByRole("button", { name: "Search" });
  await userEvent.keyboard("{Control>}k{/Control}");
  const dialog = await screen.findByRole("dialog", { name: "Command palette" });
  return dialog;
}

describe("the command palette", () => {
  it("opens with Ctrl-K, fetches the jobs then, and Enter on a job opens its page", async () => {
    const { calls } = api();
    const { router } = await renderFresh("/runs");
    await screen.findByRole("button", { name: "Search" });
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument(); // closed by default
    const dialog = await openPalette();
    const input = within(dialog).getByRole("combobox", { name: "Go to a page, job, agent or run" });
    expect(input).toHaveFocus();
    await userEvent.type(input, "nightly");
    await within(dialog).findByRole("option", { name: /ops\/nightly-report/ });
    expect(calls("GET /api/jobs").length).toBeGreaterThan(0);
    await userEvent.keyboard("{Enter}");
    await waitFor(() => expect(router.state.location.pathname).toBe("/jobs/ops/nightly-report"));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("goes to a page by its name, and offers a run by its id", async () => {
    api();
    const { router } = await renderFresh("/runs");
    let dialog = await openPalette();
    await userEvent.type(within(dialog).getByRole("combobox"), "3f2b8c1e5d6a4b7c9e0f1a2b3c4d5e6f");
    const run = await within(dialog).findByRole("option", { name: "Open run 3f2b8c1e5d6a4b7c9e0f1a2b3c4d5e6f" });
    expect(run).toHaveAttribute("aria-selected", "true");
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();

    dialog = await openPalette();
    await userEvent.type(within(dialog).getByRole("combobox"), "Repository");
    await userEvent.keyboard("{Enter}");
    await waitFor(() => expect(router.state.location.pathname).toBe("/settings/repository"));
  });

  it("has no links, and offers a viewer no page the API refuses it", async () => {
    api("viewer");
    await renderFresh("/runs");
    const dialog = await openPalette();
    await within(dialog).findByRole("option", { name: /Repository/ });
    expect(within(dialog).queryAllByRole("link")).toHaveLength(0);
    expect(within(dialog).queryByRole("option", { name: /API keys/ })).not.toBeInTheDocument();
    expect(within(dialog).queryByRole("option", { name: /Audit log/ })).not.toBeInTheDocument();
  });

  it("opens from the Search button and gives focus back to it on Esc", async () => {
    api();
    await renderFresh("/runs");
    const button = await screen.findByRole("button", { name: "Search" });
    await userEvent.click(button);
    await screen.findByRole("dialog", { name: "Command palette" });
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(button).toHaveFocus();
  });
});
