/** The repository page's logic: the PUT body its form sends, and the Git hosts whose push
 * webhooks the gitops service verifies (services/gitops/crontopus_gitops/webhooks.py), each with
 * the steps to set one up. */
import type { Schemas } from "../../api/client";

export type CredentialKind = "none" | "token" | "basic" | "ssh";

export interface ConnectForm {
  url: string;
  branch: string;
  folder: string;
  credentials: CredentialKind;
  username: string;
  token: string;
  password: string;
  privateKey: string;
  passphrase: string;
  webhookSecret: string;
}

export const EMPTY_FORM: ConnectForm = {
  url: "",
  branch: "main",
  folder: "",
  credentials: "none",
  username: "",
  token: "",
  password: "",
  privateKey: "",
  passphrase: "",
  webhookSecret: "",
};

/** `PUT /api/gitops/repository`'s body (the gateway takes the team from the session, never from
 * a body's `tenant_id`): only the chosen kind of credentials, the API's defaults where a field is
 * left empty (the username of a token or an SSH key), no webhook secret unless one is given (the
 * server generates one). */
export type ConnectBody = Omit<Schemas["RepositoryUpdate"], "tenant_id">;

export function connectBody(form: ConnectForm): ConnectBody {
  const body: ConnectBody = {
    url: form.url.trim(),
    branch: form.branch.trim() || "main",
    folder: form.folder.trim().replace(/^\/+|\/+$/g, ""),
  };
  const username = form.username.trim();
  if (form.credentials === "token") body.credentials = { kind: "token", token: form.token, username: username || "x-access-token" };
  if (form.credentials === "basic") body.credentials = { kind: "basic", username, password: form.password };
  if (form.credentials === "ssh")
    body.credentials = { kind: "ssh", private_key: form.privateKey, passphrase: form.passphrase, username: username || "git" };
  if (form.webhookSecret.trim()) body.webhook_secret = form.webhookSecret.trim();
  return body;
}

export interface GitHost {
  id: "github" | "gitlab" | "gitea" | "forgejo";
  name: string;
  /** The header the gitops service checks. */
  header: string;
  how: string;
  /** The steps, with {url}, {secret} and {branch} where the page puts the values. */
  steps: string[];
}

export const GIT_HOSTS: readonly GitHost[] = [
  {
    id: "github",
    name: "GitHub",
    header: "X-Hub-Signature-256",
    how: "an HMAC-SHA256 of each delivery's body under the secret",
    steps: [
      "Open the repository on GitHub, then Settings → Webhooks → Add webhook.",
      "Payload URL: {url}",
      "Content type: application/json.",
      "Secret: {secret}",
      "Which events: Just the push event. Keep Active ticked, then Add webhook.",
      "GitHub sends a ping at once: Recent Deliveries shows it answered 200.",
    ],
  },
  {
    id: "gitlab",
    name: "GitLab",
    header: "X-Gitlab-Token",
    how: "the secret itself, sent with each delivery: keep the webhook URL https://",
    steps: [
      "Open the project on GitLab, then Settings → Webhooks → Add new webhook.",
      "URL: {url}",
      "Secret token: {secret}",
      "Trigger: Push events (for the branch {branch}, or all branches).",
      "Keep Enable SSL verification ticked, then Add webhook.",
      "Test → Push events sends one: GitLab shows it answered 202 (200 for another branch).",
    ],
  },
  {
    id: "gitea",
    name: "Gitea",
    header: "X-Gitea-Signature",
    how: "an HMAC-SHA256 of each delivery's body under the secret",
    steps: [
      "Open the repository on Gitea, then Settings → Webhooks → Add webhook → Gitea.",
      "Target URL: {url}",
      "HTTP method: POST; POST content type: application/json.",
      "Secret: {secret}",
      "Trigger on: Push events; branch filter: {branch}. Then Add webhook.",
      "Open the webhook and press Test delivery: it answers 202.",
    ],
  },
  {
    id: "forgejo",
    name: "Forgejo",
    header: "X-Forgejo-Signature",
    how: "an HMAC-SHA256 of each delivery's body under the secret (Codeberg runs Forgejo)",
    steps: [
      "Open the repository on Forgejo, then Settings → Webhooks → Add webhook → Forgejo.",
      "Target URL: {url}",
      "HTTP method: POST; POST content type: application/json.",
      "Secret: {secret}",
      "Trigger on: Push events; branch filter: {branch}. Then Add webhook.",
      "Open the webhook and press Test delivery: it answers 202.",
    ],
  },
];

/** The host a clone URL is most likely on, to open its steps first. */
export function guessHost(url: string | null | undefined): GitHost["id"] | undefined {
  const text = (url ?? "").toLowerCase();
  if (text.includes("github")) return "github";
  if (text.includes("gitlab")) return "gitlab";
  if (text.includes("codeberg") || text.includes("forgejo")) return "forgejo";
  if (text.includes("gitea")) return "gitea";
  return undefined;
}

/** A step split around its placeholders, for the page to draw values (with copy buttons) in. */
export function stepParts(step: string): { text: string; slot?: "url" | "secret" | "branch" }[] {
  return step
    .split(/(\{url\}|\{secret\}|\{branch\})/)
    .filter((part) => part !== "")
    .map((part) => {
      const slot = /^\{(url|secret|branch)\}$/.exec(part)?.[1] as "url" | "secret" | "branch" | undefined;
      return slot ? { text: part, slot } : { text: part };
    });
}
