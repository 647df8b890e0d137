/** The silences page's words and parsing: durations a person types ("2h", "1h30m", "3d"), label
 * selectors ("team=data, tier=batch"), what a silence covers, and how long until it ends. */

export type Scope = "job" | "namespace" | "labels" | "team";

export interface Covered {
  scope: Scope;
  job?: string | null;
  namespace?: string | null;
  match_labels?: Record<string, string>;
}

export const MAX_DAYS = 90;

const DURATION = /^(?:(\d+)\s*d(?:ays?)?)?\s*(?:(\d+)\s*h(?:ours?)?)?\s*(?:(\d+)\s*m(?:in(?:utes?)?)?)?$/i;

/** Seconds in a duration such as "2h", "1h30m", "3d", "1 h 20 min"; undefined when it is not one
 * (or is zero). */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const match = DURATION.exec(trimmed);
  if (!match || (!match[1] && !match[2] && !match[3])) return undefined;
  const seconds = Number(match[1] ?? 0) * 86_400 + Number(match[2] ?? 0) * 3600 + Number(match[3] ?? 0) * 60;
  return seconds > 0 ? seconds : undefined;
}

/** Seconds as the API's duration ("72h", "1h30m", "45m"): hours and minutes, no days. */
export function apiDuration(seconds: number): string {
  const minutes = Math.round(seconds / 60);
  const [h, m] = [Math.floor(minutes / 60), minutes % 60];
  if (h && m) return `${h}h${m}m`;
  return h ? `${h}h` : `${m}m`;
}

/** "1 h 20 min", "3 d 4 h", "25 min", "less than a minute": a span, rounded down to what matters. */
export function span(ms: number): string {
  const minutes = Math.floor(Math.max(ms, 0) / 60_000);
  if (minutes < 1) return "less than a minute";
  const [d, h, m] = [Math.floor(minutes / 1440), Math.floor(minutes / 60) % 24, minutes % 60];
  if (d > 0) return h ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m ? `${h} h ${m} min` : `${h} h`;
  return `${m} min`;
}

/** Where a silence stands at `now`: "ends in 1 h 20 min" while it lasts, "starts in 2 h" before. */
export function remaining(startsAt: string, endsAt: string, now: number): { active: boolean; text: string } {
  const starts = Date.parse(startsAt);
  const ends = Date.parse(endsAt);
  if (starts > now) return { active: false, text: `starts in ${span(starts - now)}` };
  if (ends <= now) return { active: false, text: "ended" };
  return { active: true, text: `ends in ${span(ends - now)}` };
}

const LABEL_KEY = /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** "team=data, tier=batch" (commas or spaces between pairs) as a selector; the first problem in
 * words otherwise. The rules are a manifest's labels' (the server checks them again). */
export function parseLabels(text: string): { labels: Record<string, string> } | { error: string } {
  const pairs = text.split(/[\s,]+/).filter(Boolean);
  if (pairs.length === 0) return { error: "Give at least one label, e.g. team=data." };
  const labels: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf("=");
    if (at <= 0) return { error: `"${pair}" is not key=value, e.g. team=data.` };
    const [key, value] = [pair.slice(0, at), pair.slice(at + 1)];
    if (key.length > 253 || !LABEL_KEY.test(key)) return { error: `"${key}" is not a label key: letters, digits, "-", "_" and ".", starting and ending with a letter or digit.` };
    if (value.length > 63 || !LABEL_VALUE.test(value)) return { error: `"${value}" is not a label value: at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit.` };
    if (key in labels && labels[key] !== value) return { error: `"${key}" is given twice with different values.` };
    labels[key] = value;
  }
  return { labels };
}

export function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
}

/** What a silence covers, in words: "ops/backup", "namespace ops", "jobs with team=data", "every job". */
export function coversText(silence: Covered): string {
  if (silence.job) return silence.job;
  if (silence.namespace) return `namespace ${silence.namespace}`;
  const labels = silence.match_labels ?? {};
  if (Object.keys(labels).length > 0) return `jobs with ${labelsText(labels)}`;
  return "every job";
}

/** Whether a job (its ref and labels) falls under a silence: the server's rule, for the form's
 * preview of what a selector catches today. */
export function coversJob(silence: Covered, job: { job: string; namespace: string; labels: Record<string, string> }): boolean {
  if (silence.job) return silence.job === job.job;
  if (silence.namespace) return silence.namespace === job.namespace;
  return Object.entries(silence.match_labels ?? {}).every(([key, value]) => job.labels[key] === value);
}
