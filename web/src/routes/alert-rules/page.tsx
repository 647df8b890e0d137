import { useQueryClient } from "@tanstack/react-query";
import { Lock } from "lucide-react";
import { useId, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { Link } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, type Schemas } from "../../api/client";
import { useRoleAtLeast } from "../../api/hooks";
import { FormError, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { ALERT_TABS, SectionTabs } from "../../components/SectionTabs";
import { Empty, QueryState } from "../../components/States";
import { fromForm, overridesOf, rulesErrors, toForm, type AlertRules, type FieldKey, type RulesForm } from "./rules";


export function Component() {
  useTitle("Alert rules");
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const rules = api.useQuery("get", "/api/alert-rules", {});
  const canEdit = useRoleAtLeast("admin");
  return (
    <>
      <PageHeader
        title="Alert rules"
        subtitle="The team's defaults: when a job's runs open an incident, and how often its channels hear about it. A job's spec.monitor in Git overrides each of them."
      />
      <SectionTabs label="Alerts" tabs={ALERT_TABS} />
      <div className="space-y-4">
        <QueryState query={rules} label="Loading the rules…">
          {(current) => <RulesEditor rules={current} canEdit={canEdit} role={me.data?.role} />}
        </QueryState>
        <JobOverrides team={rules.data} />
      </div>
    </>
  );
}

function RulesEditor({ rules, canEdit, role }: { rules: AlertRules; canEdit: boolean; role: string | undefined }) {
  const queryClient = useQueryClient();
  const saved = useMemo(() => toForm(rules), [rules]);
  const [form, setForm] = useState<RulesForm>(saved);
  const [errors, setErrors] = useState<Partial<Record<FieldKey | "form", string>>>({});
  const [saving, setSaving] = useState(false);
  const dirty = JSON.stringify(form) !== JSON.stringify(saved);

  const text = (key: Exclude<FieldKey, "missed" | "agent_offline">) => ({
    value: form[key],
    error: errors[key],
    autoComplete: "off",
    onChange: (event: { target: { value: string } }) => setForm((current) => ({ ...current, [key]: event.target.value })),
  });

  async function save(event: FormEvent) {
    event.preventDefault();
    setSaving(true);
    setErrors({});
    try {
      const { data } = await client.PUT("/api/alert-rules", { body: fromForm(form) });
      if (data) {
        queryClient.setQueryData(["get", "/api/alert-rules", {}], data);
        setForm(toForm(data));
      }
      toast.success("Alert rules saved. They apply to every job at once, except where its manifest overrides them.");
    } catch (failure) {
      setErrors(rulesErrors(failure, describeError(failure)));
    } finally {
      setSaving(false);
    }
  }

  return (
    <form onSubmit={(event) => void save(event)} noValidate aria-label="Team alert rules" className="space-y-4">
      {!canEdit && (
        <p className="muted flex items-start gap-2 text-sm">
          <Lock aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
          <span>
            Read-only: only admins and owners change the team's rules{role ? ` (you are a ${role})` : ""}. Each job can still set
            its own in its manifest.
          </span>
        </p>
      )}
      <FormError message={errors.form} />
      <fieldset disabled={!canEdit} className="space-y-4">
        <Section title="Failed runs" about="When failures open an incident.">
          <div className="grid gap-4 sm:grid-cols-3">
            <TextField label="Consecutive failures" inputMode="numeric" hint="Alert when this many runs in a row failed (1: at the first failure)." {...text("consecutive")} />
            <TextField label="Failure ratio" inputMode="decimal" placeholder="off" hint="Or alert when this share of the last runs failed: 0.5 is half. Empty: off." {...text("ratio")} />
            <TextField label="Ratio window" inputMode="numeric" hint="How many of the latest runs the ratio is taken over (2 to 1000)." {...text("window")} />
          </div>
        </Section>

        <Section title="Timing" about="Durations are written like 30s, 5m, 1h30m.">
          <div className="grid gap-4 sm:grid-cols-2">
            <TextField label="Too long" placeholder="off" hint="Alert when a run takes longer than this. Empty: never." {...text("max_duration")} />
            <TextField label="Too fast" placeholder="off" hint="Alert when a successful run finishes in less than this: it may have done nothing. Empty: never." {...text("min_duration")} />
          </div>
          <div role="group" aria-labelledby="too-often" className="mt-4">
            <p id="too-often" className="field-label">
              Too often
            </p>
            <div className="grid gap-4 sm:grid-cols-2">
              <TextField label="Most runs" inputMode="numeric" placeholder="off" hint="Alert when more runs than this start…" {...text("max_runs_count")} />
              <TextField label="Within" placeholder="e.g. 1h" hint="…within this long. Both empty: never." {...text("max_runs_per")} />
            </div>
          </div>
          <div className="mt-4 grid gap-4 sm:grid-cols-2">
            <TextField label="Grace" hint="How late a run may start before it counts as missed (0s: none)." {...text("grace")} />
            <TextField
              label="Finish grace"
              hint="How long a started run may go without reporting its end before it counts as never finished, for jobs with neither a timeout nor a longest run."
              {...text("finish_grace")}
            />
          </div>
          <Check
            label="Alert on missed runs"
            hint="When a run has not started within its grace after its scheduled time."
            checked={form.missed}
            error={errors.missed}
            onChange={(missed) => setForm((current) => ({ ...current, missed }))}
          />
        </Section>

        <Section title="Agents">
          <Check
            label="Alert when an agent goes offline"
            hint="One incident when an agent stops sending heartbeats; its jobs' missed runs are not alerted on meanwhile."
            checked={form.agent_offline}
            error={errors.agent_offline}
            onChange={(agent_offline) => setForm((current) => ({ ...current, agent_offline }))}
          />
        </Section>

        <Section title="Reminders and escalation" about="For incidents nobody acknowledged.">
          <div className="grid gap-4 sm:grid-cols-2">
            <TextField label="Re-notify every" placeholder="never" hint="Remind the channels this often until someone acknowledges it. Empty: tell them once." {...text("renotify_every")} />
            <TextField
              label="Escalate after"
              placeholder="never"
              hint="Also tell the escalation-only channels when nobody acknowledged it by then. Empty: never."
              {...text("escalate_after")}
            />
          </div>
        </Section>
      </fieldset>
      {canEdit && (
        <div className="flex flex-wrap items-center gap-2">
          <button type="submit" className="btn-primary" disabled={saving}>
            {saving ? "Saving…" : "Save rules"}
          </button>
          {dirty && (
            <button
              type="button"
              className="btn-secondary"
              onClick={() => {
                setForm(saved);
                setErrors({});
              }}
            >
              Undo changes
            </button>
          )}
          {dirty && <span className="muted text-sm">Unsaved changes.</span>}
        </div>
      )}
    </form>
  );
}

function Section({ title, about, children }: { title: string; about?: string; children: ReactNode }) {
  const id = useId();
  return (
    <section className="card" aria-labelledby={id}>
      <h2 id={id} className="font-semibold">
        {title}
      </h2>
      {about && <p className="muted mb-3 text-sm">{about}</p>}
      <div className={about ? "" : "mt-3"}>{children}</div>
    </section>
  );
}

function Check({ label, hint, checked, error, onChange }: { label: string; hint: string; checked: boolean; error?: string | undefined; onChange: (checked: boolean) => void }) {
  const id = useId();
  return (
    <div className="mt-4">
      <label className="flex items-start gap-2 text-sm">
        <input
          type="checkbox"
          className="mt-1"
          checked={checked}
          aria-describedby={`${id}-hint${error ? ` ${id}-error` : ""}`}
          aria-invalid={error ? true : undefined}
          onChange={(event) => onChange(event.target.checked)}
        />
        <span>
          {label}
          <span id={`${id}-hint`} className="muted block text-xs">
            {hint}
          </span>
        </span>
      </label>
      {error && (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

function JobOverrides({ team }: { team: AlertRules | undefined }) {
  const jobs = api.useQuery("get", "/api/jobs", {});
  return (
    <section className="card" aria-labelledby="overrides">
      <h2 id="overrides" className="font-semibold">
        Overridden by jobs
      </h2>
      <p className="muted mb-3 text-sm">
        A job's <code className="mono">spec.monitor</code> in its manifest replaces these rules for that job. Change them in the job's YAML; here they are
        read-only.
      </p>
      <QueryState query={jobs} label="Loading the jobs…">
        {({ jobs: list }) => <OverridesTable jobs={list} team={team} />}
      </QueryState>
    </section>
  );
}

function OverridesTable({ jobs, team }: { jobs: Schemas["JobSummary"][]; team: AlertRules | undefined }) {
  const rows = jobs.map((job) => ({ job, overrides: overridesOf(job.monitor, team) })).filter((row) => row.overrides.length > 0);
  if (rows.length === 0) {
    return (
      <Empty title="No job overrides the team's rules.">
        To give one job its own rules, add them to its manifest, for example:
        <pre className="mono mt-2 overflow-x-auto rounded-md bg-zinc-100 p-2 dark:bg-zinc-800" tabIndex={0}>
          {"spec:\n  monitor:\n    maxDuration: 30m\n    failures:\n      consecutive: 3"}
        </pre>
      </Empty>
    );
  }
  return (
    <div className="relative overflow-x-auto">
      <table className="data-table">
        <caption className="sr-only">Jobs that override the team's alert rules</caption>
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">Overrides</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ job, overrides }) => (
            <tr key={job.job}>
              <td className="whitespace-nowrap">
                <Link className="link mono" to={`/jobs/${job.namespace}/${job.name}`}>
                  {job.job}
                </Link>
              </td>
              <td>
                <ul className="space-y-0.5">
                  {overrides.map((override) => (
                    <li key={override.rule}>
                      <span className="font-medium">{override.rule}:</span> {override.value}
                      {override.team !== undefined && <span className="muted"> (team: {override.team})</span>}
                    </li>
                  ))}
                </ul>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
