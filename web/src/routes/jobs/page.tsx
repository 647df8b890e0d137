import { keepPreviousData } from "@tanstack/react-query";
import { ArrowDown, ArrowUp, Plus } from "lucide-react";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router";

import { api, type Schemas } from "../../api/client";
import { jobPath, useRoleAtLeast } from "../../api/hooks";
import { SelectField, TextField } from "../../components/Field";
import { Labels } from "../../components/Labels";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, ErrorState, Loading } from "../../components/States";
import { StatusBadge } from "../../components/StatusBadge";
import { RelativeTime } from "../../components/Time";
import { useUrlState, useUrlText } from "../../lib/url";

type Job = Schemas["JobSummary"];
const LAST_STATUSES = ["failure", "timeout", "running", "success", "never"] as const;
type LastStatus = (typeof LAST_STATUSES)[number];

// What needs attention first: failing, then never run, then the rest; paused jobs last.
const ATTENTION: Record<string, number> = { failure: 0, timeout: 1, never: 2, running: 3, success: 4 };

export const SORTS = {
  attention: (a: Job, b: Job) =>
    Number(a.paused) - Number(b.paused) || (ATTENTION[a.last_status ?? "never"] ?? 5) - (ATTENTION[b.last_status ?? "never"] ?? 5) || a.job.localeCompare(b.job),
  name: (a: Job, b: Job) => a.job.localeCompare(b.job),
  next: (a: Job, b: Job) => nextTime(a) - nextTime(b) || a.job.localeCompare(b.job),
} as const;

function nextTime(job: Job): number {
  return job.next_run ? Date.parse(job.next_run) : Number.POSITIVE_INFINITY; // paused and disabled last
}
type SortKey = keyof typeof SORTS;

export function matches(job: Job, search: string): boolean {
  if (!search) return true;
  const haystack = [job.job, job.command, job.schedule, job.schedule_description ?? "", ...Object.entries(job.labels).map(([k, v]) => `${k}=${v}`)].join(" ").toLowerCase();
  return search
    .toLowerCase()
    .split(/\s+/)
    .every((word) => haystack.includes(word));
}

// Rows drawn at first: a team with a thousand jobs gets its page at once (all of them took ~1.5 s
// to draw in Chromium on the benchmark machine), and the rest a click away.
export const ROWS_AT_FIRST = 100;

/** What the API takes as a label filter (`key=value`); anything else is answered with a 422. */
const LABEL_SELECTOR = /^[^=]+=/;
const trim = (text: string) => text.trim();

export function Component() {
  useTitle("Jobs");
  const { get, set } = useUrlState();
  const searchRef = useRef<HTMLInputElement>(null);
  const mayEdit = useRoleAtLeast("member");
  const searchBox = useUrlText("q");
  const search = searchBox.text;
  const labelBox = useUrlText("label", { toUrl: trim });
  // A half-typed label ("team") is not sent: the list stays, and the field says what to write.
  const label = LABEL_SELECTOR.test(labelBox.committed) ? labelBox.committed : undefined;
  const labelError = labelBox.committed && !label ? "Write key=value, e.g. team=billing." : undefined;
  const status = LAST_STATUSES.includes(get("status") as LastStatus) ? (get("status") as LastStatus) : undefined;
  const state = get("state");
  const sortParam = get("sort").replace(/^-/, "");
  const sort: SortKey = sortParam in SORTS ? (sortParam as SortKey) : "attention";
  const descending = get("sort").startsWith("-");
  const query = {
    namespace: get("namespace") || undefined,
    label: label ? [label] : undefined,
    last_status: status,
    paused: state === "paused" ? true : state === "active" ? false : undefined,
  };
  const all = api.useQuery("get", "/api/jobs", {}, { staleTime: 60_000 });
  const jobs = api.useQuery("get", "/api/jobs", { params: { query } }, { placeholderData: keepPreviousData });
  const namespaces = useMemo(() => [...new Set((all.data?.jobs ?? []).map((job) => job.namespace))].sort(), [all.data]);
  const rows = useMemo(() => {
    const list = (jobs.data?.jobs ?? []).filter((job) => matches(job, search));
    list.sort(SORTS[sort]);
    return descending ? list.reverse() : list;
  }, [jobs.data, search, sort, descending]);

  useEffect(() => {
    // "/" focuses the search, as on GitHub; not while typing somewhere else.
    function onKey(event: KeyboardEvent) {
      const target = event.target as HTMLElement;
      if (event.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) && !target.isContentEditable) {
        event.preventDefault();
        searchRef.current?.focus();
      }
    }
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  const filtered = Boolean(search || query.namespace || query.label || status || state);
  // Showing every row holds for the list as filtered and sorted now; another view starts short.
  const view = JSON.stringify([search, query, sort, descending]);
  const [showAllOf, setShowAllOf] = useState<string | null>(null);
  const shown = showAllOf === view ? rows : rows.slice(0, ROWS_AT_FIRST);

  function sortBy(key: SortKey) {
    set({ sort: sort === key && !descending ? `-${key}` : key === "attention" ? null : key }, { keepPage: true });
  }

  return (
    <>
      <PageHeader
        title="Jobs"
        subtitle="Defined in your team's Git repository; every change here is a commit."
        actions={
          mayEdit && (
            <Link to="/jobs/new" className="btn-primary">
              <Plus aria-hidden="true" className="size-4" /> New job
            </Link>
          )
        }
      />
      <form className="mb-4 grid grid-cols-2 items-start gap-3 lg:grid-cols-6" role="search" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <TextField ref={searchRef} className="col-span-2" label="Search" type="search" placeholder="Name, command, label… (press /)" value={search} onChange={(e) => searchBox.setText(e.target.value)} />
        <SelectField label="Namespace" value={query.namespace ?? ""} onChange={(e) => set({ namespace: e.target.value })}>
          <option value="">All namespaces</option>
          {namespaces.map((ns) => (
            <option key={ns} value={ns}>
              {ns}
            </option>
          ))}
        </SelectField>
        <TextField label="Label" placeholder="key=value" value={labelBox.text} onChange={(e) => labelBox.setText(e.target.value)} error={labelError} />
        <SelectField label="Last status" value={status ?? ""} onChange={(e) => set({ status: e.target.value })}>
          <option value="">Any status</option>
          {LAST_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s === "never" ? "never run" : s}
            </option>
          ))}
        </SelectField>
        <SelectField label="State" value={state} onChange={(e) => set({ state: e.target.value })}>
          <option value="">All states</option>
          <option value="active">Active</option>
          <option value="paused">Paused</option>
        </SelectField>
      </form>
      {jobs.isPending ? (
        <Loading label="Loading jobs…" />
      ) : jobs.isError ? (
        <ErrorState error={jobs.error} retry={() => void jobs.refetch()} />
      ) : rows.length === 0 ? (
        filtered ? (
          <Empty title="No jobs match these filters.">
            <button type="button" className="link" onClick={() => set({ q: null, namespace: null, label: null, status: null, state: null })}>
              Clear the filters
            </button>
          </Empty>
        ) : (
          <Empty title="No jobs yet.">
            {mayEdit && (
              <>
                <Link to="/jobs/new" className="link">
                  Create a job
                </Link>{" "}
                here, or{" "}
              </>
            )}
            push a manifest to your team's repository (its clone URL is under Settings).
          </Empty>
        )
      ) : (
        <div className="relative overflow-x-auto" aria-busy={jobs.isFetching}>
          <table className="data-table">
            <caption className="sr-only">
              Jobs{filtered ? " matching the filters" : ""}, {shown.length} of {rows.length} shown
            </caption>
            <thead>
              <tr>
                <SortHeader label="Status" active={sort === "attention"} descending={descending} onClick={() => sortBy("attention")} />
                <SortHeader label="Job" active={sort === "name"} descending={descending} onClick={() => sortBy("name")} />
                <th scope="col">Schedule</th>
                <SortHeader label="Next run" active={sort === "next"} descending={descending} onClick={() => sortBy("next")} />
                <th scope="col" className="hidden xl:table-cell">
                  Command
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((job) => (
                <JobRow key={job.job} job={job} />
              ))}
            </tbody>
          </table>
          {shown.length < rows.length && (
            <p className="mt-3 flex flex-wrap items-center gap-3 text-sm">
              <span className="muted">
                {shown.length} of {rows.length} jobs shown
              </span>
              <button type="button" className="btn-secondary" onClick={() => setShowAllOf(view)}>
                Show all {rows.length}
              </button>
            </p>
          )}
        </div>
      )}
    </>
  );
}

function SortHeader({ label, active, descending, onClick }: { label: string; active: boolean; descending: boolean; onClick: () => void }) {
  const Icon = descending ? ArrowUp : ArrowDown;
  return (
    <th scope="col" aria-sort={active ? (descending ? "descending" : "ascending") : "none"}>
      <button type="button" onClick={onClick} className="inline-flex items-center gap-1 uppercase">
        {label}
        {active && <Icon aria-hidden="true" className="size-3" />}
      </button>
    </th>
  );
}

function JobRow({ job }: { job: Job }) {
  return (
    <tr>
      <td>
        <StatusBadge status={job.last_status ?? "never"} />
        {job.paused && (
          <div className="mt-1 text-xs">
            <StatusBadge status="paused" />
          </div>
        )}
        {!job.enabled && <div className="muted mt-1 text-xs">disabled</div>}
      </td>
      <td className="min-w-40">
        <Link to={jobPath(job.job)} className="link font-medium">
          {job.job}
        </Link>
        <div className="mt-1">
          <Labels labels={job.labels} />
        </div>
      </td>
      <td className="min-w-36">
        {job.schedule_description ?? <span className="mono">{job.schedule}</span>}
        <span className="muted block text-xs">
          <span className="mono">{job.schedule}</span> · {job.timezone}
        </span>
      </td>
      <td className="whitespace-nowrap">
        {job.paused ? (
          <span className="muted">paused</span>
        ) : !job.enabled ? (
          <span className="muted">disabled</span>
        ) : (
          <RelativeTime value={job.next_run} zone={job.timezone} />
        )}
      </td>
      <td className="mono hidden max-w-xs truncate xl:table-cell" title={job.command}>
        {job.command}
      </td>
    </tr>
  );
}
