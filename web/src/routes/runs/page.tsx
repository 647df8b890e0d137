import { keepPreviousData } from "@tanstack/react-query";
import { useId } from "react";

import { api, type Schemas } from "../../api/client";
import { useAgents } from "../../api/hooks";
import { SelectField, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { RunsTable } from "../../components/RunsTable";
import { Empty, ErrorState, Loading } from "../../components/States";
import { isoToLocal, localToIso, sinceFor, TIME_RANGES, useUrlState, useUrlText } from "../../lib/url";

const STATUSES = ["success", "failure", "timeout", "running", "log"] as const;
type RunStatus = (typeof STATUSES)[number];
const PAGE_SIZE = 50;
/** What the API takes as a job (`namespace/name`); anything else is answered with a 422. */
const JOB_REF = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const trim = (text: string) => text.trim();

/** `?source=` as the API takes it: `ping`, `api` or an agent's id. An agent's name (what the list
 * shows, and what a hand-written link may carry) is taken for that agent's id. */
function sourceFilter(source: string, agents: Map<string, Schemas["AgentPublic"]>): string | undefined {
  if (!source) return undefined;
  if (source === "ping" || source === "api" || agents.has(source)) return source;
  const named = [...agents.values()].find((agent) => agent.name === source);
  return named?.id ?? source;
}

function sortedAgents(agents: Map<string, Schemas["AgentPublic"]>): Schemas["AgentPublic"][] {
  return [...agents.values()].sort((a, b) => Number(a.status === "revoked") - Number(b.status === "revoked") || a.name.localeCompare(b.name));
}

export function Component() {
  useTitle("Runs");
  const { get, set } = useUrlState();
  const agents = useAgents();
  const jobs = api.useQuery("get", "/api/jobs", {}, { staleTime: 60_000 });
  const listId = useId();
  const jobBox = useUrlText("job", { toUrl: trim });
  // A half-typed job ("billing/") is not sent: the list stays, and the field says what to write.
  const job = JOB_REF.test(jobBox.committed) ? jobBox.committed : undefined;
  const jobError = jobBox.committed && !job ? "Write namespace/name, e.g. billing/invoices." : undefined;
  const source = sourceFilter(get("source"), agents);

  const range = get("range");
  const minute = Math.floor(Date.now() / 60_000) * 60_000; // a stable key within the minute
  const since = range === "custom" ? get("since") || undefined : sinceFor(range, minute);
  const until = range === "custom" ? get("until") || undefined : undefined;
  const status = STATUSES.includes(get("status") as RunStatus) ? (get("status") as RunStatus) : undefined;
  const query = {
    job,
    status,
    since,
    until,
    source,
    cursor: get("cursor") || undefined,
    limit: PAGE_SIZE,
  };
  const runs = api.useQuery("get", "/api/runs", { params: { query } }, { placeholderData: keepPreviousData });

  const filtered = Boolean(job || status || range || source);

  return (
    <>
      <PageHeader title="Runs" subtitle="Every run of your team's jobs, newest first." />
      <form className="mb-4 grid grid-cols-2 items-start gap-3 lg:grid-cols-4" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <TextField
          label="Job"
          list={`${listId}-jobs`}
          placeholder="namespace/name"
          value={jobBox.text}
          onChange={(e) => jobBox.setText(e.target.value)}
          error={jobError}
        />
        <datalist id={`${listId}-jobs`}>
          {jobs.data?.jobs.map((j) => <option key={j.job} value={j.job} />)}
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
        <SelectField label="Source" value={source ?? ""} onChange={(e) => set({ source: e.target.value })}>
          <option value="">Any source</option>
          <option value="ping">ping (a ping URL)</option>
          <option value="api">api (an API client)</option>
          {agents.size > 0 && (
            <optgroup label="Agents">
              {sortedAgents(agents).map((agent) => (
                <option key={agent.id} value={agent.id}>
                  {agent.name}
                  {agent.status === "revoked" ? " (revoked)" : ""}
                </option>
              ))}
            </optgroup>
          )}
          {source && source !== "ping" && source !== "api" && !agents.has(source) && <option value={source}>{source}</option>}
        </SelectField>
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
