import { QueryClientProvider } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { createBrowserRouter, Navigate, Outlet, RouterProvider, useLocation, type RouteObject } from "react-router";
import { Toaster } from "sonner";

import { createAppQueryClient } from "./api/client";
import { Shell } from "./components/Shell";
import { Loading } from "./components/States";
import { session } from "./lib/session";
import { useSession } from "./lib/useSession";

/** Signed-in pages: wait for the silent refresh, then show the page or send to /login. */
function RequireSession() {
  const state = useSession();
  const location = useLocation();
  useEffect(() => void session.start(), []);
  if (state.status === "starting") return <Loading label="Signing in…" />;
  if (state.status === "signed-out") {
    const next = location.pathname + location.search;
    const search = next === "/" ? "" : `?next=${encodeURIComponent(next)}`;
    return <Navigate to={`/login${search}`} replace state={{ reason: state.reason }} />;
  }
  return <Outlet />;
}

// Each page is its own chunk, loaded on first visit.
export const routes: RouteObject[] = [
  {
    hydrateFallbackElement: <Loading />,
    children: [
      { path: "/login", lazy: () => import("./routes/login/page") },
      { path: "/register", lazy: () => import("./routes/register/page") },
      { path: "/forgot-password", lazy: () => import("./routes/forgot-password/page") },
      { path: "/reset-password", lazy: () => import("./routes/reset-password/page") },
      { path: "/verify-email", lazy: () => import("./routes/verify-email/page") },
      { path: "/invitations/accept", lazy: () => import("./routes/accept-invitation/page") },
      {
        element: <RequireSession />,
        children: [
          {
            element: <Shell />,
            children: [
              { index: true, lazy: () => import("./routes/dashboard/page") },
              { path: "/jobs", lazy: () => import("./routes/jobs/page") },
              { path: "/jobs/new", lazy: () => import("./routes/job-new/page") },
              { path: "/jobs/:namespace/:name", lazy: () => import("./routes/job/page") },
              { path: "/jobs/:namespace/:name/edit", lazy: () => import("./routes/job-edit/page") },
              { path: "/runs", lazy: () => import("./routes/runs/page") },
              { path: "/runs/:id", lazy: () => import("./routes/run/page") },
              { path: "/agents", lazy: () => import("./routes/agents/page") },
              { path: "/agents/:id", lazy: () => import("./routes/agent/page") },
              { path: "/incidents", lazy: () => import("./routes/incidents/page") },
              { path: "/incidents/:id", lazy: () => import("./routes/incident/page") },
              { path: "/alerts", element: <Navigate to="/alerts/rules" replace /> },
              { path: "/alerts/rules", lazy: () => import("./routes/alert-rules/page") },
              { path: "/alerts/channels", lazy: () => import("./routes/channels/page") },
              { path: "/alerts/silences", lazy: () => import("./routes/silences/page") },
              { path: "/settings", element: <Navigate to="/settings/profile" replace /> },
              { path: "/settings/profile", lazy: () => import("./routes/settings/page") },
              { path: "/settings/members", lazy: () => import("./routes/members/page") },
              { path: "/settings/api-keys", lazy: () => import("./routes/api-keys/page") },
              { path: "/settings/repository", lazy: () => import("./routes/repository/page") },
              { path: "/settings/badges", lazy: () => import("./routes/badges/page") },
              { path: "/settings/audit", lazy: () => import("./routes/audit/page") },
              { path: "*", lazy: () => import("./routes/not-found/page") },
            ],
          },
        ],
      },
    ],
  },
];

export function App() {
  const [queryClient] = useState(createAppQueryClient);
  const [router] = useState(() => createBrowserRouter(routes));
  return (
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
      <Toaster closeButton position="bottom-right" theme="system" />
    </QueryClientProvider>
  );
}
