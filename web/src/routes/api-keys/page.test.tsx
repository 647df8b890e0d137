import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

afterEach(cleanupFreshApp);

const stream = () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } });

describe("the API keys page", () => {
  it("shows a new key once, and revoking asks with the key's name", async () => {
    let keys: object[] = [];
    const { calls } = mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json(me),
      "GET /api/events": stream,
      "GET /api/api-keys": () => json({ api_keys: keys }),
      "POST /api/api-keys": async (request) => {
        const body = (await request.json()) as { name: string; scope: string };
        const key = { id: "k1", name: body.name, scope: body.scope, prefix: "ctp_ab12", created_at: "2026-01-01T00:00:00Z", created_by: "alice", last_used_at: null };
        keys = [key];
        return json({ ...key, key: "ctp_ab12_the-secret" }, 201);
      },
      "DELETE /api/api-keys/k1": () => {
        keys = [];
        return new Response(null, { status: 204 });
      },
    });
    await renderFresh("/settings/api-keys");
    expect(await screen.findByText("No API keys yet.")).toBeInTheDocument();
    expect(screen.getByText("crontopus api-keys create backup-host --scope write")).toBeInTheDocument();

    await userEvent.type(screen.getByLabelText("Key name"), "ci-deploy");
    await userEvent.selectOptions(screen.getByLabelText("Scope"), "write");
    await userEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect(await screen.findByLabelText("New key")).toHaveValue("ctp_ab12_the-secret");
    expect(screen.getByText(/it will not be shown again/)).toBeInTheDocument();
    expect(await calls("POST /api/api-keys")[0]!.json()).toEqual({ name: "ci-deploy", scope: "write" });
    const table = await screen.findByRole("table", { name: "API keys" });
    expect(within(table).getByRole("cell", { name: "ci-deploy" })).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "I have copied it" }));
    expect(screen.queryByLabelText("New key")).not.toBeInTheDocument();
    expect(screen.queryByText(/ctp_ab12_the-secret/)).not.toBeInTheDocument();

    await userEvent.click(within(table).getByRole("button", { name: "Revoke ci-deploy" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Revoke ci-deploy?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Revoke ci-deploy" }));
    await waitFor(() => expect(calls("DELETE /api/api-keys/k1")).toHaveLength(1));
    expect(await screen.findByText("No API keys yet.")).toBeInTheDocument();
  });

  it("tells a member that admins manage keys, and hides the admin-only tabs", async () => {
    const { calls } = mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json({ ...me, role: "member" }),
      "GET /api/events": stream,
    });
    await renderFresh("/settings/api-keys");
    expect(await screen.findByText("Only admins and owners manage API keys.")).toBeInTheDocument();
    const tabs = screen.getByRole("navigation", { name: "Settings" });
    expect(within(tabs).getAllByRole("link").map((link) => link.textContent)).toEqual(["Profile", "Members", "Repository", "Badges"]);
    expect(calls("GET /api/api-keys")).toHaveLength(0);
  });
});
