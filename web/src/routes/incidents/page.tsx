import { Link } from "react-router";

import { api } from "../../api/client";
import { jobPath } from "../../api/hooks";
import { SelectField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { useUrlState } from "../../lib/url";

const STATUSES = ["open", "acknowledged", "resolved"] as const;
type IncidentStatus = (typeof STATUSES)[number];

const CAUSES: Record<string, string> = {
  failed: "failed",
  missed: "missed a run",
  not_finished: "never finished",
  too_long: "ran too long",
  too_fast: "ran too fast",
  too_often: "ran too often",
  agent_offline: "agent offline",
};

const STATUS_CLASS: Record<IncidentStatus, string> = {
  open: "text-red-700 dark:text-red-400",
  acknowledged: "text-amber-700 dark:text-amber-400",
  resolved: "text-green-700 dark:text-green-400",
};

export function Component() {
  useTitle("Incidents");
  const { get, set } = useUrlState();
  const status = STATUSES.includes(get("status") as IncidentStatus) ? (get("status") as IncidentStatus) : undefined;
  const incidents = api.useQuery("get", "/api/incidents", { params: { query: { status } } });
  return (
    <>
      <PageHeader title="Incidents" subtitle="Failed, missed and misbehaving runs, and agents gone offline." />
      <form className="mb-4 max-w-xs" role="search" aria-label="Filter incidents" onSubmit={(e) => e.preventDefault()}>
        <SelectField label="Status" value={status ?? ""} onChange={(e) => set({ status: e.target.value })}>
          <option value="">Any status</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
      </form>
      <QueryState query={incidents} label="Loading incidents…">
        {({ incidents: list }) =>
          list.length === 0 ? (
            <Empty title={status ? `No ${status} incidents.` : "No incidents: every job behaved."} />
          ) : (
            <div className="relative overflow-x-auto">
              <table className="data-table">
                <caption className="sr-only">Incidents, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Status</th>
                    <th scope="col">What</th>
                    <th scope="col">Job or agent</th>
                    <th scope="col">Opened</th>
                    <th scope="col" className="hidden md:table-cell">Detail</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((incident) => (
                    <tr key={incident.id}>
                      <td className={`font-medium ${STATUS_CLASS[incident.status]}`}>
                        {incident.status}
                        {incident.silenced && <span className="muted block text-xs font-normal">silenced</span>}
                      </td>
                      <td>{CAUSES[incident.cause] ?? incident.cause}</td>
                      <td>
                        {incident.job ? (
                          <Link to={jobPath(incident.job)} className="link">
                            {incident.job}
                          </Link>
                        ) : (
                          (incident.agent_id ?? "—")
                        )}
                        {incident.run_id && (
                          <Link to={`/runs/${encodeURIComponent(incident.run_id)}`} className="link block text-xs">
                            the run
                          </Link>
                        )}
                      </td>
                      <td className="whitespace-nowrap">
                        <RelativeTime value={incident.opened_at} />
                      </td>
                      <td className="hidden max-w-md md:table-cell">{incident.detail}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
    </>
  );
}
