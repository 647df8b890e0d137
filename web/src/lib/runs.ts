import type { Schemas } from "../api/client";

type Run = Schemas["RunSummary"];

/** When a run happened: its start, or its end for a run reported only when it finished. */
export function runTime(run: Run): number {
  const at = Date.parse(run.started_at ?? run.finished_at ?? "");
  return Number.isNaN(at) ? Number.NEGATIVE_INFINITY : at;
}

/**
 * The runs oldest first by when they started. The API lists runs as they arrived; a backfill, an
 * agent's spool sent after a reconnect or a retried check-in arrives late, and a chart drawn in
 * that order ran back and forth across its time axis. A copy; ties keep the API's order.
 */
export function byStartTime(runs: readonly Run[]): Run[] {
  return [...runs].sort((a, b) => runTime(a) - runTime(b));
}

/** Each finished run's duration at its start, in time order: the points of a duration chart. */
export function durationPoints(runs: readonly Run[]): { x: number[]; values: (number | null)[] } {
  const finished = byStartTime(runs.filter((run) => run.duration_ms != null && run.started_at));
  return { x: finished.map((run) => runTime(run) / 1000), values: finished.map((run) => run.duration_ms ?? null) };
}
