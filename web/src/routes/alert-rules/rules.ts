/** The team's default alert rules as a form (every field text, as typed) and back, and what a
 * job's `spec.monitor` overrides of them, in the form's words. */
import type { Schemas } from "../../api/client";
import { ApiError } from "../../lib/session";

export type AlertRules = Schemas["AlertRules"];

export interface RulesForm {
  consecutive: string;
  ratio: string;
  window: string;
  max_duration: string;
  min_duration: string;
  max_runs_count: string;
  max_runs_per: string;
  grace: string;
  missed: boolean;
  finish_grace: string;
  agent_offline: boolean;
  renotify_every: string;
  escalate_after: string;
}

export type FieldKey = keyof RulesForm;

/** Where the server's `loc` (after "body") lands in the form. */
const LOCATIONS: Record<string, FieldKey> = {
  "failures.consecutive": "consecutive",
  "failures.ratio": "ratio",
  "failures.window": "window",
  failures: "consecutive",
  max_duration: "max_duration",
  min_duration: "min_duration",
  "max_runs.count": "max_runs_count",
  "max_runs.per": "max_runs_per",
  max_runs: "max_runs_count",
  grace: "grace",
  missed: "missed",
  finish_grace: "finish_grace",
  agent_offline: "agent_offline",
  renotify_every: "renotify_every",
  escalate_after: "escalate_after",
};

const text = (value: string | number | null | undefined) => (value === null || value === undefined ? "" : String(value));

export function toForm(rules: AlertRules): RulesForm {
  return {
    consecutive: text(rules.failures?.consecutive ?? 1),
    ratio: text(rules.failures?.ratio),
    window: text(rules.failures?.window ?? 10),
    max_duration: text(rules.max_duration),
    min_duration: text(rules.min_duration),
    max_runs_count: text(rules.max_runs?.count),
    max_runs_per: text(rules.max_runs?.per),
    grace: text(rules.grace ?? "5m"),
    missed: rules.missed ?? true,
    finish_grace: text(rules.finish_grace ?? "1h"),
    agent_offline: rules.agent_offline ?? true,
    renotify_every: text(rules.renotify_every),
    escalate_after: text(rules.escalate_after),
  };
}

/** A number when it is one; otherwise what was typed, so the server names the problem at its field. */
function number(value: string): number {
  const trimmed = value.trim();
  return (trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : trimmed) as number;
}

const optional = (value: string) => (value.trim() === "" ? null : value.trim());

export function fromForm(form: RulesForm): AlertRules {
  const runs = form.max_runs_count.trim() === "" && form.max_runs_per.trim() === "";
  return {
    failures: {
      consecutive: number(form.consecutive),
      ratio: form.ratio.trim() === "" ? null : number(form.ratio),
      window: number(form.window),
    },
    max_duration: optional(form.max_duration),
    min_duration: optional(form.min_duration),
    max_runs: runs ? null : { count: number(form.max_runs_count), per: form.max_runs_per.trim() },
    grace: form.grace.trim(),
    missed: form.missed,
    finish_grace: form.finish_grace.trim(),
    agent_offline: form.agent_offline,
    renotify_every: optional(form.renotify_every),
    escalate_after: optional(form.escalate_after),
  };
}

/** The server's 422 on the fields it names; the rest (and any other failure) under `form`. */
export function rulesErrors(error: unknown, fallback: string): Partial<Record<FieldKey | "form", string>> {
  const errors: Partial<Record<FieldKey | "form", string>> = {};
  const add = (key: FieldKey | "form", message: string) => {
    errors[key] = errors[key] ? `${errors[key]}\n${message}` : message;
  };
  if (!(error instanceof ApiError) || !Array.isArray(error.detail)) {
    add("form", fallback);
    return errors;
  }
  for (const item of error.detail as { loc?: unknown[]; msg?: string }[]) {
    const path = (item.loc ?? []).map(String).filter((part, index) => !(index === 0 && part === "body"));
    const message = (item.msg ?? "invalid").replace(/^Value error, /, "");
    const key = LOCATIONS[path.join(".")] ?? LOCATIONS[path[0] ?? ""];
    if (key) add(key, message);
    else add("form", path.length ? `${path.join(".")}: ${message}` : message);
  }
  return errors;
}

// --- a job's overrides ---------------------------------------------------------------------------

export interface Override {
  /** The form's name for the rule. */
  rule: string;
  /** The job's value, in words. */
  value: string;
  /** The team's default it replaces, in words (none where the team has no such default). */
  team?: string | undefined;
}

interface Failures {
  consecutive?: number;
  ratio?: number | null;
  window?: number;
}

export function describeFailures(failures: Failures | null | undefined): string {
  const consecutive = failures?.consecutive ?? 1;
  const inARow = consecutive === 1 ? "every failed run" : `${consecutive} failed runs in a row`;
  if (failures?.ratio === null || failures?.ratio === undefined) return inARow;
  return `${inARow}, or ${Math.round(failures.ratio * 100)}% of the last ${failures.window ?? 10}`;
}

const or = (value: string | null | undefined, none: string) => (value === null || value === undefined || value === "" ? none : value);

function describeRuns(runs: { count?: number; per?: string } | null | undefined): string {
  return runs ? `more than ${runs.count} runs within ${runs.per}` : "off";
}

/** What a job's `spec.monitor` (camelCase, as in its manifest) sets, next to the team's defaults. */
export function overridesOf(monitor: Record<string, unknown> | undefined, team: AlertRules | undefined): Override[] {
  if (!monitor) return [];
  const found: Override[] = [];
  const set = (key: string) => monitor[key] !== null && monitor[key] !== undefined;
  const s = (key: string) => String(monitor[key]);
  if (set("failures")) found.push({ rule: "Failures", value: describeFailures(monitor.failures as Failures), team: team && describeFailures(team.failures) });
  if (set("maxDuration")) found.push({ rule: "Too long", value: `longer than ${s("maxDuration")}`, team: team && or(team.max_duration, "off") });
  if (set("minDuration")) found.push({ rule: "Too fast", value: `shorter than ${s("minDuration")}`, team: team && or(team.min_duration, "off") });
  if (set("maxRuns")) found.push({ rule: "Too often", value: describeRuns(monitor.maxRuns as { count: number; per: string }), team: team && describeRuns(team.max_runs) });
  if (set("grace")) found.push({ rule: "Grace", value: s("grace"), team: team?.grace });
  if (set("missed")) found.push({ rule: "Missed runs", value: monitor.missed ? "alert" : "no alert", team: team && (team.missed === false ? "no alert" : "alert") });
  if (set("finishGrace")) found.push({ rule: "Finish grace", value: s("finishGrace"), team: team?.finish_grace });
  const windows = Array.isArray(monitor.maintenance) ? monitor.maintenance.length : 0;
  if (windows > 0) found.push({ rule: "Maintenance", value: `${windows} window${windows === 1 ? "" : "s"} without notifications` });
  if (set("snoozeUntil")) found.push({ rule: "Snoozed until", value: s("snoozeUntil") });
  return found;
}
