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

function colour(name: string | null, truecolor: string | null, layer: "fg" | "bg") {
  if (!name) return {};
  if (name === "ansi-truecolor") return truecolor ? { css: `rgb(${truecolor})` } : {};
  const palette = /^ansi-palette-(\d+)$/.exec(name);
  if (palette) return paletteColour(Number(palette[1]));
  return { className: name + (layer === "bg" ? "-bg" : "") };
}

export function ansiSegments(text: string): Segment[] {
  const chunks = Anser.ansiToJson(text, { use_classes: true, remove_empty: true });
  return chunks.map((chunk) => {
    const fg = colour(chunk.fg, chunk.fg_truecolor, "fg");
    const bg = colour(chunk.bg, chunk.bg_truecolor, "bg");
    const classes = [fg.className, bg.className ? `${bg.className}` : undefined, ...chunk.decorations.map((d) => `ansi-${d}`)];
    const segment: Segment = { text: chunk.content, className: classes.filter(Boolean).join(" ") };
    if (fg.css || bg.css) segment.style = { ...(fg.css ? { color: fg.css } : {}), ...(bg.css ? { backgroundColor: bg.css } : {}) };
    return segment;
  });
}

/** The output without escape codes, for copying and searching. */
export function stripAnsi(text: string): string {
  return Anser.ansiToText(text);
}
