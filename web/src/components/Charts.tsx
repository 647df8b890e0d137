import { lazy, Suspense, type ComponentProps, type ReactNode } from "react";

const charts = () => import("./lazy/Charts");
const LazyStatusBars = lazy(() => charts().then((m) => ({ default: m.StatusBars })));
const LazyDurationLines = lazy(() => charts().then((m) => ({ default: m.DurationLines })));

function Frame({ label, summary, children }: { label: string; summary: string; children: ReactNode }) {
  // The chart is a picture to screen readers; the summary says what it shows in words.
  return (
    <figure aria-label={label} className="min-h-[250px]">
      <Suspense fallback={<div className="muted h-[220px] text-sm">Loading the chart…</div>}>
        <div aria-hidden="true">{children}</div>
      </Suspense>
      <figcaption className="sr-only">{summary}</figcaption>
    </figure>
  );
}

export function StatusBarsChart({ label, summary, ...props }: ComponentProps<typeof LazyStatusBars> & { label: string; summary: string }) {
  return (
    <Frame label={label} summary={summary}>
      <LazyStatusBars {...props} />
    </Frame>
  );
}

export function DurationChart({ label, summary, ...props }: ComponentProps<typeof LazyDurationLines> & { label: string; summary: string }) {
  return (
    <Frame label={label} summary={summary}>
      <LazyDurationLines {...props} />
    </Frame>
  );
}
