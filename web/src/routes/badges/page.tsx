import { useQueryClient } from "@tanstack/react-query";
import { KeyRound, RotateCw } from "lucide-react";
import { useMemo, useState } from "react";
import { Link } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, type Schemas } from "../../api/client";
import { useRoleAtLeast } from "../../api/hooks";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { SelectField, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { SettingsTabs } from "../../components/SectionTabs";
import { Empty, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { useUrlState, useUrlText } from "../../lib/url";
import { BadgeImage, BadgeStatusWord, CopyText, shieldsUrl, type Badge } from "./parts";

const KINDS = [
  { value: "", label: "All badges" },
  { value: "job", label: "Jobs" },
  { value: "namespace", label: "Namespaces" },
  { value: "label", label: "Labels" },
] as const;
const KIND_WORD: Record<Badge["kind"], string> = { job: "job", namespace: "namespace", label: "label" };

export function Component() {
  useTitle("Status badges");
  // Lateness comes with the clock, not with an event: asked again every minute as well.
  const badges = api.useQuery("get", "/api/badges", {}, { refetchInterval: 60_000 });
  const mayRotate = useRoleAtLeast("admin");
  return (
    <>
      <PageHeader
        title="Status badges"
        subtitle="Pictures of your jobs' status for READMEs, wikis and dashboards: public, no sign-in needed."
        actions={mayRotate && badges.data ? <RotateKey /> : undefined}
      />
      <SettingsTabs />
      <QueryState query={badges} label="Loading badges…">
        {(data) => <Badges data={data} />}
      </QueryState>
    </>
  );
}

function Badges({ data }: { data: Schemas["BadgeList"] }) {
  const { get, set } = useUrlState();
  const searchBox = useUrlText("q");
  const search = searchBox.text;
  const kind = get("kind");
  const shown = useMemo(() => {
    const words = search.trim().toLowerCase();
    return data.badges.filter((badge) => (!kind || badge.kind === kind) && (!words || badge.name.toLowerCase().includes(words)));
  }, [data.badges, search, kind]);
  if (data.badges.length === 0) {
    return (
      <Empty title="No badges yet.">
        <p>
          Every job gets a badge, and so does every namespace and every label (all the jobs with it), as soon as your team has a job.{" "}
          <Link to="/jobs/new" className="link">
            Create a job
          </Link>{" "}
          or push one to your repository.
        </p>
      </Empty>
    );
  }
  return (
    <div className="space-y-4">
      <About createdAt={data.key_created_at} />
      <div className="grid gap-3 sm:grid-cols-[1fr_12rem]">
        <TextField label="Search badges" type="search" value={search} placeholder="name, namespace or label" onChange={(e) => searchBox.setText(e.target.value)} />
        <SelectField label="Show" value={kind} onChange={(e) => set({ kind: e.target.value })}>
          {KINDS.map((k) => (
            <option key={k.value} value={k.value}>
              {k.label}
            </option>
          ))}
        </SelectField>
      </div>
      {shown.length === 0 ? (
        <Empty title="No badge matches these filters.">
          <button type="button" className="btn-secondary" onClick={() => set({ q: null, kind: null })}>
            Clear the filters
          </button>
        </Empty>
      ) : (
        <section aria-labelledby="badge-list" className="card p-0">
          <h2 id="badge-list" className="sr-only">
            Badges
          </h2>
          <ul className="divide-y divide-zinc-100 dark:divide-zinc-800">
            {shown.map((badge) => (
              <BadgeRow key={badge.selector} badge={badge} />
            ))}
          </ul>
          <p className="muted border-t border-zinc-100 px-4 py-2 text-xs dark:border-zinc-800">
            {shown.length === data.badges.length ? `${shown.length} badges` : `${shown.length} of ${data.badges.length} badges`}
          </p>
        </section>
      )}
    </div>
  );
}

function About({ createdAt }: { createdAt: string }) {
  return (
    <section aria-labelledby="about-badges" className="card text-sm">
      <h2 id="about-badges" className="mb-1 font-semibold">
        How they work
      </h2>
      <p>
        A badge shows <b>up</b>, <b>late</b> (past its expected start, within the grace), <b>down</b> (an open incident), <b>paused</b> or <b>new</b> (not run yet); for a namespace or a label,
        the worst of its jobs. Anyone with a URL sees that word and the name in it, nothing else; images are cached for a minute. For{" "}
        <a href="https://shields.io/badges/endpoint-badge" className="link" target="_blank" rel="noreferrer noopener">
          shields.io
        </a>{" "}
        styles, use the shields.io URL (it reads the badge's JSON).
      </p>
      <p className="muted mt-2">
        <KeyRound aria-hidden="true" className="mr-1 inline size-4 align-[-3px]" />
        Each URL is signed with your team's badge key, made <RelativeTime value={createdAt} />. Rotating it ends every URL given out.
      </p>
    </section>
  );
}

function BadgeRow({ badge }: { badge: Badge }) {
  const what = `${KIND_WORD[badge.kind]} ${badge.name}`;
  return (
    <li className="flex flex-wrap items-center gap-x-4 gap-y-2 px-4 py-3">
      <div className="min-w-0 flex-1 basis-64">
        <p className="flex flex-wrap items-baseline gap-x-2">
          {badge.kind === "job" ? (
            <Link to={`/jobs/${badge.name}`} className="link mono break-all">
              {badge.name}
            </Link>
          ) : (
            <span className="mono break-all">{badge.name}</span>
          )}
          <span className="muted text-xs">
            {KIND_WORD[badge.kind]}
            {badge.kind !== "job" && `, ${badge.jobs} ${badge.jobs === 1 ? "job" : "jobs"}`}
          </span>
          <BadgeStatusWord status={badge.status} />
        </p>
        <div className="mt-1.5 min-w-0">
          <BadgeImage badge={badge} />
        </div>
      </div>
      <div className="flex flex-wrap gap-2" role="group" aria-label={`Copy the badge of ${what}`}>
        <CopyText text={badge.svg_url} words="SVG URL" label={`Copy the SVG URL of ${what}`} />
        <CopyText text={badge.markdown} words="Markdown" label={`Copy the Markdown of ${what}`} />
        <CopyText text={shieldsUrl(badge)} words="shields.io URL" label={`Copy the shields.io URL of ${what}`} />
      </div>
    </li>
  );
}

function RotateKey() {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function rotate() {
    setBusy(true);
    setError(undefined);
    try {
      const { data } = await client.POST("/api/badges/rotate", {});
      queryClient.setQueryData(["get", "/api/badges", {}], data);
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/badges"] });
      toast.success("Badge key rotated: every old badge URL now answers 404. Paste the new ones where you used them.");
      setOpen(false);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <button type="button" className="btn-secondary" onClick={() => setOpen(true)}>
        <RotateCw aria-hidden="true" className="size-4" /> Rotate key
      </button>
      <ConfirmDialog
        open={open}
        onOpenChange={(next) => {
          setOpen(next);
          setError(undefined);
        }}
        title="Rotate the badge key?"
        confirmLabel="Rotate key"
        danger
        busy={busy}
        onConfirm={() => void rotate()}
      >
        <p>
          Every badge URL of this team given out so far (in READMEs, wikis, dashboards) stops working at once: they answer 404. New URLs replace them here, to paste
          where the old ones were.
        </p>
        {error && (
          <p role="alert" className="field-error mt-2">
            {error}
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}
