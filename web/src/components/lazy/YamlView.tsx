/** A manifest, highlighted and read-only: the same YAML parser and colours as the editor, drawn as
 * plain rows, each line number in the row of its line.
 *
 * Not a read-only CodeMirror: CodeMirror measures its lines only once it is on screen, and a
 * manifest below the fold (a job's page) kept its estimated 14 px gutter rows against 18.2 px
 * lines, so the numbers and fold arrows drifted up by a line every four or so, in full-page
 * screenshots and until the view was scrolled to. Here nothing is measured. */
import { yamlLanguage } from "@codemirror/lang-yaml";
import { highlightCode } from "@lezer/highlight";
import { useMemo } from "react";

import { yamlHighlighter } from "./yamlHighlight";

interface Piece {
  text: string;
  classes: string;
}

/** The text as lines of highlighted pieces. */
export function highlightedLines(text: string): Piece[][] {
  const lines: Piece[][] = [[]];
  highlightCode(
    text,
    yamlLanguage.parser.parse(text),
    yamlHighlighter,
    (code, classes) => lines[lines.length - 1]!.push({ text: code, classes }),
    () => lines.push([]),
  );
  if (lines.length > 1 && lines[lines.length - 1]!.length === 0) lines.pop(); // the final newline
  return lines;
}

export default function YamlView({ value, label }: { value: string; label: string }) {
  const lines = useMemo(() => highlightedLines(value), [value]);
  const digits = String(lines.length).length;
  return (
    // Focusable, so a keyboard can reach and scroll it.
    <div role="region" aria-label={label} tabIndex={0} className="overflow-auto rounded-md border border-zinc-300 bg-white py-1 dark:border-zinc-700 dark:bg-zinc-900">
      <pre className="mono w-max min-w-full leading-[1.4]">
        {lines.map((pieces, index) => (
          <div key={index} className="flex">
            <span
              aria-hidden="true"
              className="sticky left-0 shrink-0 bg-white pr-3 pl-2 text-right text-zinc-600 select-none dark:bg-zinc-900 dark:text-zinc-400"
              style={{ minWidth: `${digits + 3}ch` }}
            >
              {index + 1}
            </span>
            <code className="min-h-[1lh] pr-3">
              {pieces.map((piece, at) =>
                piece.classes ? (
                  <span key={at} className={piece.classes}>
                    {piece.text}
                  </span>
                ) : (
                  piece.text
                ),
              )}
            </code>
          </div>
        ))}
      </pre>
    </div>
  );
}
