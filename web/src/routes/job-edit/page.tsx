import { useQueryClient } from "@tanstack/react-query";
import { useId, useMemo, useState } from "react";
import { Link, useBlocker, useNavigate, useParams } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, statusOf, type Schemas } from "../../api/client";
import { useRoleCheck } from "../../api/hooks";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { Diff } from "../../components/Diff";
import { FormError, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { ErrorState, Loading, NotAllowed } from "../../components/States";
import { Yaml, type LineProblem } from "../../components/Yaml";
import { shortSha } from "../../lib/format";
import { jobDocument, parseProblems, type Problem } from "../../lib/manifest";

export function Component() {
  const { namespace = "", name = "" } = useParams();
  useTitle(`Edit ${namespace}/${name}`);
  const job = api.useQuery("get", "/api/jobs/{namespace}/{name}", { params: { path: { namespace, name } } }, { staleTime: Infinity });
  const mayEdit = useRoleCheck("member");
  if (mayEdit === false) {
    return (
      <>
        <PageHeader title={`Edit ${namespace}/${name}`} />
        <NotAllowed what="change jobs">
          <Link to={`/jobs/${namespace}/${name}`} className="link">
            Back to the job
          </Link>
        </NotAllowed>
      </>
    );
  }
  if (job.isPending || mayEdit === undefined) return <Loading label="Loading the manifest…" />;
  if (job.isError) return <ErrorState error={job.error} retry={() => void job.refetch()} />;
  return <Editor key={job.data.job} job={job.data} />;
}

/** The job's own document: what the editor shows and a PUT replaces (its file may hold others). */
function documentOf(job: Schemas["JobDetail"]): string {
  return jobDocument(job.yaml, job.namespace, job.name).text;
}

/** The server's 409 without its advice ("reload and retry"): this page offers its own way out
 * (keep my text, or discard it), and a reload would lose the text the panel promises to keep. */
export function conflictMessage(detail: string): string {
  const said = detail
    .replace(/:\s*reload and retry\.?$/i, "")
    .replace(/\b[0-9a-f]{40}\b/g, (sha) => shortSha(sha)) // as the panel writes commits
    .trim();
  return /[.!?]$/.test(said) ? said : `${said}.`;
}

interface Conflict {
  newer: Schemas["JobDetail"] | null;
  message: string;
}

function Editor({ job }: { job: Schemas["JobDetail"] }) {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const path = { namespace: job.namespace, name: job.name };
  // The copy the user started from; the text is theirs from here on (a refetch never replaces it).
  const [base, setBase] = useState(() => ({ commit: job.commit, yaml: documentOf(job) }));
  const [text, setText] = useState(base.yaml);
  const [message, setMessage] = useState("");
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<string>();
  const [conflict, setConflict] = useState<Conflict | null>(null);
  const [saving, setSaving] = useState(false);
  const problemsId = useId();
  const dirty = text !== base.yaml;
  const blocker = useBlocker(({ currentLocation, nextLocation }) => dirty && !saving && currentLocation.pathname !== nextLocation.pathname);

  const lineProblems = useMemo<LineProblem[]>(
    () => problems.filter((p) => p.line !== null).map((p) => ({ line: p.line ?? 1, message: p.field ? `${p.field}: ${p.message}` : p.message })),
    [problems],
  );

  async function save() {
    setSaving(true);
    setError(undefined);
    setProblems([]);
    try {
      const { data } = await client.PUT("/api/jobs/{namespace}/{name}", {
        params: { path },
        body: { manifest: text, base_commit: base.commit, message: message.trim() || null },
      });
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/jobs"] });
      queryClient.setQueryData(["get", "/api/jobs/{namespace}/{name}", { params: { path } }], data);
      toast.success(`Committed ${shortSha(data?.commit)}: ${job.job} updated.`);
      setBase({ commit: data?.commit ?? base.commit, yaml: text });
      void navigate(`/jobs/${job.namespace}/${job.name}`);
    } catch (failure) {
      await showFailure(failure);
    } finally {
      setSaving(false);
    }
  }

  async function showFailure(failure: unknown) {
    const status = statusOf(failure);
    if (status === 422) {
      setProblems(parseProblems(describeError(failure)));
      return;
    }
    if (status === 409) {
      // Someone committed meanwhile: fetch their version, keep the user's text.
      const newer = await client.GET("/api/jobs/{namespace}/{name}", { params: { path } }).then((r) => r.data ?? null, () => null);
      setConflict({ newer, message: conflictMessage(describeError(failure)) });
      return;
    }
    setError(describeError(failure));
  }

  function rebase(onto: Schemas["JobDetail"], keepMine: boolean) {
    setBase({ commit: onto.commit, yaml: documentOf(onto) });
    if (!keepMine) setText(documentOf(onto));
    setConflict(null);
  }

  return (
    <>
      <PageHeader
        title={`Edit ${job.job}`}
        subtitle={
          <>
            Saving commits <span className="mono">{job.file}</span> to your team's repository, based on commit{" "}
            <span className="mono">{shortSha(base.commit)}</span>.
          </>
        }
        actions={
          <Link to={`/jobs/${job.namespace}/${job.name}`} className="btn-secondary">
            Cancel
          </Link>
        }
      />
      {conflict && <ConflictPanel conflict={conflict} mine={text} onRebase={rebase} />}
      <FormError message={error} />
      {problems.length > 0 && (
        <div id={problemsId} role="alert" className="mb-3 rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
          <p className="font-semibold">The server refused this manifest:</p>
          <ul className="mt-1 list-disc pl-5">
            {problems.map((p, i) => (
              <li key={i}>
                {p.line !== null && <span className="font-medium">line {p.line}: </span>}
                {p.field && <span className="mono">{p.field}: </span>}
                {p.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      <Yaml label="Manifest (YAML)" value={text} onChange={setText} problems={lineProblems} describedBy={problems.length ? problemsId : undefined} />
      <section aria-labelledby="changes" className="mt-4">
        <h2 id="changes" className="mb-2 font-semibold">
          Changes to commit
        </h2>
        <Diff before={base.yaml} after={text} label="Changes to the manifest" />
      </section>
      <form
        className="mt-4 flex flex-col gap-3 sm:flex-row sm:items-end"
        onSubmit={(event) => {
          event.preventDefault();
          void save();
        }}
      >
        <TextField className="flex-1" label="Commit message" placeholder={`Update ${job.job}`} value={message} onChange={(e) => setMessage(e.target.value)} hint="Optional: added below the first line of the commit message." />
        <button type="submit" className="btn-primary sm:mb-5" disabled={!dirty || saving}>
          {saving ? "Committing…" : "Commit changes"}
        </button>
      </form>
      <ConfirmDialog
        open={blocker.state === "blocked"}
        onOpenChange={(open) => {
          if (!open) blocker.reset?.();
        }}
        title="Leave without committing?"
        confirmLabel="Discard and leave"
        danger
        onConfirm={() => blocker.proceed?.()}
      >
        <p>Your changes to {job.job} are not saved anywhere.</p>
      </ConfirmDialog>
    </>
  );
}

function ConflictPanel({ conflict, mine, onRebase }: { conflict: Conflict; mine: string; onRebase: (onto: Schemas["JobDetail"], keepMine: boolean) => void }) {
  const newer = conflict.newer;
  const latest = newer?.history[0];
  return (
    <section role="alert" aria-labelledby="conflict-title" className="mb-4 rounded-md border border-amber-400 bg-amber-50 p-4 text-sm text-amber-950 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-50">
      <h2 id="conflict-title" className="font-semibold">
        Someone changed this job while you were editing
      </h2>
      <p className="mt-1">{conflict.message}</p>
      {newer ? (
        <>
          <p className="mt-1">
            The newest version is commit <span className="mono">{shortSha(newer.commit)}</span>
            {latest ? ` by ${latest.author}: "${latest.message}"` : ""}. Your text is kept below. Here is what differs between the newer
            version and your text:
          </p>
          <div className="mt-2">
            <Diff before={documentOf(newer)} after={mine} label="The newer version against your text" />
          </div>
          <div className="mt-3 flex flex-wrap gap-2">
            <button type="button" className="btn-primary" onClick={() => onRebase(newer, true)}>
              Keep my text and commit it over the newer version
            </button>
            <button type="button" className="btn-secondary" onClick={() => onRebase(newer, false)}>
              Discard my text and load the newer version
            </button>
          </div>
        </>
      ) : (
        <p className="mt-1">The job was deleted or cannot be loaded now; copy your text before leaving.</p>
      )}
    </section>
  );
}
