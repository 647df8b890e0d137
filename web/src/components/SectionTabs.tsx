import { NavLink } from "react-router";

import { useRoleAtLeast } from "../api/hooks";

/** The pages of one section (Alerts, Settings) as a row of links; the current one is marked. */
export function SectionTabs({ label, tabs }: { label: string; tabs: readonly { to: string; label: string }[] }) {
  return (
    <nav aria-label={label} className="-mt-1 mb-4 overflow-x-auto border-b border-zinc-200 dark:border-zinc-800">
      <ul className="flex gap-1 text-sm">
        {tabs.map((tab) => (
          <li key={tab.to}>
            <NavLink
              to={tab.to}
              className={({ isActive }) =>
                `-mb-px block border-b-2 px-3 py-2 whitespace-nowrap ${
                  isActive
                    ? "border-indigo-600 font-semibold text-indigo-800 dark:border-indigo-400 dark:text-indigo-200"
                    : "border-transparent text-zinc-700 hover:border-zinc-300 dark:text-zinc-300"
                }`
              }
            >
              {tab.label}
            </NavLink>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export const ALERT_TABS = [
  { to: "/alerts/rules", label: "Rules" },
  { to: "/alerts/channels", label: "Channels" },
  { to: "/alerts/silences", label: "Silences" },
] as const;

export const SETTINGS_TABS = [
  { to: "/settings/profile", label: "Profile" },
  { to: "/settings/members", label: "Members" },
  { to: "/settings/api-keys", label: "API keys" },
  { to: "/settings/repository", label: "Repository" },
  { to: "/settings/badges", label: "Badges" },
  { to: "/settings/audit", label: "Audit log" },
] as const;

/** The tabs whose pages the API refuses below admin (permissions.py: ADMINISTER). */
const ADMIN_ONLY = new Set<string>(["/settings/api-keys", "/settings/audit"]);

/** The Settings section's tabs, without the ones the signed-in role cannot use. */
export function SettingsTabs() {
  const admin = useRoleAtLeast("admin");
  return <SectionTabs label="Settings" tabs={SETTINGS_TABS.filter((tab) => admin || !ADMIN_ONLY.has(tab.to))} />;
}
