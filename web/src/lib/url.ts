import { useCallback } from "react";
import { useSearchParams } from "react-router";

/**
 * Filters, sort and page live in the query string so a view can be shared as a link. Changing a
 * filter drops the page cursor (it belonged to the old result) and replaces the history entry,
 * so Back leaves the page rather than stepping through keystrokes.
 */
const PAGE_KEYS = ["cursor"];

export function useUrlState(pageKeys: string[] = PAGE_KEYS) {
  const [params, setParams] = useSearchParams();
  const get = useCallback((key: string) => params.get(key) ?? "", [params]);
  const set = useCallback(
    (changes: Record<string, string | null | undefined>, options: { keepPage?: boolean } = {}) => {
      setParams(
        (current) => {
          const next = new URLSearchParams(current);
          for (const [key, value] of Object.entries(changes)) {
            if (value) next.set(key, value);
            else next.delete(key);
          }
          if (!options.keepPage) for (const key of pageKeys) if (!(key in changes)) next.delete(key);
          return next;
        },
        { replace: !options.keepPage },
      );
    },
    [setParams, pageKeys],
  );
  return { params, get, set };
}

export const TIME_RANGES = [
  { value: "1h", label: "Last hour", ms: 3_600_000 },
  { value: "24h", label: "Last 24 hours", ms: 86_400_000 },
  { value: "7d", label: "Last 7 days", ms: 7 * 86_400_000 },
  { value: "30d", label: "Last 30 days", ms: 30 * 86_400_000 },
  { value: "90d", label: "Last 90 days", ms: 90 * 86_400_000 },
] as const;

/** `since` for a named range ("24h") relative to `now`, as an ISO instant. */
export function sinceFor(range: string, now: number = Date.now()): string | undefined {
  const found = TIME_RANGES.find((r) => r.value === range);
  return found ? new Date(now - found.ms).toISOString() : undefined;
}

/** A `datetime-local` value (the viewer's wall clock) as an ISO instant, or undefined. */
export function localToIso(local: string): string | undefined {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** An ISO instant as a `datetime-local` value in the viewer's zone. */
export function isoToLocal(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
