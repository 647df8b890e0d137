import { describe, expect, it } from "vitest";

import { apiDuration, coversJob, coversText, parseDuration, parseLabels, remaining, span } from "./words";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const at = (minutes: number) => new Date(NOW + minutes * 60_000).toISOString();

describe("durations a person types", () => {
  it("reads days, hours and minutes, spaced or not, and refuses the rest", () => {
    expect(parseDuration("2h")).toBe(7200);
    expect(parseDuration("1h30m")).toBe(5400);
    expect(parseDuration(" 3d ")).toBe(3 * 86_400);
    expect(parseDuration("1 h 20 min")).toBe(4800);
    expect(parseDuration("45 minutes")).toBe(2700);
    expect(parseDuration("2 days")).toBe(2 * 86_400);
    for (const bad of ["", "0m", "2", "h", "1.5h", "2w", "tomorrow", "-1h"]) expect(parseDuration(bad), bad).toBeUndefined();
  });

  it("sends the API hours and minutes, since it has no days", () => {
    expect(apiDuration(3 * 86_400)).toBe("72h");
    expect(apiDuration(5400)).toBe("1h30m");
    expect(apiDuration(2700)).toBe("45m");
    expect(apiDuration(parseDuration("1d 2h 5m")!)).toBe("26h5m");
  });
});

describe("how long a silence has left", () => {
  it("says ends in hours and minutes, rounded down, and days for long ones", () => {
    expect(remaining(at(-10), at(80), NOW)).toEqual({ active: true, text: "ends in 1 h 20 min" });
    expect(remaining(at(-10), at(80.9), NOW)).toEqual({ active: true, text: "ends in 1 h 20 min" });
    expect(remaining(at(-10), at(120), NOW).text).toBe("ends in 2 h");
    expect(remaining(at(-10), at(25), NOW).text).toBe("ends in 25 min");
    expect(remaining(at(-10), at(0.5), NOW).text).toBe("ends in less than a minute");
    expect(remaining(at(-10), at(3 * 1440 + 4 * 60 + 59), NOW).text).toBe("ends in 3 d 4 h");
  });

  it("says when an upcoming one starts, and that a past one ended", () => {
    expect(remaining(at(90), at(200), NOW)).toEqual({ active: false, text: "starts in 1 h 30 min" });
    expect(remaining(at(-90), at(-1), NOW)).toEqual({ active: false, text: "ended" });
  });

  it("is correct after a refresh: it depends on the clock, not on when the page opened", () => {
    const ends = at(80);
    expect(remaining(at(-10), ends, NOW + 60 * 60_000).text).toBe("ends in 20 min");
    expect(span(61 * 60_000)).toBe("1 h 1 min");
  });
});

describe("label selectors", () => {
  it("reads pairs separated by commas or spaces", () => {
    expect(parseLabels("team=data, tier=batch")).toEqual({ labels: { team: "data", tier: "batch" } });
    expect(parseLabels("team=data tier=batch")).toEqual({ labels: { team: "data", tier: "batch" } });
    expect(parseLabels("example.com/owner=")).toEqual({ labels: { "example.com/owner": "" } });
  });

  it("says what is wrong with a pair, as the manifest's rules would", () => {
    expect(parseLabels("")).toEqual({ error: "Give at least one label, e.g. team=data." });
    expect(parseLabels("team")).toEqual({ error: '"team" is not key=value, e.g. team=data.' });
    expect("error" in parseLabels("-team=data")).toBe(true);
    expect("error" in parseLabels("team=data!")).toBe(true);
    expect("error" in parseLabels(`team=${"a".repeat(64)}`)).toBe(true);
    expect(parseLabels("team=a team=b")).toEqual({ error: '"team" is given twice with different values.' });
  });
});

describe("what a silence covers", () => {
  const etl = { job: "ops/etl", namespace: "ops", labels: { team: "data", tier: "batch" } };
  const web = { job: "web/site", namespace: "web", labels: {} };

  it("in words", () => {
    expect(coversText({ scope: "job", job: "ops/etl" })).toBe("ops/etl");
    expect(coversText({ scope: "namespace", namespace: "ops" })).toBe("namespace ops");
    expect(coversText({ scope: "labels", match_labels: { team: "data", tier: "batch" } })).toBe("jobs with team=data, tier=batch");
    expect(coversText({ scope: "team", match_labels: {} })).toBe("every job");
  });

  it("among jobs, as the server decides", () => {
    expect(coversJob({ scope: "namespace", namespace: "ops" }, etl)).toBe(true);
    expect(coversJob({ scope: "namespace", namespace: "ops" }, web)).toBe(false);
    expect(coversJob({ scope: "labels", match_labels: { team: "data" } }, etl)).toBe(true);
    expect(coversJob({ scope: "labels", match_labels: { team: "data", tier: "web" } }, etl)).toBe(false);
    expect(coversJob({ scope: "job", job: "web/site" }, web)).toBe(true);
  });
});
