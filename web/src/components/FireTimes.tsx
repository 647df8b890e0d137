import { formatDateTime, formatRelative, viewerZone } from "../lib/format";
import { useNow } from "./Time";

interface FireTime {
  at: string;
  note?: string | null;
}

/** Fire times in the viewer's zone, the job's own zone beside them when it differs, and a plain
 * note where a DST change moves or merges a run. */
export function FireTimes({ times, zone, compact = false }: { times: FireTime[]; zone: string; compact?: boolean }) {
  const now = useNow();
  const mine = viewerZone();
  if (times.length === 0) return <p className="muted">No upcoming runs.</p>;
  if (compact) {
    // One line per run: the time in the viewer's zone, the job's own zone on hover.
    return (
      <>
        {times.map((time) => (
          <span key={time.at} className="block">
            <time dateTime={time.at} title={`${formatDateTime(time.at, zone)} (${zone})`}>
              {formatDateTime(time.at, mine)}
            </time>
            <span className="muted"> · {formatRelative(time.at, now)}</span>
            {time.note && <span className="block text-xs text-amber-800 dark:text-amber-300">{time.note}</span>}
          </span>
        ))}
      </>
    );
  }
  return (
    <ol className="mt-1 space-y-1">
      {times.map((time) => (
        <li key={time.at}>
          <time dateTime={time.at} title={`${formatDateTime(time.at, zone)} (${zone})`}>
            {formatDateTime(time.at, mine)}
          </time>
          <span className="muted"> · {formatRelative(time.at, now)}</span>
          {zone !== mine && <span className="muted block text-xs sm:inline sm:before:content-['_·_']">{formatDateTime(time.at, zone)} in {zone}</span>}
          {time.note && <span className="block text-xs text-amber-800 dark:text-amber-300">{time.note}</span>}
        </li>
      ))}
    </ol>
  );
}
