import { describe, expect, it } from "vitest";

import { fileWebUrl, repositoryWebUrl } from "./git";

describe("repositoryWebUrl", () => {
  it.each([
    ["https://github.com/acme/jobs.git", "https://github.com/acme/jobs"],
    ["git@github.com:acme/jobs.git", "https://github.com/acme/jobs"],
    ["ssh://git@gitlab.example.com:2222/ops/jobs.git", "https://gitlab.example.com/ops/jobs"],
    ["https://user@codeberg.org/acme/jobs", "https://codeberg.org/acme/jobs"],
    ["/var/lib/crontopus/repos/t1.git", null],
  ])("%s → %s", (clone, web) => {
    expect(repositoryWebUrl(clone)).toBe(web);
  });
});

describe("fileWebUrl", () => {
  it("uses each host's file URL", () => {
    expect(fileWebUrl("https://github.com/acme/jobs.git", "main", "jobs", "production/backup.yaml")).toBe(
      "https://github.com/acme/jobs/blob/main/jobs/production/backup.yaml",
    );
    expect(fileWebUrl("https://codeberg.org/acme/jobs.git", "main", "", "staging/hello.yaml")).toBe(
      "https://codeberg.org/acme/jobs/src/branch/main/staging/hello.yaml",
    );
  });
  it("never keeps credentials from the clone URL", () => {
    expect(fileWebUrl("https://token:secret@github.com/acme/jobs.git", "main", "", "a/b.yaml")).toBe("https://github.com/acme/jobs/blob/main/a/b.yaml");
  });
});
