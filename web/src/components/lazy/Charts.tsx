/** uPlot charts, in their own chunk: loaded only by pages that draw one. */
import { useEffect, useMemo, useRef } from "react";
import uPlot, { type AlignedData, type Options } from "uplot";
import "uplot/dist/uPlot.min.css";

import { formatDuration } from "../../lib/format";
import { labelWidth } from "./axis";

export const COLOURS = {
  success: "#16a34a",
  failure: "#dc2626",
  timeout: "#ea580c",
  p50: "#2563eb",
  p95: "#9333ea",
};

function axisColour(): { stroke: string; grid: string } {
  const dark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
  return dark ? { stroke: "#a1a1aa", grid: "rgba(255,255,255,0.08)" } : { stroke: "#52525b", grid: "rgba(0,0,0,0.07)" };
}

function UPlot({ options, data, height = 220 }: { options: Omit<Options, "width" | "height">; data: AlignedData; height?: number }) {
  const host = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const plot = new uPlot({ ...options, width: Math.max(element.clientWidth, 200), height }, data, element);
    chart.current = plot;
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(element.clientWidth, 200), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
      chart.current = null;
    };
  }, [options, height]); // data changes go through setData below

  useEffect(() => {
    chart.current?.setData(data);
  }, [data]);

  return <div ref={host} className="w-full" />;
}

const bars = uPlot.paths.bars;

export interface StatusBarsProps {
  /** Bucket starts in seconds. */
  x: number[];
  success: number[];
  failure: number[];
  bucket: "hour" | "day";
}

/** Successes and failures per bucket, side by side. */
export function StatusBars({ x, success, failure, bucket }: StatusBarsProps) {
  const options = useMemo(() => statusBarOptions(bucket), [bucket]);
  const data = useMemo<AlignedData>(() => [x, success, failure], [x, success, failure]);
  return <UPlot options={options} data={data} />;
}

function statusBarOptions(bucket: "hour" | "day"): Omit<Options, "width" | "height"> {
  const { stroke, grid } = axisColour();
  const half = (bucket === "day" ? 86_400 : 3_600) / 2;
  return {
    legend: { show: true },
    cursor: { points: { show: false } },
    // Half a bucket of room on each side: a bucket's two bars stand either side of its start, and
    // the newest bucket's failures would otherwise be cut off at the right edge.
    scales: { x: { time: true, range: (_u, min, max) => [min - half, max + half] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
    axes: [
      { stroke, grid: { stroke: grid }, values: timeAxis(bucket) },
      { stroke, grid: { stroke: grid }, size: labelWidth, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000] },
    ],
    series: [
      {},
      // No outline: an empty bucket draws nothing rather than a tick on the axis.
      { label: "success", stroke: COLOURS.success, width: 0, fill: COLOURS.success, paths: bars?.({ size: [0.4, 40], align: -1 }), points: { show: false } },
      { label: "failure", stroke: COLOURS.failure, width: 0, fill: COLOURS.failure, paths: bars?.({ size: [0.4, 40], align: 1 }), points: { show: false } },
    ],
  };
}

/** Ticks as "14:00" for hours and "6 Dec" for days, whatever the locale's clock. */
function timeAxis(bucket: "hour" | "day" | "auto") {
  return bucket === "day" ? "{D} {MMM}" : bucket === "hour" ? "{HH}:{mm}" : undefined;
}

export interface DurationLinesProps {
  x: number[];
  /** How the time axis is labelled: per hour, per day, or uPlot's own choice. */
  bucket?: "hour" | "day" | "auto";
  series: { label: string; values: (number | null)[]; colour: string }[];
  points?: boolean;
}

/** Durations (ms) over time: p50/p95 per bucket, or each run's duration. */
export function DurationLines({ x, series, points = true, bucket = "auto" }: DurationLinesProps) {
  const shape = series.map((s) => `${s.label}:${s.colour}`).join(",");
  // The values change with every refetch, the labels and colours do not: rebuild only for those.
  const options = useMemo(() => durationOptions(series, points, bucket), [shape, points, bucket]);
  const data = useMemo(() => [x, ...series.map((s) => s.values)] as AlignedData, [x, series]);
  return <UPlot options={options} data={data} />;
}

function durationOptions(series: DurationLinesProps["series"], points: boolean, bucket: "hour" | "day" | "auto"): Omit<Options, "width" | "height"> {
  const { stroke, grid } = axisColour();
  return {
    legend: { show: true },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(10, (max || 0) * 1.15)] } },
    axes: [
      { stroke, grid: { stroke: grid }, ...(timeAxis(bucket) ? { values: timeAxis(bucket) } : {}) },
      { stroke, grid: { stroke: grid }, size: labelWidth, values: (_u, ticks) => ticks.map((ms) => formatDuration(ms)) },
    ],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.colour,
        width: 2,
        spanGaps: true,
        points: { show: points, size: 5 },
        value: (_u: uPlot, v: number | null) => (v == null ? "—" : formatDuration(v)),
      })),
    ],
  };
}
