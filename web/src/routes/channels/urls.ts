/**
 * The guided forms' Apprise URLs (https://appriseit.com/services/): what each form's fields make,
 * and the same URL with its secrets masked, to show while typing. The server checks the URL again
 * (and masks what it shows back); these only spare the user from writing it by hand.
 *
 * - Slack: `slack://{tokenA}/{tokenB}/{tokenC}[/#channel]` from an incoming webhook
 *   (https://hooks.slack.com/services/{tokenA}/{tokenB}/{tokenC}), or
 *   `slack://{bot token}/#channel` for a bot (xoxb-…).
 * - Email: `mailtos://{user}:{password}@{smtp server}:{port}?from=…&to=…` (STARTTLS; `mode=ssl` for
 *   SSL/TLS), `mailto://` without encryption.
 * - PagerDuty: `pagerduty://{integration key}@{api key}[?region=eu]` (Apprise needs both keys).
 * - Webhook: `json://` (http) or `jsons://` (https) with the same host, port, path and user;
 *   the URL's query parameters become Apprise's `-name=value` (sent as query parameters).
 */

export const KINDS = ["slack", "email", "pagerduty", "webhook", "apprise"] as const;
export type Kind = (typeof KINDS)[number];

export interface Built {
  /** The Apprise URL to save; empty while something is missing or wrong (see `errors`). */
  url: string;
  /** The same, secrets replaced by ****, to show. */
  shown: string;
  /** Problems by form field. */
  errors: Record<string, string>;
}

const HIDDEN = "****";

function built(url: string, shown: string, errors: Record<string, string>): Built {
  return Object.keys(errors).length > 0 ? { url: "", shown, errors } : { url, shown, errors };
}

/** Percent-encoded like encodeURIComponent, but keeping `@` and `,` readable (Apprise decodes both). */
function enc(value: string): string {
  return encodeURIComponent(value).replace(/%40/g, "@").replace(/%2C/gi, ",");
}

// --- Slack -------------------------------------------------------------------------------------

export interface SlackForm {
  mode: "webhook" | "token";
  /** The incoming webhook's URL, or its three tokens as T…/B…/… */
  webhook: string;
  /** A bot's OAuth token (xoxb-…). */
  token: string;
  /** #channel or @user; for a webhook optional (it has its own). */
  channel: string;
}

const SLACK_WEBHOOK = /^(?:https?:\/\/hooks\.slack\.com\/services\/)?([A-Z0-9]+)\/([A-Z0-9]+)\/([A-Za-z0-9]+)\/?(?:[?#].*)?$/i;
const SLACK_TOKEN = /^(?:xoxe\.)?xox[abp]-[A-Z0-9-]+$/i;

function slackTarget(channel: string): string | null {
  const name = channel.trim();
  if (!name) return "";
  if (/^[@+]?[#]?[A-Za-z0-9._-]+$/.test(name)) {
    return name.startsWith("@") || name.startsWith("+") ? name : `#${name.replace(/^#/, "")}`;
  }
  return null;
}

export function buildSlack(form: SlackForm): Built {
  const errors: Record<string, string> = {};
  const target = slackTarget(form.channel);
  if (target === null) errors.channel = "A channel name (#alerts) or a user (@someone): letters, digits, '.', '_' and '-'.";
  const suffix = target ? `/${target}` : "";
  if (form.mode === "webhook") {
    const match = SLACK_WEBHOOK.exec(form.webhook.trim());
    if (!match) {
      errors.webhook = form.webhook.trim()
        ? "Paste the URL Slack gave you: https://hooks.slack.com/services/T…/B…/…"
        : "Paste the incoming webhook's URL from Slack.";
      return built("", `slack://…${suffix}`, errors);
    }
    const [, a, b, c] = match as unknown as [string, string, string, string];
    return built(`slack://${a}/${b}/${c}${suffix}`, `slack://${a}/${b}/${HIDDEN}${suffix}`, errors);
  }
  const token = form.token.trim();
  if (!SLACK_TOKEN.test(token)) errors.token = token ? "A bot token starts with xoxb- (or xoxp-, xoxa-)." : "Paste the bot's OAuth token.";
  if (!target && !errors.channel) errors.channel = "A bot posts to the channel (or user) named here.";
  return built(`slack://${token}${suffix}`, `slack://${HIDDEN}${suffix}`, errors);
}

// --- Email -------------------------------------------------------------------------------------

export type Security = "starttls" | "ssl" | "none";

export const DEFAULT_PORT: Record<Security, string> = { starttls: "587", ssl: "465", none: "25" };

export interface EmailForm {
  host: string;
  port: string;
  security: Security;
  user: string;
  password: string;
  from: string;
  /** One or more addresses, separated by commas or spaces. */
  to: string;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$/;
const ADDRESS = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;

export function splitAddresses(text: string): string[] {
  return text.split(/[\s,;]+/).filter(Boolean);
}

export function buildEmail(form: EmailForm): Built {
  const errors: Record<string, string> = {};
  const host = form.host.trim();
  if (!HOST.test(host)) errors.host = host ? "A host name (smtp.example.com) or an address, without http:// or a port." : "The SMTP server to send through.";
  const port = form.port.trim() || DEFAULT_PORT[form.security];
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) errors.port = "A port number from 1 to 65535.";
  const user = form.user.trim();
  if (form.password && !user) errors.user = "The user the password belongs to.";
  const from = form.from.trim();
  if (!ADDRESS.test(from)) errors.from = from ? "An email address, like alerts@example.com." : "The address the alerts come from.";
  const to = splitAddresses(form.to);
  const wrong = to.filter((address) => !ADDRESS.test(address));
  if (to.length === 0) errors.to = "At least one address to send the alerts to.";
  else if (wrong.length > 0) errors.to = `Not an email address: ${wrong.join(", ")}`;

  const scheme = form.security === "none" ? "mailto" : "mailtos";
  // In user:password@ an @ must be encoded (%40): the last @ ends the login.
  const login = (password: string) => (user ? `${encodeURIComponent(user)}${form.password ? `:${password}` : ""}@` : "");
  const query = `?${form.security === "ssl" ? "mode=ssl&" : ""}from=${enc(from)}&to=${to.map(enc).join(",")}`;
  const where = `${host}:${port}`;
  return built(`${scheme}://${login(encodeURIComponent(form.password))}${where}${query}`, `${scheme}://${login(HIDDEN)}${where}${query}`, errors);
}

// --- PagerDuty ---------------------------------------------------------------------------------

export interface PagerDutyForm {
  /** The Events API v2 integration's key (PagerDuty also calls it the routing key). */
  integrationKey: string;
  apiKey: string;
  region: "us" | "eu";
}

const PD_KEY = /^[A-Za-z0-9_+-]+$/;

export function buildPagerDuty(form: PagerDutyForm): Built {
  const errors: Record<string, string> = {};
  const integration = form.integrationKey.trim();
  const apiKey = form.apiKey.trim();
  if (!PD_KEY.test(integration))
    errors.integrationKey = integration ? "Letters, digits, '_', '+' and '-' only." : "The integration (routing) key from the service's Events API v2 integration.";
  if (!PD_KEY.test(apiKey)) errors.apiKey = apiKey ? "Letters, digits, '_', '+' and '-' only." : "An API key of your PagerDuty account (Apprise needs one).";
  const region = form.region === "eu" ? "?region=eu" : "";
  return built(`pagerduty://${encodeURIComponent(integration)}@${encodeURIComponent(apiKey)}${region}`, `pagerduty://${HIDDEN}@${HIDDEN}${region}`, errors);
}

// --- Webhook -----------------------------------------------------------------------------------

export interface WebhookForm {
  /** http(s)://host[:port]/path[?query] */
  url: string;
}

/** A path segment that looks like a token (long, or letters mixed with digits): hidden when shown. */
function tokenLike(segment: string): boolean {
  return segment.length >= 16 || (segment.length >= 8 && /\d/.test(segment) && /\D/.test(segment));
}

export function buildWebhook(form: WebhookForm): Built {
  const text = form.url.trim();
  if (!text) return built("", "json://…", { url: "The address that takes the POST, e.g. https://hooks.example.com/crontopus." });
  let parsed: URL;
  try {
    parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`);
  } catch {
    return built("", "json://…", { url: "Not a URL: write it as https://host/path." });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return built("", "json://…", { url: "A webhook URL starts with http:// or https://; for other services choose Apprise URL." });
  }
  const scheme = parsed.protocol === "https:" ? "jsons" : "json";
  const user = parsed.username ? `${parsed.username}${parsed.password ? ":" : ""}` : "";
  const login = (password: string) => (user ? `${user}${parsed.password ? password : ""}@` : "");
  const path = parsed.pathname === "/" ? "" : parsed.pathname;
  const shownPath = path
    .split("/")
    .map((segment) => (tokenLike(safeDecode(segment)) ? HIDDEN : segment))
    .join("/");
  const params = [...parsed.searchParams.entries()];
  const query = (hide: boolean) =>
    params.length ? `?${params.map(([name, value]) => `-${enc(name)}=${hide ? HIDDEN : enc(value)}`).join("&")}` : "";
  return built(
    `${scheme}://${login(parsed.password)}${parsed.host}${path}${query(false)}`,
    `${scheme}://${login(HIDDEN)}${parsed.host}${shownPath}${query(true)}`,
    {},
  );
}

// --- any Apprise URL ---------------------------------------------------------------------------

export function buildApprise(text: string): Built {
  const url = text.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\/.+/i.test(url)) {
    return built("", url, { apprise: url ? "An Apprise URL starts with its service, like ntfy://, discord:// or tgram://." : "Paste the Apprise URL." });
  }
  return built(url, maskApprise(url), {});
}

/** A pasted URL with what may be secret hidden: the password of user:password@, a token where a
 * host would be (no dot in it), token-like path segments and every query value. */
export function maskApprise(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(.*)$/i.exec(url);
  if (!match) return url;
  const [, scheme, authority, path, rest] = match as unknown as [string, string, string, string, string];
  const at = authority.lastIndexOf("@");
  const info = at >= 0 ? authority.slice(0, at) : "";
  const host = at >= 0 ? authority.slice(at + 1) : authority;
  const colon = info.indexOf(":");
  const shownInfo = at < 0 ? "" : colon >= 0 ? `${info.slice(0, colon)}:${HIDDEN}@` : `${tokenLike(info) ? HIDDEN : info}@`;
  const shownHost = !host.includes(".") && host !== "localhost" && tokenLike(host.replace(/:\d+$/, "")) ? HIDDEN : host;
  const shownPath = path
    .split("/")
    .map((segment) => (tokenLike(safeDecode(segment)) ? HIDDEN : segment))
    .join("/");
  const shownRest = rest.replace(/([?&][^=&#]+=)[^&#]*/g, `$1${HIDDEN}`);
  return `${scheme}${shownInfo}${shownHost}${shownPath}${shownRest}`;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// --- labels ------------------------------------------------------------------------------------

/** "team=data, env=prod" as a labels map, or the problem. */
export function parseLabels(text: string): { labels: Record<string, string>; error?: string } {
  const labels: Record<string, string> = {};
  for (const part of text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) return { labels, error: `Write each label as key=value, separated by commas ("${part}" has no key=).` };
    labels[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { labels };
}
