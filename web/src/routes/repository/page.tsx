import { useQueryClient } from "@tanstack/react-query";
import { CircleAlert, CircleCheck, CircleDashed, CircleX, GitBranch, ShieldAlert } from "lucide-react";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";

import { api, client, describeError, type Schemas } from "../../api/client";
import { CopyButton, CopyLine } from "../../components/CopyButton";
import { FormError, SelectField, TextArea, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { fieldErrors, type FieldErrors } from "../../lib/fieldErrors";
import { shortSha } from "../../lib/format";
import { useUrlState } from "../../lib/url";
import { useRoleAtLeast } from "../../api/hooks";
import { SettingsTabs } from "../../components/SectionTabs";
import { connectBody, EMPTY_FORM, GIT_HOSTS, guessHost, stepParts, type ConnectForm, type CredentialKind } from "./connect";

type Repository = Schemas["RepositoryPublic"];

export function Component() {
  useTitle("Repository");
  const repository = api.useQuery("get", "/api/gitops/repository", {});
  // The webhook secret in full, as the PUT answered it: shown this once, then only masked.
  const [fresh, setFresh] = useState<Repository>();
  const admin = useRoleAtLeast("admin");
  return (
    <>
      <PageHeader title="Repository" subtitle="Your team's jobs live in Git: every manifest in this repository is a job." />
      <SettingsTabs />
      <QueryState query={repository}>
        {(repo) => (
          <div className="space-y-4">
            <SyncState repo={repo} />
            {repo.kind === "external" ? <External repo={repo} fresh={fresh} onSeen={() => setFresh(undefined)} /> : <Embedded repo={repo} />}
            {admin ? (
              <Connect repo={repo} onConnected={setFresh} />
            ) : (
              <p className="muted text-sm">Admins and owners connect an external repository (GitHub, GitLab, Gitea, Forgejo or any Git server) here.</p>
            )}
          </div>
        )}
      </QueryState>
    </>
  );
}

function syncLook(repo: Repository) {
  if (repo.last_error) return { word: "sync failing", Icon: CircleX, colour: "text-red-700 dark:text-red-400" };
  if (!repo.last_sync_at) return { word: "not synced yet", Icon: CircleDashed, colour: "text-zinc-600 dark:text-zinc-400" };
  if (repo.errors.length > 0)
    return {
      word: `synced, ${repo.errors.length} ${repo.errors.length === 1 ? "manifest" : "manifests"} with problems`,
      Icon: CircleAlert,
      colour: "text-amber-700 dark:text-amber-400",
    };
  return { word: "synced", Icon: CircleCheck, colour: "text-green-700 dark:text-green-400" };
}

function SyncState({ repo }: { repo: Repository }) {
  const look = syncLook(repo);
  return (
    <section className="card" aria-labelledby="sync">
      <h2 id="sync" className="mb-3 flex flex-wrap items-center gap-x-3 gap-y-1 font-semibold">
        Sync
        <span className={`inline-flex items-center gap-1 text-sm font-medium ${look.colour}`}>
          <look.Icon aria-hidden="true" className="size-4" />
          {look.word}
        </span>
      </h2>
      <dl className="grid grid-cols-[8rem_minmax(0,1fr)] gap-y-2 text-sm">
        <dt className="muted">Repository</dt>
        <dd>{repo.kind === "external" ? "external, mirrored from its Git host" : "embedded, hosted by Crontopus"}</dd>
        <dt className="muted">Branch</dt>
        <dd className="mono break-all">{repo.branch}</dd>
        <dt className="muted">Folder</dt>
        <dd className="mono break-all">{repo.folder || "the whole repository"}</dd>
        <dt className="muted">Head commit</dt>
        <dd className="mono" title={repo.head_commit ?? undefined}>
          {shortSha(repo.head_commit)}
        </dd>
        <dt className="muted">Last sync</dt>
        <dd>
          <RelativeTime value={repo.last_sync_at} empty="never" />
        </dd>
      </dl>
      {repo.last_error && (
        <div role="alert" className="mt-3 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
          <p className="font-semibold">The last sync failed</p>
          <p className="mono mt-1 break-words whitespace-pre-wrap">{repo.last_error}</p>
        </div>
      )}
      {repo.errors.length > 0 && <FileErrors errors={repo.errors} />}
    </section>
  );
}

function FileErrors({ errors }: { errors: Schemas["FileError"][] }) {
  return (
    <div className="mt-4">
      <h3 className="font-medium">Manifests with problems</h3>
      <p className="muted text-sm">These files are skipped until fixed; the other jobs keep running.</p>
      <div className="relative mt-2 overflow-x-auto">
        <table className="data-table">
          <caption className="sr-only">Manifests with problems</caption>
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Problem</th>
            </tr>
          </thead>
          <tbody>
            {errors.map((error, index) => (
              <tr key={index}>
                <td className="mono min-w-36 break-all">
                  {error.file}
                  {error.line ? `:${error.line}` : ""}
                  {error.line ? <span className="sr-only"> (line {error.line})</span> : null}
                </td>
                <td className="break-words text-red-700 dark:text-red-400">
                  {error.field && <span className="mono">{error.field}: </span>}
                  {error.message}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Embedded({ repo }: { repo: Repository }) {
  return (
    <section className="card" aria-labelledby="clone">
      <h2 id="clone" className="mb-1 font-semibold">
        Clone and push
      </h2>
      <p className="muted mb-3 text-sm">A push is synced within a second; a manifest with a problem is listed above with its file and line.</p>
      <div className="space-y-3 text-sm">
        <div>
          <p className="field-label">Clone URL</p>
          <CopyLine label="Copy the clone URL" text={repo.clone_url} />
        </div>
        <ol className="list-decimal space-y-3 pl-5">
          <li>
            Clone it:
            <CopyLine label="Copy the clone command" text={`git clone ${repo.clone_url} crontopus-jobs`} />
          </li>
          <li>
            Add or edit a manifest, one job per file: <span className="mono">&lt;namespace&gt;/&lt;name&gt;.yaml</span>
            {repo.folder && (
              <>
                {" "}
                under <span className="mono">{repo.folder}/</span>
              </>
            )}
            .
          </li>
          <li>
            Check it before pushing (optional):
            <CopyLine label="Copy the validate command" text="crontopus jobs validate ." />
          </li>
          <li>
            Commit and push to <span className="mono">{repo.branch}</span>:
            <CopyLine label="Copy the push command" text={`git add . && git commit -m "Add my job" && git push origin ${repo.branch}`} />
          </li>
        </ol>
      </div>
    </section>
  );
}

function External({ repo, fresh, onSeen }: { repo: Repository; fresh: Repository | undefined; onSeen: () => void }) {
  const { get, set } = useUrlState();
  const host = GIT_HOSTS.find((h) => h.id === get("host")) ?? GIT_HOSTS.find((h) => h.id === guessHost(repo.clone_url)) ?? GIT_HOSTS[0]!;
  const secret = fresh?.webhook_secret ?? undefined;
  const values = { url: repo.webhook_url ?? "", secret: secret ?? repo.webhook_secret ?? "", branch: repo.branch };
  return (
    <>
      <section className="card" aria-labelledby="remote">
        <h2 id="remote" className="mb-3 font-semibold">
          Git host
        </h2>
        <dl className="grid grid-cols-[8rem_minmax(0,1fr)] gap-y-2 text-sm">
          <dt className="muted">Clone URL</dt>
          <dd className="flex min-w-0 items-start gap-2">
            <span className="mono min-w-0 flex-1 break-all">{repo.clone_url}</span>
            <CopyButton text={repo.clone_url} label="Copy the clone URL" />
          </dd>
          <dt className="muted">Credentials</dt>
          <dd>{repo.credentials ? `${repo.credentials} (stored encrypted, never shown)` : "none: a public repository"}</dd>
        </dl>
        <p className="muted mt-3 text-sm">Jobs are edited in the Git host (or here, where each change is a commit pushed to it).</p>
      </section>
      <section className="card" aria-labelledby="webhook">
        <h2 id="webhook" className="mb-1 font-semibold">
          Push webhook
        </h2>
        <p className="muted mb-3 text-sm">
          With a webhook, a push is synced at once; without one, Crontopus fetches the repository on a timer (every 30 seconds unless the operator set
          otherwise).
        </p>
        {secret && (
          <div className="mb-3 rounded-md border-2 border-amber-400 bg-amber-50 p-3 text-sm text-amber-950 dark:border-amber-600 dark:bg-amber-950 dark:text-amber-50">
            <p className="flex items-start gap-2 font-medium">
              <ShieldAlert aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
              Copy the webhook secret now: it will not be shown again (afterwards only its last characters).
            </p>
            <button type="button" className="btn-secondary mt-2" onClick={onSeen}>
              I have copied it
            </button>
          </div>
        )}
        <div className="space-y-3 text-sm">
          <div>
            <p className="field-label">Webhook URL</p>
            <CopyLine label="Copy the webhook URL" text={values.url} />
          </div>
          <div>
            <p className="field-label">Webhook secret</p>
            {secret ? (
              <CopyLine label="Copy the webhook secret" text={secret} />
            ) : (
              <p>
                <span className="mono">{repo.webhook_secret ?? "—"}</span>{" "}
                <span className="muted">(masked: it was shown once, when the repository was connected; connect again below for a new one)</span>
              </p>
            )}
          </div>
        </div>
        <div className="mt-4">
          <div role="group" aria-label="Git host" className="flex flex-wrap gap-1">
            {GIT_HOSTS.map((h) => (
              <button
                key={h.id}
                type="button"
                aria-pressed={h.id === host.id}
                className={h.id === host.id ? "btn-primary" : "btn-secondary"}
                onClick={() => set({ host: h.id })}
              >
                {h.name}
              </button>
            ))}
          </div>
          <h3 className="mt-3 font-medium">Set up the webhook on {host.name}</h3>
          <ol className="mt-2 list-decimal space-y-2 pl-5 text-sm">
            {host.steps.map((step, index) => (
              <li key={index}>
                {stepParts(step).map((part, i) =>
                  part.slot === "url" ? (
                    <span key={i} className="mono break-all">
                      {values.url}
                    </span>
                  ) : part.slot === "secret" ? (
                    <span key={i}>{secret ? "the webhook secret above" : `the secret shown when the repository was connected (${values.secret})`}</span>
                  ) : part.slot === "branch" ? (
                    <span key={i} className="mono">
                      {values.branch}
                    </span>
                  ) : (
                    <span key={i}>{part.text}</span>
                  ),
                )}
              </li>
            ))}
          </ol>
          <p className="muted mt-2 text-sm">
            Crontopus checks the <span className="mono">{host.header}</span> header: {host.how}. Other hosts (Bitbucket, a plain Git server) have no webhook
            it verifies; the timed fetch picks up their pushes.
          </p>
        </div>
      </section>
    </>
  );
}

const CREDENTIALS: Record<CredentialKind, string> = {
  none: "None (a public repository)",
  token: "Access token",
  basic: "Username and password",
  ssh: "SSH key",
};

function Connect({ repo, onConnected }: { repo: Repository; onConnected: (repo: Repository) => void }) {
  const queryClient = useQueryClient();
  const [form, setForm] = useState<ConnectForm>(() => (repo.kind === "external" ? { ...EMPTY_FORM, url: repo.clone_url, branch: repo.branch, folder: repo.folder } : EMPTY_FORM));
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const field = <K extends keyof ConnectForm>(key: K) => ({
    value: form[key],
    onChange: (event: { target: { value: string } }) => setForm((was) => ({ ...was, [key]: event.target.value })),
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      const { data } = await client.PUT("/api/gitops/repository", { body: connectBody(form) as Schemas["RepositoryUpdate"] });
      // The secrets leave the page the moment the server has them (write-only, never shown back).
      setForm((was) => ({ ...was, token: "", password: "", privateKey: "", passphrase: "", webhookSecret: "" }));
      if (data) {
        onConnected(data);
        queryClient.setQueryData(["get", "/api/gitops/repository", {}], { ...data, webhook_secret: null });
      }
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/gitops/repository"] });
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/jobs"] });
      toast.success("Repository connected: its jobs are synced. Now set up the push webhook.");
      document.getElementById("webhook")?.scrollIntoView({ block: "start" });
    } catch (failure) {
      const found = fieldErrors(failure, { private_key: "privateKey", webhook_secret: "webhookSecret" }, ["url", "branch", "folder", "credentials", "privateKey", "webhookSecret"]);
      setErrors(Object.keys(found).length > 0 ? found : { form: describeError(failure) });
    } finally {
      setBusy(false);
    }
  }

  const external = repo.kind === "external";
  return (
    <section className="card" aria-labelledby="connect">
      <h2 id="connect" className="mb-1 flex items-center gap-2 font-semibold">
        <GitBranch aria-hidden="true" className="size-4" />
        {external ? "Change the external repository" : "Use an external repository"}
      </h2>
      <p className="muted mb-3 text-sm">
        {external
          ? "Saving connects again: give the credentials again (they are never shown back), and update the webhook secret in the Git host unless you enter the same one."
          : "Keep your jobs on GitHub, GitLab, Gitea, Forgejo or any Git server instead of here. The repository is fetched once to check it; nothing changes if that fails. Its manifests replace the ones here."}
      </p>
      <form aria-labelledby="connect" onSubmit={(event) => void submit(event)} className="grid gap-3 sm:grid-cols-2" noValidate>
        <TextField
          label="Repository URL"
          className="sm:col-span-2"
          required
          inputClassName="mono"
          placeholder="https://github.com/acme/cron-jobs.git"
          autoComplete="off"
          spellCheck={false}
          {...field("url")}
          error={errors.url}
          hint="An https:// or ssh:// clone URL (ssh://git@host/owner/repo.git; not the scp-like git@host:repo)."
        />
        <TextField label="Branch" required inputClassName="mono" autoComplete="off" {...field("branch")} error={errors.branch} />
        <TextField label="Folder" inputClassName="mono" autoComplete="off" placeholder="the whole repository" {...field("folder")} error={errors.folder} hint="Where the manifests are, e.g. cron/." />
        <SelectField label="Credentials" className="sm:col-span-2" {...field("credentials")} error={errors.credentials} hint="Write-only: stored encrypted and never shown back.">
          {Object.entries(CREDENTIALS).map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </SelectField>
        {form.credentials === "token" && (
          <>
            <TextField label="Token" type="password" required autoComplete="new-password" {...field("token")} hint="A read-only deploy token is enough, unless jobs are edited here." />
            <TextField label="Token username" autoComplete="off" placeholder="x-access-token" {...field("username")} hint="GitLab: the token's name or oauth2." />
          </>
        )}
        {form.credentials === "basic" && (
          <>
            <TextField label="Username" required autoComplete="off" {...field("username")} />
            <TextField label="Password" type="password" required autoComplete="new-password" {...field("password")} />
          </>
        )}
        {form.credentials === "ssh" && (
          <>
            <TextArea label="Private key" className="sm:col-span-2" required rows={5} spellCheck={false} placeholder="-----BEGIN OPENSSH PRIVATE KEY-----" {...field("privateKey")} error={errors.privateKey} />
            <TextField label="Key passphrase" type="password" autoComplete="new-password" {...field("passphrase")} />
            <TextField label="SSH username" autoComplete="off" placeholder="git" {...field("username")} />
          </>
        )}
        <TextField
          label="Webhook secret"
          className="sm:col-span-2"
          type="password"
          autoComplete="new-password"
          {...field("webhookSecret")}
          error={errors.webhookSecret}
          hint="At least 16 characters; leave it empty and Crontopus makes one (shown once, after connecting)."
        />
        <div className="sm:col-span-2">
          <FormError message={errors.form} />
        </div>
        <div className="sm:col-span-2">
          <button type="submit" className="btn-primary" disabled={busy || !form.url.trim()}>
            {busy ? "Connecting…" : external ? "Connect again" : "Connect repository"}
          </button>
        </div>
      </form>
    </section>
  );
}
