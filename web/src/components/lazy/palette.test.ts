import { describe, expect, it } from "vitest";

import { isPaletteShortcut } from "../CommandPalette";
import { roleAtLeast } from "../../api/hooks";
import { PALETTE_PAGES, rank, runIdIn, SHOWN_IDLE, type Entry } from "./palette";

describe("what the palette takes for a run id", () => {
  it("takes UUIDs with or without dashes, as pings and agents make them", () => {
    expect(runIdIn("3f2b8c1e-5d6a-4b7c-9e0f-1a2b3c4d5e6f")).toBe("3f2b8c1e-5d6a-4b7c-9e0f-1a2b3c4d5e6f");
    expect(runIdIn("  3f2b8c1e5d6a4b7c9e0f1a2b3c4d5e6f ")).toBe("3f2b8c1e5d6a4b7c9e0f1a2b3c4d5e6f");
  });

  it("takes an id a check-in chose when it is long enough and has a digit", () => {
    expect(runIdIn("backup-2026-05-01")).toBe("backup-2026-05-01");
    expect(runIdIn("rid:12345678")).toBe("rid:12345678");
  });

  it("takes the id out of a run page's address", () => {
    expect(runIdIn("https://cron.example.com/runs/abc%3A123?x=1")).toBe("abc:123");
    expect(runIdIn("/runs/0a1b2c3d")).toBe("0a1b2c3d");
  });

  it("leaves page and job names, short words and what the API would refuse alone", () => {
    for (const text of ["", "Jobs", "runs", "nightly-report", "ops/nightly-report", "abc123", "has space 12345678", "-12345678", "/runs/", "x".repeat(129) + "1"]) {
      expect(runIdIn(text), text).toBeUndefined();
    }
  });
});

describe("the palette's pages", () => {
  it("offers API keys and the audit log to admins and owners only, as the API allows", () => {
    const labels = (role: "viewer" | "member" | "admin" | "owner") => PALETTE_PAGES.filter((page) => roleAtLeast(role, page.role)).map((page) => page.label);
    expect(labels("viewer")).not.toContain("API keys");
    expect(labels("viewer")).not.toContain("Audit log");
    expect(labels("viewer")).not.toContain("New job");
    expect(labels("member")).toContain("New job");
    expect(labels("admin")).toEqual(expect.arrayContaining(["API keys", "Audit log"]));
    expect(labels("owner")).toHaveLength(PALETTE_PAGES.length);
    expect(roleAtLeast(undefined, "viewer")).toBe(true);
    expect(roleAtLeast(undefined, "member")).toBe(false);
  });

  it("lists every page once, at a route of the console", () => {
    const paths = PALETTE_PAGES.map((page) => page.to);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toEqual(
      expect.arrayContaining(["/", "/jobs", "/jobs/new", "/runs", "/agents", "/incidents", "/alerts/rules", "/alerts/channels", "/alerts/silences", "/settings/profile", "/settings/api-keys", "/settings/repository"]),
    );
  });

});

describe("what the palette offers first", () => {
  const page = (label: string, keywords: string[] = []): Entry => ({ value: `page:${label}`, group: "Pages", label, keywords, to: `/${label}` });
  const job = (name: string): Entry => ({ value: `job:${name}`, group: "Jobs", label: name, keywords: ["job"], to: `/jobs/${name}` });
  const entries = [page("Dashboard"), page("Alert channels", ["alerts", "slack", "email", "webhook"]), page("Repository", ["settings", "git"]), job("staging/hello"), job("ops/hello-world-report"), job("ops/nightly-report")];
  const order = (typed: string, list: Entry[] = entries) => rank(list, typed).flatMap((group) => group.entries.map((entry) => entry.label));

  it("puts the best match first, across groups", () => {
    expect(order("hello")).toEqual(["staging/hello", "ops/hello-world-report"]); // not "Alert channels" by scattered letters
    expect(order("repo")[0]).toBe("Repository");
    expect(order("report")).toEqual(["ops/hello-world-report", "ops/nightly-report"]);
    expect(order("git")).toEqual(["Repository"]); // by a keyword
    expect(order("nothing like it")).toEqual([]);
  });

  it("offers a run by its id last, below a job of that name", () => {
    const run: Entry = { value: "run:ops/backup-2026", group: "Runs", label: "Open run backup-2026", to: "/runs/backup-2026" };
    expect(order("backup-2026", [run, job("ops/backup-2026")])).toEqual(["ops/backup-2026", "Open run backup-2026"]);
    expect(order("backup-2026", [run])).toEqual(["Open run backup-2026"]);
  });

  it("shows every page but only a few jobs before anything is typed", () => {
    const many = Array.from({ length: 40 }, (_, i) => job(`ops/job-${i}`));
    const idle = rank([page("Dashboard"), ...many], "");
    expect(idle.map((group) => [group.group, group.entries.length])).toEqual([
      ["Pages", 1],
      ["Jobs", SHOWN_IDLE],
    ]);
    expect(rank(many, "job-1")[0]!.entries.length).toBe(11); // job-1, job-10..19
  });
});

describe("the palette's shortcut", () => {
  const key = (init: Partial<KeyboardEvent>) => ({ key: "k", ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...init });
  it("is Ctrl-K or ⌘K, in either case, and nothing else", () => {
    expect(isPaletteShortcut(key({ ctrlKey: true }))).toBe(true);
    expect(isPaletteShortcut(key({ metaKey: true }))).toBe(true);
    expect(isPaletteShortcut(key({ key: "K", ctrlKey: true }))).toBe(true);
    expect(isPaletteShortcut(key({}))).toBe(false);
    expect(isPaletteShortcut(key({ ctrlKey: true, shiftKey: true }))).toBe(false);
    expect(isPaletteShortcut(key({ ctrlKey: true, altKey: true }))).toBe(false);
    expect(isPaletteShortcut(key({ key: "j", ctrlKey: true }))).toBe(false);
  });
});
