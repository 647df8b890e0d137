import { vi } from "vitest";

import { HINT_KEY } from "../lib/session";

let cleanupFresh: (() => void) | undefined;

/** A fresh app for each test (its session and caches start over), signed in when `signedIn`. */
export async function renderFresh(path: string, { signedIn = true, navigationDelayMs = 0 } = {}) {
  localStorage.clear();
  if (signedIn) localStorage.setItem(HINT_KEY, "1");
  vi.resetModules();
  const { renderRoute } = await import("./render");
  const { cleanup } = await import("@testing-library/react");
  cleanupFresh = cleanup;
  return renderRoute(path, { navigationDelayMs });
}

export function cleanupFreshApp(): void {
  cleanupFresh?.();
  cleanupFresh = undefined;
  vi.unstubAllGlobals();
}

export const pair = { access_token: "tok", refresh_token: "", token_type: "bearer", expires_in: 900 };
export const me = {
  id: "u1",
  username: "alice",
  email: "a@example.com",
  tenant_id: "t1",
  tenant: "alice-team",
  role: "owner",
  created_at: "2026-01-01T00:00:00Z",
};
