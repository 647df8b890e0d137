import { describe, expect, it } from "vitest";

import { ansiSegments, paletteColour, stripAnsi } from "./ansi";

describe("ansiSegments", () => {
  it("turns basic colours and bold into classes", () => {
    expect(ansiSegments("\x1b[1;31mFAILED\x1b[0m: disk full")).toEqual([
      { text: "FAILED", className: "ansi-red ansi-bold" },
      { text: ": disk full", className: "" },
    ]);
  });

  it("turns the 256-colour palette and true colour into inline colours", () => {
    const [palette, truecolor] = ansiSegments("\x1b[38;5;208mwarn\x1b[0m\x1b[38;2;10;20;30mrgb");
    expect(palette?.style).toEqual({ color: "rgb(255, 135, 0)" });
    expect(truecolor?.style).toEqual({ color: "rgb(10, 20, 30)" });
  });

  it("uses background classes for background colours", () => {
    expect(ansiSegments("\x1b[42mok")[0]?.className).toBe("ansi-green-bg");
  });
});

describe("paletteColour and stripAnsi", () => {
  it("maps the palette as xterm does", () => {
    expect(paletteColour(1)).toEqual({ className: "ansi-red" });
    expect(paletteColour(9)).toEqual({ className: "ansi-bright-red" });
    expect(paletteColour(232)).toEqual({ css: "rgb(8, 8, 8)" });
  });
  it("strips escape codes", () => {
    expect(stripAnsi("\x1b[32mok\x1b[0m done")).toBe("ok done");
  });
});
