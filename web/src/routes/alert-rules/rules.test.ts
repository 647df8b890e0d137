import { describe, expect, it } from "vitest";

import { ApiError } from "../../lib/session";
import { fromForm, overridesOf, rulesErrors, toForm, type AlertRules } from "./rules";

const DEFAULTS: AlertRules = {
  grace: "5m",
  missed: true,
  finish_grace: "1h",
  max_duration: null,
  min_duration: null,
  max_runs: null,
  failures: { consecutive: 1, ratio: null, window: 10 },
  agent_offline: true,
  renotify_every: "4h",
  escalate_after: null,
};

describe("the rules form", () => {
  it("round-trips the team's rules, empty fields meaning off", () => {
    expect(fromForm(toForm(DEFAULTS))).toEqual(DEFAULTS);
    const form = { ...toForm(DEFAULTS), consecutive: "3", renotify_every: "2h", max_runs_count: "4", max_runs_per: "1h", ratio: "0.5" };
    expect(fromForm(form)).toMatchObject({
      failures: { consecutive: 3, ratio: 0.5, window: 10 },
      renotify_every: "2h",
      max_runs: { count: 4, per: "1h" },
    });
  });

  it("sends what is not a number as typed, for the server to say so at the field", () => {
    expect(fromForm({ ...toForm(DEFAULTS), consecutive: "three" }).failures?.consecutive).toBe("three");
  });

  it("puts the server's 422 on the fields it names", () => {
    const error = new ApiError(
      422,
      [
        { loc: ["body", "failures", "consecutive"], msg: "Input should be greater than or equal to 1" },
        { loc: ["body", "renotify_every"], msg: "Value error, '2 hours' is not a duration like 30s, 5m, 1h30m, 2d, 1w" },
        { loc: ["body", "max_runs", "per"], msg: "Field required" },
        { loc: ["body"], msg: "something else" },
      ],
      "422",
    );
    expect(rulesErrors(error, "fallback")).toEqual({
      consecutive: "Input should be greater than or equal to 1",
      renotify_every: "'2 hours' is not a duration like 30s, 5m, 1h30m, 2d, 1w",
      max_runs_per: "Field required",
      form: "something else",
    });
    expect(rulesErrors(new ApiError(403, "your role in this team (member) cannot do this", "403"), "your role…")).toEqual({ form: "your role…" });
  });
});

describe("overridesOf", () => {
  it("lists what a job's spec.monitor sets, next to the team's value", () => {
    const monitor = {
      grace: null,
      missed: false,
      finishGrace: null,
      maxDuration: "30m",
      minDuration: null,
      maxRuns: { count: 2, per: "1h" },
      failures: { consecutive: 3, ratio: 0.5, window: 20 },
      maintenance: [],
      snoozeUntil: null,
    };
    expect(overridesOf(monitor, DEFAULTS)).toEqual([
      { rule: "Failures", value: "3 failed runs in a row, or 50% of the last 20", team: "every failed run" },
      { rule: "Too long", value: "longer than 30m", team: "off" },
      { rule: "Too often", value: "more than 2 runs within 1h", team: "off" },
      { rule: "Missed runs", value: "no alert", team: "alert" },
    ]);
    expect(overridesOf({ grace: null, maintenance: [] }, DEFAULTS)).toEqual([]);
  });
});
