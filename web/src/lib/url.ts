import { useCallback, useEffect, useRef, useState } from "react";
import { useLocation, useSearchParams } from "react-router";

/**
 * Filters, sort and page live in the query string so a view can be shared as a link. Changing a
 * filter drops the page cursor (it belonged to the old result) and replaces the history entry,
 * so Back leaves the page rather than stepping through keystrokes.
 */
const PAGE_KEYS = ["cursor"];

// The query string last asked for and the location it was asked from. setSearchParams hands its
// updater the query string as last rendered, and the router renders a change in a transition: a
// second change made before the first rendered (a typed search landing just as a select changes)
// built on the old query string and undid the first. Locations have unique keys, so this never
// carries over to another visit.
let requested: { from: string; search: URLSearchParams } | undefined;

/** The text boxes (useUrlText) shown now, by key: a change that names a box's key ("Clear the
 * filters") is told to the box at once, so typing not sent yet does not land after it. */
type Follow = (value: string) => void;
const boxes = new Map<string, Set<Follow>>();

export function useUrlState(pageKeys: string[] = PAGE_KEYS) {
  const [params, setParams] = useSearchParams();
  const { key: locationKey } = useLocation();
  const get = useCallback((key: string) => params.get(key) ?? "", [params]);
  useEffect(() => {
    // Rendered elsewhere: what was asked for is in `params` now, or was left behind. (Back can
    // return to the location it was asked from, which must not pick it up again.)
    if (requested && requested.from !== locationKey) requested = undefined;
  }, [locationKey]);
  const set = useCallback(
    (changes: Record<string, string | null | undefined>, options: { keepPage?: boolean; from?: Follow } = {}) => {
      for (const [key, value] of Object.entries(changes)) for (const follow of boxes.get(key) ?? []) if (follow !== options.from) follow(value ?? "");
      setParams(
        (current) => {
          const next = new URLSearchParams(requested?.from === locationKey ? requested.search : current);
          for (const [key, value] of Object.entries(changes)) {
            if (value) next.set(key, value);
            else next.delete(key);
          }
          if (!options.keepPage) for (const key of pageKeys) if (!(key in changes)) next.delete(key);
          requested = { from: locationKey, search: next };
          return next;
        },
        { replace: !options.keepPage },
      );
    },
    [setParams, pageKeys, locationKey],
  );
  return { params, get, set };
}

/** How long typing pauses before a text box's value goes to the URL (and to the API when the
 * page asks it). Short enough that a link copied right after typing has the search in it. */
export const TYPING_PAUSE_MS = 250;

/**
 * A text box bound to `key` in the query string. The box's own state is what the user sees: the
 * URL follows it after a pause in typing, and the box follows the URL only when the URL moves by
 * itself (Back, a link, "Clear the filters").
 *
 * Why not the URL as the box's value: a search-parameter change is a router navigation, rendered
 * in a transition; until it lands React puts the old value back into the input, so the next key
 * was typed into the old text ("billing/job-08" typed fast became "8").
 *
 * `toUrl` turns the text into what the URL keeps (trimmed, say); the text itself is left alone.
 */
export function useUrlText(key: string, { toUrl = (text: string) => text, delay = TYPING_PAUSE_MS } = {}) {
  const { get, set } = useUrlState();
  const inUrl = get(key);
  const [text, setText] = useState(inUrl);
  // What this box wrote that the URL has not caught up with, oldest first: the URL arriving at
  // one of them is the typing landing, not a navigation.
  const written = useRef<string[]>([]);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const pending = useRef<string | null>(null);
  const toUrlRef = useRef(toUrl);
  toUrlRef.current = toUrl;
  const setRef = useRef(set);
  setRef.current = set;
  const inUrlRef = useRef(inUrl);
  inUrlRef.current = inUrl;

  // A navigation, or another control setting this key, wins over typing not sent yet.
  const follow = useCallback((value: string) => {
    clearTimeout(timer.current);
    pending.current = null;
    written.current = [];
    setText(value);
  }, []);

  useEffect(() => {
    const landed = written.current.indexOf(inUrl);
    if (landed >= 0) written.current = written.current.slice(landed + 1);
    else follow(inUrl);
  }, [inUrl, follow]);

  useEffect(() => {
    const followers = boxes.get(key) ?? new Set<Follow>();
    boxes.set(key, followers.add(follow));
    return () => void followers.delete(follow);
  }, [key, follow]);

  const flush = useCallback(() => {
    clearTimeout(timer.current);
    const value = pending.current;
    pending.current = null;
    if (value === null) return;
    const last = written.current.at(-1) ?? inUrlRef.current;
    if (value === last) return;
    written.current.push(value);
    setRef.current({ [key]: value }, { from: follow });
  }, [key, follow]);

  useEffect(() => () => clearTimeout(timer.current), []); // leaving the page drops what was not sent

  const change = useCallback(
    (next: string) => {
      setText(next);
      pending.current = toUrlRef.current(next);
      clearTimeout(timer.current);
      timer.current = setTimeout(flush, delay);
    },
    [flush, delay],
  );

  /** `text`: the box's value; `committed`: what the URL holds now (for queries to the API). */
  return { text, setText: change, committed: inUrl };
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
