import { useQueryClient } from "@tanstack/react-query";
import { ArrowUpCircle, CircleCheck, CircleX, LoaderCircle, Lock, Plus, Power, PowerOff, Send, Trash2 } from "lucide-react";
import { useState } from "react";
import { toast } from "sonner";

import { api, client, describeError, type Schemas } from "../../api/client";
import { useRoleAtLeast } from "../../api/hooks";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { FormError } from "../../components/Field";
import { Labels } from "../../components/Labels";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { ALERT_TABS, SectionTabs } from "../../components/SectionTabs";
import { Empty, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { useUrlState } from "../../lib/url";
import { KindLabel } from "./kinds";
import { NewChannel } from "./NewChannel";
import { KINDS, type Kind } from "./urls";

type Channel = Schemas["ChannelPublic"];
type Delivery = Schemas["DeliveryPublic"];

const POLL_MS = 700;
const TEST_WAIT_MS = 30_000;

const EVENTS: Record<Delivery["event"], string> = {
  test: "test",
  trigger: "incident opened",
  resolve: "incident resolved",
  renotify: "reminder",
  escalate: "escalation",
};

/** A delivery's status as a word, an icon and a colour. */
const LOOKS: Record<Delivery["status"], { word: string; Icon: typeof CircleCheck; className: string }> = {
  pending: { word: "sending", Icon: LoaderCircle, className: "text-blue-700 dark:text-blue-400" },
  sent: { word: "delivered", Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
  failed: { word: "failed, retrying", Icon: CircleX, className: "text-red-700 dark:text-red-400" },
  gave_up: { word: "failed, gave up", Icon: CircleX, className: "text-red-700 dark:text-red-400" },
};

export function Component() {
  useTitle("Channels");
  const url = useUrlState();
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const canEdit = useRoleAtLeast("admin");
  const fresh = url.get("new");
  const creating: Kind | null = canEdit && fresh ? ((KINDS as readonly string[]).includes(fresh) ? (fresh as Kind) : "slack") : null;
  const channels = api.useQuery(
    "get",
    "/api/channels",
    {},
    // While a notification is being sent, its outcome is a moment away.
    { refetchInterval: (query) => (query.state.data?.channels.some((c) => c.last_delivery?.status === "pending") ? 2_000 : false) },
  );

  return (
    <>
      <PageHeader
        title="Channels"
        subtitle="Where incidents are told: Slack, email, PagerDuty, a webhook or any Apprise URL. URLs are stored encrypted and shown masked."
        actions={
          canEdit &&
          !creating && (
            <button type="button" className="btn-primary" onClick={() => url.set({ new: "slack" })}>
              <Plus aria-hidden="true" className="size-4" /> New channel
            </button>
          )
        }
      />
      <SectionTabs label="Alerts" tabs={ALERT_TABS} />
      <div className="space-y-4">
        {creating && <NewChannel kind={creating} onKind={(kind) => url.set({ new: kind })} onDone={() => url.set({ new: null })} />}
        {!canEdit && me.data && (
          <p className="muted flex items-start gap-2 text-sm">
            <Lock aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
            Read-only: admins and owners add, test and delete channels (you are a {me.data.role}).
          </p>
        )}
        <QueryState query={channels} label="Loading the channels…">
          {({ channels: list }) =>
            list.length === 0 ? (
              <Empty title="No channels yet: incidents open, but nobody is told.">
                {canEdit ? (
                  <>
                    <p>Add one and send it a test: a Slack channel, an email address, a PagerDuty service, your own webhook, or any Apprise URL.</p>
                    {!creating && (
                      <button type="button" className="btn-secondary mt-3" onClick={() => url.set({ new: "slack" })}>
                        <Plus aria-hidden="true" className="size-4" /> Add a channel
                      </button>
                    )}
                  </>
                ) : (
                  <p>An admin or owner of the team can add one.</p>
                )}
              </Empty>
            ) : (
              <ChannelTable list={list} canEdit={canEdit} />
            )
          }
        </QueryState>
      </div>
    </>
  );
}

type TestState = { phase: "sending"; channel: string } | { phase: "done"; channel: string; delivery: Delivery } | { phase: "error"; channel: string; message: string };

function ChannelTable({ list, canEdit }: { list: Channel[]; canEdit: boolean }) {
  const queryClient = useQueryClient();
  const [tests, setTests] = useState<Record<string, TestState>>({});
  const [latest, setLatest] = useState<TestState>();
  const [deleting, setDeleting] = useState<Channel>();
  const [busy, setBusy] = useState(false);
  const [deleteError, setDeleteError] = useState<string>();

  const record = (id: string, state: TestState) => {
    setTests((current) => ({ ...current, [id]: state }));
    setLatest(state);
  };

  async function sendTest(channel: Channel) {
    record(channel.id, { phase: "sending", channel: channel.name });
    try {
      const { data: queued } = await client.POST("/api/channels/{channel_id}/test", { params: { path: { channel_id: channel.id } } });
      if (!queued) throw new Error("The server did not say which delivery it queued.");
      const outcome = await waitForOutcome(channel.id, queued);
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/channels"] });
      if (!outcome) {
        record(channel.id, { phase: "error", channel: channel.name, message: "No outcome within 30 s: the notification sender has not tried it yet." });
        return;
      }
      record(channel.id, { phase: "done", channel: channel.name, delivery: outcome });
      if (outcome.status === "sent") toast.success(`Test delivered to ${channel.name}.`);
      else toast.error(`Test to ${channel.name} failed: ${outcome.last_error ?? "no reason given"}`);
    } catch (failure) {
      record(channel.id, { phase: "error", channel: channel.name, message: describeError(failure) });
    }
  }

  async function remove() {
    if (!deleting) return;
    setBusy(true);
    setDeleteError(undefined);
    try {
      await client.DELETE("/api/channels/{channel_id}", { params: { path: { channel_id: deleting.id } } });
      toast.success(`Channel ${deleting.name} deleted.`);
      setDeleting(undefined);
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/channels"] });
    } catch (failure) {
      setDeleteError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="channel-list">
      <h2 id="channel-list" className="mb-3 font-semibold">
        {list.length} channel{list.length === 1 ? "" : "s"}
      </h2>
      <div role="status" aria-live="polite" className="mb-3 empty:hidden">
        {latest && <TestOutcome state={latest} />}
      </div>
      <div className="relative overflow-x-auto">
        <table className="data-table">
          <caption className="sr-only">Notification channels</caption>
          <thead>
            <tr>
              <th scope="col">Channel</th>
              <th scope="col" className="hidden sm:table-cell">
                Routes
              </th>
              <th scope="col" className="hidden md:table-cell">
                Last notification
              </th>
              {canEdit && (
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {list.map((channel) => {
              const sending = tests[channel.id]?.phase === "sending";
              const last = sending ? (
                <DeliveryBadge status="pending" label="sending test" />
              ) : channel.last_delivery ? (
                <LastDelivery delivery={channel.last_delivery} />
              ) : (
                <span className="muted">no notification yet</span>
              );
              return (
                <tr key={channel.id}>
                  <td className="min-w-0">
                    <div className="flex flex-wrap items-center gap-x-3 gap-y-0.5">
                      <span className="font-semibold break-all">{channel.name}</span>
                      <KindLabel scheme={channel.kind} />
                    </div>
                    <p className="mono muted mt-0.5 max-w-[36rem] break-all">{channel.url}</p>
                    <div className="mt-1.5 space-y-1.5 sm:hidden">
                      <Routes channel={channel} />
                    </div>
                    <div className="mt-1.5 md:hidden">{last}</div>
                  </td>
                  <td className="hidden sm:table-cell">
                    <Routes channel={channel} />
                  </td>
                  <td className="hidden min-w-[12rem] md:table-cell">{last}</td>
                  {canEdit && (
                    <td className="text-right">
                      <div className="flex flex-col items-end gap-1 lg:flex-row lg:justify-end">
                        <button type="button" className="btn-ghost px-2 text-sm" title="Send a test notification" disabled={sending} onClick={() => void sendTest(channel)}>
                          <Send aria-hidden="true" className="size-4" />
                          <span className="sr-only sm:not-sr-only sm:whitespace-nowrap">Send test</span>
                          <span className="sr-only"> to {channel.name}</span>
                        </button>
                        <button
                          type="button"
                          className="btn-ghost px-2 text-sm"
                          title="Delete this channel"
                          onClick={() => {
                            setDeleteError(undefined);
                            setDeleting(channel);
                          }}
                        >
                          <Trash2 aria-hidden="true" className="size-4" />
                          <span className="sr-only sm:not-sr-only sm:whitespace-nowrap">Delete</span>
                          <span className="sr-only"> channel {channel.name}</span>
                        </button>
                      </div>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ConfirmDialog
        open={deleting !== undefined}
        onOpenChange={(open) => !open && setDeleting(undefined)}
        title={`Delete the channel ${deleting?.name ?? ""}?`}
        confirmLabel={`Delete ${deleting?.name ?? ""}`}
        danger
        busy={busy}
        onConfirm={() => void remove()}
      >
        <p>
          Incidents are no longer told to <b>{deleting?.name}</b> ({deleting?.url}); notifications still queued for it are dropped. Its URL cannot be
          read back: to use it again, create it anew.
        </p>
        <div className="mt-2">
          <FormError message={deleteError} />
        </div>
      </ConfirmDialog>
    </section>
  );
}

/** Asks for the channel until its newest delivery is the test and has an outcome (or a newer one took its place). */
async function waitForOutcome(channelId: string, queued: Delivery): Promise<Delivery | undefined> {
  const deadline = Date.now() + TEST_WAIT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const { data } = await client.GET("/api/channels/{channel_id}", { params: { path: { channel_id: channelId } } });
    const last = data?.last_delivery;
    if (!last) continue;
    if (last.id === queued.id && last.status !== "pending") return last;
    if (last.id !== queued.id && last.created_at > queued.created_at) return undefined; // an incident's came after it
  }
  return undefined;
}

/** Which incidents reach it: the jobs' labels, escalations only, or none while disabled. */
function Routes({ channel }: { channel: Channel }) {
  return (
    <div className="space-y-1">
      {Object.keys(channel.match_labels).length > 0 ? (
        <div className="flex flex-wrap items-center gap-1">
          <span className="muted text-xs">jobs with</span> <Labels labels={channel.match_labels} />
        </div>
      ) : (
        <p>every job</p>
      )}
      {channel.escalation && (
        <p className="flex items-center gap-1 whitespace-nowrap text-amber-800 dark:text-amber-300">
          <ArrowUpCircle aria-hidden="true" className="size-4 shrink-0" /> escalation only
        </p>
      )}
      <p className={`flex items-center gap-1 whitespace-nowrap ${channel.enabled ? "" : "muted"}`}>
        {channel.enabled ? <Power aria-hidden="true" className="size-4" /> : <PowerOff aria-hidden="true" className="size-4" />}
        {channel.enabled ? "enabled" : "disabled"}
      </p>
    </div>
  );
}

function DeliveryBadge({ status, label }: { status: Delivery["status"]; label?: string }) {
  const { word, Icon, className } = LOOKS[status];
  return (
    <span className={`inline-flex items-center gap-1 font-medium whitespace-nowrap ${className}`}>
      <Icon aria-hidden="true" className={`size-4 shrink-0 ${status === "pending" ? "motion-safe:animate-spin" : ""}`} />
      {label ?? word}
    </span>
  );
}

function LastDelivery({ delivery }: { delivery: Delivery }) {
  return (
    <div className="space-y-0.5">
      <DeliveryBadge status={delivery.status} />
      <div className="muted text-xs">
        {EVENTS[delivery.event]}, <RelativeTime value={delivery.sent_at ?? delivery.created_at} />
        {delivery.attempts > 1 && `, ${delivery.attempts} attempts`}
      </div>
      {delivery.last_error && delivery.status !== "sent" && <p className="text-xs break-words text-red-700 dark:text-red-400">{delivery.last_error}</p>}
    </div>
  );
}

function TestOutcome({ state }: { state: TestState }) {
  const box = "flex items-start gap-2 rounded-md border px-3 py-2 text-sm";
  if (state.phase === "sending") {
    return (
      <p className={`${box} border-blue-300 bg-blue-50 text-blue-900 dark:border-blue-800 dark:bg-blue-950 dark:text-blue-100`}>
        <LoaderCircle aria-hidden="true" className="mt-0.5 size-4 shrink-0 motion-safe:animate-spin" /> Sending a test to {state.channel}…
      </p>
    );
  }
  if (state.phase === "done" && state.delivery.status === "sent") {
    return (
      <p className={`${box} border-green-300 bg-green-50 text-green-900 dark:border-green-800 dark:bg-green-950 dark:text-green-100`}>
        <CircleCheck aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
        <span>
          Test to {state.channel}: delivered. Check that it arrived where you expect it.
        </span>
      </p>
    );
  }
  const failed = state.phase === "done" ? state.delivery : undefined;
  const reason = state.phase === "error" ? state.message : (failed?.last_error ?? "no reason given");
  return (
    <div className={`${box} border-red-300 bg-red-50 text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100`}>
      <CircleX aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
      <div className="min-w-0">
        <p>
          Test to {state.channel}: {failed ? (failed.status === "gave_up" ? "failed, and given up" : "failed") : "no result"}.
        </p>
        <p className="mono mt-1 break-words">{reason}</p>
        {failed?.status === "failed" && <p className="mt-1 text-xs">It is tried again with a growing wait until it succeeds or gives up; fix the channel, or delete it.</p>}
      </div>
    </div>
  );
}
