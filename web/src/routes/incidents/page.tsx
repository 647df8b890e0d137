import { keepPreviousData } from "@tanstack/react-query";
import { useId } from "react";
import { Link } from "react-router";

import { api, type Schemas } from "../../api/client";
import { jobPath, useAgents } from "../../api/hooks";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Empty, ErrorState, Loading } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { useUrlState } from "../../lib/url";
import { IncidentBadge, SilencedMark } from "./badges";
import { causePhrase } from "./words";

const PAGE_SIZE = 50;
/** The default view: what still needs someone (acknowledged ones too: not fixed yet). */
export const NOT_RESOLVED: Schemas["IncidentPublic"]["status"][] = ["open", "acknowledged"];

export function Component() {
  useTitle("Incidents");
  const { get, set } = useUrlState();
  const all = get("show") === "all";
  const cursor = get("cursor") || undefined;
  const incidents = api.useQuery(
    "get",
    "/api/incidents",
    { params: { query: { status: all ? undefined : NOT_RESOLVED, cursor, limit: PAGE_SIZE } } },
    { placeholderData: keepPreviousData },
  );
  const switchId = useId();

  return (
    <>
      <PageHeader title="Incidents" subtitle="Failed, missed and misbehaving runs, and agents gone offline; newest first." />
      <form className="mb-4 flex items-center gap-2 text-sm" aria-label="Which incidents" onSubmit={(e) => e.preventDefault()}>
        <input
          id={switchId}
          type="checkbox"
          role="switch"
          className="size-4 accent-indigo-600"
          checked={all}
          onChange={(e) => set({ show: e.target.checked ? "all" : null })}
        />
        <label htmlFor={switchId}>Show resolved incidents too</label>
      </form>

      {incidents.isPending ? (
        <Loading label="Loading incidents…" />
      ) : incidents.isError ? (
        <ErrorState error={incidents.error} retry={() => void incidents.refetch()} />
      ) : incidents.data.incidents.length === 0 ? (
        cursor ? (
          <Empty title="No older incidents.">
            <button type="button" className="link" onClick={() => set({ cursor: null })}>
              Back to the newest
            </button>
          </Empty>
        ) : (
          <Empty title={all ? "No incidents yet: every job behaved." : "No open incidents: every job behaved."}>
            An incident opens when a run fails, is missed, runs too long or too often, or an agent goes offline (see{" "}
            <Link to="/alerts/rules" className="link">
              the alert rules
            </Link>
            ); your{" "}
            <Link to="/alerts/channels" className="link">
              notification channels
            </Link>{" "}
            are told.
          </Empty>
        )
      ) : (
        <div aria-busy={incidents.isFetching}>
          <IncidentsTable list={incidents.data.incidents} all={all} />
          {(cursor || incidents.data.next_cursor) && (
            <Pager
              label="Pages of incidents"
              newer=""
              atNewest={!cursor}
              older={incidents.data.next_cursor}
              onPage={(next) => set({ cursor: next }, { keepPage: true })}
            />
          )}
        </div>
      )}
    </>
  );
}

function IncidentsTable({ list, all }: { list: Schemas["IncidentPublic"][]; all: boolean }) {
  const agents = useAgents();
  return (
    <div className="relative overflow-x-auto">
      <table className="data-table">
        <caption className="sr-only">{all ? "Incidents, newest first" : "Incidents not resolved, newest first"}</caption>
        <thead>
          <tr>
            <th scope="col">Status</th>
            <th scope="col">What</th>
            <th scope="col">Job or agent</th>
            <th scope="col" className="hidden sm:table-cell">
              Opened
            </th>
          </tr>
        </thead>
        <tbody>
          {list.map((incident) => {
            const agent = incident.agent_id ? agents.get(incident.agent_id) : undefined;
            return (
              <tr key={incident.id}>
                <td>
                  <IncidentBadge status={incident.status} />
                  {incident.silenced && <SilencedMark className="flex" />}
                  <RelativeTime value={incident.opened_at} className="muted block text-xs whitespace-nowrap sm:hidden" />
                </td>
                <td className="min-w-24">
                  <Link to={`/incidents/${encodeURIComponent(incident.id)}`} className="link font-medium">
                    {causePhrase(incident.cause)}
                  </Link>
                  {incident.detail && <span className="muted line-clamp-2 block text-xs break-words">{incident.detail}</span>}
                </td>
                <td className="break-words">
                  {incident.job ? (
                    <Link to={jobPath(incident.job)} className="link">
                      {incident.job}
                    </Link>
                  ) : incident.agent_id ? (
                    <Link to={`/agents/${encodeURIComponent(incident.agent_id)}`} className="link">
                      {agent?.name ?? incident.agent_id}
                    </Link>
                  ) : (
                    "—"
                  )}
                </td>
                <td className="hidden whitespace-nowrap sm:table-cell">
                  <RelativeTime value={incident.opened_at} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
