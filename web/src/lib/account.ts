/**
 * Account pages that work without a session (password reset, email confirmation, invitations)
 * and the ones that change which team the console acts for. Where the gateway starts a console
 * session (the HttpOnly refresh cookie), the page reloads into it: the session module picks it up.
 */
import { apiErrorFrom, CLIENT_HEADER, CLIENT_NAME, HINT_KEY, session } from "./session";

/** POST JSON without a session; the server's refusal as an ApiError. */
export async function postPublic(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", [CLIENT_HEADER]: CLIENT_NAME, ...headers },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!response.ok) throw await apiErrorFrom(response);
  return response;
}

/** The gateway set a console session cookie: go to `to`, where the session starts from it. */
export function enterSession(to = "/"): void {
  localStorage.setItem(HINT_KEY, "1");
  window.location.assign(to);
}

/** Single sign-on leaves through the provider and comes back to `/` with a session cookie and
 * the readable `crontopus_signed_in` that tells the session to use it (src/lib/session.ts). */
export function startSingleSignOn(loginUrl: string): void {
  window.location.assign(loginUrl);
}

/** Act for another of your teams: a new console session for it, then a fresh start. */
export async function switchTeam(teamId: string): Promise<void> {
  const response = await session.fetch("/api/auth/switch-team", {
    method: "POST",
    headers: { "Content-Type": "application/json", [CLIENT_HEADER]: CLIENT_NAME },
    body: JSON.stringify({ team_id: teamId }),
    credentials: "same-origin",
  });
  if (!response.ok) throw await apiErrorFrom(response);
  enterSession("/");
}

/** The mailed link's token (`?token=`). */
export function tokenFrom(search: URLSearchParams): string {
  return search.get("token") ?? "";
}
