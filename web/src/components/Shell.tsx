import { useQueryClient } from "@tanstack/react-query";
import { Activity, AlertOctagon, BellRing, CalendarClock, LayoutDashboard, LogOut, Server, Settings } from "lucide-react";
import { NavLink, Outlet, useNavigation } from "react-router";

import { api } from "../api/client";
import { CommandPalette } from "./CommandPalette";
import { useLiveEvents } from "../lib/live";
import { session } from "../lib/session";
import logo from "../assets/logo.svg";

const NAV = [
  { to: "/", label: "Dashboard", Icon: LayoutDashboard, end: true },
  { to: "/jobs", label: "Jobs", Icon: CalendarClock, end: false },
  { to: "/runs", label: "Runs", Icon: Activity, end: false },
  { to: "/agents", label: "Agents", Icon: Server, end: false },
  { to: "/incidents", label: "Incidents", Icon: AlertOctagon, end: false },
  { to: "/alerts", label: "Alerts", Icon: BellRing, end: false },
  { to: "/settings", label: "Settings", Icon: Settings, end: false },
] as const;

export function Shell() {
  const queryClient = useQueryClient();
  const live = useLiveEvents(queryClient, true);
  const navigation = useNavigation();
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });

  async function signOut() {
    await session.signOut().catch(() => undefined);
    queryClient.clear();
  }

  return (
    <div className="min-h-screen md:flex">
      <a href="#main" className="sr-only-focusable">
        Skip to content
      </a>
      {navigation.state === "loading" && (
        <div className="fixed inset-x-0 top-0 z-50 h-0.5 bg-indigo-500 motion-safe:animate-pulse" aria-hidden="true" />
      )}
      <header className="border-b border-zinc-200 bg-white md:sticky md:top-0 md:flex md:h-screen md:w-56 md:shrink-0 md:flex-col md:border-r md:border-b-0 dark:border-zinc-800 dark:bg-zinc-900">
        <div className="flex items-center justify-between gap-2 px-4 py-3">
          <NavLink to="/" className="flex items-center gap-2 font-semibold">
            <img src={logo} alt="" className="size-6" />
            Crontopus
          </NavLink>
          <div className="flex items-center gap-2">
            <LiveDot status={live} />
            <button type="button" className="btn-ghost px-2 md:hidden" onClick={() => void signOut()}>
              <LogOut aria-hidden="true" className="size-4" />
              Sign out
            </button>
          </div>
        </div>
        <div className="px-2 pb-2">
          <CommandPalette />
        </div>
        <nav aria-label="Main" className="md:flex-1">
          <ul className="grid grid-cols-3 gap-1 px-2 pb-2 sm:flex sm:flex-wrap md:flex-col md:pb-0">
            {NAV.map(({ to, label, Icon, end }) => (
              <li key={to}>
                <NavLink
                  to={to}
                  end={end}
                  className={({ isActive }) =>
                    `flex items-center gap-2 rounded-md px-3 py-1.5 text-sm whitespace-nowrap ${
                      isActive
                        ? "bg-indigo-50 font-semibold text-indigo-800 dark:bg-indigo-950 dark:text-indigo-200"
                        : "text-zinc-700 hover:bg-zinc-100 dark:text-zinc-300 dark:hover:bg-zinc-800"
                    }`
                  }
                >
                  <Icon aria-hidden="true" className="size-4" />
                  {label}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="hidden border-t border-zinc-200 px-4 py-2 text-sm md:flex md:flex-col md:items-stretch md:gap-2 dark:border-zinc-800">
          <div className="min-w-0">
            <p className="truncate font-medium">{me.data?.username ?? " "}</p>
            <p className="muted truncate text-xs" title={me.data ? `team ${me.data.tenant}, role ${me.data.role}` : undefined}>
              {me.data ? `${me.data.tenant} · ${me.data.role}` : " "}
            </p>
          </div>
          <NavLink to="/settings/profile#teams" className="link text-xs">
            Your teams
          </NavLink>
          <button type="button" className="btn-ghost px-2 md:justify-start" onClick={() => void signOut()}>
            <LogOut aria-hidden="true" className="size-4" />
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="min-w-0 flex-1 px-4 py-4 md:px-8 md:py-6">
        <Outlet />
      </main>
    </div>
  );
}

function LiveDot({ status }: { status: "connecting" | "open" | "closed" }) {
  const look = {
    open: { word: "Live", colour: "bg-green-500", title: "Live: pages update as runs, incidents and agents change" },
    connecting: { word: "Connecting", colour: "bg-amber-500", title: "Connecting to live updates…" },
    closed: { word: "Offline", colour: "bg-zinc-400", title: "Not live: reload the page to see changes" },
  }[status];
  return (
    <span role="status" className="muted flex items-center gap-1.5 text-xs" title={look.title}>
      <span aria-hidden="true" className={`size-2 rounded-full ${look.colour}`} />
      {look.word}
    </span>
  );
}

