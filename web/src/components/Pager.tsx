import { ChevronLeft, ChevronRight } from "lucide-react";
import type { ReactNode } from "react";

/**
 * Cursor paging both ways: `newer` is the page's prev_cursor, `older` its next_cursor. The
 * newest page has no cursor at all (an empty prev_cursor means "go to the first page").
 */
export function Pager({
  label,
  newer,
  older,
  onPage,
  middle,
  atNewest,
}: {
  label: string;
  newer: string | null | undefined;
  older: string | null | undefined;
  onPage: (cursor: string | null) => void;
  middle?: ReactNode;
  atNewest?: boolean;
}) {
  return (
    <nav aria-label={label} className="mt-3 flex items-center justify-between gap-2">
      <button type="button" className="btn-secondary" disabled={atNewest ?? !newer} onClick={() => onPage(newer || null)}>
        <ChevronLeft aria-hidden="true" className="size-4" /> Newer
      </button>
      {middle}
      <button type="button" className="btn-secondary" disabled={!older} onClick={() => onPage(older ?? null)}>
        Older <ChevronRight aria-hidden="true" className="size-4" />
      </button>
    </nav>
  );
}
