import { diffLines } from "diff";
import { useMemo } from "react";

/** A unified line diff (what a commit will change), each line marked in words for screen readers. */
export function Diff({ before, after, label }: { before: string; after: string; label: string }) {
  const parts = useMemo(() => diffLines(before, after), [before, after]);
  const changed = parts.some((part) => part.added || part.removed);
  if (!changed) return <p className="muted text-sm">No changes yet.</p>;
  return (
    <pre aria-label={label} tabIndex={0} className="mono max-h-96 overflow-auto rounded-md border border-zinc-200 bg-white py-2 dark:border-zinc-800 dark:bg-zinc-900">
      {parts.flatMap((part, index) =>
        part.value
          .replace(/\n$/, "")
          .split("\n")
          .map((line, i) => (
            <div
              key={`${index}-${i}`}
              className={`px-3 ${
                part.added
                  ? "bg-green-50 text-green-900 dark:bg-green-950 dark:text-green-100"
                  : part.removed
                    ? "bg-red-50 text-red-900 dark:bg-red-950 dark:text-red-100"
                    : "text-zinc-600 dark:text-zinc-400"
              }`}
            >
              <span aria-hidden="true">{part.added ? "+ " : part.removed ? "- " : "  "}</span>
              <span className="sr-only">{part.added ? "added: " : part.removed ? "removed: " : ""}</span>
              {line}
            </div>
          )),
      )}
    </pre>
  );
}
