/**
 * The page's entry. A reload first trades the refresh cookie (HttpOnly, never readable here) for
 * an access token, and only then starts evaluating the application: the refresh is under a
 * cross-tab lock (a refresh token works once), and a lock's callback waits for the main thread,
 * which evaluating React and the pages would hold for tens of milliseconds. On the dashboard,
 * its requests are sent as soon as the token is there, and the application is evaluated after
 * that, while the server answers them (evaluated first, it held the token's answer back ~30 ms).
 * src/lib/session.ts takes both answers.
 */
import { prefetchAfterRefresh, startEarlyRefresh } from "./lib/session";
import { DASHBOARD_REQUESTS } from "./routes/dashboard/requests";

void startEarlyRefresh().finally(async () => {
  if (location.pathname === "/" && !location.search) await prefetchAfterRefresh(DASHBOARD_REQUESTS);
  return import("./main");
});
