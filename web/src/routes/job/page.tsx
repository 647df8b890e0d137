import { keepPreviousData, useQueryClient } from "@tanstack/react-query";
import { ExternalLink, Pause, Pencil, Play, Trash2 } from "lucide-react";
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, statusOf, type Schemas } from "../../api/client";
import { useRoleAtLeast } from "../../api/hooks";
import { DurationChart } from "../../components/Charts";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { CopyLine } from "../../components/CopyButton";
import { FireTimes } from "../../components/FireTimes";
import { Labels } from "../../components/Labels";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { RunsTable } from "../../components/RunsTable";
import { Empty, ErrorState, Loading } from "../../components/States";
import { StatusBadge } from "../../components/StatusBadge";
import { StatusStrip } from "../../components/StatusStrip";
import { RelativeTime } from "../../components/Time";
import { Yaml } from "../../components/Yaml";
import { formatDuration, shortSha } from "../../lib/format";
import { fileWebUrl } from "../../lib/git";
import { jobDocument, setPaused } from "../../lib/manifest";
import { durationPoints } from "../../lib/runs";
import { useUrlState } from "../../lib/url";
import { InstalledOn } from "../agents/InstalledOn";
import { JobBadge } from "../badges/JobBadge";

export function Component() {
  const { namespace = "", name = "" } = useParams();
  useTitle(`${namespace}/${name}`);
  const job = api.useQuery("get", "/api/jobs/{namespace}/{name}", { params: { path: { namespace, name } } });
  if (job.isPending) return <Loading label="Loading the job…" />;
  if (job.isError) {
    if (statusOf(job.error) === 404) {
      return (
        <>
          <PageHeader title={`${namespace}/${name}`} />
          <Empty title="This job is not in your team's repository (any more).">
            <Link to="/jobs" className="link">
              Back to the job list
            </Link>
          </Empty>
        </>
      );
    }
    return <ErrorState error={job.error} retry={() => void job.refetch()} />;
  }
  return <JobView job={job.data} />;
}

function JobView({ job }: { job: Schemas["JobDetail"] }) {
  const document = useMemo(() => jobDocument(job.yaml, job.namespace, job.name), [job.yaml, job.namespace, job.name]);
  const repository = api.useQuery("get", "/api/gitops/repository", {}, { staleTime: 5 * 60_000 });
  const repo = repository.data;
  const gitUrl = repo?.kind === "external" ? fileWebUrl(repo.clone_url, repo.branch, repo.folder, job.file) : null;
  return (
    <>
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            <span>{job.job}</span>
            <StatusBadge status={job.last_status ?? "never"} className="text-base" />
            {job.paused && <StatusBadge status="paused" className="text-base" />}
            {!job.enabled && <span className="muted text-base font-medium">disabled</span>}
          </span>
        }
        subtitle={
          <>
            <span className="mono">{job.file}</span> at commit <span className="mono">{shortSha(job.commit)}</span>
          </>
        }
        actions={<JobActions job={job} gitUrl={gitUrl} />}
      />
      <div className="grid gap-4 lg:grid-cols-3">
        <Overview job={job} />
        <NextRuns job={job} />
      </div>
      <PingCard job={job} />
      <JobBadge job={job.job} />
      <RecentRuns job={job} />
      <section aria-labelledby="manifest-heading" className="mt-6">
        <h2 id="manifest-heading" className="mb-2 font-semibold">
          Manifest
        </h2>
        {document.documents > 1 && (
          <p className="muted mb-2 text-sm">
            One of {document.documents} jobs in <span className="mono">{job.file}</span>; edits change only this one.
          </p>
        )}
        <Yaml label={`Manifest of ${job.job} (read-only)`} value={document.text} readOnly />
      </section>
      <History job={job} />
    </>
  );
}

function JobActions({ job, gitUrl }: { job: Schemas["JobDetail"]; gitUrl: string | null }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [confirm, setConfirm] = useState<"delete" | null>(null);
  const [busy, setBusy] = useState(false);
  const path = { namespace: job.namespace, name: job.name };
  const mayEdit = useRoleAtLeast("member");

  async function refresh() {
    await queryClient.invalidateQueries({ queryKey: ["get", "/api/jobs/{namespace}/{name}"] });
    await queryClient.invalidateQueries({ queryKey: ["get", "/api/jobs"] });
  }

  async function togglePause() {
    setBusy(true);
    try {
      const manifest = setPaused(jobDocument(job.yaml, job.namespace, job.name).text, !job.paused);
      const { data } = await client.PUT("/api/jobs/{namespace}/{name}", { params: { path }, body: { manifest, base_commit: job.commit } });
      toast.success(`${job.paused ? "Resumed" : "Paused"} ${job.job} (commit ${shortSha(data?.commit)}).`);
    } catch (failure) {
      toast.error(statusOf(failure) === 409 ? `${job.job} changed meanwhile; the page now shows the newer version. ${describeError(failure)}` : describeError(failure));
    } finally {
      await refresh();
      setBusy(false);
    }
  }

  async function remove() {
    setBusy(true);
    try {
      const { data } = await client.DELETE("/api/jobs/{namespace}/{name}", { params: { path, query: { base_commit: job.commit } } });
      toast.success(`Deleted ${job.job} (commit ${shortSha(data?.commit)}).`);
      setConfirm(null);
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/jobs"] });
      void navigate("/jobs");
    } catch (failure) {
      toast.error(describeError(failure));
      if (statusOf(failure) === 409) await refresh();
    } finally {
      setBusy(false);
    }
  }

  if (!mayEdit) {
    // Viewers read; an external repository can still be opened on its host.
    return gitUrl ? (
      <a href={gitUrl} className="btn-secondary" target="_blank" rel="noreferrer noopener">
        <ExternalLink aria-hidden="true" className="size-4" /> Open in Git
      </a>
    ) : null;
  }

  return (
    <>
      <Link to={`/jobs/${job.namespace}/${job.name}/edit`} className="btn-secondary">
        <Pencil aria-hidden="true" className="size-4" /> Edit YAML
      </Link>
      <button type="button" className="btn-secondary" disabled={busy} onClick={() => void togglePause()}>
        {job.paused ? <Play aria-hidden="true" className="size-4" /> : <Pause aria-hidden="true" className="size-4" />}
        {job.paused ? "Resume" : "Pause"}
      </button>
      <button type="button" className="btn-secondary text-red-700 dark:text-red-400" onClick={() => setConfirm("delete")}>
        <Trash2 aria-hidden="true" className="size-4" /> Delete
      </button>
      {gitUrl && (
        <a href={gitUrl} className="btn-secondary" target="_blank" rel="noreferrer noopener">
          <ExternalLink aria-hidden="true" className="size-4" /> Edit in Git
        </a>
      )}
      <ConfirmDialog
        open={confirm === "delete"}
        onOpenChange={(open) => setConfirm(open ? "delete" : null)}
        title={`Delete ${job.job}?`}
        confirmLabel={`Delete ${job.job}`}
        danger
        busy={busy}
        onConfirm={() => void remove()}
      >
        <p>
          This commits the removal of <span className="mono">{job.job}</span> from <span className="mono">{job.file}</span> to your team's
          repository. Agents uninstall it at their next sync; its run history stays.
        </p>
      </ConfirmDialog>
    </>
  );
}

function Overview({ job }: { job: Schemas["JobDetail"] }) {
  const spec = (job.manifest.spec ?? {}) as { args?: string[]; concurrency?: string; retries?: { limit?: number } };
  const command = [job.command, ...(spec.args ?? []).map((arg) => (/[\s"'$]/.test(arg) ? JSON.stringify(arg) : arg))].join(" ");
  return (
    <section aria-labelledby="overview-heading" className="card lg:col-span-2">
      <h2 id="overview-heading" className="sr-only">
        Overview
      </h2>
      <dl className="grid grid-cols-1 gap-x-6 gap-y-3 text-sm sm:grid-cols-2">
        <div>
          <dt className="muted text-xs font-semibold uppercase">Schedule</dt>
          <dd className="mt-0.5">
            {job.schedule_description && <span className="block">{job.schedule_description}</span>}
            <span className="mono">{job.schedule}</span> <span className="muted">in {job.timezone}</span>
          </dd>
        </div>
        <div className="min-w-0">
          <dt className="muted text-xs font-semibold uppercase">Command</dt>
          <dd className="mono mt-0.5 break-words">{command}</dd>
        </div>
        <div>
          <dt className="muted text-xs font-semibold uppercase">Timeout</dt>
          <dd className="mt-0.5">{job.timeout ?? "none"}</dd>
        </div>
        <div>
          <dt className="muted text-xs font-semibold uppercase">Labels</dt>
          <dd className="mt-0.5">{Object.keys(job.labels).length ? <Labels labels={job.labels} /> : "none"}</dd>
        </div>
        <div className="sm:col-span-2">
          <dt className="muted text-xs font-semibold uppercase">Installed on</dt>
          <dd className="mt-0.5">
            <InstalledOn job={job} />
          </dd>
        </div>
      </dl>
    </section>
  );
}

function NextRuns({ job }: { job: Schemas["JobDetail"] }) {
  return (
    <section aria-labelledby="next-heading" className="card text-sm">
      <h2 id="next-heading" className="mb-1 font-semibold">
        Next runs
      </h2>
      {job.paused || !job.enabled ? (
        <p className="muted">{job.paused ? "Paused: it does not run until resumed." : "Disabled: no agent installs it."}</p>
      ) : (
        <FireTimes times={job.next_runs ?? []} zone={job.timezone} />
      )}
    </section>
  );
}

function PingCard({ job }: { job: Schemas["JobDetail"] }) {
  return (
    <section aria-labelledby="ping-heading" className="card mt-4 min-w-0">
      <h2 id="ping-heading" className="mb-2 font-semibold">
        Ping URL
      </h2>
      {job.ping_url ? (
        <div className="space-y-2 text-sm">
          <CopyLine label="Copy the ping URL" text={job.ping_url} />
          <p className="muted">Around a command in a script, to record its start, duration and exit code:</p>
          <CopyLine label="Copy the curl lines around a command" text={curlLine(job.ping_url)} />
        </div>
      ) : (
        <p className="muted text-sm">Not shown to read-only keys: a ping URL reports runs.</p>
      )}
    </section>
  );
}

const CURL = "curl -fsS -m 10 --retry 3 -o /dev/null";

/** The start, then the command's exit code (0 success, anything else a failure). */
export function curlLine(pingUrl: string): string {
  return `${CURL} ${pingUrl}/start && your-command; ${CURL} ${pingUrl}/$?`;
}

function RecentRuns({ job }: { job: Schemas["JobDetail"] }) {
  const recent = api.useQuery("get", "/api/runs", { params: { query: { job: job.job, limit: 50 } } });
  const runs = recent.data?.runs;
  const chart = useMemo(() => durationPoints(runs ?? []), [runs]);
  const durations = chart.values.filter((v): v is number => v !== null);
  return (
    <section aria-labelledby="recent-heading" className="mt-6">
      <h2 id="recent-heading" className="mb-2 font-semibold">
        Recent runs
      </h2>
      {recent.isPending ? (
        <Loading label="Loading runs…" />
      ) : recent.isError ? (
        <ErrorState error={recent.error} retry={() => void recent.refetch()} />
      ) : !runs?.length ? (
        <Empty title="No runs yet.">
          {job.ping_url ? (
            <>
              <p className="mb-2">An agent reports runs on its own. From a shell, record a successful run now:</p>
              <CopyLine label="Copy the curl line" text={`${CURL} ${job.ping_url}`} />
              <p className="mt-3 mb-2">or around a command, with its duration and exit code:</p>
              <CopyLine label="Copy the curl lines around a command" text={curlLine(job.ping_url)} />
            </>
          ) : (
            "Runs appear here when an agent or a script reports them."
          )}
        </Empty>
      ) : (
        <div className="grid gap-4 lg:grid-cols-3">
          <div className="card">
            <h3 className="mb-2 text-sm font-medium">Status of the last {runs.length} runs</h3>
            <StatusStrip runs={runs} />
          </div>
          <div className="card lg:col-span-2">
            <h3 className="mb-2 text-sm font-medium">Duration</h3>
            {durations.length > 1 ? (
              <DurationChart
                label={`Duration of the last ${durations.length} finished runs`}
                summary={`Shortest ${formatDuration(Math.min(...durations))}, longest ${formatDuration(Math.max(...durations))}.`}
                x={chart.x}
                series={[{ label: "duration", values: chart.values, colour: "#2563eb" }]}
                points
              />
            ) : (
              <p className="muted text-sm">The chart appears after two finished runs.</p>
            )}
          </div>
        </div>
      )}
      {Boolean(runs?.length) && <PagedRuns job={job} />}
    </section>
  );
}

function PagedRuns({ job }: { job: Schemas["JobDetail"] }) {
  const { get, set } = useUrlState();
  const cursor = get("cursor") || undefined;
  const page = api.useQuery("get", "/api/runs", { params: { query: { job: job.job, limit: 20, cursor } } }, { placeholderData: keepPreviousData });
  return (
    <div id="runs" className="mt-4">
      {page.isPending ? (
        <Loading label="Loading runs…" />
      ) : page.isError ? (
        <ErrorState error={page.error} retry={() => void page.refetch()} />
      ) : (
        <>
          <RunsTable runs={page.data.runs} showJob={false} caption={`Runs of ${job.job}, newest first`} />
          <Pager
            label="Pages of runs"
            newer={page.data.prev_cursor}
            older={page.data.next_cursor}
            onPage={(next) => set({ cursor: next }, { keepPage: true })}
            middle={
              <Link to={`/runs?job=${encodeURIComponent(job.job)}`} className="link text-sm">
                Every run of this job
              </Link>
            }
          />
        </>
      )}
    </div>
  );
}

function History({ job }: { job: Schemas["JobDetail"] }) {
  return (
    <section id="history" aria-labelledby="history-heading" className="mt-6">
      <h2 id="history-heading" className="mb-2 font-semibold">
        Commit history
      </h2>
      {job.history.length === 0 ? (
        <p className="muted text-sm">No commits recorded for this job's file.</p>
      ) : (
        <ol className="card divide-y divide-zinc-100 p-0 dark:divide-zinc-800">
          {job.history.map((commit) => (
            <li key={commit.sha} className="flex flex-wrap items-baseline gap-x-3 gap-y-1 px-4 py-2 text-sm">
              <span className="mono" title={commit.sha}>
                {shortSha(commit.sha)}
              </span>
              {/* A basis: too narrow beside the rest, the message takes a line of its own instead of a word a line. */}
              <span className="min-w-0 flex-1 basis-48 break-words">{commit.message.split("\n")[0]}</span>
              <span className="muted">{commit.author}</span>
              <RelativeTime value={commit.committed_at} className="muted" />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
