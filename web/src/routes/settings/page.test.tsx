import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

afterEach(cleanupFreshApp);

const stream = () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } });

describe("the profile page", () => {
  it("changes the email with the password, says a confirmation was mailed, and shows a wrong password at its field", async () => {
    let user = { ...me, email_verified: true };
    mockApi({
      "POST /api/auth/refresh": () => json(pair),
      "GET /api/auth/me": () => json(user),
      "GET /api/events": stream,
      "GET /api/teams": () => json({ teams: [{ id: "t1", name: "alice-team", role: "owner" }, { id: "t2", name: "other-team", role: "viewer" }] }),
      "PATCH /api/auth/me": async (request) => {
        const body = (await request.json()) as { email: string; password: string };
        if (body.password !== "right") return json({ detail: [{ loc: ["body", "password"], msg: "wrong password", type: "value_error" }] }, 422);
        user = { ...user, email: body.email, email_verified: false };
        return json(user);
      },
    });
    await renderFresh("/settings/profile");
    expect(await screen.findByText("confirmed")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Switch to other-team" })).toBeInTheDocument();
    expect(screen.getByText("acting for it now")).toBeInTheDocument();

    await userEvent.type(screen.getByLabelText("New email"), "new@example.com");
    await userEvent.type(screen.getByLabelText("Current password"), "wrong");
    await userEvent.click(screen.getByRole("button", { name: "Change email" }));
    expect(await screen.findByText("wrong password")).toBeInTheDocument();
    expect(screen.getByLabelText("Current password")).toHaveAttribute("aria-invalid", "true");

    await userEvent.clear(screen.getByLabelText("Current password"));
    await userEvent.type(screen.getByLabelText("Current password"), "right");
    await userEvent.click(screen.getByRole("button", { name: "Change email" }));
    expect(await screen.findByText(/follow the link we mailed to it/)).toBeInTheDocument();
    expect(await screen.findByText("not confirmed")).toBeInTheDocument();
  });
});
