import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

afterEach(cleanupFreshApp);

const stream = () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } });

function badge(kind: string, name: string, status: string, key = "k1", jobs = 1) {
  const selector = `${kind}/${name}`;
  const url = `http://console.test/badge/${key}/sig/${selector}`;
  return { kind, name, selector, status, jobs, svg_url: `${url}.svg`, json_url: `${url}.json`, markdown: `![${name}](${url}.svg)` };
}

const first = {
  key_created_at: "2026-01-01T00:00:00Z",
  badges: [badge("job", "ops/backup", "down"), badge("job", "ops/report", "up"), badge("namespace", "ops", "down", "k1", 2), badge("label", "team=data", "paused")],
};

function api(role = "owner") {
  let list = first;
  return mockApi({
    "POST /api/auth/refresh": () => json(pair),
    "GET /api/auth/me": () => json({ ...me, role }),
    "GET /api/events": stream,
    "GET /api/badges": () => json(list),
    "POST /api/badges/rotate": () => {
      list = { ...first, badges: first.badges.map((b) => badge(b.kind, b.name, b.status, "k2", b.jobs)) };
      return json(list);
    },
  });
}

describe("the status badges page", () => {
  it("lists each badge with its status in words, its image and what to copy, filtered by the URL", async () => {
    api();
    const { router } = await renderFresh("/settings/badges");
    expect(await screen.findByRole("link", { name: "ops/backup" })).toBeInTheDocument();
    expect(screen.getByRole("img", { name: "Status badge of ops/backup: down" })).toHaveAttribute("src", "http://console.test/badge/k1/sig/job/ops/backup.svg?status=down");
    expect(screen.getByRole("button", { name: "Copy the SVG URL of job ops/backup" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Copy the Markdown of namespace ops" })).toBeInTheDocument();
    expect(screen.getByText("2 jobs", { exact: false })).toBeInTheDocument();
    expect(screen.getByRole("navigation", { name: "Settings" })).toBeInTheDocument();

    await userEvent.selectOptions(screen.getByLabelText("Show"), "label");
    await waitFor(() => expect(router.state.location.search).toBe("?kind=label"));
    expect(screen.queryByRole("link", { name: "ops/backup" })).not.toBeInTheDocument();
    expect(screen.getByText("team=data")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Search badges"), "nothing");
    expect(await screen.findByText("No badge matches these filters.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Clear the filters" }));
    expect(await screen.findByRole("link", { name: "ops/backup" })).toBeInTheDocument();
  });

  it("rotates the key after asking once, and shows the new URLs", async () => {
    const { calls } = api("admin");
    await renderFresh("/settings/badges");
    await userEvent.click(await screen.findByRole("button", { name: "Rotate key" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Rotate the badge key?" });
    expect(calls("POST /api/badges/rotate")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Rotate key" }));
    await waitFor(() => expect(calls("POST /api/badges/rotate")).toHaveLength(1));
    expect(await screen.findByRole("img", { name: "Status badge of ops/backup: down" })).toHaveAttribute("src", expect.stringContaining("/badge/k2/"));
  });

  it("shows no rotate button below admin", async () => {
    api("member");
    await renderFresh("/settings/badges");
    expect(await screen.findByRole("link", { name: "ops/backup" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Rotate key" })).not.toBeInTheDocument();
  });

  it("teaches where badges come from when the team has no job", async () => {
    mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json(me),
      "GET /api/events": stream,
      "GET /api/badges": () => json({ key_created_at: "2026-01-01T00:00:00Z", badges: [] }),
    });
    await renderFresh("/settings/badges");
    expect(await screen.findByText("No badges yet.")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Create a job" })).toHaveAttribute("href", "/jobs/new");
  });
});
