/**
 * The command palette's dialog (cmdk in a Radix dialog): jump to any page, job, agent or run.
 * Loaded on first open (src/components/CommandPalette.tsx), so the first visit does not pay for it.
 * Its entries are options of a listbox, never links: the main navigation stays the only place
 * with links named after the console's sections (docs/console.md).
 */
import * as Dialog from "@radix-ui/react-dialog";
import { Command } from "cmdk";
import { CalendarClock, FileText, Server, type LucideIcon } from "lucide-react";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { useNavigate } from "react-router";

import { api, describeError } from "../../api/client";
import { roleAtLeast } from "../../api/hooks";
import { PALETTE_PAGES, rank, runIdIn, type Entry } from "./palette";

export default function PaletteDialog({ open, onOpenChange }: { open: boolean; onOpenChange: (open: boolean) => void }) {
  // Where focus goes back to on close: Radix would send it to a Dialog.Trigger, and there is none
  // (a button and a shortcut open it). Taken before the dialog moves focus into itself.
  const returnTo = useRef<Element | null>(null);
  useLayoutEffect(() => {
    if (open) returnTo.current = document.activeElement;
  }, [open]);
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 z-40 bg-black/40" />
        <Dialog.Content
          aria-describedby={undefined}
          onCloseAutoFocus={(event) => {
            event.preventDefault();
            const target = returnTo.current;
            if (target instanceof HTMLElement && target.isConnected) target.focus();
          }}
          className="fixed top-[10vh] left-1/2 z-50 w-[min(40rem,calc(100vw-1.5rem))] -translate-x-1/2 overflow-hidden rounded-lg border border-zinc-200 bg-white shadow-2xl dark:border-zinc-700 dark:bg-zinc-900"
        >
          <Dialog.Title className="sr-only">Command palette</Dialog.Title>
          <Palette close={() => onOpenChange(false)} />
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}

const itemClass =
  "flex cursor-pointer items-center gap-2 rounded-md px-3 py-2 text-sm text-zinc-800 data-[selected=true]:bg-indigo-50 data-[selected=true]:text-indigo-900 dark:text-zinc-200 dark:data-[selected=true]:bg-indigo-950 dark:data-[selected=true]:text-indigo-100";
const groupClass =
  "mb-1 [&_[cmdk-group-heading]]:px-3 [&_[cmdk-group-heading]]:pt-2 [&_[cmdk-group-heading]]:pb-1 [&_[cmdk-group-heading]]:text-xs [&_[cmdk-group-heading]]:font-semibold [&_[cmdk-group-heading]]:tracking-wide [&_[cmdk-group-heading]]:text-zinc-600 [&_[cmdk-group-heading]]:uppercase dark:[&_[cmdk-group-heading]]:text-zinc-400";

const ICONS: Record<Entry["group"], LucideIcon> = { Pages: FileText, Jobs: CalendarClock, Agents: Server, Runs: FileText };

function Palette({ close }: { close: () => void }) {
  const navigate = useNavigate();
  const [search, setSearch] = useState("");
  // Fetched when the palette opens (this component mounts with the open dialog), cached after.
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const jobs = api.useQuery("get", "/api/jobs", {});
  const agents = api.useQuery("get", "/api/agents", {});
  const role = me.data?.role;

  const entries = useMemo(() => {
    const all: Entry[] = PALETTE_PAGES.filter((page) => roleAtLeast(role, page.role)).map((page) => ({
      value: `page:${page.to}`,
      group: "Pages",
      label: page.label,
      detail: page.to,
      keywords: page.keywords,
      to: page.to,
    }));
    for (const job of jobs.data?.jobs ?? [])
      all.push({
        value: `job:${job.job}`,
        group: "Jobs",
        label: job.job,
        detail: job.paused ? "paused" : job.schedule_description || job.schedule,
        keywords: ["job", ...Object.entries(job.labels).map(([k, v]) => `${k}=${v}`)],
        to: `/jobs/${encodeURIComponent(job.namespace)}/${encodeURIComponent(job.name)}`,
      });
    for (const agent of agents.data?.agents ?? [])
      all.push({
        value: `agent:${agent.id}`,
        group: "Agents",
        label: agent.name,
        detail: `${agent.hostname} · ${agent.status}`,
        keywords: ["agent", agent.hostname, agent.platform, agent.id],
        to: `/agents/${encodeURIComponent(agent.id)}`,
      });
    return all;
  }, [role, jobs.data, agents.data]);

  const runId = runIdIn(search);
  const groups = useMemo(() => {
    const withRun = runId ? [...entries, { value: `run:${runId}`, group: "Runs" as const, label: `Open run ${runId}`, to: `/runs/${encodeURIComponent(runId)}` }] : entries;
    return rank(withRun, search);
  }, [entries, runId, search]);

  // What Enter opens: the best match, again whenever the search or the lists change (jobs arrive
  // after the first keystrokes), until the arrow keys or the pointer pick another.
  const first = groups[0]?.entries[0]?.value ?? "";
  const [selected, setSelected] = useState(first);
  useEffect(() => setSelected(first), [first]);

  const go = (to: string) => {
    close();
    void navigate(to);
  };
  const loading = [jobs.isPending && "jobs", agents.isPending && "agents"].filter(Boolean).join(" and ");
  const failed: string[] = [];
  if (jobs.isError) failed.push(`Jobs could not be loaded: ${describeError(jobs.error)}`);
  if (agents.isError) failed.push(`Agents could not be loaded: ${describeError(agents.error)}`);
  const pageIcon = (to: string) => PALETTE_PAGES.find((page) => page.to === to)?.Icon;

  return (
    <Command
      label="Go to a page, job, agent or run"
      shouldFilter={false}
      value={selected}
      onValueChange={setSelected}
      vimBindings={false}
      loop
      className="flex max-h-[70vh] flex-col"
    >
      <div className="border-b border-zinc-200 px-3 dark:border-zinc-700">
        <Command.Input
          value={search}
          onValueChange={setSearch}
          placeholder="Pages, jobs, agents, or a run id…"
          className="w-full bg-transparent py-3 text-base text-zinc-900 outline-none placeholder:text-zinc-500 dark:text-zinc-100 dark:placeholder:text-zinc-400"
        />
      </div>
      <Command.List label="Results" className="min-h-0 flex-1 overflow-y-auto overscroll-contain p-2">
        {groups.length === 0 && (
          <div role="presentation" className="muted px-3 py-6 text-center text-sm">
            Nothing matches “{search.trim()}”. Try a job's name, an agent's host, a page, or paste a run id.
          </div>
        )}
        {groups.map(({ group, entries: shown }) => (
          <Command.Group key={group} heading={group} className={groupClass}>
            {shown.map((entry) => (
              <Item key={entry.value} entry={entry} Icon={(entry.group === "Pages" && pageIcon(entry.to)) || ICONS[entry.group]} onSelect={() => go(entry.to)} />
            ))}
          </Command.Group>
        ))}
      </Command.List>
      {(loading || failed.length > 0) && (
        <div className="border-t border-zinc-200 px-3 py-2 text-xs dark:border-zinc-700">
          {loading && (
            <p role="status" className="muted">
              Loading {loading}…
            </p>
          )}
          {failed.map((message) => (
            <p key={message} role="alert" className="text-red-700 dark:text-red-400">
              {message}
            </p>
          ))}
        </div>
      )}
      <p className="muted hidden border-t border-zinc-200 px-3 py-2 text-xs sm:block dark:border-zinc-700">
        <kbd className="mono">↑</kbd> <kbd className="mono">↓</kbd> to move, <kbd className="mono">Enter</kbd> to open, <kbd className="mono">Esc</kbd> to close
      </p>
    </Command>
  );
}

function Item({ entry, Icon, onSelect }: { entry: Entry; Icon: LucideIcon; onSelect: () => void }) {
  return (
    <Command.Item value={entry.value} onSelect={onSelect} className={itemClass}>
      <Icon aria-hidden="true" className="size-4 shrink-0 text-zinc-500 dark:text-zinc-400" />
      <span className="min-w-0 flex-1 truncate">{entry.label}</span>
      {entry.detail && <span className={`muted hidden truncate text-xs sm:inline ${entry.group === "Pages" ? "mono" : ""}`}>{entry.detail}</span>}
    </Command.Item>
  );
}
