import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";

import { api } from "../../api/client";
import { TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Pager } from "../../components/Pager";
import { Empty, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { SettingsTabs } from "../../components/SectionTabs";

const FILTERS = ["actor", "action", "target"] as const;

/** The team's audit log, newest first; filters and the page in the URL. Only older pages are
 * reachable by cursor: "Newer" goes back to the newest page. */
export function Component() {
  useTitle("Audit log");
  const [params, setParams] = useSearchParams();
  const query = Object.fromEntries([...FILTERS, "cursor"].map((key) => [key, params.get(key) || undefined]));
  const entries = api.useQuery("get", "/api/audit", { params: { query } });
  const [draft, setDraft] = useState(() => Object.fromEntries(FILTERS.map((key) => [key, params.get(key) ?? ""])));

  function apply(event: FormEvent) {
    event.preventDefault();
    setParams(Object.fromEntries(Object.entries(draft).filter(([, value]) => value.trim())));
  }

  return (
    <>
      <PageHeader title="Audit log" subtitle="Who changed what in your team, when and from where. Kept for a year." />
      <SettingsTabs />
      <form onSubmit={apply} className="card mb-4 grid gap-3 sm:grid-cols-[1fr_1fr_1fr_auto] sm:items-end" role="search">
        <TextField label="Actor" name="actor" value={draft.actor} onChange={(e) => setDraft({ ...draft, actor: e.target.value })} hint="A username or API key name." />
        <TextField label="Action" name="action" value={draft.action} onChange={(e) => setDraft({ ...draft, action: e.target.value })} hint="job.update, or job. for all of them." />
        <TextField label="Target" name="target" value={draft.target} onChange={(e) => setDraft({ ...draft, target: e.target.value })} hint="A job (ns/name), an id, an email." />
        <button type="submit" className="btn-secondary">
          Filter
        </button>
      </form>
      <QueryState query={entries}>
        {(page) =>
          page.entries.length === 0 ? (
            <Empty title={query.actor || query.action || query.target ? "Nothing matches these filters." : "Nothing recorded yet."}>
              Changes through the console, the CLI and the API, sign-ins and invitations appear here.
            </Empty>
          ) : (
            <>
              {/* Focusable: nothing in the table is, and at phone width it scrolls sideways. */}
              <div className="relative overflow-x-auto" tabIndex={0} role="region" aria-label="Audit log entries">
                <table className="data-table">
                  <caption className="sr-only">Audit log</caption>
                  <thead>
                    <tr>
                      <th scope="col">When</th>
                      <th scope="col">Actor</th>
                      <th scope="col">Action</th>
                      <th scope="col">Target</th>
                      <th scope="col">Outcome</th>
                      <th scope="col">From</th>
                      <th scope="col">Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.entries.map((entry) => (
                      <tr key={entry.id}>
                        <td>
                          <RelativeTime value={entry.at} />
                        </td>
                        <td>
                          {entry.actor ?? entry.actor_id ?? "—"}
                          {entry.actor_type !== "user" && <span className="muted"> ({entry.actor_type.replace("_", " ")})</span>}
                        </td>
                        <td className="mono">{entry.action}</td>
                        <td className="mono break-all">{entry.target ?? "—"}</td>
                        <td className={entry.outcome === "failure" ? "font-medium text-red-700 dark:text-red-400" : undefined}>{entry.outcome}</td>
                        <td className="mono">{entry.source ?? "—"}</td>
                        <td className="mono text-xs break-all">
                          {Object.entries(entry.details ?? {})
                            .map(([key, value]) => `${key}=${value}`)
                            .join(", ") || "—"}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <Pager
                label="Pages of the audit log"
                newer={null}
                atNewest={!query.cursor}
                older={page.next_cursor}
                onPage={(cursor) => {
                  const next = new URLSearchParams(params);
                  if (cursor) next.set("cursor", cursor);
                  else next.delete("cursor");
                  setParams(next);
                }}
              />
            </>
          )
        }
      </QueryState>
    </>
  );
}
