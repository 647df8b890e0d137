import { Check, Copy } from "lucide-react";
import { useState } from "react";
import { toast } from "sonner";

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      toast.error("The browser did not allow copying; select the text and copy it by hand.");
    }
  }
  return (
    <button type="button" onClick={() => void copy()} className="btn-secondary px-2" aria-label={label}>
      {copied ? <Check aria-hidden="true" className="size-4" /> : <Copy aria-hidden="true" className="size-4" />}
      <span className="sr-only" aria-live="polite">
        {copied ? "Copied" : ""}
      </span>
    </button>
  );
}

/** A line of code to copy: monospace, scrolls sideways on narrow screens. */
export function CopyLine({ text, label }: { text: string; label: string }) {
  return (
    <div className="flex items-start gap-2">
      <code tabIndex={0} className="mono block min-w-0 flex-1 overflow-x-auto rounded-md bg-zinc-100 px-2.5 py-1.5 whitespace-pre dark:bg-zinc-800">
        {text}
      </code>
      <CopyButton text={text} label={label} />
    </div>
  );
}
