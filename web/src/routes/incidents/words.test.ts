import { describe, expect, it } from "vitest";

import { causePhrase, causeSentence, subjectOf, timelineLines, who } from "./words";

const names = new Map([["u-alice", "alice"]]);
const at = (minute: number) => `2026-12-06T12:${String(minute).padStart(2, "0")}:00Z`;

describe("the cause in words", () => {
  it("says what the job did, then the detail", () => {
    expect(causeSentence({ job: "ops/backup", agent_id: null, cause: "failed", detail: "exited with 2" })).toBe("ops/backup failed: exited with 2");
    expect(causeSentence({ job: "ops/backup", agent_id: null, cause: "missed", detail: "" })).toBe("ops/backup missed its scheduled run");
    expect(causeSentence({ job: "ops/backup", agent_id: null, cause: "too_long", detail: "ran 400s, longer than 300s" })).toBe(
      "ops/backup ran longer than allowed: ran 400s, longer than 300s",
    );
  });

  it("names an agent by its name when known, and does not repeat its detail", () => {
    const offline = { job: null, agent_id: "a1b2", cause: "agent_offline" as const, detail: "agent web-1 stopped sending heartbeats" };
    expect(causeSentence(offline, "web-1")).toBe("agent web-1 is offline");
    expect(subjectOf(offline)).toBe("agent a1b2");
  });

  it("words a cause it does not know rather than hiding it", () => {
    expect(causePhrase("too_quiet")).toBe("too quiet");
  });
});

describe("the timeline", () => {
  const detail = {
    job: "ops/backup",
    silenced: false,
    timeline: [
      { step: "opened" as const, at: at(0), channels: 0 },
      { step: "notified" as const, at: at(0), channels: 2 },
      { step: "escalated" as const, at: at(30), channels: 1 },
      { step: "renotified" as const, at: at(40), channels: 1 },
      { step: "renotified" as const, at: at(50), channels: 0 },
      { step: "acknowledged" as const, at: at(51), by: "u-alice", channels: 0 },
      { step: "resolved" as const, at: at(59), by: "u-alice", channels: 2 },
    ],
  };

  it("keeps the API's order and says who acknowledged and resolved", () => {
    expect(timelineLines(detail, names).map((line) => [line.step, line.at, line.text])).toEqual([
      ["opened", at(0), "Opened"],
      ["notified", at(0), "Notified 2 channels"],
      ["escalated", at(30), "Escalated to 1 channel"],
      ["renotified", at(40), "Reminder sent to 1 channel"],
      ["renotified", at(50), "Reminder due: no channel to send it to"],
      ["acknowledged", at(51), "Acknowledged by alice"],
      ["resolved", at(59), "Resolved by alice; 2 channels told"],
    ]);
  });

  it("gives each line its own key even when two steps share a time", () => {
    const keys = timelineLines(detail, names).map((line) => line.key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("tells a recovery and a silenced opening apart from a person's action", () => {
    const recovered = {
      job: "ops/backup",
      silenced: true,
      timeline: [
        { step: "opened" as const, at: at(0), channels: 0 },
        { step: "resolved" as const, at: at(5), by: "recovery", channels: 0 },
      ],
    };
    expect(timelineLines(recovered, names).map((line) => line.text)).toEqual(["Opened while silenced: nobody was notified", "Resolved: it recovered on its own"]);
    const agentBack = { ...recovered, job: null, silenced: false };
    expect(timelineLines(agentBack, names)[1]?.text).toBe("Resolved: the agent came back");
    const removed = { ...recovered, silenced: false, timeline: [recovered.timeline[0]!, { ...recovered.timeline[1]!, by: "job_removed", channels: 1 }] };
    expect(timelineLines(removed, names)[1]?.text).toBe("Resolved: the job was removed from Git; 1 channel told");
  });

  it("shows an id it cannot name (an API key, someone who left) plainly", () => {
    expect(who("0123456789abcdef", names)).toBe("01234567 (not a member now, or an API key)");
    expect(who(null, names)).toBe("someone");
  });

  it("is empty when the API sent no steps", () => {
    expect(timelineLines({ job: "ops/backup", silenced: false }, names)).toEqual([]);
  });
});
