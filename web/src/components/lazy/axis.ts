/** uPlot axis helpers, apart from uPlot itself (which needs a real window to load). */
import type uPlot from "uplot";

/**
 * A y axis as wide as its widest label: a fixed width cut "6 m 40 s" to "5 m 40 s" (a digit half
 * hidden reads as another) and "1000" to ".000" at phone width. uPlot asks again after laying out
 * the ticks (`cycle` > 1); the width found first is kept, so the layout settles.
 */
export function labelWidth(self: uPlot, values: string[] | null, axisIndex: number, cycle: number): number {
  // At run time uPlot keeps an axis's font as [css font, size in device pixels, size in CSS pixels]
  // and the width it settled on as `_size`; neither is in its type definitions.
  const axis = self.axes[axisIndex] as uPlot.Axis & { _size?: number; font?: unknown };
  if (cycle > 1 && axis._size) return axis._size;
  let width = (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 8; // the tick, the gap and some air
  if (values?.length && self.ctx) {
    const font = Array.isArray(axis.font) ? axis.font[0] : axis.font;
    if (typeof font === "string") self.ctx.font = font;
    const widest = Math.max(...values.map((value) => self.ctx.measureText(String(value)).width));
    width += widest / (globalThis.devicePixelRatio || 1); // uPlot's fonts are in device pixels
  }
  return Math.ceil(width);
}
