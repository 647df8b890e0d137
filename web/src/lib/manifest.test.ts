import { describe, expect, it } from "vitest";

import { buildManifest, EMPTY_FORM, formFieldFor, jobDocument, parseLabels, parseProblems, setPaused } from "./manifest";

describe("buildManifest", () => {
  it("writes the manifest a person would write, defaults left out", () => {
    const text = buildManifest({ ...EMPTY_FORM, namespace: "staging", name: "hello", schedule: "* * * * *", command: "/bin/true" });
    expect(text).toBe(
      [
        "apiVersion: crontopus.io/v1",
        "kind: Job",
        "metadata:",
        "  name: hello",
        "  namespace: staging",
        "spec:",
        '  schedule: "* * * * *"',
        "  command: /bin/true",
        "",
      ].join("\n"),
    );
  });

  it("writes every field of the form in the seeded examples' style", () => {
    const text = buildManifest({
      namespace: "production",
      name: "backup-database",
      schedule: "0 2 * * *",
      timezone: "Europe/Berlin",
      command: "/usr/local/bin/backup.sh",
      args: "--full\n--target=s3://bucket\n",
      labels: "team=data, tier=on",
      timeout: "30m",
      retries: "2",
      backoff: "30s",
      concurrency: "replace",
      grace: "10m",
    });
    expect(text).toBe(
      [
        "apiVersion: crontopus.io/v1",
        "kind: Job",
        "metadata:",
        "  name: backup-database",
        "  namespace: production",
        '  labels: {team: data, tier: "on"}',
        "spec:",
        '  schedule: "0 2 * * *"',
        "  timezone: Europe/Berlin",
        "  command: /usr/local/bin/backup.sh",
        '  args: ["--full", "--target=s3://bucket"]',
        "  timeout: 30m",
        "  concurrency: replace",
        "  retries: {limit: 2, backoff: 30s}",
        "  monitor: {grace: 10m}",
        "",
      ].join("\n"),
    );
  });

  it("keeps a shell line with quotes and colons intact", () => {
    const text = buildManifest({ ...EMPTY_FORM, namespace: "a", name: "b", schedule: "@hourly", command: "/bin/sh", args: "-c\necho \"it's: $(date)\"" });
    expect(text).toContain('  args: ["-c", "echo \\"it\'s: $(date)\\""]');
  });
});

describe("parseLabels", () => {
  it("reads key=value pairs separated by commas or lines", () => {
    expect(parseLabels("team=data,\n tier = batch\n")).toEqual({ team: "data", tier: "batch" });
    expect(parseLabels("oops")).toEqual({ oops: "" });
  });
});

describe("setPaused", () => {
  it("sets spec.paused and keeps comments", () => {
    const before = "# the nightly backup\napiVersion: crontopus.io/v1\nkind: Job\nspec:\n  schedule: \"0 2 * * *\"\n  command: /bin/true\n";
    const after = setPaused(before, true);
    expect(after).toContain("# the nightly backup");
    expect(after).toContain("  paused: true");
    expect(setPaused(after, false)).toContain("  paused: false");
  });
});

describe("parseProblems", () => {
  it("reads file, line, field and message as crontopus jobs validate prints them", () => {
    const problems = parseProblems(
      "production/report.yaml:7: spec.schedule: never fires: day 31 does not exist in month 2\nproduction/report.yaml:3: not valid YAML: mapping values are not allowed here",
    );
    expect(problems).toEqual([
      { line: 7, field: "spec.schedule", message: "never fires: day 31 does not exist in month 2", text: expect.any(String) },
      { line: 3, field: null, message: "not valid YAML: mapping values are not allowed here", text: expect.any(String) },
    ]);
  });

  it("keeps a message without a place whole", () => {
    expect(parseProblems("manifest: send exactly one Job document, not 2")[0]).toMatchObject({ line: null, message: "manifest: send exactly one Job document, not 2" });
  });

  it("maps manifest fields to the form's fields", () => {
    expect(formFieldFor("spec.retries.limit")).toBe("retries");
    expect(formFieldFor("spec.monitor.grace")).toBe("grace");
    expect(formFieldFor("metadata.name")).toBe("name");
    expect(formFieldFor("spec.env")).toBeNull();
  });
});

describe("jobDocument", () => {
  const file = [
    "# header comment",
    "apiVersion: crontopus.io/v1",
    "kind: Job",
    "metadata: {name: hello, namespace: staging}",
    "spec: {schedule: '* * * * *', command: /bin/true}",
    "---",
    "# the second job",
    "apiVersion: crontopus.io/v1",
    "kind: Job",
    "metadata:",
    "  name: cleanup-tmp",
    "  namespace: staging",
    "spec:",
    "  schedule: \"0 4 * * 0\"",
    "  command: find",
    "",
  ].join("\n");

  it("finds the job's own document in a file of several", () => {
    const { text, documents } = jobDocument(file, "staging", "cleanup-tmp");
    expect(documents).toBe(2);
    expect(text.startsWith("# the second job\n")).toBe(true);
    expect(text).toContain("command: find");
    expect(text).not.toContain("hello");
  });

  it("returns the whole file when it holds one job", () => {
    const single = "apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: a, namespace: b}\n";
    expect(jobDocument(single, "b", "a")).toEqual({ text: single, documents: 1 });
  });

  it("returns the whole file when the job cannot be told apart", () => {
    expect(jobDocument(file, "staging", "missing").text).toBe(file);
  });

  it("pauses one job of a shared file without touching the other", () => {
    const { text } = jobDocument(file, "staging", "hello");
    expect(setPaused(text, true)).toContain("paused: true");
    expect(setPaused(text, true)).not.toContain("cleanup-tmp");
  });
});
