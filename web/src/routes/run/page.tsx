import { Download } from "lucide-react";
import { useMemo } from "react";
import { Link, useParams } from "react-router";

import { api, statusOf, type Schemas } from "../../api/client";
import { jobPath, sourceLabel, useAgents } from "../../api/hooks";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, ErrorState, Loading } from "../../components/States";
import { StatusBadge } from "../../components/StatusBadge";
import { RelativeTime } from "../../components/Time";
import { ansiSegments } from "../../lib/ansi";
import { formatBytes, formatDuration, shortSha } from "../../lib/format";

export function Component() {
  const { id = "" } = useParams();
  useTitle("Run");
  const run = api.useQuery("get", "/api/runs/{run_id}", { params: { path: { run_id: id } } });

  if (run.isPending) return <Loading label="Loading the run…" />;
  if (run.isError) {
    if (statusOf(run.error) === 404 || statusOf(run.error) === 422) {
      return (
        <>
          <PageHeader title="Run not found" />
          <Empty title={`There is no run ${id} in your team.`}>
            <Link to="/runs" className="link">
              Back to the run list
            </Link>
          </Empty>
        </>
      );
    }
    return <ErrorState error={run.error} retry={() => void run.refetch()} />;
  }
  return <RunView run={run.data} />;
}

function RunView({ run }: { run: Schemas["RunDetail"] }) {
  useTitle(`${run.job} run`);
  const agents = useAgents();
  const agent = run.source ? agents.get(run.source) : undefined;
  return (
    <>
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-3">
            <Link to={jobPath(run.job)} className="link">
              {run.job}
            </Link>
            <StatusBadge status={run.status} className="text-base" />
          </span>
        }
        subtitle={<span className="mono">run {run.run_id}</span>}
      />
      <dl className="card mb-4 grid grid-cols-2 gap-x-6 gap-y-3 text-sm sm:grid-cols-3 lg:grid-cols-6">
        <Fact term="Started">
          <RelativeTime value={run.started_at} />
        </Fact>
        <Fact term="Finished">
          <RelativeTime value={run.finished_at} empty={run.status === "running" ? "still running" : "—"} />
        </Fact>
        <Fact term="Duration">{formatDuration(run.duration_ms)}</Fact>
        <Fact term="Exit code">
          <span className="tabular-nums">{run.exit_code ?? "—"}</span>
        </Fact>
        <Fact term="Host / agent">
          {agent ? `${agent.hostname} (${agent.name})` : sourceLabel(run.source, agents)}
        </Fact>
        <Fact term="Manifest commit">
          {run.manifest_commit ? (
            <Link to={`${jobPath(run.job)}#history`} className="link mono" title={run.manifest_commit}>
              {shortSha(run.manifest_commit)}
            </Link>
          ) : (
            "—"
          )}
        </Fact>
      </dl>
      {run.replaced_by && <ReplacedNote replacedBy={run.replaced_by} />}
      <Output run={run} />
    </>
  );
}

/** A run stopped by a newer one (`concurrency: replace`): its failure is the job's choice, not a fault. */
function ReplacedNote({ replacedBy }: { replacedBy: string }) {
  return (
    <p className="card mb-4 text-sm">
      Stopped when a newer run of this job started (<span className="mono">concurrency: replace</span>):{" "}
      <Link to={`/runs/${encodeURIComponent(replacedBy)}`} className="link mono">
        run {replacedBy}
      </Link>
      . Alerting does not count it as a failure.
    </p>
  );
}

function Fact({ term, children }: { term: string; children: React.ReactNode }) {
  return (
    <div className="min-w-0">
      <dt className="muted text-xs font-semibold tracking-wide uppercase">{term}</dt>
      <dd className="mt-0.5 truncate">{children}</dd>
    </div>
  );
}

function Output({ run }: { run: Schemas["RunDetail"] }) {
  const text = run.output ?? "";
  const segments = useMemo(() => ansiSegments(text), [text]);
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `${run.job.replace("/", "-")}-${run.run_id}.log`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  return (
    <section aria-labelledby="output-heading">
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <h2 id="output-heading" className="text-base font-semibold">
          Output
          {run.output_size != null && <span className="muted ml-2 text-sm font-normal">{formatBytes(run.output_size)}</span>}
        </h2>
        {text && (
          <button type="button" className="btn-secondary" onClick={download}>
            <Download aria-hidden="true" className="size-4" /> Download
          </button>
        )}
      </div>
      {text ? (
        <>
          <pre
            tabIndex={0}
            aria-label="Run output"
            className="mono max-h-[70vh] overflow-auto rounded-md border border-zinc-200 bg-white p-3 leading-relaxed whitespace-pre-wrap break-words dark:border-zinc-800 dark:bg-zinc-900"
          >
            {segments.map((segment, index) => (
              <span key={index} className={segment.className || undefined} style={segment.style}>
                {segment.text}
              </span>
            ))}
          </pre>
          {run.output_truncated && (
            <p className="mt-2 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-100" role="note">
              Output truncated: only the part shown was kept
              {run.output_size != null ? ` (the run wrote ${formatBytes(run.output_size)})` : ""}.
            </p>
          )}
        </>
      ) : (
        <Empty title={run.status === "running" ? "No output yet: the run is still going." : "This run reported no output."}>
          Output is what the agent captured, or the body of a ping (<code className="mono">curl --data-binary @log.txt</code>).
        </Empty>
      )}
    </section>
  );
}
