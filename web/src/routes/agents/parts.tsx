import { Ban, CircleCheck, CircleDashed, CircleHelp, CircleOff, History } from "lucide-react";

import type { Schemas } from "../../api/client";
import { shortSha } from "../../lib/format";
import { commitState, type CommitState } from "./commands";

export type Agent = Schemas["AgentPublic"];

// Colours reach 4.5:1 in both themes; the word and the icon carry the meaning.
const STATUS_LOOK = {
  online: { Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
  offline: { Icon: CircleOff, className: "text-red-700 dark:text-red-400" },
  revoked: { Icon: Ban, className: "text-zinc-600 dark:text-zinc-400" },
} as const;

// Heartbeats and reports (applied commit, spool, drift) are not events: the pages ask again every
// 30 s; status changes (enrolled, online, offline, revoked, drift) arrive at once from /api/events.
// After a push (the head moves: `manifests.changed` refreshes it) an online agent reports the new
// commit within seconds: while one is behind, the pages ask every 3 s.
export const REFRESH_MS = 30_000;
export const CATCHING_UP_MS = 3_000;

export function refreshInterval(agents: Agent[] | undefined, head: string | null | undefined): number {
  const catchingUp = (agents ?? []).some((a) => a.status === "online" && !a.sync_error && head && a.applied_commit !== head);
  return catchingUp ? CATCHING_UP_MS : REFRESH_MS;
}

export const STATUSES = ["online", "offline", "revoked"] as const;

export function AgentStatus({ status, className = "" }: { status: Agent["status"]; className?: string }) {
  const { Icon, className: colour } = STATUS_LOOK[status];
  return (
    <span className={`inline-flex items-center gap-1 font-medium whitespace-nowrap ${colour} ${className}`}>
      <Icon aria-hidden="true" className="size-4 shrink-0" />
      {status}
    </span>
  );
}

const COMMIT_LOOK: Record<CommitState, { Icon: typeof CircleCheck; className: string }> = {
  "at-head": { Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
  behind: { Icon: History, className: "text-amber-700 dark:text-amber-400" },
  never: { Icon: CircleDashed, className: "text-zinc-600 dark:text-zinc-400" },
  unknown: { Icon: CircleHelp, className: "text-zinc-600 dark:text-zinc-400" },
};

/** "a1b2c3d at head" / "a1b2c3d behind (head e4f5a6b)" / "never synced". */
export function CommitCell({ applied, head }: { applied: string | null | undefined; head: string | null | undefined }) {
  const { state, words } = commitState(applied, head);
  const { Icon, className } = COMMIT_LOOK[state];
  return (
    <span className="inline-flex flex-wrap items-center gap-x-1.5">
      {applied && <span className="mono" title={applied}>{shortSha(applied)}</span>}
      <span className={`inline-flex items-center gap-1 font-medium whitespace-nowrap ${className}`}>
        <Icon aria-hidden="true" className="size-4 shrink-0" />
        {words}
      </span>
      {state === "behind" && head && (
        <span className="muted text-xs whitespace-nowrap">
          head <span className="mono">{shortSha(head)}</span>
        </span>
      )}
    </span>
  );
}

/** What the last reconcile did about an entry changed by hand (DriftItem.kind). */
export function driftRestored(kind: string): string {
  if (kind === "edited") return "changed by hand; restored as Git says";
  if (kind === "deleted") return "deleted by hand; put back";
  if (kind === "unknown") return "not a job of this agent; removed";
  return kind;
}
