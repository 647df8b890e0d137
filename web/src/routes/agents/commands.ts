/**
 * What "Add an agent" shows: the commands to paste on a host, built for this server's address and
 * a fresh enrollment token, and the wording of an agent's applied commit against the repository's
 * head. Every flag here is one `crontopus-agent` has (agent/README.md); nothing is invented.
 */

export interface CommandInput {
  /** This server, as the browser reaches it (window.location.origin). */
  server: string;
  token: string;
  /** The agent's name; empty: the host's name (Linux, Windows) or `fallbackName` (a container). */
  name?: string;
  /** The container image with Python 3.11+, the agent and the programs the jobs call. */
  image?: string;
}

export const DEFAULT_IMAGE = "my-jobs-image";
/** A container's host name changes with every container, so a container agent needs a name. */
export const CONTAINER_NAME = "jobs-container";
const CONTAINER_HOME = "/var/lib/crontopus-agent";

// Agent names are letters, digits, '.', '_' and '-'; tokens are URL-safe base64; a server URL has
// no quote or space. Quoting anyway keeps a pasted command from doing anything else.
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One POSIX shell word. */
export function shellQuote(value: string): string {
  if (value !== "" && SHELL_SAFE.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** One PowerShell argument. */
export function powershellQuote(value: string): string {
  if (value !== "" && SHELL_SAFE.test(value)) return value;
  return `'${value.replaceAll("'", "''")}'`;
}

/** Whether the browser reaches this server on the machine itself (127.0.0.1, localhost, ::1). */
export function isLoopback(server: string): boolean {
  try {
    const host = new URL(server).hostname.replace(/^\[|\]$/g, "");
    return host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127\./.test(host);
  } catch {
    return false;
  }
}

function enrollArgs(input: CommandInput, quote: (value: string) => string, name: string | undefined): string {
  const args = ["--server", quote(input.server.replace(/\/+$/, "")), "--token", quote(input.token)];
  if (name) args.push("--name", quote(name));
  return args.join(" ");
}

const LINUX_AGENT = "/opt/crontopus-agent/bin/crontopus-agent";
const LINUX_HOME = "/var/lib/crontopus-agent";

/** Linux with cron: the agent in /opt, its home in /var/lib, run by systemd (restarted, started at
 * boot), writing the jobs into root's crontab. The unit is docs/agents.md's: enroll and the
 * service must agree on the home folder. */
export function linuxCommands(input: CommandInput): string {
  const name = input.name?.trim() || undefined;
  return [
    "# Python 3.11+; run in a checkout of the Crontopus repository (it has ./schemas and ./agent)",
    "sudo python3 -m venv /opt/crontopus-agent",
    "sudo /opt/crontopus-agent/bin/pip install ./schemas ./agent",
    "# enroll this host (the token works once)",
    `sudo CRONTOPUS_AGENT_HOME=${LINUX_HOME} ${LINUX_AGENT} enroll ${enrollArgs(input, shellQuote, name)}`,
    "# run it as a service: it writes the jobs into root's crontab",
    "sudo tee /etc/systemd/system/crontopus-agent.service >/dev/null <<'UNIT'",
    "[Unit]",
    "Description=Crontopus agent",
    "Wants=network-online.target",
    "After=network-online.target",
    "[Service]",
    `Environment=CRONTOPUS_AGENT_HOME=${LINUX_HOME}`,
    `ExecStart=${LINUX_AGENT} run --scheduler crontab`,
    "Restart=always",
    "RestartSec=5",
    "[Install]",
    "WantedBy=multi-user.target",
    "UNIT",
    "sudo systemctl daemon-reload && sudo systemctl enable --now crontopus-agent",
    "# its log: journalctl -u crontopus-agent -f",
  ].join("\n");
}

/** A container on the built-in scheduler, its home folder on a volume (as docs/agents.md). */
export function containerCommands(input: CommandInput): string {
  const name = input.name?.trim() || CONTAINER_NAME;
  const image = shellQuote(input.image?.trim() || DEFAULT_IMAGE);
  // 127.0.0.1 inside a container is the container: share the host's network to reach this server.
  const network = isLoopback(input.server) ? " --network host" : "";
  const common = `-v crontopus-agent:${CONTAINER_HOME} -e CRONTOPUS_AGENT_HOME=${CONTAINER_HOME}${network} ${image}`;
  return [
    "# the image holds Python 3.11+, the agent (pip install ./schemas ./agent) and the programs your jobs call",
    `docker run --rm ${common} \\`,
    `  crontopus-agent enroll ${enrollArgs(input, shellQuote, name)}`,
    `docker run -d --restart unless-stopped --name ${shellQuote(name)} ${common} \\`,
    "  crontopus-agent run --scheduler builtin",
  ].join("\n");
}

const WINDOWS_AGENT = "C:\\crontopus-agent\\Scripts\\crontopus-agent.exe";

/** Windows, in PowerShell: one Task Scheduler task per job, under \Crontopus\. */
export function windowsCommands(input: CommandInput): string {
  const name = input.name?.trim() || undefined;
  return [
    "# PowerShell as Administrator; Python 3.11+; in a checkout of the Crontopus repository",
    "python -m venv C:\\crontopus-agent",
    "C:\\crontopus-agent\\Scripts\\pip install .\\schemas .\\agent",
    "# enroll this host (the token works once)",
    `${WINDOWS_AGENT} enroll ${enrollArgs(input, powershellQuote, name)}`,
    "# start the agent: one Task Scheduler task per job, under \\Crontopus\\",
    `${WINDOWS_AGENT} run --scheduler windows`,
  ].join("\n");
}

/** `role=db, zone=eu` (commas, spaces or new lines between pairs) → labels, or what is wrong. */
export function parseLabels(text: string): { labels: Record<string, string>; error?: string } {
  const labels: Record<string, string> = {};
  for (const pair of text.split(/[\s,]+/).filter(Boolean)) {
    const at = pair.indexOf("=");
    const key = at > 0 ? pair.slice(0, at) : "";
    if (!key) return { labels, error: `"${pair}" is not key=value` };
    labels[key] = pair.slice(at + 1);
  }
  return { labels };
}

export type CommitState = "at-head" | "behind" | "never" | "unknown";

/** An agent's applied commit against the repository's head commit, in plain words. */
export function commitState(applied: string | null | undefined, head: string | null | undefined): { state: CommitState; words: string } {
  if (!applied) return { state: "never", words: "never synced" };
  if (!head) return { state: "unknown", words: "head unknown" };
  if (applied === head) return { state: "at-head", words: "at head" };
  return { state: "behind", words: "behind" };
}
