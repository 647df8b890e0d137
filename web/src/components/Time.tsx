import { useSyncExternalStore } from "react";

import { formatAbsolute, formatRelative, viewerZone } from "../lib/format";

// One shared clock for every relative time on the page, ticking every 15 s.
let now = Date.now();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | undefined;

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  timer ??= setInterval(() => {
    now = Date.now();
    for (const notify of listeners) notify();
  }, 15_000);
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

export function useNow(): number {
  return useSyncExternalStore(subscribe, () => now);
}

interface Props {
  value: string | null | undefined;
  /** Also show the time in this zone on hover (a job's own zone). */
  zone?: string | undefined;
  className?: string;
  empty?: string;
}

/** "4 minutes ago", with the absolute time (and zone) on hover. */
export function RelativeTime({ value, zone, className, empty = "—" }: Props) {
  useNow(); // re-renders on the shared tick
  // The time of this render, not of the last tick: a run that arrived since is "just now", not
  // "in a few seconds".
  const current = Date.now();
  if (!value) return <span className={className}>{empty}</span>;
  const title = [`${formatAbsolute(value)} (${viewerZone()})`];
  if (zone && zone !== viewerZone()) title.push(`${formatAbsolute(value, zone)} (${zone})`);
  return (
    <time dateTime={value} title={title.join("\n")} className={className}>
      {formatRelative(value, current)}
    </time>
  );
}
