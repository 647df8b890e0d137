import { keepPreviousData } from "@tanstack/react-query";
import { AlertTriangle, CalendarClock } from "lucide-react";
import { useEffect, useState } from "react";

import { api, describeError } from "../../api/client";
import { FireTimes } from "../../components/FireTimes";

function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** The next fire times of the schedule being typed, from the API (one cron engine: the server's),
 * or what is wrong with it. */
export function SchedulePreview({ schedule, timezone }: { schedule: string; timezone: string }) {
  const settled = useDebounced({ schedule: schedule.trim(), timezone: timezone.trim() || "UTC" }, 350);
  const preview = api.useQuery(
    "get",
    "/api/schedule/preview",
    { params: { query: { schedule: settled.schedule, timezone: settled.timezone, count: 5 } } },
    { enabled: settled.schedule.length > 0, retry: false, staleTime: 60_000, placeholderData: keepPreviousData },
  );
  let body;
  if (!settled.schedule) body = <p className="muted">Type a schedule to see when it runs.</p>;
  else if (preview.isError)
    body = (
      <p className="flex items-start gap-2 text-red-700 dark:text-red-400">
        <AlertTriangle aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
        <span>{describeError(preview.error)}</span>
      </p>
    );
  else if (!preview.data) body = <p className="muted">Checking the schedule…</p>;
  else
    body = (
      <>
        <p className="font-medium">
          {preview.data.description}
          {preview.data.schedule !== settled.schedule && <span className="mono muted ml-2 font-normal">({preview.data.schedule})</span>}
        </p>
        <FireTimes times={preview.data.next} zone={preview.data.timezone} />
        {(preview.data.warnings ?? []).map((warning) => (
          <p key={warning} className="mt-2 flex items-start gap-2 text-amber-800 dark:text-amber-300">
            <AlertTriangle aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
            <span>{warning}</span>
          </p>
        ))}
      </>
    );
  return (
    <section aria-labelledby="preview-heading" aria-live="polite" className="rounded-md border border-zinc-200 bg-white p-3 text-sm dark:border-zinc-800 dark:bg-zinc-900">
      <h2 id="preview-heading" className="muted mb-1 flex items-center gap-1.5 text-xs font-semibold uppercase">
        <CalendarClock aria-hidden="true" className="size-3.5" /> Next runs
      </h2>
      {body}
    </section>
  );
}
