import { describe, expect, it } from "vitest";

import { fieldErrors } from "./fieldErrors";
import { ApiError } from "./session";

const known = ["username", "email", "password", "team"];

describe("fieldErrors", () => {
  it("puts FastAPI's 422 list on the fields it names, through aliases", () => {
    const error = new ApiError(
      422,
      [
        { loc: ["body", "tenant"], msg: "String should match pattern '^[a-z0-9]'" },
        { loc: ["body", "password"], msg: "String should have at least 12 characters" },
      ],
      "422",
    );
    expect(fieldErrors(error, { tenant: "team" }, known)).toEqual({
      team: "String should match pattern '^[a-z0-9]'",
      password: "String should have at least 12 characters",
    });
  });

  it("puts a domain message on the field it starts with", () => {
    const error = new ApiError(409, "tenant 'acme' already exists; choose another name", "409");
    expect(fieldErrors(error, { tenant: "team" }, known)).toEqual({ team: "tenant 'acme' already exists; choose another name" });
    const taken = new ApiError(409, "this username or email address is already registered; sign in, or choose another", "409");
    expect(Object.keys(fieldErrors(taken, { tenant: "team" }, known))).toEqual(["username"]);
  });

  it("keeps what names no field for the form", () => {
    const error = new ApiError(429, "too many sign-ups from your address; try again in 30 s", "429");
    expect(fieldErrors(error, {}, known)).toEqual({ form: "too many sign-ups from your address; try again in 30 s" });
  });
});
