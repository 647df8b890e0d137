import { useMemo } from "react";

import { api, type Schemas } from "../../api/client";
import { DurationChart, StatusBarsChart } from "../../components/Charts";
import { SelectField } from "../../components/Field";
import { ErrorState, Loading } from "../../components/States";
import { formatDuration, viewerZone } from "../../lib/format";
import { useUrlState } from "../../lib/url";

type Stats = Schemas["RunStats"];

const PERIODS = {
  "24h": { label: "Last 24 hours, per hour", bucket: "hour" },
  "30d": { label: "Last 30 days, per day", bucket: "day" },
} as const;
type Period = keyof typeof PERIODS;

/** Series for the charts: bucket starts in seconds, failures counting timeouts. */
export function chartSeries(stats: Stats) {
  const buckets = stats.buckets;
  return {
    x: buckets.map((b) => Date.parse(b.start) / 1000),
    success: buckets.map((b) => b.success),
    failure: buckets.map((b) => b.failure + b.timeout),
    p50: buckets.map((b) => b.p50_ms ?? null),
    p95: buckets.map((b) => b.p95_ms ?? null),
  };
}

/** Successes and failures per hour or day, and the duration trend, for the whole team. */
export function Activity() {
  const { get, set } = useUrlState();
  const period: Period = get("period") === "30d" ? "30d" : "24h";
  const { bucket } = PERIODS[period];
  const stats = api.useQuery("get", "/api/runs/stats", { params: { query: bucket === "day" ? { bucket, timezone: viewerZone() } : { bucket } } });
  const series = useMemo(() => (stats.data ? chartSeries(stats.data) : null), [stats.data]);
  const totals = stats.data?.totals;
  const durations = (series?.p95 ?? []).filter((v): v is number => v !== null);
  return (
    <section aria-labelledby="activity-heading" className="mt-4">
      <div className="mb-2 flex flex-wrap items-end justify-between gap-2">
        <h2 id="activity-heading" className="font-semibold">
          Activity
        </h2>
        <SelectField label="Period" className="w-56" value={period} onChange={(e) => set({ period: e.target.value === "30d" ? "30d" : null }, { keepPage: true })}>
          {Object.entries(PERIODS).map(([value, { label }]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </SelectField>
      </div>
      {stats.isPending ? (
        <Loading label="Loading statistics…" />
      ) : stats.isError || !series || !totals ? (
        <ErrorState error={stats.error} retry={() => void stats.refetch()} />
      ) : (
        <div className="grid gap-4 lg:grid-cols-2">
          <div className="card min-w-0">
            <h3 className="mb-1 text-sm font-medium">Successes and failures</h3>
            <StatusBarsChart
              label={`Successful and failed runs, ${PERIODS[period].label.toLowerCase()}`}
              summary={`${totals.success} successful, ${totals.failure} failed and ${totals.timeout} timed out of ${totals.runs} runs.`}
              bucket={bucket}
              x={series.x}
              success={series.success}
              failure={series.failure}
            />
          </div>
          <div className="card min-w-0">
            <h3 className="mb-1 text-sm font-medium">Duration (p50 and p95)</h3>
            {durations.length === 0 ? (
              <p className="muted text-sm">No run in this period reported how long it took (a start and a finish, or an agent, do).</p>
            ) : (
              <DurationChart
                label={`Median and 95th percentile run duration, ${PERIODS[period].label.toLowerCase()}`}
                summary={`The 95th percentile ranged from ${formatDuration(Math.min(...durations))} to ${formatDuration(Math.max(...durations))}.`}
                x={series.x}
                bucket={bucket}
                series={[
                  { label: "p50", values: series.p50, colour: "#2563eb" },
                  { label: "p95", values: series.p95, colour: "#9333ea" },
                ]}
              />
            )}
          </div>
        </div>
      )}
    </section>
  );
}
