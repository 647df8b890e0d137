import { CircleCheck } from "lucide-react";
import type { ReactNode } from "react";
import { Link } from "react-router";

import { api } from "../../api/client";
import { FireTimes } from "../../components/FireTimes";
import { formatPercent, viewerZone } from "../../lib/format";
import { Activity } from "./Activity";
import { jobPath } from "../../api/hooks";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { RunsTable } from "../../components/RunsTable";
import { Empty, ErrorState, Loading, QueryState } from "../../components/States";
import { StatusBadge } from "../../components/StatusBadge";

export function Component() {
  useTitle("Dashboard");
  return (
    <>
      <PageHeader title="Dashboard" subtitle="What is wrong now, what ran, and what runs next." />
      <Cards />
      <Activity />
      <div className="mt-4 grid gap-4 lg:grid-cols-2">
        <FailingJobs />
        <Upcoming />
      </div>
      <RecentRuns />
    </>
  );
}

// Cards are not links: their names ("Jobs", "Runs, last 24 h") would compete with the main
// navigation's links of the same words for people and for scripts that find links by name.
export function Card({ title, children, detail }: { title: string; children: ReactNode; detail?: ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <h2 className="muted text-xs font-semibold tracking-wide uppercase">{title}</h2>
      <p className="mt-1 text-2xl font-semibold tabular-nums">{children}</p>
      {detail && <p className="muted mt-0.5 text-sm">{detail}</p>}
    </section>
  );
}

function Cards() {
  const jobs = api.useQuery("get", "/api/jobs/summary", {});
  const agents = api.useQuery("get", "/api/agents", {});
  const incidents = api.useQuery("get", "/api/incidents", { params: { query: { status: ["open"] } } });
  const stats = api.useQuery("get", "/api/runs/stats", { params: { query: { bucket: "hour" } } });
  const totals = stats.data?.totals;
  const failing = jobs.data?.failing.length ?? 0;
  const online = (agents.data?.agents ?? []).filter((agent) => agent.status === "online").length;
  const enrolled = (agents.data?.agents ?? []).filter((agent) => agent.status !== "revoked").length;
  const open = incidents.data?.incidents.length ?? 0;
  return (
    <div className="grid grid-cols-2 gap-3 lg:grid-cols-4">
      <Card title="Jobs" detail={jobs.data ? (failing ? `${failing} failing` : "none failing") : " "}>
        {jobs.data ? jobs.data.jobs : "…"}
      </Card>
      <Card title="Agents online" detail={agents.data ? `of ${enrolled} enrolled` : " "}>
        {agents.data ? online : "…"}
      </Card>
      <Card title="Runs, last 24 h" detail={totals ? (totals.success_rate == null ? "none finished" : `${formatPercent(totals.success_rate)} succeeded`) : " "}>
        {totals ? totals.runs : "…"}
      </Card>
      <Card title="Open incidents" detail={incidents.data ? (open ? "need a look" : "all calm") : " "}>
        {incidents.data ? `${open}${incidents.data.next_cursor ? "+" : ""}` : "…"}
      </Card>
    </div>
  );
}

// As many as the next runs beside it; the jobs list (failing first) has the rest.
const FAILING_SHOWN = 10;

function FailingJobs() {
  const summary = api.useQuery("get", "/api/jobs/summary", {});
  return (
    <section aria-labelledby="failing-heading" className="card">
      <h2 id="failing-heading" className="mb-2 font-semibold">
        Failing now
      </h2>
      <QueryState query={summary} label="Loading jobs…">
        {({ failing }) =>
          failing.length === 0 ? (
            <p className="flex items-center gap-2 text-sm text-green-700 dark:text-green-400">
              <CircleCheck aria-hidden="true" className="size-4" /> No job's last run failed.
            </p>
          ) : (
            <>
              <ul className="divide-y divide-zinc-100 text-sm dark:divide-zinc-800">
                {failing.slice(0, FAILING_SHOWN).map((job) => (
                  <li key={job.job} className="flex items-center justify-between gap-2 py-1.5">
                    <Link to={jobPath(job.job)} className="link truncate">
                      {job.job}
                    </Link>
                    <StatusBadge status={job.last_status} />
                  </li>
                ))}
              </ul>
              {failing.length > FAILING_SHOWN && (
                <Link to="/jobs" className="link mt-2 inline-block text-sm">
                  All {failing.length} failing jobs
                </Link>
              )}
            </>
          )
        }
      </QueryState>
    </section>
  );
}

function Upcoming() {
  const upcoming = api.useQuery("get", "/api/jobs/upcoming", { params: { query: { limit: 10 } } });
  const mine = viewerZone();
  return (
    <section aria-labelledby="upcoming-heading" className="card">
      <h2 id="upcoming-heading" className="mb-2 font-semibold">
        Next runs <span className="muted text-sm font-normal">in your time zone ({mine})</span>
      </h2>
      <QueryState query={upcoming} label="Loading upcoming runs…">
        {({ runs }) =>
          runs.length === 0 ? (
            <p className="muted text-sm">Nothing scheduled: no job is enabled and unpaused.</p>
          ) : (
            <ol className="divide-y divide-zinc-100 text-sm dark:divide-zinc-800">
              {runs.map((run) => (
                <li key={`${run.job} ${run.at}`} className="grid gap-x-3 py-1.5 sm:grid-cols-[minmax(0,1fr)_auto]">
                  <Link to={jobPath(run.job)} className="link truncate">
                    {run.job}
                  </Link>
                  <div className="sm:text-right">
                    <FireTimes times={[run]} zone={run.timezone} compact />
                  </div>
                </li>
              ))}
            </ol>
          )
        }
      </QueryState>
    </section>
  );
}

function RecentRuns() {
  const runs = api.useQuery("get", "/api/runs", { params: { query: { limit: 10 } } });
  return (
    <section aria-labelledby="recent-heading" className="mt-6">
      <div className="mb-2 flex items-baseline justify-between">
        <h2 id="recent-heading" className="font-semibold">
          Recent runs
        </h2>
        <Link to="/runs" className="link text-sm">
          Every run
        </Link>
      </div>
      {runs.isPending ? (
        <Loading label="Loading runs…" />
      ) : runs.isError ? (
        <ErrorState error={runs.error} retry={() => void runs.refetch()} />
      ) : runs.data.runs.length === 0 ? (
        <Empty title="No runs yet.">Runs appear here as agents and scripts report them; a job's page shows its ping URL.</Empty>
      ) : (
        <RunsTable runs={runs.data.runs} caption="The 10 most recent runs" />
      )}
    </section>
  );
}
