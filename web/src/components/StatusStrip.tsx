import { Link } from "react-router";

import type { Schemas } from "../api/client";
import { formatAbsolute, formatDuration } from "../lib/format";
import { byStartTime } from "../lib/runs";
import { STATUS_FILL, statusLook } from "./StatusBadge";

/** The last runs as a row of coloured squares, oldest left by start time; each links to its run. */
export function StatusStrip({ runs }: { runs: Schemas["RunSummary"][] }) {
  const ordered = byStartTime(runs);
  const counts = runs.reduce<Record<string, number>>((acc, run) => ({ ...acc, [run.status]: (acc[run.status] ?? 0) + 1 }), {});
  const summary = Object.entries(counts)
    .map(([status, n]) => `${n} ${statusLook(status).label}`)
    .join(", ");
  return (
    <div>
      <ol className="flex flex-wrap gap-0.5" aria-label={`The last ${runs.length} runs, oldest first: ${summary}`}>
        {ordered.map((run) => {
          const when = run.started_at ?? run.finished_at;
          const label = `${statusLook(run.status).label}${when ? `, ${formatAbsolute(when)}` : ""}${run.duration_ms != null ? `, ${formatDuration(run.duration_ms)}` : ""}`;
          return (
            <li key={run.run_id}>
              <Link
                to={`/runs/${encodeURIComponent(run.run_id)}`}
                title={label}
                aria-label={label}
                className={`block h-6 w-2.5 rounded-sm sm:w-3 ${STATUS_FILL[run.status] ?? STATUS_FILL.log} hover:opacity-70`}
              />
            </li>
          );
        })}
      </ol>
      <p className="muted mt-1 text-xs">{summary}</p>
    </div>
  );
}
