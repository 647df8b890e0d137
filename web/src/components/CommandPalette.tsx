/**
 * The command palette's "Search" button and its shortcut (Ctrl-K, or ⌘K on a Mac) anywhere in the
 * signed-in console. The palette itself (cmdk, src/components/lazy/PaletteDialog.tsx) is its own
 * chunk, loaded when first opened (or when the pointer comes near the button), so the dashboard's
 * first visit does not carry it.
 */
import { Search } from "lucide-react";
import { lazy, Suspense, useEffect, useState, type ComponentType } from "react";
import { toast } from "sonner";

type DialogProps = { open: boolean; onOpenChange: (open: boolean) => void };

const load = () => import("./lazy/PaletteDialog");

const PaletteDialog = lazy(
  (): Promise<{ default: ComponentType<DialogProps> }> =>
  load().catch(() => {
    toast.error("The search could not be loaded. Check your connection and reload the page.");
    return { default: () => null };
  }),
);

/** Ctrl-K or ⌘K, without Shift or Alt (those belong to the browser and other shortcuts). */
export function isPaletteShortcut(event: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey" | "altKey">): boolean {
  return event.key.toLowerCase() === "k" && (event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey;
}

function onMac(): boolean {
  return typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
}

export function CommandPalette() {
  const [open, setOpen] = useState(false);
  const [wanted, setWanted] = useState(false); // mounted (and loaded) from the first open on

  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (!isPaletteShortcut(event)) return;
      event.preventDefault(); // the browser's own Ctrl-K (search from the address bar)
      setWanted(true);
      setOpen((was) => !was);
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const mac = onMac();
  return (
    <>
      <button
        type="button"
        className="btn-secondary w-full justify-between font-normal text-zinc-700 dark:text-zinc-300"
        aria-keyshortcuts="Control+K Meta+K"
        aria-haspopup="dialog"
        onClick={() => {
          setWanted(true);
          setOpen(true);
        }}
        onPointerEnter={() => void load().catch(() => undefined)}
        onFocus={() => void load().catch(() => undefined)}
      >
        <span className="flex items-center gap-2">
          <Search aria-hidden="true" className="size-4" />
          Search
        </span>
        <kbd aria-hidden="true" className="mono hidden rounded border border-zinc-300 px-1.5 text-xs text-zinc-600 sm:inline dark:border-zinc-600 dark:text-zinc-400">
          {mac ? "⌘K" : "Ctrl K"}
        </kbd>
      </button>
      {wanted && (
        <Suspense fallback={null}>
          <PaletteDialog open={open} onOpenChange={setOpen} />
        </Suspense>
      )}
    </>
  );
}
