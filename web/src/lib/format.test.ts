import { describe, expect, it } from "vitest";

import { formatAbsolute, formatBytes, formatDateTime, formatDuration, formatPercent, formatRelative } from "./format";

describe("formatDuration", () => {
  it.each([
    [null, "—"],
    [0, "0 ms"],
    [350, "350 ms"],
    [4_260, "4.2 s"],
    [42_000, "42 s"],
    [72_000, "1 m 12 s"],
    [300_000, "5 m"],
    [7_500_000, "2 h 5 m"],
    [3_600_000, "1 h"],
    [273_600_000, "3 d 4 h"],
  ])("writes %s ms as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("formatRelative", () => {
  const now = Date.parse("2026-12-06T12:00:00Z");
  it("says minutes ago and in hours", () => {
    expect(formatRelative("2026-12-06T11:56:00Z", now)).toBe("4 minutes ago");
    expect(formatRelative("2026-12-06T15:00:00Z", now)).toBe("in 3 hours");
  });
  it("says just now for the last seconds", () => {
    expect(formatRelative("2026-12-06T11:59:55Z", now)).toBe("just now");
  });
  it("says yesterday for a day ago", () => {
    expect(formatRelative("2026-12-05T11:00:00Z", now)).toBe("yesterday");
  });
});

describe("formatAbsolute", () => {
  it("writes the instant in the zone it is asked for", () => {
    const text = formatAbsolute("2026-12-06T12:00:00Z", "Europe/Berlin", "en-GB");
    expect(text).toContain("13:00:00");
    expect(text).toMatch(/CET|GMT\+1/);
  });
  it("falls back to the viewer's zone for a zone it does not know", () => {
    expect(formatAbsolute("2026-12-06T12:00:00Z", "Mars/Olympus", "en-GB")).toContain("2026");
  });
});

describe("formatPercent and formatBytes", () => {
  it("rounds as a person reads them", () => {
    expect(formatPercent(1)).toBe("100 %");
    expect(formatPercent(0.973)).toBe("97 %");
    expect(formatPercent(0.05)).toBe("5.0 %");
    expect(formatPercent(null)).toBe("—");
    expect(formatBytes(3400)).toBe("3.4 kB");
  });
});

describe("formatDateTime", () => {
  it("writes a fire time to the minute in the job's zone", () => {
    expect(formatDateTime("2027-03-28T03:00:00+02:00", "Europe/Berlin", "en-GB")).toBe("Sun 28 Mar, 03:00 CEST");
    expect(formatDateTime("2027-03-28T03:00:00+02:00", "UTC", "en-GB")).toBe("Sun 28 Mar, 01:00 UTC");
  });
});
