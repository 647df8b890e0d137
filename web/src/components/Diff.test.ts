import { describe, expect, it } from "vitest";

import { diffRows } from "./Diff";

describe("diffRows", () => {
  it("folds long unchanged runs and keeps context around a change", () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
    const after = before.replace("line 10\n", "line ten\n");
    const rows = diffRows(before, after, 2);
    expect(rows).toEqual([
      { kind: "skipped", count: 7 },
      { kind: "same", text: "line 8" },
      { kind: "same", text: "line 9" },
      { kind: "removed", text: "line 10" },
      { kind: "added", text: "line ten" },
      { kind: "same", text: "line 11" },
      { kind: "same", text: "line 12" },
      { kind: "skipped", count: 8 },
    ]);
  });
});
