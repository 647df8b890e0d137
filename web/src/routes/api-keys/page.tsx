import { useQueryClient } from "@tanstack/react-query";
import { Eye, KeyRound, PencilLine, ShieldAlert, Trash2 } from "lucide-react";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { toast } from "sonner";

import { api, client, describeError, type Schemas } from "../../api/client";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { CopyButton, CopyLine } from "../../components/CopyButton";
import { FormError, SelectField, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, Loading, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { fieldErrors, type FieldErrors } from "../../lib/fieldErrors";
import { useRoleAtLeast } from "../../api/hooks";
import { SettingsTabs } from "../../components/SectionTabs";

type Key = Schemas["ApiKeyPublic"];
type Scope = Key["scope"];

const SCOPES: Record<Scope, { about: string; Icon: typeof Eye }> = {
  read: { about: "read: queries only (jobs, runs, agents, incidents)", Icon: Eye },
  write: { about: "write: also changes jobs and reports runs (check-ins)", Icon: PencilLine },
};

export function Component() {
  useTitle("API keys");
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const admin = useRoleAtLeast("admin");
  return (
    <>
      <PageHeader title="API keys" subtitle="Keys let scripts, hosts and the CLI call the API for this team without anyone's password." />
      <SettingsTabs />
      {me.isPending ? (
        <Loading />
      ) : admin ? (
        <Keys />
      ) : (
        <Empty title="Only admins and owners manage API keys.">
          Ask one of your team's admins for a key, or for the admin role on the Members tab.
        </Empty>
      )}
    </>
  );
}

function Keys() {
  const keys = api.useQuery("get", "/api/api-keys", {});
  const [created, setCreated] = useState<Schemas["ApiKeyCreated"]>();
  return (
    <div className="space-y-4">
      {created && <NewKey created={created} onDone={() => setCreated(undefined)} />}
      <CreateKey onCreated={setCreated} />
      <section className="card" aria-labelledby="keys">
        <h2 id="keys" className="mb-3 font-semibold">
          Keys
        </h2>
        <QueryState query={keys}>{({ api_keys: list }) => (list.length === 0 ? <NoKeys /> : <KeyTable list={list} />)}</QueryState>
      </section>
    </div>
  );
}

function NoKeys() {
  return (
    <Empty title="No API keys yet.">
      <p>Create one above for a host or script that reports runs, or from a terminal:</p>
      <div className="mt-2">
        <CopyLine label="Copy the command" text="crontopus api-keys create backup-host --scope write" />
      </div>
    </Empty>
  );
}

function CreateKey({ onCreated }: { onCreated: (key: Schemas["ApiKeyCreated"]) => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [scope, setScope] = useState<Scope>("read");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    try {
      const { data } = await client.POST("/api/api-keys", { body: { name: name.trim(), scope } });
      if (data) onCreated(data);
      setName("");
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/api-keys"] });
    } catch (failure) {
      const found = fieldErrors(failure, {}, ["name", "scope"]);
      setErrors(Object.keys(found).length > 0 ? found : { form: describeError(failure) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="create-key">
      <h2 id="create-key" className="mb-3 font-semibold">
        Create a key
      </h2>
      <form aria-labelledby="create-key" onSubmit={(event) => void submit(event)} className="grid gap-3 sm:grid-cols-[1fr_14rem_auto] sm:items-start" noValidate>
        <TextField
          label="Key name"
          name="name"
          required
          maxLength={100}
          value={name}
          onChange={(event) => setName(event.target.value)}
          error={errors.name}
          hint="Where it is used, e.g. backup-host or ci-deploy."
        />
        <SelectField label="Scope" name="scope" value={scope} onChange={(event) => setScope(event.target.value as Scope)} error={errors.scope} hint={SCOPES[scope].about}>
          <option value="read">read</option>
          <option value="write">write</option>
        </SelectField>
        <button type="submit" className="btn-primary sm:mt-6" disabled={busy || !name.trim()}>
          <KeyRound aria-hidden="true" className="size-4" />
          Create key
        </button>
        <div className="sm:col-span-3">
          <FormError message={errors.form} />
        </div>
      </form>
    </section>
  );
}

/** The key itself, this once: the server keeps only its hash. */
function NewKey({ created, onDone }: { created: Schemas["ApiKeyCreated"]; onDone: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [created.id]);
  const origin = window.location.origin;
  return (
    <section
      className="rounded-lg border-2 border-amber-400 bg-amber-50 p-4 text-amber-950 dark:border-amber-600 dark:bg-amber-950 dark:text-amber-50"
      aria-labelledby="new-key"
    >
      <h2 id="new-key" ref={heading} tabIndex={-1} className="font-semibold">
        Key “{created.name}” created ({created.scope})
      </h2>
      <p className="mt-1 flex items-start gap-2 text-sm font-medium">
        <ShieldAlert aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
        Copy it now: it will not be shown again. Crontopus keeps only a hash of it; if it is lost, create another and revoke this one.
      </p>
      <div className="mt-3 flex items-end gap-2">
        <TextField label="New key" readOnly value={created.key} className="min-w-0 flex-1" inputClassName="mono" onFocus={(event) => event.target.select()} />
        <CopyButton text={created.key} label="Copy the key" />
      </div>
      <p className="mt-3 text-sm">Send it as a bearer token (or as the X-Api-Key header):</p>
      <div className="mt-1 text-sm">
        <CopyLine label="Copy the curl line" text={`curl -H "Authorization: Bearer ${created.key}" ${origin}/api/jobs`} />
      </div>
      <button type="button" className="btn-secondary mt-3" onClick={onDone}>
        I have copied it
      </button>
    </section>
  );
}

function KeyTable({ list }: { list: Key[] }) {
  const queryClient = useQueryClient();
  const [revoking, setRevoking] = useState<Key>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function revoke() {
    if (!revoking) return;
    setBusy(true);
    setError(undefined);
    try {
      await client.DELETE("/api/api-keys/{key_id}", { params: { path: { key_id: revoking.id } } });
      toast.success(`Key ${revoking.name} revoked: it no longer works.`);
      setRevoking(undefined);
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/api-keys"] });
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <div className="relative overflow-x-auto">
        <table className="data-table">
          <caption className="sr-only">API keys</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Scope</th>
              <th scope="col" className="hidden sm:table-cell">
                Prefix
              </th>
              <th scope="col" className="hidden md:table-cell">
                Created by
              </th>
              <th scope="col" className="hidden md:table-cell">
                Created
              </th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((key) => {
              const { Icon } = SCOPES[key.scope];
              return (
                <tr key={key.id}>
                  <td className="break-all">{key.name}</td>
                  <td>
                    <span className="inline-flex items-center gap-1 whitespace-nowrap">
                      <Icon aria-hidden="true" className="size-4" />
                      {key.scope}
                    </span>
                  </td>
                  <td className="mono hidden sm:table-cell">{key.prefix}…</td>
                  <td className="hidden md:table-cell">{key.created_by ?? "—"}</td>
                  <td className="hidden md:table-cell">
                    <RelativeTime value={key.created_at} />
                  </td>
                  <td>
                    <RelativeTime value={key.last_used_at} empty="never" />
                  </td>
                  <td className="text-right">
                    <button
                      type="button"
                      className="btn-ghost px-2 text-sm"
                      aria-label={`Revoke ${key.name}`}
                      onClick={() => {
                        setError(undefined);
                        setRevoking(key);
                      }}>
                      <Trash2 aria-hidden="true" className="size-4" />
                      Revoke
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ConfirmDialog
        open={revoking !== undefined}
        onOpenChange={(open) => !open && setRevoking(undefined)}
        title={`Revoke ${revoking?.name ?? ""}?`}
        confirmLabel={`Revoke ${revoking?.name ?? ""}`}
        onConfirm={() => void revoke()}
        danger
        busy={busy}
      >
        <p>
          Scripts and hosts using the key <b>{revoking?.name}</b> (<span className="mono">{revoking?.prefix}…</span>) are refused from now on. This cannot be undone.
        </p>
        {error && <p className="field-error">{error}</p>}
      </ConfirmDialog>
    </>
  );
}
