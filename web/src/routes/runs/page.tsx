import { keepPreviousData } from "@tanstack/react-query";
import { useId } from "react";

import { api } from "../../api/client";
import { useAgents } from "../../api/hooks";
import { SelectField, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { RunsTable } from "../../components/RunsTable";
import { Empty, ErrorState, Loading } from "../../components/States";
import { isoToLocal, localToIso, sinceFor, TIME_RANGES, useUrlState } from "../../lib/url";

const STATUSES = ["success", "failure", "timeout", "running", "log"] as const;
type RunStatus = (typeof STATUSES)[number];
const PAGE_SIZE = 50;

export function Component() {
  useTitle("Runs");
  const { get, set } = useUrlState();
  const agents = useAgents();
  const jobs = api.useQuery("get", "/api/jobs", {}, { staleTime: 60_000 });
  const listId = useId();

  const range = get("range");
  const minute = Math.floor(Date.now() / 60_000) * 60_000; // a stable key within the minute
  const since = range === "custom" ? get("since") || undefined : sinceFor(range, minute);
  const until = range === "custom" ? get("until") || undefined : undefined;
  const status = STATUSES.includes(get("status") as RunStatus) ? (get("status") as RunStatus) : undefined;
  const query = {
    job: get("job") || undefined,
    status,
    since,
    until,
    source: get("source") || undefined,
    cursor: get("cursor") || undefined,
    limit: PAGE_SIZE,
  };
  const runs = api.useQuery("get", "/api/runs", { params: { query } }, { placeholderData: keepPreviousData });

  const filtered = Boolean(query.job || status || range || query.source);

  return (
    <>
      <PageHeader title="Runs" subtitle="Every run of your team's jobs, newest first." />
      <form className="mb-4 grid grid-cols-2 gap-3 lg:grid-cols-4" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Job" list={`${listId}-jobs`} placeholder="namespace/name" value={get("job")} onChange={(e) => set({ job: e.target.value.trim() })} />
        <datalist id={`${listId}-jobs`}>
          {jobs.data?.jobs.map((job) => <option key={job.job} value={job.job} />)}
        </datalist>
        <SelectField label="Status" value={status ?? ""} onChange={(e) => set({ status: e.target.value })}>
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
        <SelectField label="Time range" value={range} onChange={(e) => set({ range: e.target.value, since: null, until: null })}>
          <option value="">Any time</option>
          {TIME_RANGES.map((r) => (
            <option key={r.value} value={r.value}>
              {r.label}
            </option>
          ))}
          <option value="custom">Custom…</option>
        </SelectField>
        <TextField label="Source" list={`${listId}-sources`} placeholder="agent, ping or api" value={get("source")} onChange={(e) => set({ source: e.target.value.trim() })} />
        <datalist id={`${listId}-sources`}>
          <option value="ping" />
          <option value="api" />
          {[...agents.values()].map((agent) => (
            <option key={agent.id} value={agent.id}>
              {agent.name}
            </option>
          ))}
        </datalist>
        {range === "custom" && (
          <div className="col-span-2 grid grid-cols-2 gap-3 lg:col-span-4 lg:max-w-xl">
            <TextField label="From" type="datetime-local" value={since ? isoToLocal(since) : ""} onChange={(e) => set({ since: localToIso(e.target.value) })} />
            <TextField label="To" type="datetime-local" value={until ? isoToLocal(until) : ""} onChange={(e) => set({ until: localToIso(e.target.value) })} />
          </div>
        )}
      </form>

      {runs.isPending ? (
        <Loading label="Loading runs…" />
      ) : runs.isError ? (
        <ErrorState error={runs.error} retry={() => void runs.refetch()} />
      ) : runs.data.runs.length === 0 ? (
        filtered || query.cursor ? (
          <Empty title="No runs match these filters.">
            <button type="button" className="link" onClick={() => set({ job: null, status: null, range: null, since: null, until: null, source: null })}>
              Clear the filters
            </button>
          </Empty>
        ) : (
          <Empty title="No runs yet.">
            A run appears here when an agent runs a job, or when a script reports one: see a job's page for its ping URL and the
            exact <code className="mono">curl</code> line.
          </Empty>
        )
      ) : (
        <div aria-busy={runs.isFetching}>
          <RunsTable runs={runs.data.runs} caption="Runs, newest first" />
          <Pager label="Pages of runs" newer={runs.data.prev_cursor} older={runs.data.next_cursor} onPage={(cursor) => set({ cursor }, { keepPage: true })} />
        </div>
      )}
    </>
  );
}
