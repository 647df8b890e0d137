import { describe, expect, it } from "vitest";

import type { Schemas } from "../api/client";
import { byStartTime, durationPoints } from "./runs";

const run = (id: string, started: string | null, duration: number | null = 1000, finished: string | null = null) =>
  ({ run_id: id, job: "ops/backup", status: "success", started_at: started, finished_at: finished, duration_ms: duration }) as Schemas["RunSummary"];

describe("runs in time order", () => {
  // As the API lists them: by arrival, so a backfilled run (b) and a late spool (c) come first.
  const listed = [run("b", "2026-12-01T10:00:00Z"), run("c", "2026-12-03T10:00:00Z", 3000), run("a", "2026-11-29T10:00:00Z", 2000), run("d", null, null, "2026-12-02T10:00:00Z")];

  it("orders runs by when they started, a run known only by its end at its end", () => {
    expect(byStartTime(listed).map((r) => r.run_id)).toEqual(["a", "b", "d", "c"]);
    expect(listed.map((r) => r.run_id)).toEqual(["b", "c", "a", "d"]); // the API's list is left alone
  });

  it("gives a duration chart points that only go forward in time", () => {
    const points = durationPoints(listed);
    expect(points.values).toEqual([2000, 1000, 3000]);
    expect(points.x).toEqual([...points.x].sort((x, y) => x - y));
    expect(points.x[0]).toBe(Date.parse("2026-11-29T10:00:00Z") / 1000);
  });
});
