import { diffLines } from "diff";
import { useMemo } from "react";

export type DiffLine = { kind: "added" | "removed" | "same"; text: string } | { kind: "skipped"; count: number };

/** The lines of a unified diff, unchanged runs longer than 2 × `context` folded to a count. */
export function diffRows(before: string, after: string, context = 3): DiffLine[] {
  const lines: { kind: "added" | "removed" | "same"; text: string }[] = diffLines(before, after).flatMap((part) =>
    part.value
      .replace(/\n$/, "")
      .split("\n")
      .map((text) => ({ kind: part.added ? ("added" as const) : part.removed ? ("removed" as const) : ("same" as const), text })),
  );
  const near = lines.map((_, i) => lines.slice(Math.max(0, i - context), i + context + 1).some((line) => line.kind !== "same"));
  const rows: DiffLine[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.kind !== "same" || near[i]) rows.push(line);
    else {
      const last = rows.at(-1);
      if (last?.kind === "skipped") last.count += 1;
      else rows.push({ kind: "skipped", count: 1 });
    }
  }
  return rows;
}

const STYLE = {
  added: "bg-green-50 text-green-900 dark:bg-green-950 dark:text-green-100",
  removed: "bg-red-50 text-red-900 dark:bg-red-950 dark:text-red-100",
  same: "text-zinc-600 dark:text-zinc-400",
};

/** A unified line diff (what a commit will change), each line marked in words for screen readers. */
export function Diff({ before, after, label }: { before: string; after: string; label: string }) {
  const rows = useMemo(() => diffRows(before, after), [before, after]);
  if (!rows.some((row) => row.kind === "added" || row.kind === "removed")) return <p className="muted text-sm">No changes yet.</p>;
  return (
    <pre aria-label={label} tabIndex={0} className="mono max-h-96 overflow-auto rounded-md border border-zinc-200 bg-white py-2 dark:border-zinc-800 dark:bg-zinc-900">
      {rows.map((row, index) =>
        row.kind === "skipped" ? (
          <div key={index} className="muted px-3 italic">
            ⋯ {row.count} unchanged line{row.count === 1 ? "" : "s"}
          </div>
        ) : (
          <div key={index} className={`px-3 ${STYLE[row.kind]}`}>
            <span aria-hidden="true">{row.kind === "added" ? "+ " : row.kind === "removed" ? "- " : "  "}</span>
            <span className="sr-only">{row.kind === "added" ? "added: " : row.kind === "removed" ? "removed: " : ""}</span>
            {row.text}
          </div>
        ),
      )}
    </pre>
  );
}
