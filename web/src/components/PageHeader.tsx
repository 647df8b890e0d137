import { useEffect, type ReactNode } from "react";

export function PageHeader({ title, subtitle, actions }: { title: ReactNode; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-start justify-between gap-3">
      <div className="min-w-0">
        <h1 className="text-xl font-semibold break-words">{title}</h1>
        {subtitle && <div className="muted mt-0.5 text-sm">{subtitle}</div>}
      </div>
      {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
    </div>
  );
}

/** The tab's title: "Jobs · Crontopus". */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Crontopus` : "Crontopus";
  }, [title]);
}
