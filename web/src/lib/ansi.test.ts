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

  it("uses background classes for background colours, bright ones and the palette's first 16 too", () => {
    expect(ansiSegments("\x1b[42mok")[0]?.className).toBe("ansi-green-bg");
    expect(ansiSegments("\x1b[104mok")[0]?.className).toBe("ansi-bright-blue-bg");
    expect(ansiSegments("\x1b[48;5;4mok")[0]?.className).toBe("ansi-blue-bg");
  });

  it("writes text with no colour of its own on a palette or true-colour background in black or white, whichever reads", () => {
    // Blue (palette 21) kept the light theme's black text: unreadable.
    expect(ansiSegments("\x1b[48;5;21mbg-blue")[0]?.style).toEqual({ color: "#ffffff", backgroundColor: "rgb(0, 0, 255)" });
    expect(ansiSegments("\x1b[48;5;226myellow")[0]?.style).toEqual({ color: "#000000", backgroundColor: "rgb(255, 255, 0)" });
    expect(ansiSegments("\x1b[48;2;0;0;139mnavy")[0]?.style?.color).toBe("#ffffff");
    // A colour the output gave is kept.
    expect(ansiSegments("\x1b[38;5;226;48;5;21mmine")[0]?.style).toEqual({ color: "rgb(255, 255, 0)", backgroundColor: "rgb(0, 0, 255)" });
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
