/** Incidents in words: the cause as a sentence, the status's look, and the timeline's lines. The
 * facts (what happened when, how many channels each step told) come from the API's
 * `IncidentDetail.timeline`; this only words them. Shared by /incidents and /incidents/:id. */
import type { Schemas } from "../../api/client";

export type Incident = Schemas["IncidentPublic"];
export type IncidentStatus = Incident["status"];

/** What each cause means, after the job's name ("ops/backup failed"). */
export const CAUSE_PHRASES: Record<Incident["cause"], string> = {
  failed: "failed",
  missed: "missed its scheduled run",
  not_finished: "started but did not finish",
  too_long: "ran longer than allowed",
  too_fast: "finished faster than expected",
  too_often: "ran more often than allowed",
  agent_offline: "is offline",
};

export function causePhrase(cause: string): string {
  return CAUSE_PHRASES[cause as Incident["cause"]] ?? cause.replaceAll("_", " ");
}

/** Who the incident is about: the job, or the agent by name when it is known. */
export function subjectOf(incident: Pick<Incident, "job" | "agent_id">, agentName?: string): string {
  if (incident.job) return incident.job;
  return `agent ${agentName ?? incident.agent_id ?? "unknown"}`;
}

/** "ops/backup failed: exited with 2" (the job's name as it is spelled). An agent's detail is a sentence of its own, so it is not
 * repeated after "is offline". */
export function causeSentence(incident: Pick<Incident, "job" | "agent_id" | "cause" | "detail">, agentName?: string): string {
  const what = `${subjectOf(incident, agentName)} ${causePhrase(incident.cause)}`;
  const detail = incident.detail.trim();
  return detail && incident.cause !== "agent_offline" ? `${what}: ${detail}` : what;
}

export interface TimelineLine {
  key: string;
  step: Schemas["IncidentStep"]["step"];
  at: string;
  /** "Acknowledged by alice", "Notified 2 channels". */
  text: string;
}

function channels(n: number): string {
  return n === 1 ? "1 channel" : `${n} channels`;
}

/** A user id as the member's name; `recovery` and unknown ids (an API key, someone who left) as words. */
export function who(by: string | null | undefined, names: ReadonlyMap<string, string>): string {
  if (!by) return "someone";
  return names.get(by) ?? `${by.slice(0, 8)} (not a member now, or an API key)`;
}

/** The lines of the incident's timeline, oldest first, as the API ordered them. */
export function timelineLines(
  detail: Pick<Schemas["IncidentDetail"], "timeline" | "job" | "silenced">,
  names: ReadonlyMap<string, string>,
): TimelineLine[] {
  return (detail.timeline ?? []).map((step, index) => ({
    key: `${step.step}-${step.at}-${index}`,
    step: step.step,
    at: step.at,
    text: stepText(step, detail, names),
  }));
}

function stepText(step: Schemas["IncidentStep"], detail: Pick<Schemas["IncidentDetail"], "job" | "silenced">, names: ReadonlyMap<string, string>): string {
  switch (step.step) {
    case "opened":
      return detail.silenced ? "Opened while silenced: nobody was notified" : "Opened";
    case "notified":
      return `Notified ${channels(step.channels)}`;
    case "acknowledged":
      return `Acknowledged by ${who(step.by, names)}`;
    case "renotified":
      return step.channels ? `Reminder sent to ${channels(step.channels)}` : "Reminder due: no channel to send it to";
    case "escalated":
      return step.channels ? `Escalated to ${channels(step.channels)}` : "Escalated: no escalation channel to tell";
    case "resolved": {
      const how = resolvedHow(step.by, detail.job, names);
      return step.channels ? `${how}; ${channels(step.channels)} told` : how;
    }
  }
}

/** Who or what resolved an incident: a person, or one of the service's own reasons. */
function resolvedHow(by: string | null | undefined, job: string | null | undefined, names: ReadonlyMap<string, string>): string {
  if (by === "recovery") return `Resolved: ${job ? "it recovered on its own" : "the agent came back"}`;
  if (by === "job_removed") return "Resolved: the job was removed from Git";
  return `Resolved by ${who(by, names)}`;
}

/** What a notification was about (DeliveryPublic.event). */
export const DELIVERY_EVENTS: Record<Schemas["DeliveryPublic"]["event"], string> = {
  trigger: "opened",
  renotify: "reminder",
  escalate: "escalation",
  resolve: "resolved",
  test: "test",
};
