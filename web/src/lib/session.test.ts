import { afterEach, describe, expect, it, vi } from "vitest";

import { ApiError, errorMessage, HINT_KEY, NotSignedIn, Session } from "./session";

type Handler = (request: Request) => Response | Promise<Response>;

function memoryStorage(initial: Record<string, string> = {}) {
  const values = new Map(Object.entries(initial));
  return {
    getItem: (key: string) => values.get(key) ?? null,
    setItem: (key: string, value: string) => void values.set(key, value),
    removeItem: (key: string) => void values.delete(key),
  };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function server(handler: Handler) {
  const seen: Request[] = [];
  const fake = vi.fn(async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://console.test"), init);
    seen.push(request);
    return handler(request);
  }) as unknown as typeof globalThis.fetch;
  return { fetch: fake, seen };
}

const pair = (token: string) => ({ access_token: token, refresh_token: "", token_type: "bearer", expires_in: 900 });

afterEach(() => vi.useRealTimers());

describe("Session start", () => {
  it("asks nothing of the server when this browser never signed in", async () => {
    const { fetch, seen } = server(() => json({}, 500));
    const session = new Session(fetch, memoryStorage());
    await session.start();
    expect(session.getState()).toEqual({ status: "signed-out" });
    expect(seen).toHaveLength(0);
    await expect(session.fetch("/api/jobs")).rejects.toBeInstanceOf(NotSignedIn);
    expect(seen).toHaveLength(0);
  });

  it("refreshes silently from the cookie before the first API call", async () => {
    const { fetch, seen } = server((request) => {
      if (request.url.endsWith("/api/auth/refresh")) return json(pair("tok-1"));
      return json({ jobs: [] });
    });
    const session = new Session(fetch, memoryStorage({ [HINT_KEY]: "1" }));
    const response = await session.fetch("http://console.test/api/jobs");
    expect(response.status).toBe(200);
    expect(seen.map((r) => new URL(r.url).pathname)).toEqual(["/api/auth/refresh", "/api/jobs"]);
    expect(seen[0]?.headers.get("X-Crontopus-Client")).toBe("console");
    expect(seen[0]?.credentials).toBe("same-origin");
    expect(seen[1]?.headers.get("Authorization")).toBe("Bearer tok-1");
    expect(session.getState()).toEqual({ status: "signed-in" });
  });

  it("ends signed out, and forgets the hint, when the cookie is spent", async () => {
    const storage = memoryStorage({ [HINT_KEY]: "1" });
    const { fetch } = server(() => json({ detail: "refresh token is invalid" }, 401));
    const session = new Session(fetch, storage);
    await session.start();
    expect(session.getState()).toMatchObject({ status: "signed-out", reason: "Your session ended. Sign in again." });
    expect(storage.getItem(HINT_KEY)).toBeNull();
  });
});

describe("Session on a 401", () => {
  it("refreshes once and repeats the request with the new token", async () => {
    let refreshes = 0;
    const { fetch, seen } = server(async (request) => {
      if (request.url.endsWith("/api/auth/refresh")) return json(pair(`tok-${++refreshes}`));
      if (request.headers.get("Authorization") === "Bearer tok-1") return json({ detail: "expired" }, 401);
      return json({ body: await request.text() });
    });
    const session = new Session(fetch, memoryStorage({ [HINT_KEY]: "1" }));
    const response = await session.fetch("http://console.test/api/jobs", { method: "POST", body: "same body" });
    expect(await response.json()).toEqual({ body: "same body" });
    expect(refreshes).toBe(2);
    expect(seen.at(-1)?.headers.get("Authorization")).toBe("Bearer tok-2");
  });

  it("signs out when the refresh is refused too, and returns the 401", async () => {
    let refreshes = 0;
    const { fetch } = server((request) => {
      if (request.url.endsWith("/api/auth/refresh")) return ++refreshes === 1 ? json(pair("tok-1")) : json({}, 401);
      return json({ detail: "expired" }, 401);
    });
    const session = new Session(fetch, memoryStorage({ [HINT_KEY]: "1" }));
    const response = await session.fetch("http://console.test/api/jobs");
    expect(response.status).toBe(401);
    expect(session.getState().status).toBe("signed-out");
  });

  it("spends the cookie once for requests that fail together", async () => {
    let refreshes = 0;
    const { fetch } = server(async (request) => {
      if (request.url.endsWith("/api/auth/refresh")) {
        refreshes += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return json(pair(`tok-${refreshes}`));
      }
      return request.headers.get("Authorization") === "Bearer tok-1" ? json({}, 401) : json({ ok: true });
    });
    const session = new Session(fetch, memoryStorage({ [HINT_KEY]: "1" }));
    await session.start();
    const answers = await Promise.all([1, 2, 3].map(() => session.fetch("http://console.test/api/runs")));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(refreshes).toBe(2);
  });
});

describe("Session sign-in and sign-out", () => {
  it("signs in with the console header and keeps the token out of storage", async () => {
    const storage = memoryStorage();
    const { fetch, seen } = server(() => json({ ...pair("tok-9"), device_token: "d", device_token_expires_in: 1 }));
    const session = new Session(fetch, storage);
    await session.signIn("alice", "correct horse");
    expect(seen[0]?.headers.get("X-Crontopus-Client")).toBe("console");
    expect(await seen[0]?.text()).toBe("username=alice&password=correct+horse");
    expect(session.accessToken).toBe("tok-9");
    expect(storage.getItem(HINT_KEY)).toBe("1");
  });

  it("does not spend the cookie again after signing in", async () => {
    const { fetch, seen } = server((request) => (request.url.endsWith("/api/auth/login") ? json(pair("tok")) : json({}, 401)));
    const session = new Session(fetch, memoryStorage());
    await session.signIn("alice", "pw");
    await session.start();
    expect(seen.map((r) => new URL(r.url).pathname)).toEqual(["/api/auth/login"]);
    expect(session.getState().status).toBe("signed-in");
  });

  it("throws the server's message on a refused sign-in", async () => {
    const { fetch } = server(() => json({ detail: "wrong username or password" }, 401));
    const session = new Session(fetch, memoryStorage());
    const error = await session.signIn("alice", "nope").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("wrong username or password");
    expect(session.getState().status).not.toBe("signed-in");
  });

  it("signs out even when the server cannot be reached", async () => {
    const storage = memoryStorage();
    let up = true;
    const { fetch } = server(() => {
      if (!up) throw new TypeError("offline");
      return json(pair("tok"));
    });
    const session = new Session(fetch, storage);
    await session.signIn("alice", "pw");
    up = false;
    await session.signOut().catch(() => undefined);
    expect(session.getState().status).toBe("signed-out");
    expect(session.accessToken).toBeNull();
    expect(storage.getItem(HINT_KEY)).toBeNull();
  });
});

describe("the server's error words", () => {
  it("are the detail sentence, or a 422's fields named without where they came from", () => {
    expect(errorMessage("job not found")).toBe("job not found");
    const detail = [
      { loc: ["query", "until"], msg: "must be after since", type: "value_error" },
      { loc: ["body", "spec", "schedule"], msg: "not a cron expression", type: "value_error" },
    ];
    expect(errorMessage(detail)).toBe("until: must be after since; spec.schedule: not a cron expression");
    expect(errorMessage({ unexpected: true })).toBeUndefined();
  });
});
