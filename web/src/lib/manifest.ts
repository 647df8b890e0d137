/**
 * Job manifests in the browser: the YAML the create form writes (what a person would write in
 * Git: defaults left out, short maps inline as in the seeded examples), small edits that keep
 * the rest of a file (pause, resume), and the server's validation messages by line.
 */
import { Document, isMap, isSeq, parseDocument, Scalar } from "yaml";

export interface JobForm {
  namespace: string;
  name: string;
  schedule: string;
  timezone: string;
  command: string;
  /** One argument per line. */
  args: string;
  /** `key=value`, separated by commas or new lines. */
  labels: string;
  timeout: string;
  retries: string;
  backoff: string;
  concurrency: "" | "allow" | "forbid" | "replace";
  grace: string;
}

export const EMPTY_FORM: JobForm = {
  namespace: "",
  name: "",
  schedule: "",
  timezone: "UTC",
  command: "",
  args: "",
  labels: "",
  timeout: "",
  retries: "",
  backoff: "",
  concurrency: "",
  grace: "",
};

/** `team=data, tier=batch` → `{team: "data", tier: "batch"}`; what is not key=value is kept
 * as a key with an empty value, so the server names the mistake. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(/[,\n]/)) {
    const item = part.trim();
    if (!item) continue;
    const at = item.indexOf("=");
    if (at === -1) labels[item] = "";
    else labels[item.slice(0, at).trim()] = item.slice(at + 1).trim();
  }
  return labels;
}

function inline(doc: Document, path: string[]): void {
  const node = doc.getIn(path, true);
  if (isMap(node) || isSeq(node)) node.flow = true;
}

function quoted(doc: Document, path: string[]): void {
  const node = doc.getIn(path, true);
  if (node instanceof Scalar) node.type = Scalar.QUOTE_DOUBLE;
  if (isSeq(node)) for (const item of node.items) if (item instanceof Scalar) item.type = Scalar.QUOTE_DOUBLE;
}

/** The manifest the form stands for, as YAML text. */
export function buildManifest(form: JobForm): string {
  const labels = parseLabels(form.labels);
  const args = form.args.split("\n").map((line) => line.trim()).filter(Boolean);
  const spec: Record<string, unknown> = { schedule: form.schedule.trim() };
  const zone = form.timezone.trim();
  if (zone && zone !== "UTC") spec.timezone = zone;
  spec.command = form.command.trim();
  if (args.length) spec.args = args;
  if (form.timeout.trim()) spec.timeout = form.timeout.trim();
  if (form.concurrency && form.concurrency !== "forbid") spec.concurrency = form.concurrency;
  const retries = form.retries.trim();
  if (retries && retries !== "0") {
    spec.retries = { limit: /^\d+$/.test(retries) ? Number(retries) : retries, ...(form.backoff.trim() ? { backoff: form.backoff.trim() } : {}) };
  }
  if (form.grace.trim()) spec.monitor = { grace: form.grace.trim() };
  const metadata: Record<string, unknown> = { name: form.name.trim(), namespace: form.namespace.trim() };
  if (Object.keys(labels).length) metadata.labels = labels;
  // YAML 1.1 quoting: a label value such as "on" or "yes" stays a string for every reader.
  const doc = new Document({ apiVersion: "crontopus.io/v1", kind: "Job", metadata, spec }, { version: "1.1" });
  for (const path of [["metadata", "labels"], ["spec", "args"], ["spec", "retries"], ["spec", "monitor"]]) inline(doc, path);
  quoted(doc, ["spec", "schedule"]); // "* * * * *" must be quoted; quote every schedule alike
  quoted(doc, ["spec", "args"]);
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/** The same manifest text with `spec.paused` set; comments and the rest stay as they were. */
export function setPaused(text: string, paused: boolean): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`the manifest is not valid YAML: ${doc.errors[0]?.message ?? ""}`);
  doc.setIn(["spec", "paused"], paused);
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

export interface Problem {
  line: number | null;
  field: string | null;
  message: string;
  text: string;
}

/** `production/report.yaml:7: spec.schedule: never fires ...` (one per line, as
 * `crontopus jobs validate` prints them) → line, field and message. */
export function parseProblems(detail: string): Problem[] {
  return detail
    .split("\n")
    .map((text) => text.trim())
    .filter(Boolean)
    .map((text) => {
      const match = /^[^\s:]+\.ya?ml(?::(\d+))?: (?:((?:metadata|spec|apiVersion|kind)[\w.[\]]*): )?(.*)$/.exec(text);
      if (!match) return { line: null, field: null, message: text, text };
      return { line: match[1] ? Number(match[1]) : null, field: match[2] ?? null, message: match[3] ?? text, text };
    });
}

/** The form field a manifest path belongs to (`spec.retries.limit` → `retries`). */
export function formFieldFor(path: string | null): keyof JobForm | null {
  if (!path) return null;
  const map: [RegExp, keyof JobForm][] = [
    [/^metadata\.namespace/, "namespace"],
    [/^metadata\.name/, "name"],
    [/^metadata\.labels/, "labels"],
    [/^spec\.schedule/, "schedule"],
    [/^spec\.timezone/, "timezone"],
    [/^spec\.command/, "command"],
    [/^spec\.args/, "args"],
    [/^spec\.timeout/, "timeout"],
    [/^spec\.retries\.backoff/, "backoff"],
    [/^spec\.retries/, "retries"],
    [/^spec\.concurrency/, "concurrency"],
    [/^spec\.monitor\.grace/, "grace"],
  ];
  return map.find(([pattern]) => pattern.test(path))?.[1] ?? null;
}

const DOCUMENT_START = /^---(?:[ \t]|\r?\n|$)/;

/**
 * A job's own document in its file (`JobDetail.yaml` is the whole file, which may hold several
 * jobs separated by `---`). The file is cut at its `---` lines as the server does when it splices
 * an edit back in, so what the editor shows is exactly what a PUT replaces.
 */
export function jobDocument(file: string, namespace: string, name: string): { text: string; documents: number } {
  const segments: string[] = [];
  let current: string[] = [];
  for (const line of file.split(/(?<=\n)/)) {
    if (DOCUMENT_START.test(line)) {
      segments.push(current.join(""));
      current = [];
    } else {
      current.push(line);
    }
  }
  segments.push(current.join(""));
  const documents = segments.filter((segment) => hasContent(segment));
  if (documents.length <= 1) return { text: file, documents: documents.length };
  const mine = documents.filter((segment) => {
    const metadata = safeMetadata(segment);
    return metadata?.namespace === namespace && metadata?.name === name;
  });
  return { text: mine.length === 1 && mine[0] ? mine[0] : file, documents: documents.length };
}

function hasContent(segment: string): boolean {
  return segment.split("\n").some((line) => line.trim() && !line.trim().startsWith("#"));
}

function safeMetadata(segment: string): { namespace?: unknown; name?: unknown } | undefined {
  try {
    const value: unknown = parseDocument(segment).toJS();
    if (value && typeof value === "object" && "metadata" in value) {
      const metadata = (value as { metadata: unknown }).metadata;
      return metadata && typeof metadata === "object" ? (metadata as { namespace?: unknown; name?: unknown }) : undefined;
    }
  } catch {
    // a broken document is not this job's
  }
  return undefined;
}
