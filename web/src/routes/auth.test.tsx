import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { HINT_KEY } from "../lib/session";
import { cleanupFreshApp, me, pair, renderFresh } from "../test/fresh";
import { json, mockApi } from "../test/render";

const renderRoute = (path: string) => renderFresh(path, { signedIn: false });
const shell = {
  "GET /api/auth/me": () => json(me),
  "GET /api/jobs": () => json({ jobs: [] }),
  "GET /api/jobs/summary": () => json({ jobs: 0, paused: 0, disabled: 0, failing: [] }),
  "GET /api/agents": () => json({ agents: [] }),
  "GET /api/incidents": () => json({ incidents: [], next_cursor: null }),
  "GET /api/runs": () => json({ runs: [], next_cursor: null }),
  "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
};

afterEach(cleanupFreshApp);

describe("a visit without a session", () => {
  it("goes to the sign-in page without asking the API for anything that needs a session", async () => {
    const api = mockApi({ ...shell, "GET /api/auth/sso": () => json({ providers: [] }) });
    const { router } = await renderRoute("/jobs?status=failure");
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe("/login");
    expect(router.state.location.search).toBe(`?next=${encodeURIComponent("/jobs?status=failure")}`);
    // Only the public list of single sign-on providers, for the sign-in buttons.
    await waitFor(() => expect(api.requests.map((r) => new URL(r.url).pathname)).toEqual(["/api/auth/sso"]));
  });

  it("offers a button per single sign-on provider and shows why one failed", async () => {
    mockApi({ ...shell, "GET /api/auth/sso": () => json({ providers: [{ name: "corp", title: "Corp SSO", login_url: "/api/auth/sso/corp/login" }] }) });
    document.cookie = `crontopus_sso_error=${encodeURIComponent("the state does not match")}`; // jsdom's page is at /
    await renderRoute("/login");
    expect(await screen.findByRole("button", { name: "Sign in with Corp SSO" })).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("the state does not match");
    document.cookie = "crontopus_sso_error=; Max-Age=0";
  });
});

describe("the sign-in page", () => {
  it("signs in as the console and goes where the visitor was headed", async () => {
    const api = mockApi({ ...shell, "POST /api/auth/login": () => json({ ...pair, device_token: "d", device_token_expires_in: 60 }) });
    const { router } = await renderRoute(`/login?next=${encodeURIComponent("/runs")}`);
    await userEvent.type(await screen.findByLabelText("Username"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "correct horse");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/runs"));
    const login = api.calls("POST /api/auth/login")[0];
    expect(login?.headers.get("X-Crontopus-Client")).toBe("console");
    expect(localStorage.getItem(HINT_KEY)).toBe("1");
    expect(JSON.stringify(localStorage)).not.toContain("tok");
    await waitFor(() => expect(api.calls("GET /api/runs")[0]?.headers.get("Authorization")).toBe("Bearer tok"));
    expect(api.calls("POST /api/auth/refresh")).toHaveLength(0);
  });

  it("shows the server's message when the password is wrong", async () => {
    mockApi({ "POST /api/auth/login": () => json({ detail: "wrong username or password" }, 401) });
    await renderRoute("/login");
    await userEvent.type(await screen.findByLabelText("Username"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "nope");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("wrong username or password");
  });

  it("never sends the visitor to another site after signing in", async () => {
    mockApi({ ...shell, "POST /api/auth/login": () => json({ ...pair, device_token: "d", device_token_expires_in: 60 }) });
    const { router } = await renderRoute(`/login?next=${encodeURIComponent("//evil.example/x")}`);
    await userEvent.type(await screen.findByLabelText("Username"), "alice");
    await userEvent.type(screen.getByLabelText("Password"), "pw");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(router.state.location.pathname).toBe("/"));
  });
});

describe("the register page", () => {
  async function fill(confirm = "long enough password") {
    await userEvent.type(await screen.findByLabelText("Username"), "alice");
    await userEvent.type(screen.getByLabelText("Email"), "alice@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "long enough password");
    await userEvent.type(screen.getByLabelText("Confirm password"), confirm);
    await userEvent.type(screen.getByLabelText("Team"), "Alice Team");
    await userEvent.click(screen.getByRole("button", { name: "Create account" }));
  }

  it("refuses two different passwords on the confirmation field, before asking the server", async () => {
    const api = mockApi({});
    await renderRoute("/register");
    await fill("something else");
    expect(screen.getByLabelText("Confirm password")).toHaveAccessibleDescription(/two passwords differ/);
    expect(api.requests).toHaveLength(0);
  });

  it("shows the server's validation errors on their fields", async () => {
    mockApi({
      "POST /api/auth/register": () =>
        json({ detail: [{ loc: ["body", "tenant"], msg: "String should match pattern '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'", type: "string_pattern_mismatch" }] }, 422),
    });
    await renderRoute("/register");
    await fill();
    await waitFor(() => expect(screen.getByLabelText("Team")).toHaveAccessibleDescription(/should match pattern/));
    expect(screen.getByLabelText("Team")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Username")).not.toHaveAttribute("aria-invalid");
  });

  it("creates the account and signs in with it", async () => {
    const api = mockApi({
      ...shell,
      "POST /api/auth/register": () => json(me, 201),
      "POST /api/auth/login": () => json({ ...pair, device_token: "d", device_token_expires_in: 60 }),
    });
    const { router } = await renderRoute("/register");
    await fill();
    await waitFor(() => expect(router.state.location.pathname).toBe("/"));
    expect(await api.calls("POST /api/auth/register")[0]?.json()).toEqual({
      username: "alice",
      email: "alice@example.com",
      password: "long enough password",
      tenant: "Alice Team",
    });
    expect(await screen.findByRole("link", { name: "Dashboard" })).toBeInTheDocument();
  });
});

describe("a reload with a session", () => {
  it("refreshes from the cookie first, then loads the page", async () => {
    const api = mockApi({ ...shell, "POST /api/auth/refresh": () => json(pair) });
    await renderFresh("/");
    expect(await screen.findByRole("heading", { name: "Dashboard" })).toBeInTheDocument();
    await waitFor(() => expect(api.calls("GET /api/jobs/summary").length).toBeGreaterThan(0));
    const paths = api.requests.map((r) => `${r.method} ${new URL(r.url).pathname}`);
    expect(paths[0]).toBe("POST /api/auth/refresh");
    for (const request of api.requests.slice(1)) expect(request.headers.get("Authorization")).toBe("Bearer tok");
  });
});
