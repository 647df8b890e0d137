import type uPlot from "uplot";
import { describe, expect, it } from "vitest";

import { labelWidth } from "./axis";

// A canvas that measures 7 px a character: jsdom has none.
function chart(): uPlot {
  const ctx = { font: "", measureText: (text: string) => ({ width: text.length * 7 }) };
  return { ctx, axes: [{}, { ticks: { size: 10 }, gap: 5, font: ["12px system-ui", 12, 12] }] } as unknown as uPlot;
}

describe("the y axis", () => {
  it("is as wide as its longest label, so no digit is cut off", () => {
    const narrow = labelWidth(chart(), ["0", "50", "100"], 1, 0);
    const wide = labelWidth(chart(), ["0 ms", "3 m 20 s", "6 m 40 s"], 1, 0);
    expect(narrow).toBeGreaterThanOrEqual(3 * 7);
    expect(wide).toBeGreaterThanOrEqual("6 m 40 s".length * 7 + 10 + 5);
    expect(wide - narrow).toBe(("6 m 40 s".length - 3) * 7);
  });
});
