/** What the dashboard asks the API on a first load (with the navigation's /api/auth/me), exactly
 * as the page's queries spell it: src/boot.ts sends these while the application starts. A test
 * (page.test.tsx) checks the list against the requests the page makes. */
export const DASHBOARD_REQUESTS = [
  "/api/auth/me",
  "/api/jobs/summary",
  "/api/agents",
  "/api/incidents?status=open",
  "/api/runs/stats?bucket=hour",
  "/api/jobs/upcoming?limit=10",
  "/api/runs?limit=10",
] as const;
