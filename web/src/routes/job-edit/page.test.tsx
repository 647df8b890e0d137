import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";
import { conflictMessage } from "./page";

// CodeMirror needs a real layout engine; a textarea with the same props stands in for it here
// (the browser tests drive the real editor).
vi.mock("../../components/lazy/YamlEditor", () => ({
  default: (props: { value: string; onChange?: (v: string) => void; label: string; problems?: { line: number; message: string }[] }) => (
    <>
      <textarea aria-label={props.label} value={props.value} onChange={(e) => props.onChange?.(e.target.value)} />
      <ul aria-label="Editor problems">
        {props.problems?.map((p) => (
          <li key={p.line}>
            line {p.line}: {p.message}
          </li>
        ))}
      </ul>
    </>
  ),
}));

const yaml = 'apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: hello, namespace: staging}\nspec:\n  schedule: "* * * * *"\n  command: /bin/true\n';
const job = (commit: string, text: string) => ({
  job: "staging/hello",
  namespace: "staging",
  name: "hello",
  schedule: "* * * * *",
  timezone: "UTC",
  enabled: true,
  paused: false,
  labels: {},
  command: "/bin/true",
  commit,
  file: "staging/hello.yaml",
  manifest: {},
  yaml: text,
  history: [{ sha: commit, author: "bob", message: "Faster", committed_at: "2026-12-06T10:00:00Z" }],
});

const base = {
  "POST /api/auth/refresh": () => json(pair),
  "GET /api/auth/me": () => json(me),
  "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
};

afterEach(cleanupFreshApp);

/** The editor, once its (lazily loaded) module replaced the plain-text fallback. */
async function editor(): Promise<HTMLElement> {
  await screen.findByLabelText("Editor problems");
  return screen.getByLabelText("Manifest (YAML)");
}

async function edit(replacement: string) {
  fireEvent.change(await editor(), { target: { value: replacement } });
  await userEvent.click(screen.getByRole("button", { name: "Commit changes" }));
}

describe("editing a job's YAML", () => {
  it("is not offered to a viewer, who is told why and sent back to the job", async () => {
    mockApi({ ...base, "GET /api/auth/me": () => json({ ...me, role: "viewer" }) });
    await renderFresh("/jobs/staging/hello/edit");
    expect(await screen.findByText("Your role in this team cannot change jobs.")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Back to the job" })).toHaveAttribute("href", "/jobs/staging/hello");
    expect(screen.queryByRole("button", { name: "Commit changes" })).not.toBeInTheDocument();
  });

  it("sends the text with the commit it was based on, and shows the diff before", async () => {
    const api = mockApi({ ...base, "GET /api/jobs/staging/hello": () => json(job("aaaa111", yaml)), "PUT /api/jobs/staging/hello": () => json(job("bbbb222", yaml)) });
    await renderFresh("/jobs/staging/hello/edit");
    fireEvent.change(await editor(), { target: { value: yaml.replace("/bin/true", "/bin/false") } });
    expect(screen.getByLabelText("Changes to the manifest")).toHaveTextContent("removed: command: /bin/true");
    expect(screen.getByLabelText("Changes to the manifest")).toHaveTextContent("added: command: /bin/false");
    await userEvent.click(screen.getByRole("button", { name: "Commit changes" }));
    await waitFor(() => expect(api.calls("PUT /api/jobs/staging/hello")).toHaveLength(1));
    expect(await api.calls("PUT /api/jobs/staging/hello")[0]?.json()).toMatchObject({ manifest: yaml.replace("/bin/true", "/bin/false"), base_commit: "aaaa111" });
  });

  it("shows the server's validation errors at their line", async () => {
    mockApi({
      ...base,
      "GET /api/jobs/staging/hello": () => json(job("aaaa111", yaml)),
      "PUT /api/jobs/staging/hello": () =>
        json({ detail: [{ loc: ["body"], msg: "staging/hello.yaml:5: spec.schedule: expected 5 fields, got 4", type: "value_error" }] }, 422),
    });
    await renderFresh("/jobs/staging/hello/edit");
    await edit(yaml.replace('"* * * * *"', '"* * * *"'));
    expect(await screen.findByText(/The server refused this manifest/)).toBeInTheDocument();
    expect(screen.getByLabelText("Editor problems")).toHaveTextContent("line 5: spec.schedule: expected 5 fields, got 4");
  });

  it("on a conflict shows the newer version and keeps the user's text", async () => {
    let version = 0;
    const newer = yaml.replace('"* * * * *"', '"*/5 * * * *"');
    const api = mockApi({
      ...base,
      "GET /api/jobs/staging/hello": () => json(version++ === 0 ? job("aaaa111", yaml) : job("cccc333", newer)),
      "PUT /api/jobs/staging/hello": async (request) => {
        const body = (await request.json()) as { base_commit: string };
        return body.base_commit === "aaaa111" ? json({ detail: "staging/hello changed since aaaa111: reload and retry" }, 409) : json(job("dddd444", yaml));
      },
    });
    await renderFresh("/jobs/staging/hello/edit");
    const mine = yaml.replace("/bin/true", "/usr/bin/mine");
    await edit(mine);
    const conflict = await screen.findByRole("alert", { name: "Someone changed this job while you were editing" });
    expect(conflict).toHaveTextContent('The newest version is commit cccc333 by bob: "Faster"');
    // The way out is the panel's buttons, not the server's "reload and retry" (a reload loses the text).
    expect(conflict).toHaveTextContent("staging/hello changed since aaaa111.");
    expect(conflictMessage(`a/b changed since ${"f".repeat(40)}: reload and retry`)).toBe("a/b changed since fffffff.");
    expect(conflict).not.toHaveTextContent(/reload/i);
    expect(conflict).toHaveTextContent("added: command: /usr/bin/mine");
    expect(screen.getByLabelText("Manifest (YAML)")).toHaveValue(mine);
    await userEvent.click(screen.getByRole("button", { name: "Keep my text and commit it over the newer version" }));
    await userEvent.click(screen.getByRole("button", { name: "Commit changes" }));
    await waitFor(() => expect(api.calls("PUT /api/jobs/staging/hello")).toHaveLength(2));
    expect(await api.calls("PUT /api/jobs/staging/hello")[1]?.json()).toMatchObject({ manifest: mine, base_commit: "cccc333" });
  });
});
