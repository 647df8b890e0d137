import { describe, expect, it } from "vitest";

import { ApiError } from "../lib/session";
import { describeError } from "./client";

describe("describeError", () => {
  it("names the field of each error of a 422 without where it came from", () => {
    const error = new ApiError(
      422,
      [
        { loc: ["query", "until"], msg: "must be later than since", type: "value_error" },
        { loc: ["body", "url"], msg: "not a notification URL Apprise recognises", type: "value_error" },
      ],
      "422 Unprocessable Content",
    );
    expect(describeError(error)).toBe("until: must be later than since; url: not a notification URL Apprise recognises");
  });

  it("keeps a message that names no field as it is, so a manifest's file and line lead", () => {
    const error = new ApiError(
      422,
      [{ loc: ["body"], msg: "production/x.yaml:7: spec.schedule: never fires", type: "value_error" }],
      "422",
    );
    expect(describeError(error)).toBe("production/x.yaml:7: spec.schedule: never fires");
  });

  it("shows any other error's detail as it is", () => {
    expect(describeError(new ApiError(409, "staging/hello changed since abc: reload and retry", "409"))).toBe(
      "staging/hello changed since abc: reload and retry",
    );
  });
});
