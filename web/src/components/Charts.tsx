import { useSyncExternalStore, type ReactNode } from "react";

import type * as ChartsModule from "./lazy/Charts";
import type { DurationLinesProps, StatusBarsProps } from "./lazy/Charts";

// uPlot stays out of the first load: its chunk is fetched when a page with charts is first
// imported, while that page's data is still on its way, so the charts draw as soon as it arrives.
// Not React.lazy: a Suspense boundary that has shown its fallback reveals its content no sooner
// than 300 ms later (React's throttle), and the dashboard waited that long with everything in hand.
let charts: typeof ChartsModule | undefined;
let loading: Promise<void> | undefined;
const listeners = new Set<() => void>();

function load(): void {
  loading ??= import("./lazy/Charts").then(
    (module) => {
      charts = module;
      for (const notify of listeners) notify();
    },
    () => {
      loading = undefined; // a failed download is tried again by the next chart shown
    },
  );
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  load();
  return () => listeners.delete(listener);
}

function useCharts(): typeof ChartsModule | undefined {
  return useSyncExternalStore(subscribe, () => charts);
}

load();

function Frame({ label, summary, children }: { label: string; summary: string; children: ReactNode }) {
  // The chart is a picture to screen readers; the summary says what it shows in words.
  return (
    <figure aria-label={label} className="min-h-[250px]">
      {children ? <div aria-hidden="true">{children}</div> : <div className="muted h-[220px] text-sm">Loading the chart…</div>}
      <figcaption className="sr-only">{summary}</figcaption>
    </figure>
  );
}

export function StatusBarsChart({ label, summary, ...props }: StatusBarsProps & { label: string; summary: string }) {
  const module = useCharts();
  return (
    <Frame label={label} summary={summary}>
      {module && <module.StatusBars {...props} />}
    </Frame>
  );
}

export function DurationChart({ label, summary, ...props }: DurationLinesProps & { label: string; summary: string }) {
  const module = useCharts();
  return (
    <Frame label={label} summary={summary}>
      {module && <module.DurationLines {...props} />}
    </Frame>
  );
}
