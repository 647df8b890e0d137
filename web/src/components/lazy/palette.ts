/** What the command palette offers: the console's pages (by the role each needs) and what counts
 * as a run id typed or pasted into it. */
import type { Role } from "../../api/hooks";
import {
  Activity,
  AlertOctagon,
  Award,
  BellOff,
  BellRing,
  CalendarClock,
  CalendarPlus,
  FolderGit2,
  KeyRound,
  LayoutDashboard,
  Megaphone,
  ScrollText,
  Server,
  UserRound,
  Users,
  type LucideIcon,
} from "lucide-react";


export interface PalettePage {
  label: string;
  to: string;
  Icon: LucideIcon;
  keywords: string[];
  /** The least role the page is of use to (the API refuses the others what it shows). */
  role: Role;
}

export const PALETTE_PAGES: readonly PalettePage[] = [
  { label: "Dashboard", to: "/", Icon: LayoutDashboard, keywords: ["home", "overview"], role: "viewer" },
  { label: "Jobs", to: "/jobs", Icon: CalendarClock, keywords: ["cron", "schedules"], role: "viewer" },
  { label: "New job", to: "/jobs/new", Icon: CalendarPlus, keywords: ["create", "add"], role: "member" },
  { label: "Runs", to: "/runs", Icon: Activity, keywords: ["history", "output", "logs"], role: "viewer" },
  { label: "Agents", to: "/agents", Icon: Server, keywords: ["hosts", "machines"], role: "viewer" },
  { label: "Incidents", to: "/incidents", Icon: AlertOctagon, keywords: ["failures", "problems"], role: "viewer" },
  { label: "Alert rules", to: "/alerts/rules", Icon: BellRing, keywords: ["alerts", "notify"], role: "viewer" },
  { label: "Alert channels", to: "/alerts/channels", Icon: Megaphone, keywords: ["alerts", "slack", "email", "webhook"], role: "viewer" },
  { label: "Silences", to: "/alerts/silences", Icon: BellOff, keywords: ["alerts", "mute", "snooze"], role: "viewer" },
  { label: "Profile", to: "/settings/profile", Icon: UserRound, keywords: ["settings", "account", "email", "teams"], role: "viewer" },
  { label: "Members", to: "/settings/members", Icon: Users, keywords: ["settings", "people", "invite", "roles"], role: "viewer" },
  { label: "API keys", to: "/settings/api-keys", Icon: KeyRound, keywords: ["settings", "tokens", "credentials"], role: "admin" },
  { label: "Repository", to: "/settings/repository", Icon: FolderGit2, keywords: ["settings", "git", "webhook", "clone"], role: "viewer" },
  { label: "Badges", to: "/settings/badges", Icon: Award, keywords: ["settings", "status", "readme"], role: "viewer" },
  { label: "Audit log", to: "/settings/audit", Icon: ScrollText, keywords: ["settings", "history", "who"], role: "admin" },
];

// The API's rule for a run id (GET /api/runs/{run_id}).
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * The run id in what was typed, if it looks like one: a UUID (ping URLs and agents make those,
 * with or without dashes), a run page's address, or a word of 8+ characters with a digit in it
 * that the API would accept as a run id (check-ins through the API choose their own).
 * Page and job names ("Jobs", "nightly-report") are not taken for run ids.
 */
export function runIdIn(typed: string): string | undefined {
  let text = typed.trim();
  const fromUrl = /(?:^|\/)runs\/([^/?#\s]+)\/?(?:[?#].*)?$/.exec(text);
  if (fromUrl) {
    try {
      text = decodeURIComponent(fromUrl[1]!);
    } catch {
      return undefined;
    }
    return RUN_ID.test(text) ? text : undefined;
  }
  if (!RUN_ID.test(text)) return undefined;
  if (UUID.test(text)) return text;
  return text.length >= 8 && /\d/.test(text) ? text : undefined;
}

/** One thing the palette can open. */
export interface Entry {
  value: string; // unique
  group: "Pages" | "Jobs" | "Agents" | "Runs";
  label: string;
  detail?: string;
  keywords?: string[];
  to: string;
}

const GROUPS: Entry["group"][] = ["Pages", "Jobs", "Agents", "Runs"];
/** With nothing typed, the first few jobs and agents; with a search, this many of each at most. */
export const SHOWN_IDLE = 5;
export const SHOWN_MATCHING = 50;

/**
 * How well an entry matches what was typed: 0 when some typed word is in neither its label nor
 * its keywords; then the label equal to it, starting with it, a word of it starting with it, or
 * containing it, in that order. "Open run …" comes last: a job or page whose name matches is what
 * Enter should open.
 */
export function matchScore(entry: Entry, typed: string): number {
  const search = typed.trim().toLowerCase();
  if (!search) return 1;
  if (entry.group === "Runs") return 0.01;
  const label = entry.label.toLowerCase();
  const haystack = [label, ...(entry.keywords ?? [])].join(" ").toLowerCase();
  if (!search.split(/\s+/).every((word) => haystack.includes(word))) return 0;
  if (label === search) return 1;
  if (label.startsWith(search)) return 0.9;
  if (label.split(/[\s/._:-]+/).some((word) => word.startsWith(search))) return 0.8;
  if (label.includes(search)) return 0.7;
  return 0.5;
}

/** The entries to show, by group; the groups ordered by their best match, each group's entries
 * by theirs (ties keep the given order). The first entry is what Enter opens. */
export function rank(entries: readonly Entry[], typed: string): { group: Entry["group"]; entries: Entry[] }[] {
  const searching = typed.trim() !== "";
  const groups = GROUPS.map((group) => {
    const scored = entries
      .filter((entry) => entry.group === group)
      .map((entry, index) => ({ entry, index, score: matchScore(entry, typed) }))
      .filter((item) => item.score > 0)
      .sort((a, b) => b.score - a.score || a.index - b.index);
    const limit = group === "Pages" ? Infinity : searching ? SHOWN_MATCHING : SHOWN_IDLE;
    return { group, best: scored[0]?.score ?? 0, entries: scored.slice(0, limit).map((item) => item.entry) };
  }).filter((group) => group.entries.length > 0);
  if (searching) groups.sort((a, b) => b.best - a.best); // stable: equal groups keep their order
  return groups.map(({ group, entries: shown }) => ({ group, entries: shown }));
}
