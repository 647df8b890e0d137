import { describe, expect, it } from "vitest";

import { buildApprise, buildEmail, buildPagerDuty, buildSlack, buildWebhook, maskApprise, parseLabels, type EmailForm } from "./urls";

const HOOK = "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ";

describe("buildSlack", () => {
  it("turns an incoming webhook's URL into slack://tokenA/tokenB/tokenC, the secret token hidden when shown", () => {
    const built = buildSlack({ mode: "webhook", webhook: HOOK, token: "", channel: "" });
    expect(built).toEqual({
      url: "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
      shown: "slack://T1JJ3T3L2/A1BRTD4JD/****",
      errors: {},
    });
  });

  it("takes the three tokens alone, and a channel to post to instead of the webhook's own", () => {
    const built = buildSlack({ mode: "webhook", webhook: "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", token: "", channel: "alerts" });
    expect(built.url).toBe("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts");
  });

  it("posts as a bot to the channel named, the token never shown", () => {
    const token = "xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d";
    const built = buildSlack({ mode: "token", webhook: "", token, channel: "#ops" });
    expect(built.url).toBe(`slack://${token}/#ops`);
    expect(built.shown).toBe("slack://****/#ops");
    expect(built.shown).not.toContain("4ddbc191");
    expect(buildSlack({ mode: "token", webhook: "", token, channel: "@ada" }).url).toBe(`slack://${token}/@ada`);
  });

  it("says what is wrong, at the field, and builds nothing", () => {
    expect(buildSlack({ mode: "webhook", webhook: "https://example.com/x", token: "", channel: "" })).toMatchObject({
      url: "",
      errors: { webhook: expect.stringContaining("hooks.slack.com") },
    });
    const bot = buildSlack({ mode: "token", webhook: "", token: "not-a-token", channel: "" });
    expect(bot.url).toBe("");
    expect(Object.keys(bot.errors).sort()).toEqual(["channel", "token"]);
    expect(buildSlack({ mode: "webhook", webhook: HOOK, token: "", channel: "two words" }).errors.channel).toBeTruthy();
  });
});

describe("buildEmail", () => {
  const form: EmailForm = {
    host: "smtp.example.com",
    port: "",
    security: "starttls",
    user: "alerts@example.com",
    password: "p@ss:w/rd",
    from: "alerts@example.com",
    to: "oncall@example.com, ops@example.com",
  };

  it("writes mailtos:// with STARTTLS on 587, the password encoded and hidden when shown", () => {
    const built = buildEmail(form);
    expect(built.url).toBe(
      "mailtos://alerts%40example.com:p%40ss%3Aw%2Frd@smtp.example.com:587?from=alerts@example.com&to=oncall@example.com,ops@example.com",
    );
    expect(built.shown).toBe("mailtos://alerts%40example.com:****@smtp.example.com:587?from=alerts@example.com&to=oncall@example.com,ops@example.com");
    expect(built.errors).toEqual({});
  });

  it("uses mode=ssl on 465 for SSL/TLS, and mailto:// without encryption or login", () => {
    expect(buildEmail({ ...form, security: "ssl" }).url).toMatch(/^mailtos:\/\/.*@smtp\.example\.com:465\?mode=ssl&from=/);
    expect(buildEmail({ ...form, security: "none", user: "", password: "", port: "2525" }).url).toBe(
      "mailto://smtp.example.com:2525?from=alerts@example.com&to=oncall@example.com,ops@example.com",
    );
  });

  it("refuses what the SMTP server could not take", () => {
    const built = buildEmail({ ...form, host: "https://smtp.example.com", port: "99999", user: "", from: "alerts", to: "ops@example.com nobody" });
    expect(built.url).toBe("");
    expect(Object.keys(built.errors).sort()).toEqual(["from", "host", "port", "to", "user"]);
    expect(built.errors.to).toContain("nobody");
  });
});

describe("buildPagerDuty", () => {
  it("needs the integration (routing) key and an API key, both hidden when shown", () => {
    const built = buildPagerDuty({ integrationKey: "abcdef0123456789abcdef0123456789", apiKey: "u+AbCdEfGhIjKlMnOp", region: "us" });
    expect(built.url).toBe("pagerduty://abcdef0123456789abcdef0123456789@u%2BAbCdEfGhIjKlMnOp");
    expect(built.shown).toBe("pagerduty://****@****");
    expect(buildPagerDuty({ integrationKey: "abc", apiKey: "def", region: "eu" }).url).toBe("pagerduty://abc@def?region=eu");
    expect(buildPagerDuty({ integrationKey: "abc", apiKey: "", region: "us" }).errors.apiKey).toBeTruthy();
  });
});

describe("buildWebhook", () => {
  it("posts JSON over http with json:// and over https with jsons://", () => {
    expect(buildWebhook({ url: "http://127.0.0.1:8099/hooks/crontopus" })).toEqual({
      url: "json://127.0.0.1:8099/hooks/crontopus",
      shown: "json://127.0.0.1:8099/hooks/crontopus",
      errors: {},
    });
    expect(buildWebhook({ url: "https://hooks.example.com/x" }).url).toBe("jsons://hooks.example.com/x");
    expect(buildWebhook({ url: "hooks.example.com" }).url).toBe("jsons://hooks.example.com");
  });

  it("keeps the user and the query (as Apprise's -name=value), hiding the password, tokens and values when shown", () => {
    const built = buildWebhook({ url: "https://bot:s3cret@hooks.example.com:8443/in/Zk39slQ0dm2Xp7AaKq?token=abc123&team=data" });
    expect(built.url).toBe("jsons://bot:s3cret@hooks.example.com:8443/in/Zk39slQ0dm2Xp7AaKq?-token=abc123&-team=data");
    expect(built.shown).toBe("jsons://bot:****@hooks.example.com:8443/in/****?-token=****&-team=****");
  });

  it("refuses what is not an http(s) URL", () => {
    expect(buildWebhook({ url: "ftp://example.com/x" }).errors.url).toContain("http://");
    expect(buildWebhook({ url: "" }).errors.url).toBeTruthy();
    expect(buildWebhook({ url: "http://" }).url).toBe("");
  });
});

describe("buildApprise", () => {
  it("takes any service URL as written and hides what may be secret when shown", () => {
    const built = buildApprise(" ntfy://ntfy.sh/crontopus-alerts ");
    expect(built.url).toBe("ntfy://ntfy.sh/crontopus-alerts");
    expect(maskApprise("tgram://123456789:ABCdefGHIjklMNOpqrSTUvwxYZ/12345")).not.toContain("ABCdef");
    expect(maskApprise("gotify://user:hunter22@gotify.example.com/AbCdEf123456?priority=high")).toBe(
      "gotify://user:****@gotify.example.com/****?priority=****",
    );
    expect(buildApprise("just text").errors.apprise).toBeTruthy();
  });
});

describe("parseLabels", () => {
  it("reads key=value pairs separated by commas", () => {
    expect(parseLabels("team=data, env=prod")).toEqual({ labels: { team: "data", env: "prod" } });
    expect(parseLabels("")).toEqual({ labels: {} });
    expect(parseLabels("team").error).toContain("key=value");
  });
});
