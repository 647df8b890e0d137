/** Run output with its ANSI colours, as segments a page renders as spans. Parsing is anser's;
 * the 16 basic colours become classes (themed for light and dark in index.css), the 256-colour
 * palette and true colour become inline colours. */
import Anser from "anser";

export interface Segment {
  text: string;
  className: string;
  style?: { color?: string; backgroundColor?: string };
}

const BASIC = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"];

/** The xterm 256-colour palette entry `n` (16–255) as CSS, or a basic colour's class. */
export function paletteColour(n: number): { className?: string; css?: string } {
  if (n < 8) return { className: `ansi-${BASIC[n]}` };
  if (n < 16) return { className: `ansi-bright-${BASIC[n - 8]}` };
  if (n < 232) {
    const levels = [0, 95, 135, 175, 215, 255];
    const i = n - 16;
    return { css: `rgb(${levels[Math.floor(i / 36)]}, ${levels[Math.floor(i / 6) % 6]}, ${levels[i % 6]})` };
  }
  const grey = 8 + (n - 232) * 10;
  return { css: `rgb(${grey}, ${grey}, ${grey})` };
}

function colour(name: string | null, truecolor: string | null, layer: "fg" | "bg"): { className?: string; css?: string } {
  if (!name) return {};
  if (name === "ansi-truecolor") return truecolor ? { css: `rgb(${truecolor})` } : {};
  const palette = /^ansi-palette-(\d+)$/.exec(name);
  const found = palette ? paletteColour(Number(palette[1])) : { className: name };
  // The palette's first 16 are the basic colours: as a background, their -bg class.
  return found.className && layer === "bg" ? { className: `${found.className}-bg` } : found;
}

/** Relative luminance (WCAG) of an `rgb(r, g, b)` colour, or undefined for anything else. */
function luminance(css: string): number | undefined {
  const parts = /^rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(css);
  if (!parts) return undefined;
  const [r, g, b] = parts.slice(1).map((part) => {
    const c = Number(part) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Black or white, whichever reads better on `background`. Text without a colour of its own on
 * a 256-colour or true-colour background took the theme's text colour: black on blue in the
 * light theme could not be read. */
export function textOn(background: string): string | undefined {
  const l = luminance(background);
  if (l === undefined) return undefined;
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000000" : "#ffffff";
}

export function ansiSegments(text: string): Segment[] {
  const chunks = Anser.ansiToJson(text, { use_classes: true, remove_empty: true });
  return chunks.map((chunk) => {
    const fg = colour(chunk.fg, chunk.fg_truecolor, "fg");
    const bg = colour(chunk.bg, chunk.bg_truecolor, "bg");
    const classes = [fg.className, bg.className, ...chunk.decorations.map((d) => `ansi-${d}`)];
    const segment: Segment = { text: chunk.content, className: classes.filter(Boolean).join(" ") };
    const color = fg.css ?? (bg.css && !fg.className ? textOn(bg.css) : undefined);
    if (color || bg.css) segment.style = { ...(color ? { color } : {}), ...(bg.css ? { backgroundColor: bg.css } : {}) };
    return segment;
  });
}

/** The output without escape codes, for copying and searching. */
export function stripAnsi(text: string): string {
  return Anser.ansiToText(text);
}
