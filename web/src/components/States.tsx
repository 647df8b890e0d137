import { AlertTriangle, LoaderCircle, RotateCw } from "lucide-react";
import type { ReactNode } from "react";

import { describeError } from "../api/client";

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div role="status" className="flex items-center gap-2 py-8 text-sm text-zinc-600 dark:text-zinc-400">
      <LoaderCircle aria-hidden="true" className="size-4 motion-safe:animate-spin" />
      {label}
    </div>
  );
}

export function ErrorState({ error, retry, title = "Could not load this" }: { error: unknown; retry?: () => void; title?: string }) {
  return (
    <div role="alert" className="my-4 rounded-md border border-red-300 bg-red-50 p-4 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
      <p className="flex items-center gap-2 font-semibold">
        <AlertTriangle aria-hidden="true" className="size-4" />
        {title}
      </p>
      <p className="mt-1">{describeError(error)}</p>
      {retry && (
        <button type="button" onClick={retry} className="btn-secondary mt-3">
          <RotateCw aria-hidden="true" className="size-4" /> Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="my-4 rounded-md border border-dashed border-zinc-300 p-6 text-sm dark:border-zinc-700">
      <p className="font-semibold">{title}</p>
      {children && <div className="mt-2 text-zinc-700 dark:text-zinc-300">{children}</div>}
    </div>
  );
}

/** A query's three states in one place: loading, error (with retry), then the content. */
export function QueryState<T>({
  query,
  label,
  children,
}: {
  query: { isPending: boolean; isError: boolean; error: unknown; data: T | undefined; refetch: () => unknown };
  label?: string;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <Loading label={label} />;
  if (query.isError || query.data === undefined) return <ErrorState error={query.error} retry={() => void query.refetch()} />;
  return <>{children(query.data)}</>;
}

/** In place of a form the signed-in role may not use (the API would refuse it with 403). */
export function NotAllowed({ what, children }: { what: string; children?: ReactNode }) {
  return (
    <Empty title={`Your role in this team cannot ${what}.`}>
      <p>Owners and admins change roles under Settings → Members.</p>
      {children}
    </Empty>
  );
}
