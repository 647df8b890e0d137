import { Link } from "react-router";

import type { Schemas } from "../api/client";
import { jobPath, sourceLabel, useAgents } from "../api/hooks";
import { formatDuration, shortSha } from "../lib/format";
import { StatusBadge } from "./StatusBadge";
import { RelativeTime } from "./Time";

type Run = Schemas["RunSummary"];

/** One dense row per run: status, job, when, how long, exit code, where from, which commit. */
export function RunsTable({ runs, showJob = true, caption }: { runs: Run[]; showJob?: boolean; caption: string }) {
  const agents = useAgents();
  return (
    <div className="relative overflow-x-auto">
      <table className="data-table">
        <caption className="sr-only">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Status</th>
            {showJob && <th scope="col">Job</th>}
            <th scope="col">Started</th>
            <th scope="col">Duration</th>
            <th scope="col" className="hidden sm:table-cell">Exit</th>
            <th scope="col" className="hidden md:table-cell">Source</th>
            <th scope="col" className="hidden lg:table-cell">Commit</th>
            <th scope="col">
              <span className="sr-only">Details</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <tr key={run.run_id}>
              <td>
                <StatusBadge status={run.status} />
              </td>
              {showJob && (
                <td className="max-w-56 truncate">
                  <Link to={jobPath(run.job)} className="link">
                    {run.job}
                  </Link>
                </td>
              )}
              <td className="whitespace-nowrap">
                <RelativeTime value={run.started_at ?? run.finished_at} />
              </td>
              <td className="whitespace-nowrap tabular-nums">{run.status === "running" ? "running…" : formatDuration(run.duration_ms)}</td>
              <td className="hidden tabular-nums sm:table-cell">{run.exit_code ?? "—"}</td>
              <td className="hidden max-w-40 truncate md:table-cell">{sourceLabel(run.source, agents)}</td>
              <td className="mono hidden lg:table-cell">{shortSha(run.manifest_commit)}</td>
              <td className="text-right">
                <Link to={`/runs/${encodeURIComponent(run.run_id)}`} className="link whitespace-nowrap">
                  {/* On a phone an arrow: the word pushed the last column out of sight. */}
                  <span className="sr-only sm:not-sr-only">Output</span>
                  <span aria-hidden="true" className="px-1 sm:hidden">
                    →
                  </span>
                  <span className="sr-only"> of the run of {run.job} {run.started_at ? `started ${run.started_at}` : ""}</span>
                </Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
