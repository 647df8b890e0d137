import * as Dialog from "@radix-ui/react-dialog";
import { Plus, TriangleAlert, X } from "lucide-react";
import { useId, useState, type FormEvent, type ReactNode } from "react";
import { toast } from "sonner";

import { client, describeError, type Schemas } from "../../api/client";
import { CopyButton, CopyLine } from "../../components/CopyButton";
import { FormError, SelectField, TextField } from "../../components/Field";
import { RelativeTime } from "../../components/Time";
import { formatAbsolute } from "../../lib/format";
import { containerCommands, DEFAULT_IMAGE, CONTAINER_NAME, isLoopback, linuxCommands, parseLabels, windowsCommands } from "./commands";

const LIFETIMES = [
  { seconds: 3600, label: "1 hour" },
  { seconds: 86_400, label: "1 day" },
  { seconds: 7 * 86_400, label: "7 days" },
] as const;

/** "Add an agent": a one-time enrollment token, and the commands that use it on a host. */
export function AddAgent() {
  const [open, setOpen] = useState(false);
  const [created, setCreated] = useState<Schemas["EnrollmentTokenCreated"]>();
  function onOpenChange(next: boolean) {
    setOpen(next);
    if (!next) setCreated(undefined); // the token is shown once: closing forgets it
  }
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Trigger className="btn-primary">
        <Plus aria-hidden="true" className="size-4" /> Add an agent
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 z-40 bg-black/40" />
        <Dialog.Content className="fixed top-1/2 left-1/2 z-50 max-h-[calc(100dvh-1rem)] w-[min(48rem,calc(100vw-1rem))] -translate-x-1/2 -translate-y-1/2 overflow-y-auto rounded-lg bg-white p-4 shadow-xl sm:p-5 dark:bg-zinc-900">
          <div className="flex items-start justify-between gap-2">
            <Dialog.Title className="text-lg font-semibold">Add an agent</Dialog.Title>
            <Dialog.Close className="btn-ghost -mt-1 -mr-1 px-2" aria-label="Close">
              <X aria-hidden="true" className="size-4" />
            </Dialog.Close>
          </div>
          {created ? <Commands created={created} /> : <TokenForm onCreated={setCreated} />}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}

function TokenForm({ onCreated }: { onCreated: (token: Schemas["EnrollmentTokenCreated"]) => void }) {
  const [labels, setLabels] = useState("");
  const [lifetime, setLifetime] = useState<number>(3600);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const parsed = parseLabels(labels);

  async function create(event: FormEvent) {
    event.preventDefault();
    if (parsed.error) return;
    setBusy(true);
    setError(undefined);
    try {
      const { data } = await client.POST("/api/agents/enrollment-tokens", { body: { ttl_seconds: lifetime, max_uses: 1, labels: parsed.labels } });
      if (data) {
        onCreated(data);
        toast.success("Enrollment token created: copy the commands now, it is not shown again.");
      }
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form aria-label="New enrollment token" onSubmit={(event) => void create(event)} className="mt-2 space-y-3" noValidate>
      <Dialog.Description className="text-sm text-zinc-700 dark:text-zinc-300">
        An agent runs your team's jobs on a host: it reads them from Git and writes them into the host's scheduler. To enroll one, create a
        one-time token; the next step shows the commands to paste on the host.
      </Dialog.Description>
      <TextField
        label="Labels"
        placeholder="role=db, zone=eu"
        value={labels}
        onChange={(e) => setLabels(e.target.value)}
        error={parsed.error}
        hint="key=value, separated by commas or spaces. The agent gets them; a job's spec.target.matchLabels picks the agents it runs on. Optional."
      />
      <SelectField label="Token valid for" value={String(lifetime)} onChange={(e) => setLifetime(Number(e.target.value))} hint="It enrolls one agent, once.">
        {LIFETIMES.map((l) => (
          <option key={l.seconds} value={l.seconds}>
            {l.label}
          </option>
        ))}
      </SelectField>
      <FormError message={error} />
      <div className="flex justify-end gap-2">
        <Dialog.Close className="btn-secondary">Cancel</Dialog.Close>
        <button type="submit" className="btn-primary" disabled={busy || Boolean(parsed.error)}>
          Create enrollment token
        </button>
      </div>
    </form>
  );
}

function Commands({ created }: { created: Schemas["EnrollmentTokenCreated"] }) {
  const server = window.location.origin;
  const [name, setName] = useState("");
  const [image, setImage] = useState(DEFAULT_IMAGE);
  const input = { server, token: created.token, name, image };
  return (
    <div className="mt-2 space-y-4">
      <Dialog.Description className="text-sm text-zinc-700 dark:text-zinc-300">
        This token enrolls one agent until {formatAbsolute(created.expires_at)} (<RelativeTime value={created.expires_at} />). It is shown only now: copy the
        commands before you close this.
      </Dialog.Description>
      <div>
        <p className="field-label">Enrollment token</p>
        <CopyLine text={created.token} label="Copy the enrollment token" />
      </div>
      <TextField
        label="Agent name"
        placeholder="the host's name"
        value={name}
        onChange={(e) => setName(e.target.value)}
        hint={`Optional: letters, digits, '.', '_' and '-'; unique among the team's agents. Without it the agent takes the host's name (in a container: ${CONTAINER_NAME}).`}
      />
      {isLoopback(server) && (
        <p className="flex gap-2 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-100">
          <TriangleAlert aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
          <span>
            You reach this server at {server}, which only this machine can. Another host needs an address it reaches, NATS and a jobs repository it can read
            (docs/deployment.md, "Agents").
          </span>
        </p>
      )}
      <CommandBlock title="Linux with cron" copyLabel="Copy the Linux commands" text={linuxCommands(input)}>
        Jobs run as root, from root's crontab; systemd keeps the agent running and starts it at boot (docs/agents.md, "Running the agent as a service").
      </CommandBlock>
      <CommandBlock title="Container, built-in scheduler" copyLabel="Copy the container commands" text={containerCommands(input)}>
        <TextField
          className="mb-2 max-w-sm"
          label="Container image"
          value={image}
          onChange={(e) => setImage(e.target.value)}
          hint="Yours: Python 3.11+, the agent and the programs the jobs call. The agent starts the jobs itself; the volume keeps its credentials and spool."
        />
      </CommandBlock>
      <CommandBlock title="Windows (Task Scheduler)" copyLabel="Copy the Windows commands" text={windowsCommands(input)}>
        Not yet run on Windows: the Task Scheduler backend and the run wrapper are tested on Linux only (docs/agents.md, "Known limits").
      </CommandBlock>
      <p className="muted text-sm">The new agent appears in the list as soon as it enrolls, and turns online when it starts.</p>
      <div className="flex justify-end">
        <Dialog.Close className="btn-primary">
          Done
        </Dialog.Close>
      </div>
    </div>
  );
}

function CommandBlock({ title, copyLabel, text, children }: { title: string; copyLabel: string; text: string; children: ReactNode }) {
  const id = useId();
  return (
    <section aria-labelledby={id} className="rounded-md border border-zinc-200 p-3 dark:border-zinc-800">
      <div className="mb-2 flex items-center justify-between gap-2">
        <h3 id={id} className="font-semibold">
          {title}
        </h3>
        <CopyButton text={text} label={copyLabel} />
      </div>
      <div className="muted mb-2 text-sm">{children}</div>
      <pre tabIndex={0} className="mono overflow-x-auto rounded-md bg-zinc-100 px-2.5 py-2 whitespace-pre-wrap [overflow-wrap:anywhere] dark:bg-zinc-800">
        <code>{text}</code>
      </pre>
    </section>
  );
}
