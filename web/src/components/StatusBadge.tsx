import { CircleCheck, CircleDashed, CircleX, FileText, LoaderCircle, Pause, TimerOff } from "lucide-react";
import type { ComponentType, SVGProps } from "react";

export type Status = "success" | "failure" | "timeout" | "running" | "log" | "never" | "paused";

interface Look {
  label: string;
  Icon: ComponentType<SVGProps<SVGSVGElement>>;
  className: string;
}

// Colours reach 4.5:1 against the page in both themes; the word and the icon carry the meaning.
const LOOKS: Record<Status, Look> = {
  success: { label: "success", Icon: CircleCheck, className: "text-green-700 dark:text-green-400" },
  failure: { label: "failure", Icon: CircleX, className: "text-red-700 dark:text-red-400" },
  timeout: { label: "timeout", Icon: TimerOff, className: "text-orange-700 dark:text-orange-400" },
  running: { label: "running", Icon: LoaderCircle, className: "text-blue-700 dark:text-blue-400" },
  log: { label: "log", Icon: FileText, className: "text-zinc-600 dark:text-zinc-400" },
  never: { label: "never run", Icon: CircleDashed, className: "text-zinc-600 dark:text-zinc-400" },
  paused: { label: "paused", Icon: Pause, className: "text-amber-700 dark:text-amber-400" },
};

export function statusLook(status: string | null | undefined): Look {
  return LOOKS[(status ?? "never") as Status] ?? { ...LOOKS.log, label: status ?? "unknown" };
}

export function StatusBadge({ status, className = "" }: { status: string | null | undefined; className?: string }) {
  const { label, Icon, className: colour } = statusLook(status);
  return (
    <span className={`inline-flex items-center gap-1 font-medium whitespace-nowrap ${colour} ${className}`}>
      <Icon aria-hidden="true" className={`size-4 shrink-0 ${status === "running" ? "motion-safe:animate-spin" : ""}`} />
      {label}
    </span>
  );
}

/** The fill colour of a status in strips and charts. */
export const STATUS_FILL: Record<string, string> = {
  success: "bg-green-600 dark:bg-green-500",
  failure: "bg-red-600 dark:bg-red-500",
  timeout: "bg-orange-500 dark:bg-orange-400",
  running: "bg-blue-500 dark:bg-blue-400",
  log: "bg-zinc-400 dark:bg-zinc-500",
};
