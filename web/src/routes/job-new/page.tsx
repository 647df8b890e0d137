import { useQueryClient } from "@tanstack/react-query";
import { useId, useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, statusOf } from "../../api/client";
import { useRoleCheck } from "../../api/hooks";
import { FormError, SelectField, TextArea, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Loading, NotAllowed } from "../../components/States";
import { shortSha, viewerZone } from "../../lib/format";
import { buildManifest, EMPTY_FORM, formFieldFor, parseProblems, type JobForm } from "../../lib/manifest";
import { SchedulePreview } from "./SchedulePreview";

const PRESETS = [
  { label: "every 5 minutes", schedule: "*/5 * * * *" },
  { label: "hourly", schedule: "@hourly" },
  { label: "daily at 02:00", schedule: "0 2 * * *" },
  { label: "weekdays at 07:30", schedule: "30 7 * * 1-5" },
];

function zones(): string[] {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
}

export function Component() {
  useTitle("New job");
  const mayCreate = useRoleCheck("member");
  if (mayCreate === undefined) return <Loading />;
  if (!mayCreate) {
    return (
      <>
        <PageHeader title="New job" />
        <NotAllowed what="create jobs">
          <Link to="/jobs" className="link">
            Back to the jobs
          </Link>
        </NotAllowed>
      </>
    );
  }
  return <NewJobForm />;
}

function NewJobForm() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const listId = useId();
  const jobs = api.useQuery("get", "/api/jobs", {}, { staleTime: 60_000 });
  const namespaces = useMemo(() => [...new Set((jobs.data?.jobs ?? []).map((job) => job.namespace))].sort(), [jobs.data]);
  const allZones = useMemo(zones, []);
  const [form, setForm] = useState<JobForm>({ ...EMPTY_FORM, timezone: viewerZone() });
  const [errors, setErrors] = useState<Partial<Record<keyof JobForm | "form", string>>>({});
  const [saving, setSaving] = useState(false);
  const manifest = useMemo(() => buildManifest(form), [form]);

  const field = (key: keyof JobForm) => ({
    value: form[key],
    error: errors[key],
    onChange: (event: { target: { value: string } }) => setForm((current) => ({ ...current, [key]: event.target.value })),
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setSaving(true);
    setErrors({});
    try {
      const { data } = await client.POST("/api/jobs", { body: { manifest } });
      if (!data) return;
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/jobs"] });
      toast.success(`Committed ${shortSha(data.commit)}: ${data.job} created.`);
      void navigate(`/jobs/${data.namespace}/${data.name}`);
    } catch (failure) {
      setErrors(errorsByField(failure));
    } finally {
      setSaving(false);
    }
  }

  return (
    <>
      <PageHeader title="New job" subtitle="Creating a job commits its manifest to your team's repository, as a push would." />
      <div className="grid gap-6 xl:grid-cols-[minmax(0,1fr)_minmax(0,26rem)]">
        <form onSubmit={(event) => void submit(event)} noValidate className="space-y-4" aria-label="New job">
          <FormError message={errors.form} />
          <div className="grid gap-4 sm:grid-cols-2">
            <TextField label="Namespace" list={`${listId}-ns`} required placeholder="e.g. production" autoComplete="off" hint="The folder it lives in: lowercase letters, digits and '-'." {...field("namespace")} />
            <datalist id={`${listId}-ns`}>
              {namespaces.map((ns) => (
                <option key={ns} value={ns} />
              ))}
            </datalist>
            <TextField label="Name" required placeholder="e.g. backup-database" autoComplete="off" hint="Unique in its namespace: lowercase letters, digits and '-'." {...field("name")} />
          </div>
          <div className="grid gap-4 sm:grid-cols-2">
            <div>
              <TextField label="Schedule" required placeholder="e.g. 0 2 * * *" autoComplete="off" inputClassName="mono" hint="5-field cron (minute hour day month weekday) or @hourly, @daily, @weekly, @monthly." {...field("schedule")} />
              <div className="mt-2 flex flex-wrap gap-1" role="group" aria-label="Presets">
                {PRESETS.map((preset) => (
                  <button key={preset.schedule} type="button" className="btn-secondary px-2 py-0.5 text-xs" onClick={() => setForm((c) => ({ ...c, schedule: preset.schedule }))}>
                    {preset.label}
                  </button>
                ))}
              </div>
            </div>
            <TextField label="Time zone" list={`${listId}-zones`} autoComplete="off" hint="The zone the schedule is read in (IANA name)." {...field("timezone")} />
            <datalist id={`${listId}-zones`}>
              {allZones.map((zone) => (
                <option key={zone} value={zone} />
              ))}
            </datalist>
          </div>
          <SchedulePreview schedule={form.schedule} timezone={form.timezone} />
          <TextField label="Command" required placeholder="e.g. /usr/local/bin/backup.sh" autoComplete="off" inputClassName="mono" hint="The program to run, without a shell. For a shell line: /bin/sh, with the arguments -c and the line." {...field("command")} />
          <TextArea label="Arguments" rows={3} placeholder={"--full\n--target=s3://bucket"} hint="One per line." {...field("args")} />
          <TextField label="Labels" placeholder="e.g. team=data, tier=batch" autoComplete="off" hint="key=value pairs, separated by commas." {...field("labels")} />
          <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
            <TextField label="Timeout" placeholder="e.g. 30m" autoComplete="off" hint="Stopped after this (30s, 5m, 1h30m)." {...field("timeout")} />
            <TextField label="Retries" inputMode="numeric" placeholder="0" autoComplete="off" hint="Attempts after a failure (0 to 10)." {...field("retries")} />
            <TextField label="Retry backoff" placeholder="e.g. 30s" autoComplete="off" hint="Wait before the first retry, doubled after." {...field("backoff")} />
            <TextField label="Monitor grace" placeholder="e.g. 5m" autoComplete="off" hint="How late a run may start before it counts as missed." {...field("grace")} />
          </div>
          <SelectField label="Concurrency" {...field("concurrency")} hint="When a run is due while the previous one still runs.">
            <option value="">forbid (default): skip the new run</option>
            <option value="allow">allow: start it anyway</option>
            <option value="replace">replace: stop the old run</option>
          </SelectField>
          <div className="flex gap-2">
            <button type="submit" className="btn-primary" disabled={saving}>
              {saving ? "Committing…" : "Create job"}
            </button>
            <Link to="/jobs" className="btn-secondary">
              Cancel
            </Link>
          </div>
        </form>
        <section aria-labelledby="manifest-preview" className="min-w-0">
          <h2 id="manifest-preview" className="mb-2 font-semibold">
            The manifest this commits
          </h2>
          <pre tabIndex={0} aria-label="Manifest preview" className="mono overflow-auto rounded-md border border-zinc-200 bg-white p-3 dark:border-zinc-800 dark:bg-zinc-900">
            {manifest}
          </pre>
          <p className="muted mt-2 text-sm">
            It goes to <span className="mono">{form.namespace || "<namespace>"}/{form.name || "<name>"}.yaml</span>. Everything else the
            manifest can hold (env, target labels, monitor rules) is edited in its YAML after creating it.
          </p>
        </section>
      </div>
    </>
  );
}

/** The server's refusal on the fields it names; the rest for the whole form. */
export function errorsByField(failure: unknown): Partial<Record<keyof JobForm | "form", string>> {
  const status = statusOf(failure);
  const message = describeError(failure);
  const errors: Partial<Record<keyof JobForm | "form", string>> = {};
  const add = (key: keyof JobForm | "form", text: string) => {
    errors[key] = errors[key] ? `${errors[key]}\n${text}` : text;
  };
  if (status === 409) {
    add("name", message);
    return errors;
  }
  if (status !== 422) {
    add("form", message);
    return errors;
  }
  for (const problem of parseProblems(message)) {
    const key = formFieldFor(problem.field);
    if (key) add(key, problem.message);
    else add("form", problem.text);
  }
  return errors;
}
