import { useQueryClient } from "@tanstack/react-query";
import { BellRing, CircleAlert, CircleCheck, Eye, Megaphone, Repeat } from "lucide-react";
import { useMemo, useState, type ComponentType, type SVGProps } from "react";
import { Link, useParams } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, statusOf, type Schemas } from "../../api/client";
import { jobPath, useAgents, useRoleAtLeast } from "../../api/hooks";
import { FormError } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, ErrorState, Loading } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { formatAbsolute, shortSha } from "../../lib/format";
import { InstalledOn } from "../agents/InstalledOn";
import { DeliveryBadge, IncidentBadge, SilencedMark } from "../incidents/badges";
import { causePhrase, causeSentence, DELIVERY_EVENTS, subjectOf, timelineLines, type TimelineLine } from "../incidents/words";

type Detail = Schemas["IncidentDetail"];

const DELIVERY_POLL_MS = 2_000;

/** Whether a notification of the incident is still on its way (pending, or failed and retried). */
export function unsettled(incident: Detail | undefined): boolean {
  return (incident?.deliveries ?? []).some((delivery) => delivery.status === "pending" || delivery.status === "failed");
}

export function Component() {
  const { id = "" } = useParams();
  const incident = api.useQuery(
    "get",
    "/api/incidents/{incident_id}",
    { params: { path: { incident_id: id } } },
    // Incident events refresh the page (src/lib/live.ts); a notification's delivery is no event,
    // so while one is still being sent (or retried) the page asks again every few seconds.
    { refetchInterval: (query) => (unsettled(query.state.data) ? DELIVERY_POLL_MS : false) },
  );
  useTitle(incident.data ? `Incident: ${subjectOf(incident.data)} ${causePhrase(incident.data.cause)}` : "Incident");
  if (incident.isPending) return <Loading label="Loading the incident…" />;
  if (incident.isError) {
    const status = statusOf(incident.error);
    if (status === 404 || status === 422) {
      return (
        <>
          <PageHeader title="Incident not found" />
          <Empty title="There is no such incident in this team.">
            It may belong to another team, or the link is mistyped.{" "}
            <Link to="/incidents" className="link">
              Back to the list
            </Link>
          </Empty>
        </>
      );
    }
    return <ErrorState error={incident.error} retry={() => void incident.refetch()} />;
  }
  return <IncidentView incident={incident.data} />;
}

function IncidentView({ incident }: { incident: Detail }) {
  const agents = useAgents();
  const agentName = incident.agent_id ? agents.get(incident.agent_id)?.name : undefined;
  return (
    <>
      <PageHeader
        title={
          <span className="flex flex-wrap items-center gap-x-3 gap-y-1">
            <span>
              {subjectOf(incident, agentName)} {causePhrase(incident.cause)}
            </span>
            <IncidentBadge status={incident.status} className="text-base" />
            {incident.silenced && <SilencedMark className="text-sm" />}
          </span>
        }
        subtitle={
          <>
            Opened <RelativeTime value={incident.opened_at} />
            {incident.resolved_at && (
              <>
                , resolved <RelativeTime value={incident.resolved_at} />
              </>
            )}
          </>
        }
        actions={<Actions incident={incident} />}
      />
      <div className="grid gap-4 lg:grid-cols-3">
        <Overview incident={incident} agentName={agentName} />
        <Timeline incident={incident} />
      </div>
      <Notifications incident={incident} />
    </>
  );
}

function Actions({ incident }: { incident: Detail }) {
  const mayOperate = useRoleAtLeast("member");
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState<"ack" | "resolve" | null>(null);
  const [error, setError] = useState<string>();
  if (!mayOperate || incident.status === "resolved") return null;

  async function act(action: "ack" | "resolve") {
    setBusy(action);
    setError(undefined);
    const path = { incident_id: incident.id };
    try {
      if (action === "ack") await client.POST("/api/incidents/{incident_id}/ack", { params: { path } });
      else await client.POST("/api/incidents/{incident_id}/resolve", { params: { path } });
      toast.success(action === "ack" ? "Acknowledged: no more reminders or escalation." : "Resolved: the channels are told.");
    } catch (failure) {
      setError(`Could not ${action === "ack" ? "acknowledge" : "resolve"} it: ${describeError(failure)}`);
    } finally {
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/incidents/{incident_id}"] });
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/incidents"] });
      setBusy(null);
    }
  }

  return (
    <div className="flex flex-col items-end gap-2">
      <div className="flex flex-wrap gap-2">
        {incident.status === "open" && (
          <button type="button" className="btn-secondary" disabled={busy !== null} onClick={() => void act("ack")}>
            <Eye aria-hidden="true" className="size-4" /> Acknowledge
          </button>
        )}
        <button type="button" className="btn-secondary" disabled={busy !== null} onClick={() => void act("resolve")}>
          <CircleCheck aria-hidden="true" className="size-4" /> Resolve
        </button>
      </div>
      <FormError message={error} />
    </div>
  );
}

function Overview({ incident, agentName }: { incident: Detail; agentName: string | undefined }) {
  return (
    <section aria-labelledby="cause-heading" className="card min-w-0 lg:col-span-2">
      <h2 id="cause-heading" className="mb-2 font-semibold">
        What happened
      </h2>
      <p className="break-words">{causeSentence(incident, agentName)}</p>
      {incident.cause === "agent_offline" && incident.detail && <p className="muted mt-1 text-sm break-words">{incident.detail}</p>}
      <dl className="mt-4 grid grid-cols-1 gap-x-6 gap-y-3 text-sm sm:grid-cols-2">
        {incident.job && (
          <div>
            <dt className="muted text-xs font-semibold uppercase">Job</dt>
            <dd className="mt-0.5 break-words">
              <Link to={jobPath(incident.job)} className="link">
                {incident.job}
              </Link>
            </dd>
          </div>
        )}
        {incident.agent_id && (
          <div>
            <dt className="muted text-xs font-semibold uppercase">Agent</dt>
            <dd className="mt-0.5 break-words">
              <Link to={`/agents/${encodeURIComponent(incident.agent_id)}`} className="link">
                {agentName ?? incident.agent_id}
              </Link>
            </dd>
          </div>
        )}
        {incident.job && SCHEDULER_CAUSES.has(incident.cause) && <JobInstalledOn job={incident.job} />}
        {incident.run_id && (
          <div className="min-w-0">
            <dt className="muted text-xs font-semibold uppercase">The run</dt>
            <dd className="mt-0.5">
              <Link to={`/runs/${encodeURIComponent(incident.run_id)}`} className="link mono break-all">
                Output of run {incident.run_id.slice(0, 12)}
              </Link>
            </dd>
          </div>
        )}
        {incident.commit && (
          <div>
            <dt className="muted text-xs font-semibold uppercase">Manifest commit</dt>
            <dd className="mono mt-0.5" title={incident.commit}>
              {shortSha(incident.commit)}
            </dd>
          </div>
        )}
      </dl>
    </section>
  );
}

/** Causes that point at the host's scheduler (the job did not start, or never finished) rather
 * than at the job's command: for them, which agents have the job installed is the first question. */
const SCHEDULER_CAUSES = new Set(["missed", "not_finished"]);

function JobInstalledOn({ job }: { job: string }) {
  const [namespace = "", name = ""] = job.split("/");
  const detail = api.useQuery("get", "/api/jobs/{namespace}/{name}", { params: { path: { namespace, name } } });
  return (
    <div className="min-w-0 sm:col-span-2">
      <dt className="muted text-xs font-semibold uppercase">Installed on</dt>
      <dd className="mt-0.5">
        {detail.isPending ? (
          <span className="muted">…</span>
        ) : detail.isError ? (
          <span className="muted">{statusOf(detail.error) === 404 ? "no agent: the job no longer exists" : `unknown (${describeError(detail.error)})`}</span>
        ) : (
          <InstalledOn job={detail.data} />
        )}
      </dd>
    </div>
  );
}

const STEP_ICONS: Record<TimelineLine["step"], ComponentType<SVGProps<SVGSVGElement>>> = {
  opened: CircleAlert,
  notified: BellRing,
  acknowledged: Eye,
  renotified: Repeat,
  escalated: Megaphone,
  resolved: CircleCheck,
};

const STEP_COLOURS: Partial<Record<TimelineLine["step"], string>> = {
  opened: "text-red-700 dark:text-red-400",
  acknowledged: "text-amber-700 dark:text-amber-400",
  escalated: "text-orange-700 dark:text-orange-400",
  resolved: "text-green-700 dark:text-green-400",
};

function Timeline({ incident }: { incident: Detail }) {
  const members = api.useQuery("get", "/api/members", {}, { staleTime: 5 * 60_000 });
  const names = useMemo(() => new Map((members.data?.members ?? []).map((m) => [m.user_id, m.username])), [members.data]);
  const lines = timelineLines(incident, names);
  return (
    <section aria-labelledby="timeline-heading" className="card text-sm">
      <h2 id="timeline-heading" className="mb-2 font-semibold">
        Timeline
      </h2>
      <ol className="space-y-3" aria-label="Timeline">
        {lines.map((line) => {
          const Icon = STEP_ICONS[line.step];
          return (
            <li key={line.key} className="flex gap-2">
              <Icon aria-hidden="true" className={`mt-0.5 size-4 shrink-0 ${STEP_COLOURS[line.step] ?? "text-zinc-600 dark:text-zinc-400"}`} />
              <div className="min-w-0">
                <p className="break-words">{line.text}</p>
                <p className="muted text-xs">
                  <RelativeTime value={line.at} /> · {formatAbsolute(line.at)}
                </p>
              </div>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function Notifications({ incident }: { incident: Detail }) {
  const deliveries = incident.deliveries ?? [];
  return (
    <section aria-labelledby="notifications-heading" className="mt-6">
      <h2 id="notifications-heading" className="mb-2 font-semibold">
        Notifications
      </h2>
      {deliveries.length === 0 ? (
        incident.silenced ? (
          <Empty title="Nobody was notified: a silence covered it when it opened." />
        ) : (
          <Empty title="No notification was sent for this incident.">
            No channel matches it. Add one on the{" "}
            <Link to="/alerts/channels" className="link">
              notification channels
            </Link>{" "}
            page (Slack, email, PagerDuty, a webhook…).
          </Empty>
        )
      ) : (
        <div className="relative overflow-x-auto">
          <table className="data-table">
            <caption className="sr-only">Notifications sent for this incident, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col">Sent</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.map((delivery) => (
                <tr key={delivery.id}>
                  <td className="break-words">{delivery.channel_name ?? <span className="muted">a deleted channel</span>}</td>
                  <td>{DELIVERY_EVENTS[delivery.event] ?? delivery.event}</td>
                  <td>
                    <DeliveryBadge status={delivery.status} />
                  </td>
                  <td>{delivery.attempts}</td>
                  <td className="max-w-md text-xs break-words">{delivery.last_error ?? <span className="muted">none</span>}</td>
                  <td className="whitespace-nowrap">
                    <RelativeTime value={delivery.sent_at} empty="not yet" />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
