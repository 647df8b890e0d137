import { useQueryClient } from "@tanstack/react-query";
import { useId, useMemo, useState, type FormEvent } from "react";
import { toast } from "sonner";

import { client, describeError, statusOf, type Schemas } from "../../api/client";
import { FormError, SelectField, TextField } from "../../components/Field";
import { ApiError } from "../../lib/session";
import { KindIcon, KIND_NAMES } from "./kinds";
import {
  buildApprise,
  buildEmail,
  buildPagerDuty,
  buildSlack,
  buildWebhook,
  DEFAULT_PORT,
  KINDS,
  parseLabels,
  type Built,
  type EmailForm,
  type Kind,
  type PagerDutyForm,
  type SlackForm,
} from "./urls";

const ABOUT: Record<Kind, string> = {
  slack: "A Slack channel, through an incoming webhook or a bot.",
  email: "Email through your SMTP server.",
  pagerduty: "A PagerDuty service: incidents trigger and resolve its alert.",
  webhook: "A JSON POST to your own endpoint: version, title, message and type.",
  apprise: "Any of Apprise's 100+ services (ntfy, Discord, Teams, Telegram, …), written as its URL.",
};

interface Fields {
  slack: SlackForm;
  email: EmailForm;
  pagerduty: PagerDutyForm;
  webhook: { url: string };
  apprise: string;
  name: string;
  labels: string;
  escalation: boolean;
  enabled: boolean;
}

const EMPTY: Fields = {
  slack: { mode: "webhook", webhook: "", token: "", channel: "" },
  email: { host: "", port: "", security: "starttls", user: "", password: "", from: "", to: "" },
  pagerduty: { integrationKey: "", apiKey: "", region: "us" },
  webhook: { url: "" },
  apprise: "",
  name: "",
  labels: "",
  escalation: false,
  enabled: true,
};

export function build(kind: Kind, fields: Fields): Built {
  switch (kind) {
    case "slack":
      return buildSlack(fields.slack);
    case "email":
      return buildEmail(fields.email);
    case "pagerduty":
      return buildPagerDuty(fields.pagerduty);
    case "webhook":
      return buildWebhook(fields.webhook);
    case "apprise":
      return buildApprise(fields.apprise);
  }
}

/** The server's refusal at the field it names: `url` goes to the URL the form builds. */
function serverErrors(failure: unknown): Record<string, string> {
  const message = describeError(failure);
  if (failure instanceof ApiError && Array.isArray(failure.detail)) {
    const errors: Record<string, string> = {};
    for (const item of failure.detail as { loc?: unknown[]; msg?: string }[]) {
      const field = String((item.loc ?? []).filter((part) => part !== "body")[0] ?? "form");
      const key = ["url", "name", "match_labels"].includes(field) ? field : "form";
      const text = (item.msg ?? "invalid").replace(/^Value error, /, "");
      errors[key] = errors[key] ? `${errors[key]}; ${text}` : text;
    }
    return errors;
  }
  if (statusOf(failure) === 409) return { name: message.replace(/^name: /, "") };
  return { form: message };
}

export function NewChannel({ kind, onKind, onDone }: { kind: Kind; onKind: (kind: Kind) => void; onDone: (created?: Schemas["ChannelPublic"]) => void }) {
  const queryClient = useQueryClient();
  const id = useId();
  const [fields, setFields] = useState<Fields>(EMPTY);
  const [touched, setTouched] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saving, setSaving] = useState(false);
  const result = useMemo(() => build(kind, fields), [kind, fields]);
  const labels = useMemo(() => parseLabels(fields.labels), [fields.labels]);
  // The builder's problems show once the user tried to create (not while typing the first letter).
  const shownErrors = touched ? { ...result.errors, ...(labels.error ? { labels: labels.error } : {}), ...errors } : errors;

  const part = <K extends "slack" | "email" | "pagerduty">(group: K, key: keyof Fields[K]) => ({
    value: String(fields[group][key]),
    error: shownErrors[key as string],
    autoComplete: "off",
    onChange: (event: { target: { value: string } }) => {
      setErrors({});
      setFields((current) => ({ ...current, [group]: { ...current[group], [key]: event.target.value } }));
    },
  });

  async function create(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    setErrors({});
    if (!fields.name.trim()) {
      setErrors({ name: "Name the channel, e.g. ops-slack." });
      return;
    }
    if (!result.url || labels.error) return;
    setSaving(true);
    try {
      const { data } = await client.POST("/api/channels", {
        body: { name: fields.name.trim(), url: result.url, match_labels: labels.labels, escalation: fields.escalation, enabled: fields.enabled },
      });
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/channels"] });
      toast.success(`Channel ${data?.name ?? fields.name} created. Send it a test to see that it works.`);
      onDone(data);
    } catch (failure) {
      const found = serverErrors(failure);
      // What the server says of the URL belongs to the field the URL came from.
      if (found.url && kind === "apprise") found.apprise = found.url;
      setErrors(found);
    } finally {
      setSaving(false);
    }
  }

  return (
    <section className="card" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`} className="font-semibold">
        New channel
      </h2>
      <form onSubmit={(event) => void create(event)} noValidate aria-label="New channel" className="mt-3 space-y-4">
        <FormError message={shownErrors.form} />
        <fieldset>
          <legend className="field-label">Kind</legend>
          <div className="flex flex-wrap gap-2">
            {KINDS.map((option) => (
              <label
                key={option}
                className={`flex cursor-pointer items-center gap-1.5 rounded-md border px-3 py-1.5 text-sm has-[:focus-visible]:ring-2 has-[:focus-visible]:ring-indigo-500 ${
                  option === kind
                    ? "border-indigo-600 bg-indigo-50 font-semibold text-indigo-900 dark:border-indigo-400 dark:bg-indigo-950 dark:text-indigo-100"
                    : "border-zinc-300 dark:border-zinc-700"
                }`}
              >
                <input
                  type="radio"
                  name={`${id}-kind`}
                  value={option}
                  checked={option === kind}
                  onChange={() => {
                    setErrors({});
                    setTouched(false);
                    onKind(option);
                  }}
                  className="sr-only"
                />
                <KindIcon kind={option} />
                {KIND_NAMES[option]}
              </label>
            ))}
          </div>
          <p className="field-hint">{ABOUT[kind]}</p>
        </fieldset>

        {kind === "slack" && (
          <div className="space-y-4">
            <SelectField label="Connect with" {...part("slack", "mode")}>
              <option value="webhook">an incoming webhook</option>
              <option value="token">a bot token</option>
            </SelectField>
            {fields.slack.mode === "webhook" ? (
              <TextField
                label="Webhook URL"
                inputClassName="mono"
                placeholder="https://hooks.slack.com/services/T…/B…/…"
                hint="From Slack: Apps → Incoming Webhooks → Add New Webhook. Its three tokens alone (T…/B…/…) work too."
                {...part("slack", "webhook")}
              />
            ) : (
              <TextField label="Bot token" type="password" inputClassName="mono" placeholder="xoxb-…" hint="The bot's OAuth token; invite the bot to the channel." {...part("slack", "token")} />
            )}
            <TextField
              label="Slack channel"
              placeholder={fields.slack.mode === "webhook" ? "the webhook's own" : "#alerts"}
              hint={fields.slack.mode === "webhook" ? "Optional: #channel or @user instead of the webhook's own." : "#channel or @user the bot posts to."}
              {...part("slack", "channel")}
            />
          </div>
        )}

        {kind === "email" && (
          <div className="grid gap-4 sm:grid-cols-2">
            <TextField label="SMTP server" placeholder="smtp.example.com" inputClassName="mono" {...part("email", "host")} />
            <div className="grid grid-cols-2 gap-4">
              <SelectField label="Security" {...part("email", "security")}>
                <option value="starttls">STARTTLS</option>
                <option value="ssl">SSL/TLS</option>
                <option value="none">none</option>
              </SelectField>
              <TextField label="Port" inputMode="numeric" placeholder={DEFAULT_PORT[fields.email.security]} {...part("email", "port")} />
            </div>
            <TextField label="SMTP user" hint="Empty when the server takes mail without signing in." {...part("email", "user")} />
            <TextField label="SMTP password" type="password" {...part("email", "password")} />
            <TextField label="From" type="email" placeholder="alerts@example.com" {...part("email", "from")} />
            <TextField label="To" placeholder="oncall@example.com, ops@example.com" hint="One or more addresses, separated by commas." {...part("email", "to")} />
          </div>
        )}

        {kind === "pagerduty" && (
          <div className="grid gap-4 sm:grid-cols-2">
            <TextField
              label="Integration key"
              type="password"
              inputClassName="mono"
              hint="The routing key of the service's Events API v2 integration (Service → Integrations)."
              {...part("pagerduty", "integrationKey")}
            />
            <TextField label="API key" type="password" inputClassName="mono" hint="An API access key of your PagerDuty account; Apprise needs one." {...part("pagerduty", "apiKey")} />
            <SelectField label="Region" {...part("pagerduty", "region")}>
              <option value="us">US (events.pagerduty.com)</option>
              <option value="eu">EU (events.eu.pagerduty.com)</option>
            </SelectField>
          </div>
        )}

        {kind === "webhook" && (
          <TextField
            label="Webhook URL"
            inputClassName="mono"
            placeholder="https://hooks.example.com/crontopus"
            hint="Crontopus POSTs JSON there: http:// becomes Apprise's json://, https:// jsons://. A user:password@ and the query are kept."
            value={fields.webhook.url}
            error={shownErrors.url}
            autoComplete="off"
            onChange={(event) => {
              setErrors({});
              setFields((current) => ({ ...current, webhook: { url: event.target.value } }));
            }}
          />
        )}

        {kind === "apprise" && (
          <TextField
            label="Apprise URL"
            inputClassName="mono"
            placeholder="ntfy://ntfy.sh/my-topic"
            hint={
              <>
                Any URL from{" "}
                <a className="link" href="https://appriseit.com/services/" target="_blank" rel="noreferrer">
                  Apprise's list of services
                </a>
                . Crontopus checks it before saving.
              </>
            }
            value={fields.apprise}
            error={shownErrors.apprise}
            autoComplete="off"
            spellCheck={false}
            onChange={(event) => {
              setErrors({});
              setFields((current) => ({ ...current, apprise: event.target.value }));
            }}
          />
        )}

        <div>
          <p id={`${id}-url`} className="field-label">
            The Apprise URL it saves
          </p>
          <code
            aria-labelledby={`${id}-url`}
            aria-describedby={`${id}-url-hint`}
            tabIndex={0}
            className="mono block overflow-x-auto rounded-md bg-zinc-100 px-2.5 py-1.5 whitespace-pre dark:bg-zinc-800"
            data-testid="built-url"
          >
            {result.shown || "—"}
          </code>
          <p id={`${id}-url-hint`} className="field-hint">
            Secrets are shown as ****. Saved encrypted; the list shows it masked, and nobody can read it back.
          </p>
          {kind !== "apprise" && kind !== "webhook" && errors.url && <p className="field-error whitespace-pre-line">{errors.url}</p>}
        </div>

        <div className="grid gap-4 sm:grid-cols-2">
          <TextField
            label="Name"
            required
            placeholder="e.g. ops-slack"
            autoComplete="off"
            value={fields.name}
            error={shownErrors.name}
            onChange={(event) => {
              setErrors({});
              setFields((current) => ({ ...current, name: event.target.value }));
            }}
          />
          <TextField
            label="Route by labels"
            placeholder="every job"
            autoComplete="off"
            hint="Only incidents of jobs with all these labels (team=data, env=prod). Empty: every job."
            value={fields.labels}
            error={shownErrors.labels ?? shownErrors.match_labels}
            onChange={(event) => {
              setErrors({});
              setFields((current) => ({ ...current, labels: event.target.value }));
            }}
          />
        </div>
        <div className="space-y-2 text-sm">
          <label className="flex items-start gap-2">
            <input type="checkbox" className="mt-1" checked={fields.escalation} onChange={(event) => setFields((current) => ({ ...current, escalation: event.target.checked }))} />
            <span>
              Escalation only
              <span className="muted block text-xs">Told only of incidents nobody acknowledged within the rules' “escalate after”.</span>
            </span>
          </label>
          <label className="flex items-start gap-2">
            <input type="checkbox" className="mt-1" checked={fields.enabled} onChange={(event) => setFields((current) => ({ ...current, enabled: event.target.checked }))} />
            <span>
              Enabled
              <span className="muted block text-xs">A disabled channel is kept but told nothing.</span>
            </span>
          </label>
        </div>
        <div className="flex flex-wrap gap-2">
          <button type="submit" className="btn-primary" disabled={saving}>
            {saving ? "Creating…" : "Create channel"}
          </button>
          <button type="button" className="btn-secondary" onClick={() => onDone()}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
