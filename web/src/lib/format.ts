/** How times, durations and schedules read in the console: relative with the absolute time on
 * hover, durations in words a person reads at a glance ("1 m 12 s"). */

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

export function toDate(value: string | number | Date): Date {
  return value instanceof Date ? value : new Date(value);
}

/** "4 minutes ago", "in 3 hours", "just now". */
export function formatRelative(value: string | number | Date, now: number = Date.now()): string {
  const seconds = (toDate(value).getTime() - now) / 1000;
  if (Number.isNaN(seconds)) return "—";
  if (Math.abs(seconds) < 10) return seconds > 0 ? "in a few seconds" : "just now";
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return relative.format(Math.trunc(seconds / size), unit);
    }
  }
  return "—";
}

/** "Dec 6, 2026, 3:48:16 PM GMT+1" in the viewer's locale and zone (or `timeZone`). */
export function formatAbsolute(value: string | number | Date, timeZone?: string, locale?: string): string {
  const date = toDate(value);
  if (Number.isNaN(date.getTime())) return "—";
  try {
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "long", timeZone }).format(date);
  } catch {
    // A zone this browser does not know: the viewer's own zone, still correct as an instant.
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "long" }).format(date);
  }
}

/** "Mon, Dec 7, 02:00 CET": a fire time, to the minute, in `timeZone` (default the viewer's). */
export function formatDateTime(value: string | number | Date, timeZone?: string, locale?: string): string {
  const date = toDate(value);
  if (Number.isNaN(date.getTime())) return "—";
  const options: Intl.DateTimeFormatOptions = { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  try {
    return new Intl.DateTimeFormat(locale, { ...options, timeZone }).format(date);
  } catch {
    return new Intl.DateTimeFormat(locale, options).format(date);
  }
}

/** A short "Mon 14:05" (or a date when not this week) in the viewer's zone. */
export function formatShort(value: string | number | Date, now: number = Date.now(), locale?: string): string {
  const date = toDate(value);
  const days = Math.abs(date.getTime() - now) / 86_400_000;
  const options: Intl.DateTimeFormatOptions =
    days < 6
      ? { weekday: "short", hour: "2-digit", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale, options).format(date);
}

/** "350 ms", "4.2 s", "1 m 12 s", "2 h 5 m", "3 d 4 h". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const totalSeconds = ms / 1000;
  if (totalSeconds < 10) return `${(Math.floor(totalSeconds * 10) / 10).toFixed(1)} s`;
  const seconds = Math.floor(totalSeconds);
  if (seconds < 60) return `${seconds} s`;
  const [d, h, m, s] = [Math.floor(seconds / 86400), Math.floor(seconds / 3600) % 24, Math.floor(seconds / 60) % 60, seconds % 60];
  if (d > 0) return h ? `${d} d ${h} h` : `${d} d`;
  if (h > 0) return m ? `${h} h ${m} m` : `${h} h`;
  return s ? `${m} m ${s} s` : `${m} m`;
}

/** The viewer's IANA zone, e.g. "Europe/Berlin". */
export function viewerZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** "97 %" from 0..1, or "—". */
export function formatPercent(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return "—";
  const percent = ratio * 100;
  return `${percent >= 99.95 || percent < 10 ? percent.toFixed(percent === 100 || percent === 0 ? 0 : 1) : Math.round(percent)} %`;
}

export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 7) : "—";
}

/** Bytes as "512 B", "3.4 kB", "1.2 MB". */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return "—";
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}
