import { BellOff, CircleAlert, CircleCheck, CircleX, Clock, Eye, RotateCw } from "lucide-react";
import type { ComponentType, SVGProps } from "react";

import type { Schemas } from "../../api/client";
import type { IncidentStatus } from "./words";

interface Look {
  label: string;
  Icon: ComponentType<SVGProps<SVGSVGElement>>;
  className: string;
}

// Colours reach 4.5:1 against the page in both themes; the word and the icon carry the meaning.
export const INCIDENT_LOOKS: Record<IncidentStatus, Look> = {
  open: { label: "open", Icon: CircleAlert, className: "text-red-700 dark:text-red-400" },
  acknowledged: { label: "acknowledged", Icon: Eye, className: "text-amber-700 dark:text-amber-400" },
  resolved: { label: "resolved", Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
};

function Badge({ look, className = "" }: { look: Look; className?: string }) {
  const { label, Icon, className: colour } = look;
  return (
    <span className={`inline-flex items-center gap-1 font-medium whitespace-nowrap ${colour} ${className}`}>
      <Icon aria-hidden="true" className="size-4 shrink-0" />
      {label}
    </span>
  );
}

export function IncidentBadge({ status, className }: { status: IncidentStatus; className?: string }) {
  return <Badge look={INCIDENT_LOOKS[status] ?? { ...INCIDENT_LOOKS.open, label: status }} className={className} />;
}

/** Opened during a silence (a maintenance window or snooze): recorded, nobody notified. */
export function SilencedMark({ className = "" }: { className?: string }) {
  return (
    <span className={`inline-flex items-center gap-1 text-xs font-normal whitespace-nowrap text-zinc-600 dark:text-zinc-400 ${className}`}>
      <BellOff aria-hidden="true" className="size-3.5 shrink-0" />
      silenced
    </span>
  );
}

const DELIVERY_LOOKS: Record<Schemas["DeliveryPublic"]["status"], Look> = {
  pending: { label: "pending", Icon: Clock, className: "text-blue-700 dark:text-blue-400" },
  sent: { label: "sent", Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
  failed: { label: "failed, retrying", Icon: RotateCw, className: "text-orange-700 dark:text-orange-400" },
  gave_up: { label: "gave up", Icon: CircleX, className: "text-red-700 dark:text-red-400" },
};

export function DeliveryBadge({ status }: { status: Schemas["DeliveryPublic"]["status"] }) {
  return <Badge look={DELIVERY_LOOKS[status] ?? { ...DELIVERY_LOOKS.pending, label: status }} />;
}
