import { describe, expect, it } from "vitest";

import { connectBody, EMPTY_FORM, GIT_HOSTS, guessHost, stepParts } from "./connect";

describe("the body of PUT /api/gitops/repository", () => {
  it("sends no credentials and no webhook secret when none are given (the server makes the secret)", () => {
    expect(connectBody({ ...EMPTY_FORM, url: " https://github.com/acme/jobs.git ", folder: "/cron/" })).toEqual({
      url: "https://github.com/acme/jobs.git",
      branch: "main",
      folder: "cron",
    });
  });

  it("sends only the chosen kind of credentials, with the API's default usernames", () => {
    const filled = { ...EMPTY_FORM, url: "https://h/r.git", token: "t0k", password: "pw", privateKey: "KEY", passphrase: "pp" };
    expect(connectBody({ ...filled, credentials: "token" }).credentials).toEqual({ kind: "token", token: "t0k", username: "x-access-token" });
    expect(connectBody({ ...filled, credentials: "token", username: "oauth2" }).credentials).toEqual({ kind: "token", token: "t0k", username: "oauth2" });
    expect(connectBody({ ...filled, credentials: "basic", username: "ann" }).credentials).toEqual({ kind: "basic", username: "ann", password: "pw" });
    expect(connectBody({ ...filled, credentials: "ssh" }).credentials).toEqual({ kind: "ssh", private_key: "KEY", passphrase: "pp", username: "git" });
    expect(connectBody({ ...filled, credentials: "none" }).credentials).toBeUndefined();
    expect(connectBody({ ...filled, webhookSecret: " a-secret-of-16-chars " }).webhook_secret).toBe("a-secret-of-16-chars");
  });
});

describe("the Git hosts' webhook steps", () => {
  it("cover the hosts whose signatures the gitops service checks, each with its header", () => {
    // services/gitops/crontopus_gitops/webhooks.py SIGNATURE_HEADERS
    expect(Object.fromEntries(GIT_HOSTS.map((host) => [host.id, host.header]))).toEqual({
      github: "X-Hub-Signature-256",
      gitea: "X-Gitea-Signature",
      forgejo: "X-Forgejo-Signature",
      gitlab: "X-Gitlab-Token",
    });
  });

  it("name the URL and the secret in every host's steps", () => {
    for (const host of GIT_HOSTS) {
      const slots = host.steps.flatMap((step) => stepParts(step).map((part) => part.slot));
      expect(slots, host.name).toEqual(expect.arrayContaining(["url", "secret"]));
    }
  });

  it("split a step around its placeholders", () => {
    expect(stepParts("Payload URL: {url} on {branch}")).toEqual([
      { text: "Payload URL: " },
      { text: "{url}", slot: "url" },
      { text: " on " },
      { text: "{branch}", slot: "branch" },
    ]);
  });

  it("open on the host a clone URL points at", () => {
    expect(guessHost("https://github.com/acme/jobs.git")).toBe("github");
    expect(guessHost("ssh://git@gitlab.example.com/acme/jobs.git")).toBe("gitlab");
    expect(guessHost("https://codeberg.org/acme/jobs.git")).toBe("forgejo");
    expect(guessHost("https://gitea.acme.io/acme/jobs.git")).toBe("gitea");
    expect(guessHost("https://git.acme.io/jobs.git")).toBeUndefined();
  });
});
