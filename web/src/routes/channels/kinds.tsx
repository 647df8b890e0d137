import { Bell, Mail, MessageSquare, Siren, Webhook } from "lucide-react";

import type { Kind } from "./urls";

export const KIND_NAMES: Record<Kind, string> = {
  slack: "Slack",
  email: "Email",
  pagerduty: "PagerDuty",
  webhook: "Webhook",
  apprise: "Apprise URL",
};

const ICONS = { slack: MessageSquare, email: Mail, pagerduty: Siren, webhook: Webhook, apprise: Bell } as const;

/** A saved channel's kind (the Apprise scheme: slack, mailtos, json, ...) as one of the form's. */
export function kindOf(scheme: string): Kind {
  if (scheme === "slack") return "slack";
  if (scheme === "mailto" || scheme === "mailtos") return "email";
  if (scheme === "pagerduty") return "pagerduty";
  if (scheme === "json" || scheme === "jsons") return "webhook";
  return "apprise";
}

export function KindIcon({ kind, className = "size-4 shrink-0" }: { kind: Kind; className?: string }) {
  const Icon = ICONS[kind];
  return <Icon aria-hidden="true" className={className} />;
}

/** The kind in words: "Slack", "Email", "Webhook", or the scheme itself (ntfy, discord, ...). */
export function KindLabel({ scheme }: { scheme: string }) {
  const kind = kindOf(scheme);
  return (
    <span className="inline-flex items-center gap-1.5 whitespace-nowrap">
      <KindIcon kind={kind} />
      {kind === "apprise" ? scheme : KIND_NAMES[kind]}
    </span>
  );
}
