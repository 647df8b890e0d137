import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

const member = (user_id: string, username: string, role: string) => ({
  user_id,
  username,
  email: `${username}@example.com`,
  role,
  joined_at: "2026-12-01T10:00:00Z",
});

const base = {
  "POST /api/auth/refresh": () => json(pair),
  "GET /api/auth/me": () => json(me),
  "GET /api/members": () => json({ members: [member("u1", "alice", "owner"), member("u2", "bob", "member")] }),
  "GET /api/invitations": () => json({ invitations: [] }),
  "GET /api/team": () => json({ id: "t1", name: "alice-team", sso_required: false }),
  "GET /api/auth/sso": () => json({ providers: [] }),
  "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
};

afterEach(cleanupFreshApp);

describe("the members page", () => {
  it("asks once, naming the person, before removing them", async () => {
    const api = mockApi({ ...base, "DELETE /api/members/u2": () => new Response(null, { status: 204 }) });
    await renderFresh("/settings/members");
    const row = (await screen.findByText("bob@example.com")).closest("tr")!;
    await userEvent.click(within(row).getByRole("button", { name: "Remove" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Remove bob from the team?" });
    expect(api.calls("DELETE /api/members/u2")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Remove bob" }));
    await waitFor(() => expect(api.calls("DELETE /api/members/u2")).toHaveLength(1));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
  });

  it("removes nobody when the question is cancelled", async () => {
    const api = mockApi(base);
    await renderFresh("/settings/members");
    const row = (await screen.findByText("bob@example.com")).closest("tr")!;
    await userEvent.click(within(row).getByRole("button", { name: "Remove" }));
    await userEvent.click(within(await screen.findByRole("alertdialog")).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument();
    expect(api.calls("DELETE /api/members/u2")).toHaveLength(0);
  });
});
