import { CircleCheck, CircleDashed, CircleX, Clock, Copy, Pause } from "lucide-react";
import type { ComponentType, SVGProps } from "react";
import { toast } from "sonner";

import type { Schemas } from "../../api/client";

export type Badge = Schemas["BadgePublic"];
export type BadgeStatus = Badge["status"];

const LOOKS: Record<BadgeStatus, { Icon: ComponentType<SVGProps<SVGSVGElement>>; className: string }> = {
  up: { Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
  late: { Icon: Clock, className: "text-amber-700 dark:text-amber-400" },
  down: { Icon: CircleX, className: "text-red-700 dark:text-red-400" },
  paused: { Icon: Pause, className: "text-zinc-600 dark:text-zinc-400" },
  new: { Icon: CircleDashed, className: "text-slate-600 dark:text-slate-400" },
};

/** A badge's status as the page says it: word, icon and colour. */
export function BadgeStatusWord({ status }: { status: BadgeStatus }) {
  const { Icon, className } = LOOKS[status];
  return (
    <span className={`inline-flex items-center gap-1 font-medium whitespace-nowrap ${className}`}>
      <Icon aria-hidden="true" className="size-4 shrink-0" />
      {status}
    </span>
  );
}

/** The badge image itself. Its URL is cached for a minute by browsers: the status in the query
 * string fetches it again when the status changed (the server ignores the query). */
export function BadgeImage({ badge }: { badge: Badge }) {
  return (
    <img
      src={`${badge.svg_url}?status=${badge.status}`}
      alt={`Status badge of ${badge.name}: ${badge.status}`}
      height={20}
      loading="lazy"
      className="block h-5 w-auto max-w-full"
    />
  );
}

/** The shields.io URL that draws the badge from its JSON endpoint. */
export function shieldsUrl(badge: Badge): string {
  return `https://img.shields.io/endpoint?url=${encodeURIComponent(badge.json_url)}`;
}

/** A copy button with its words on it; its accessible name says what of which badge it copies. */
export function CopyText({ text, label, words }: { text: string; label: string; words: string }) {
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      toast.success(`Copied the ${words}.`);
    } catch {
      toast.error("The browser did not allow copying; select the text and copy it by hand.");
    }
  }
  return (
    <button type="button" className="btn-secondary px-2 py-1 text-xs" aria-label={label} onClick={() => void copy()}>
      <Copy aria-hidden="true" className="size-3.5" />
      {words}
    </button>
  );
}
