import { useQueryClient } from "@tanstack/react-query";
import { BellOff, Clock } from "lucide-react";
import { useMemo, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, statusOf, type Schemas } from "../../api/client";
import { jobPath, useRoleAtLeast } from "../../api/hooks";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { FormError, SelectField, TextField } from "../../components/Field";
import { Labels } from "../../components/Labels";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { ALERT_TABS, SectionTabs } from "../../components/SectionTabs";
import { Empty, QueryState } from "../../components/States";
import { useNow } from "../../components/Time";
import { fieldErrors, type FieldErrors } from "../../lib/fieldErrors";
import { formatAbsolute, formatDateTime, viewerZone } from "../../lib/format";
import { isoToLocal, localToIso } from "../../lib/url";
import { apiDuration, coversJob, coversText, labelsText, MAX_DAYS, parseDuration, parseLabels, remaining, span, type Scope } from "./words";

type Silence = Schemas["SilencePublic"];
type Job = Schemas["JobSummary"];

const LIST_KEY = ["get", "/api/silences"] as const;

export function Component() {
  useTitle("Silences");
  const mayCreate = useRoleAtLeast("member");
  const silences = api.useQuery("get", "/api/silences", {}, { refetchInterval: 60_000 });
  return (
    <>
      <PageHeader title="Silences" subtitle="Quiet notifications for a while: incidents still open and are kept, marked silenced, but no channel is told." />
      <SectionTabs label="Alerts" tabs={ALERT_TABS} />
      <div className="space-y-4">
        <section className="card" aria-labelledby="current-silences">
          <h2 id="current-silences" className="mb-3 font-semibold">
            Current and upcoming
          </h2>
          <QueryState query={silences} label="Loading silences…">
            {({ silences: list }) => <SilenceList list={list} mayEnd={mayCreate} />}
          </QueryState>
        </section>
        {mayCreate && <NewSilence />}
      </div>
    </>
  );
}

// --- the form ------------------------------------------------------------------------------------

const WHAT: { value: Scope; label: string }[] = [
  { value: "job", label: "One job" },
  { value: "namespace", label: "A namespace" },
  { value: "labels", label: "Jobs with labels" },
  { value: "team", label: "Every job" },
];
const PRESETS = ["30m", "1h", "2h", "8h", "1d"];
const KNOWN = ["job", "namespace", "labels", "duration", "until", "reason"];
const ALIASES = { match_labels: "labels", ends_at: "until", starts_at: "until" };

/** The form's first choice from the query string (`?job=ops/backup`, `?namespace=ops`,
 * `?label=team=data`), so another page can link to "silence this". */
function initialWhat(params: URLSearchParams): { what: Scope; job: string; namespace: string; labels: string } {
  const [job, namespace, labels] = [params.get("job") ?? "", params.get("namespace") ?? "", params.getAll("label").join(", ")];
  const what: Scope = job ? "job" : namespace ? "namespace" : labels ? "labels" : "job";
  return { what, job, namespace, labels };
}

function NewSilence() {
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const jobs = api.useQuery("get", "/api/jobs", {}, { staleTime: 60_000 });
  const [initial] = useState(() => initialWhat(params));
  const [what, setWhat] = useState<Scope>(initial.what);
  const [job, setJob] = useState(initial.job);
  const [namespace, setNamespace] = useState(initial.namespace);
  const [labels, setLabels] = useState(initial.labels);
  const [ends, setEnds] = useState<"for" | "until">("for");
  const [duration, setDuration] = useState("2h");
  const [until, setUntil] = useState(() => isoToLocal(new Date(Date.now() + 2 * 3_600_000).toISOString()));
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const now = useNow();

  const list = useMemo(() => [...(jobs.data?.jobs ?? [])].sort((a, b) => a.job.localeCompare(b.job)), [jobs.data]);
  const namespaces = useMemo(() => [...new Set(list.map((j) => j.namespace))].sort(), [list]);
  const chosenJob = job || list[0]?.job || "";
  const parsedLabels = what === "labels" && labels.trim() ? parseLabels(labels) : undefined;
  const seconds = parseDuration(duration);
  const untilIso = localToIso(until);
  const endsAt = ends === "for" ? (seconds ? now + seconds * 1000 : undefined) : untilIso ? Date.parse(untilIso) : undefined;

  function selector(): { body: Partial<Schemas["SilenceCreate"]>; covered: Parameters<typeof coversText>[0] } | { error: FieldErrors } {
    switch (what) {
      case "job":
        if (!chosenJob) return { error: { job: "Your team has no job yet: silence a namespace, some labels or every job instead." } };
        return { body: { job: chosenJob }, covered: { scope: "job", job: chosenJob } };
      case "namespace":
        if (!namespace.trim()) return { error: { namespace: "Give a namespace, e.g. production." } };
        return { body: { namespace: namespace.trim() }, covered: { scope: "namespace", namespace: namespace.trim() } };
      case "labels": {
        const parsed = parseLabels(labels);
        if ("error" in parsed) return { error: { labels: parsed.error } };
        return { body: { match_labels: parsed.labels }, covered: { scope: "labels", match_labels: parsed.labels } };
      }
      default:
        return { body: {}, covered: { scope: "team" } };
    }
  }

  async function create(event: FormEvent) {
    event.preventDefault();
    const chosen = selector();
    if ("error" in chosen) return setErrors(chosen.error);
    let timing: Partial<Schemas["SilenceCreate"]>;
    if (ends === "for") {
      if (!seconds) return setErrors({ duration: "Write how long, e.g. 30m, 2h, 1h30m or 3d." });
      if (seconds > MAX_DAYS * 86_400) return setErrors({ duration: `A silence lasts at most ${MAX_DAYS} days.` });
      timing = { duration: apiDuration(seconds) };
    } else {
      if (!untilIso) return setErrors({ until: "Pick the date and time it ends." });
      if (Date.parse(untilIso) <= Date.now()) return setErrors({ until: "Pick a time in the future." });
      timing = { ends_at: untilIso };
    }
    setBusy(true);
    setErrors({});
    try {
      const { data } = await client.POST("/api/silences", { body: { ...chosen.body, ...timing, reason: reason.trim() } });
      toast.success(`Silenced ${coversText(chosen.covered)} until ${formatDateTime(data?.ends_at ?? "")}.`);
      setReason("");
      await queryClient.invalidateQueries({ queryKey: LIST_KEY });
    } catch (failure) {
      setErrors(fieldErrors(failure, ALIASES, KNOWN));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="new-silence">
      <h2 id="new-silence" className="mb-3 font-semibold">
        New silence
      </h2>
      <form onSubmit={(event) => void create(event)} className="space-y-4" noValidate>
        <fieldset>
          <legend className="field-label">What to silence</legend>
          <div className="flex flex-wrap gap-x-4 gap-y-2 text-sm">
            {WHAT.map((option) => (
              <label key={option.value} className="inline-flex items-center gap-1.5">
                <input type="radio" name="what" value={option.value} checked={what === option.value} onChange={() => { setWhat(option.value); setErrors({}); }} />
                {option.label}
              </label>
            ))}
          </div>
        </fieldset>

        {what === "job" && (
          <SelectField label="Job" name="job" className="sm:max-w-md" value={chosenJob} onChange={(e) => setJob(e.target.value)} error={errors.job} disabled={list.length === 0} hint={jobs.isPending ? "Loading your jobs…" : list.length === 0 ? "Your team has no job yet." : undefined}>
            {list.map((j) => (
              <option key={j.job} value={j.job}>
                {j.job}
              </option>
            ))}
          </SelectField>
        )}
        {what === "namespace" && (
          <>
            <TextField label="Namespace" name="namespace" className="sm:max-w-md" value={namespace} onChange={(e) => setNamespace(e.target.value)} list="silence-namespaces" autoComplete="off" spellCheck={false} error={errors.namespace} hint={<Catches jobs={list} covered={{ scope: "namespace", namespace: namespace.trim() }} ready={!!namespace.trim()} />} />
            <datalist id="silence-namespaces">
              {namespaces.map((ns) => (
                <option key={ns} value={ns} />
              ))}
            </datalist>
          </>
        )}
        {what === "labels" && (
          <TextField
            label="Labels"
            name="labels"
            className="sm:max-w-md"
            value={labels}
            onChange={(e) => setLabels(e.target.value)}
            placeholder="team=data, tier=batch"
            autoComplete="off"
            spellCheck={false}
            inputClassName="mono"
            error={errors.labels ?? (parsedLabels && "error" in parsedLabels ? parsedLabels.error : undefined)}
            hint={
              parsedLabels && "labels" in parsedLabels ? (
                <Catches jobs={list} covered={{ scope: "labels", match_labels: parsedLabels.labels }} ready />
              ) : (
                "key=value pairs; a job is silenced when its labels include all of them."
              )
            }
          />
        )}
        {what === "team" && <p className="muted text-sm">Every job of the team, and agents going offline.</p>}

        <fieldset>
          <legend className="field-label">Ends</legend>
          <div className="mb-2 flex flex-wrap gap-x-4 gap-y-2 text-sm">
            <label className="inline-flex items-center gap-1.5">
              <input type="radio" name="ends" value="for" checked={ends === "for"} onChange={() => setEnds("for")} />
              After a while
            </label>
            <label className="inline-flex items-center gap-1.5">
              <input type="radio" name="ends" value="until" checked={ends === "until"} onChange={() => setEnds("until")} />
              At a date and time
            </label>
          </div>
          {ends === "for" ? (
            <div className="sm:max-w-md">
              <TextField label="Duration" name="duration" value={duration} onChange={(e) => setDuration(e.target.value)} autoComplete="off" spellCheck={false} error={errors.duration} hint={endsAt ? `Ends ${formatDateTime(endsAt)}.` : "e.g. 30m, 2h, 1h30m or 3d (at most 90 days)."} />
              <div className="mt-1 flex flex-wrap gap-1" role="group" aria-label="Common durations">
                {PRESETS.map((preset) => (
                  <button key={preset} type="button" className={`btn-secondary px-2 py-0.5 text-xs ${duration === preset ? "border-indigo-600 text-indigo-800 dark:border-indigo-400 dark:text-indigo-200" : ""}`} aria-pressed={duration === preset} onClick={() => setDuration(preset)}>
                    {preset}
                  </button>
                ))}
              </div>
            </div>
          ) : (
            <TextField label="Until" name="until" type="datetime-local" className="sm:max-w-md" value={until} onChange={(e) => setUntil(e.target.value)} error={errors.until} hint={`In your time zone (${viewerZone()})${endsAt && endsAt > now ? `: ${span(endsAt - now)} from now.` : "."}`} />
          )}
        </fieldset>

        <TextField label="Reason" name="reason" className="sm:max-w-xl" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={500} placeholder="e.g. planned database migration" error={errors.reason} hint="Shown to the team next to the silence." />
        <FormError message={errors.form} />
        <button type="submit" className="btn-primary" disabled={busy}>
          <BellOff aria-hidden="true" className="size-4" /> Create silence
        </button>
      </form>
    </section>
  );
}

/** What a selector catches among today's jobs (jobs that match later are covered too). */
function Catches({ jobs, covered, ready }: { jobs: Job[]; covered: Parameters<typeof coversJob>[0]; ready: boolean }) {
  if (!ready) return <>Every job of this namespace, now and later.</>;
  const caught = jobs.filter((job) => coversJob(covered, job));
  if (caught.length === 0) return <>No job matches today; jobs that match later are covered too.</>;
  const names = caught.slice(0, 3).map((job) => job.job);
  const more = caught.length > names.length ? ` and ${caught.length - names.length} more` : "";
  return (
    <>
      Covers {caught.length === 1 ? "1 job" : `${caught.length} jobs`} today: {names.join(", ")}
      {more}.
    </>
  );
}

// --- the list ------------------------------------------------------------------------------------

function useAuthors(): (id: string) => { name: string; title?: string } {
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const admin = useRoleAtLeast("admin");
  const members = api.useQuery("get", "/api/members", {}, { staleTime: 60_000 });
  const keys = api.useQuery("get", "/api/api-keys", {}, { staleTime: 60_000, enabled: admin });
  return (id: string) => {
    if (id === me.data?.id) return { name: "you" };
    const member = members.data?.members.find((m) => m.user_id === id);
    if (member) return { name: member.username };
    const key = keys.data?.api_keys.find((k) => k.id === id);
    if (key) return { name: `${key.name} (API key)` };
    if (members.isPending || (admin && keys.isPending)) return { name: "…" };
    return { name: "an API key or former member", title: id };
  };
}

function SilenceList({ list, mayEnd }: { list: Silence[]; mayEnd: boolean }) {
  const now = useNow();
  const authorOf = useAuthors();
  const [ending, setEnding] = useState<Silence | null>(null);
  const current = list.filter((silence) => Date.parse(silence.ends_at) > Math.max(now, Date.now())); // expired while open

  if (current.length === 0) {
    return (
      <Empty title="No silences right now.">
        <p>
          A silence is a maintenance window or a snooze: while it lasts, incidents still open and are kept, marked <b>silenced</b>, but no channel is notified. It covers one job, a namespace, the jobs with some labels, or every job, and
          always ends on its own.
        </p>
        <p className="mt-2">{mayEnd ? "Create one below before a planned migration, or while you fix something you already know about." : "Members, admins and owners can create one."}</p>
      </Empty>
    );
  }
  return (
    <>
      <div className="relative overflow-x-auto">
        <table className="data-table">
          <caption className="sr-only">Current and upcoming silences</caption>
          <thead>
            <tr>
              <th scope="col">Covers</th>
              <th scope="col">Status</th>
              <th scope="col" className="hidden md:table-cell">
                From – until
              </th>
              <th scope="col" className="hidden sm:table-cell">
                By
              </th>
              {mayEnd && (
                <th scope="col" className="hidden sm:table-cell">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {current.map((silence) => (
              <SilenceRow key={silence.id} silence={silence} now={Date.now()} author={authorOf(silence.created_by)} onEnd={mayEnd ? () => setEnding(silence) : undefined} />
            ))}
          </tbody>
        </table>
      </div>
      <EndSilence silence={ending} onClose={() => setEnding(null)} />
    </>
  );
}

function Covers({ silence }: { silence: Silence }) {
  if (silence.job)
    return (
      <Link to={jobPath(silence.job)} className="link mono break-all">
        {silence.job}
      </Link>
    );
  if (silence.namespace)
    return (
      <span>
        namespace <span className="mono">{silence.namespace}</span>
      </span>
    );
  if (Object.keys(silence.match_labels).length > 0)
    return (
      <span className="flex flex-wrap items-center gap-1">
        <span>jobs with</span> <Labels labels={silence.match_labels} />
      </span>
    );
  return <span className="font-medium">every job</span>;
}

function SilenceRow({ silence, now, author, onEnd }: { silence: Silence; now: number; author: { name: string; title?: string }; onEnd: (() => void) | undefined }) {
  const state = remaining(silence.starts_at, silence.ends_at, now);
  const zone = viewerZone();
  return (
    <tr>
      <td className="min-w-40">
        <Covers silence={silence} />
        {silence.reason && <div className="muted mt-0.5 text-xs break-words">{silence.reason}</div>}
      </td>
      <td>
        {state.active ? (
          <span className="inline-flex items-center gap-1 font-medium whitespace-nowrap text-indigo-800 dark:text-indigo-300">
            <BellOff aria-hidden="true" className="size-4 shrink-0" /> active
          </span>
        ) : (
          <span className="inline-flex items-center gap-1 font-medium whitespace-nowrap text-zinc-700 dark:text-zinc-300">
            <Clock aria-hidden="true" className="size-4 shrink-0" /> upcoming
          </span>
        )}
        <div className="text-xs">
          <time dateTime={state.active ? silence.ends_at : silence.starts_at} title={`${formatAbsolute(state.active ? silence.ends_at : silence.starts_at)} (${zone})`}>
            {state.text}
          </time>
        </div>
        {onEnd && <EndButton active={state.active} what={coversText(silence)} onClick={onEnd} className="mt-1 sm:hidden" />}
      </td>
      <td className="hidden text-xs md:table-cell">
        <time dateTime={silence.starts_at} title={`${formatAbsolute(silence.starts_at)} (${zone})`}>
          {formatDateTime(silence.starts_at)}
        </time>
        {" – "}
        <time dateTime={silence.ends_at} title={`${formatAbsolute(silence.ends_at)} (${zone})`}>
          {formatDateTime(silence.ends_at)}
        </time>
      </td>
      <td className="hidden sm:table-cell" title={author.title}>
        {author.name}
      </td>
      {onEnd && (
        <td className="hidden text-right sm:table-cell">
          <EndButton active={state.active} what={coversText(silence)} onClick={onEnd} />
        </td>
      )}
    </tr>
  );
}

function EndButton({ active, what, onClick, className = "" }: { active: boolean; what: string; onClick: () => void; className?: string }) {
  return (
    <button type="button" className={`btn-secondary px-2 py-1 text-sm whitespace-nowrap ${className}`} onClick={onClick} aria-label={`${active ? "End now" : "Drop"}: ${what}`}>
      {active ? "End now" : "Drop"}
    </button>
  );
}

function EndSilence({ silence, onClose }: { silence: Silence | null; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const what = silence ? coversText(silence) : "";
  const started = silence ? Date.parse(silence.starts_at) <= Date.now() : false;

  async function end() {
    if (!silence) return;
    setBusy(true);
    setError(undefined);
    try {
      await client.DELETE("/api/silences/{silence_id}", { params: { path: { silence_id: silence.id } } });
      toast.success(started ? `The silence of ${what} ended; its incidents notify again.` : `The silence of ${what} was dropped.`);
      await queryClient.invalidateQueries({ queryKey: LIST_KEY });
      onClose();
    } catch (failure) {
      if (statusOf(failure) === 404) {
        toast.info(`The silence of ${what} had already ended.`); // by someone else, or it expired
        await queryClient.invalidateQueries({ queryKey: LIST_KEY });
        onClose();
      } else setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <ConfirmDialog
      open={silence !== null}
      onOpenChange={(open) => {
        if (!open) {
          setError(undefined);
          onClose();
        }
      }}
      title={started ? `End the silence of ${what} now?` : `Drop the silence of ${what}?`}
      confirmLabel={started ? "End silence" : "Drop silence"}
      danger
      busy={busy}
      onConfirm={() => void end()}
    >
      <p>
        {started ? "Incidents that open from now on notify your channels again" : "It will not start"}
        {silence && Object.keys(silence.match_labels).length > 0 ? ` for the jobs with ${labelsText(silence.match_labels)}` : ""}.
        {silence?.reason ? ` Its reason was: “${silence.reason}”.` : ""}
      </p>
      <FormError message={error} />
    </ConfirmDialog>
  );
}
