import { describe, expect, it } from "vitest";

import { commitState, containerCommands, isLoopback, linuxCommands, parseLabels, powershellQuote, shellQuote, windowsCommands } from "./commands";

const token = "ctpe__oX4NKQbxMCW8QuEAX5fJkICeQ2uFNVT5wFp3aALeGQ";

function commandLines(text: string): string[] {
  return text.split("\n").filter((line) => !line.startsWith("#"));
}

describe("the commands for a new agent", () => {
  it("on Linux installs into /opt, enrolls with this server and the token, and runs as a systemd service on root's crontab", () => {
    const lines = commandLines(linuxCommands({ server: "https://cron.example.com/", token }));
    expect(lines.slice(0, 3)).toEqual([
      "sudo python3 -m venv /opt/crontopus-agent",
      "sudo /opt/crontopus-agent/bin/pip install ./schemas ./agent",
      `sudo CRONTOPUS_AGENT_HOME=/var/lib/crontopus-agent /opt/crontopus-agent/bin/crontopus-agent enroll --server https://cron.example.com --token ${token}`,
    ]);
    // The service uses the home enroll wrote the credentials into.
    expect(lines).toContain("Environment=CRONTOPUS_AGENT_HOME=/var/lib/crontopus-agent");
    expect(lines).toContain("ExecStart=/opt/crontopus-agent/bin/crontopus-agent run --scheduler crontab");
    expect(lines.at(-1)).toBe("sudo systemctl daemon-reload && sudo systemctl enable --now crontopus-agent");
  });

  it("adds --name only when a name was given", () => {
    expect(linuxCommands({ server: "https://c.example", token, name: " db-1 " })).toContain(`--token ${token} --name db-1\n`);
    expect(windowsCommands({ server: "https://c.example", token, name: "" })).not.toContain("--name");
  });

  it("in a container keeps the home on a volume, always names the agent and uses the built-in scheduler", () => {
    const text = containerCommands({ server: "https://cron.example.com", token, image: "acme/jobs:1" });
    expect(commandLines(text)).toEqual([
      "docker run --rm -v crontopus-agent:/var/lib/crontopus-agent -e CRONTOPUS_AGENT_HOME=/var/lib/crontopus-agent acme/jobs:1 \\",
      `  crontopus-agent enroll --server https://cron.example.com --token ${token} --name jobs-container`,
      "docker run -d --restart unless-stopped --name jobs-container -v crontopus-agent:/var/lib/crontopus-agent -e CRONTOPUS_AGENT_HOME=/var/lib/crontopus-agent acme/jobs:1 \\",
      "  crontopus-agent run --scheduler builtin",
    ]);
  });

  it("shares the host's network when this server is on a loopback address", () => {
    const text = containerCommands({ server: "http://127.0.0.1:8080", token, name: "reports-1" });
    expect(text).toContain("--network host my-jobs-image");
    expect(text).toContain("--name reports-1 -v");
  });

  it("on Windows uses the venv's Scripts and Task Scheduler", () => {
    const text = windowsCommands({ server: "https://cron.example.com", token });
    expect(commandLines(text)).toEqual([
      "python -m venv C:\\crontopus-agent",
      "C:\\crontopus-agent\\Scripts\\pip install .\\schemas .\\agent",
      `C:\\crontopus-agent\\Scripts\\crontopus-agent.exe enroll --server https://cron.example.com --token ${token}`,
      "C:\\crontopus-agent\\Scripts\\crontopus-agent.exe run --scheduler windows",
    ]);
  });

  it("quotes what a shell would read otherwise", () => {
    expect(shellQuote("plain-name_1.x")).toBe("plain-name_1.x");
    expect(shellQuote("it's $HOME")).toBe(`'it'\\''s $HOME'`);
    expect(shellQuote("")).toBe("''");
    expect(powershellQuote("it's $env:PATH")).toBe("'it''s $env:PATH'");
  });

  it("knows a loopback server", () => {
    expect(isLoopback("http://127.0.0.1:8080")).toBe(true);
    expect(isLoopback("http://localhost:5173")).toBe(true);
    expect(isLoopback("http://[::1]:8080")).toBe(true);
    expect(isLoopback("https://cron.example.com")).toBe(false);
    expect(isLoopback("http://10.0.0.5:8080")).toBe(false);
  });
});

describe("labels for a token", () => {
  it("reads key=value pairs separated by commas, spaces or lines", () => {
    expect(parseLabels("role=db, zone=eu\ntier=1")).toEqual({ labels: { role: "db", zone: "eu", tier: "1" } });
    expect(parseLabels("  ")).toEqual({ labels: {} });
    expect(parseLabels("role=")).toEqual({ labels: { role: "" } });
  });

  it("says which pair is not key=value", () => {
    expect(parseLabels("role=db zone").error).toBe('"zone" is not key=value');
    expect(parseLabels("=db").error).toBe('"=db" is not key=value');
  });
});

describe("an agent's applied commit against the head", () => {
  it("says at head, behind, or never synced", () => {
    expect(commitState("abc", "abc")).toEqual({ state: "at-head", words: "at head" });
    expect(commitState("abc", "def")).toEqual({ state: "behind", words: "behind" });
    expect(commitState(null, "def")).toEqual({ state: "never", words: "never synced" });
    expect(commitState(null, null).words).toBe("never synced");
    expect(commitState("abc", null)).toEqual({ state: "unknown", words: "head unknown" });
  });
});
