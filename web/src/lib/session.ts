/**
 * The console's sign-in: the access token lives in this module's memory only; the refresh token
 * is an HttpOnly cookie the gateway sets for requests that carry `X-Crontopus-Client: console`
 * (docs/security.md). A reload starts signed out and trades the cookie for a new access token
 * before anything else asks the API, so a normal visit never sees a 401.
 */
import type { components } from "../api/schema";

type TokenPair = components["schemas"]["TokenPair"];

export const CLIENT_HEADER = "X-Crontopus-Client";
export const CLIENT_NAME = "console";
// Not a credential: only remembers that a refresh cookie may exist, so a visitor who never
// signed in is not sent to /api/auth/refresh for a 401 the browser would log as an error.
export const HINT_KEY = "crontopus.session";
const LOCK_NAME = "crontopus-refresh";
// Refresh this long before the access token lapses (and at most at 80% of its life).
const REFRESH_MARGIN_MS = 60_000;

export type SessionState =
  | { status: "starting" }
  | { status: "signed-in" }
  | { status: "signed-out"; reason?: string | undefined };

export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown, fallback: string) {
    super(errorMessage(detail) ?? fallback);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

// Where a field came from, which a 422's `loc` names first: "until", not "query.until".
const ORIGINS = new Set(["body", "query", "path", "header", "cookie"]);

/** The server's own words: `detail` as a string, or a 422's list of errors (every 422 has one)
 * as `field: message`, joined. */
export function errorMessage(detail: unknown): string | undefined {
  if (typeof detail === "string") return detail;
  if (!Array.isArray(detail)) return undefined;
  const parts = detail.map((item: { loc?: unknown[]; msg?: string }) => {
    const loc = Array.isArray(item.loc) ? item.loc.map(String) : [];
    const field = (loc.length > 0 && ORIGINS.has(loc[0]!) ? loc.slice(1) : loc).join(".");
    const message = item.msg ?? "invalid";
    return field ? `${field}: ${message}` : message;
  });
  return parts.join("; ") || undefined;
}

export async function apiErrorFrom(response: Response): Promise<ApiError> {
  let detail: unknown;
  try {
    const body: unknown = await response.clone().json();
    detail = body && typeof body === "object" && "detail" in body ? body.detail : body;
  } catch {
    detail = undefined; // not JSON (a proxy's error page): the status line says enough
  }
  const fallback = `${response.status} ${response.statusText || "error"}`.trim();
  return new ApiError(response.status, detail, fallback);
}

/** Thrown instead of sending a request that would only earn a 401. */
export class NotSignedIn extends Error {
  constructor() {
    super("not signed in");
    this.name = "NotSignedIn";
  }
}

type Listener = () => void;

export class Session {
  private token: string | null = null;
  private expiresAt = 0;
  private state: SessionState = { status: "starting" };
  private readonly listeners = new Set<Listener>();
  private refreshing: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private started: Promise<void> | null = null;

  constructor(
    private readonly fetchImpl: typeof fetch = (...args) => globalThis.fetch(...args),
    private readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> | null = safeStorage(),
  ) {}

  getState = (): SessionState => this.state;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Resolves once it is known whether the visitor is signed in (the silent refresh answered). */
  start(): Promise<void> {
    this.started ??= (async () => {
      adoptSignInCookie(this.storage);
      if (this.storage?.getItem(HINT_KEY)) await this.refresh();
      else this.setState({ status: "signed-out" });
    })();
    return this.started;
  }

  get accessToken(): string | null {
    return this.token;
  }

  async signIn(username: string, password: string): Promise<void> {
    const body = new URLSearchParams({ username, password });
    const response = await this.fetchImpl("/api/auth/login", {
      method: "POST",
      headers: { [CLIENT_HEADER]: CLIENT_NAME, "Content-Type": "application/x-www-form-urlencoded" },
      body,
      credentials: "same-origin",
    });
    if (!response.ok) throw await apiErrorFrom(response);
    this.accept((await response.json()) as TokenPair);
  }

  async signOut(): Promise<void> {
    try {
      await this.fetchImpl("/api/auth/logout", {
        method: "POST",
        headers: { [CLIENT_HEADER]: CLIENT_NAME },
        credentials: "same-origin",
      });
    } finally {
      // Signed out here even when the server could not be reached: the cookie then lapses.
      this.drop({ status: "signed-out" });
    }
  }

  /** Trades the refresh cookie for a new access token; one request at a time, across tabs too
   * (a refresh token works once, so two tabs must not spend the same cookie). */
  refresh(): Promise<boolean> {
    this.refreshing ??= withLock(() => this.refreshNow()).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** fetch for the API: waits for the start-up refresh, sends the bearer token, and on a 401
   * refreshes once and repeats the request once. */
  fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    await this.start();
    if (this.refreshing) await this.refreshing;
    if (this.token && Date.now() > this.expiresAt - 5_000) await this.refresh();
    const token = this.token;
    if (!token) throw new NotSignedIn();
    const request = new Request(input, init);
    const retry = request.clone();
    const early = await takePrefetched(request);
    const response = await (early ?? this.fetchImpl(withToken(request, token)));
    if (response.status !== 401) return response;
    if (!(await this.refresh()) || !this.token) return response;
    return this.fetchImpl(withToken(retry, this.token));
  };

  private async refreshNow(): Promise<boolean> {
    let response: Response;
    try {
      response = await (takeEarlyRefresh() ??
        this.fetchImpl("/api/auth/refresh", {
          method: "POST",
          headers: { [CLIENT_HEADER]: CLIENT_NAME },
          credentials: "same-origin",
        }));
    } catch {
      // The server is unreachable: keep the hint (the cookie may still be good) and say why.
      this.drop({ status: "signed-out", reason: "The server could not be reached. Try again in a moment." }, false);
      return false;
    }
    if (!response.ok) {
      const reason = response.status === 401 ? "Your session ended. Sign in again." : (await apiErrorFrom(response)).message;
      this.drop({ status: "signed-out", reason }, response.status === 401);
      return false;
    }
    this.accept((await response.json()) as TokenPair);
    return true;
  }

  private accept(pair: TokenPair): void {
    this.started ??= Promise.resolve(); // signed in: nothing left for start() to find out
    this.token = pair.access_token;
    const lifetime = Math.max(pair.expires_in, 1) * 1000;
    this.expiresAt = Date.now() + lifetime;
    this.storage?.setItem(HINT_KEY, "1");
    clearTimeout(this.timer);
    // Refresh ahead of expiry so a long visit never meets a 401 (logged by browsers as an error).
    const due = Math.max(Math.min(lifetime - REFRESH_MARGIN_MS, lifetime * 0.8), 5_000);
    this.timer = setTimeout(() => void this.refresh(), due);
    this.setState({ status: "signed-in" });
  }

  private drop(state: SessionState, forgetHint = true): void {
    this.token = null;
    this.expiresAt = 0;
    clearTimeout(this.timer);
    if (forgetHint) this.storage?.removeItem(HINT_KEY);
    this.setState(state);
  }

  /** Another tab signed out (the hint vanished): follow it. */
  signedOutElsewhere(): void {
    if (this.state.status === "signed-in") this.drop({ status: "signed-out" }, false);
  }

  private setState(state: SessionState): void {
    this.state = state;
    for (const listener of this.listeners) listener();
  }
}

let earlyRefresh: Promise<Response> | undefined;

/** Sends the start-up refresh before the application is evaluated (src/boot.ts), when the
 * sign-in hint says a cookie may exist; resolves once it is sent (or not needed). */
export function startEarlyRefresh(): Promise<void> {
  adoptSignInCookie();
  if (!safeStorage()?.getItem(HINT_KEY)) return Promise.resolve();
  return new Promise((sent) => {
    const send = () => {
      earlyRefresh = fetch("/api/auth/refresh", {
        method: "POST",
        headers: { [CLIENT_HEADER]: CLIENT_NAME },
        credentials: "same-origin",
      });
      sent();
      return earlyRefresh.catch(() => undefined); // the lock is held until the answer (and its cookie) came
    };
    withLock(send).catch(() => sent());
  });
}

const prefetched = new Map<string, Promise<Response>>();
let prefetching: Promise<void> | undefined;
// A prefetched answer not asked for by then is dropped: later it would be stale.
const PREFETCH_KEPT_MS = 5_000;

/** The first page's GET requests, sent as soon as the start-up refresh answers (src/boot.ts);
 * the page's own requests for the same URLs take these answers. Resolves once they are sent. */
export function prefetchAfterRefresh(paths: readonly string[]): Promise<void> {
  prefetching = earlyRefresh
    ?.then(async (response) => {
      if (!response.ok) return;
      const pair = (await response.clone().json()) as TokenPair;
      const headers = { Authorization: `Bearer ${pair.access_token}` };
      for (const path of paths) prefetched.set(new URL(path, location.href).href, fetch(path, { headers }));
      setTimeout(() => prefetched.clear(), PREFETCH_KEPT_MS);
    })
    .catch(() => undefined);
  return prefetching ?? Promise.resolve();
}

async function takePrefetched(request: Request): Promise<Response | undefined> {
  if (request.method !== "GET" || !prefetching) return undefined;
  await prefetching; // the page may ask before the prefetch is sent: it must not ask twice
  const answer = prefetched.get(request.url);
  prefetched.delete(request.url);
  return answer;
}

/** The start-up refresh's answer, once: the refresh token it spent works only once. */
function takeEarlyRefresh(): Promise<Response> | undefined {
  const early = earlyRefresh;
  earlyRefresh = undefined;
  return early;
}

function withToken(request: Request, token: string): Request {
  const headers = new Headers(request.headers);
  headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}

function withLock<T>(run: () => Promise<T>): Promise<T> {
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  return locks ? (locks.request(LOCK_NAME, run) as Promise<T>) : run();
}

export const SIGNED_IN_COOKIE = "crontopus_signed_in";

/** A sign-in that ended on a redirect (single sign-on) leaves this short-lived, readable cookie
 * beside the HttpOnly session: it becomes the hint, so a failed attempt leaves none (and no 401). */
function adoptSignInCookie(storage: Pick<Storage, "setItem"> | null = safeStorage()): void {
  if (typeof document === "undefined" || !document.cookie.split("; ").includes(`${SIGNED_IN_COOKIE}=1`)) return;
  storage?.setItem(HINT_KEY, "1");
  document.cookie = `${SIGNED_IN_COOKIE}=; Max-Age=0; Path=/`;
}

function safeStorage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage disabled: every reload then asks for a sign-in
  }
}

export const session = new Session();

if (typeof window !== "undefined") {
  window.addEventListener("storage", (event) => {
    if (event.key === HINT_KEY && event.newValue === null) session.signedOutElsewhere();
  });
}
