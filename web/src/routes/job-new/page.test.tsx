import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { cleanupFreshApp, me, pair, renderFresh } from "../../test/fresh";
import { json, mockApi } from "../../test/render";

const base = {
  "POST /api/auth/refresh": () => json(pair),
  "GET /api/auth/me": () => json(me),
  "GET /api/jobs": () => json({ jobs: [] }),
  "GET /api/events": () => new Response(new ReadableStream(), { headers: { "content-type": "text/event-stream" } }),
  "GET /api/schedule/preview": () => json({ valid: true, description: "at 02:00", next: [] }),
};

afterEach(cleanupFreshApp);

async function fillForm() {
  const user = userEvent.setup();
  await user.type(await screen.findByLabelText("Namespace"), "production");
  await user.type(screen.getByLabelText("Name"), "backup-database");
  await user.type(screen.getByLabelText("Schedule"), "0 2 * * *");
  const zone = screen.getByLabelText("Time zone");
  await user.clear(zone);
  await user.type(zone, "Europe/Berlin");
  await user.type(screen.getByLabelText("Command"), "/usr/local/bin/backup.sh");
  await user.type(screen.getByLabelText("Arguments"), "--full");
  await user.type(screen.getByLabelText("Labels"), "team=data");
  await user.type(screen.getByLabelText("Timeout"), "30m");
  await user.type(screen.getByLabelText("Retries"), "2");
  await user.type(screen.getByLabelText("Monitor grace"), "10m");
  await user.click(screen.getByRole("button", { name: "Create job" }));
}

describe("the create form", () => {
  it("is not offered to a viewer, who is told why", async () => {
    mockApi({ ...base, "GET /api/auth/me": () => json({ ...me, role: "viewer" }) });
    await renderFresh("/jobs/new");
    expect(await screen.findByText("Your role in this team cannot create jobs.")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Create job" })).not.toBeInTheDocument();
  });

  it("commits exactly the manifest it shows, then opens the job", async () => {
    const api = mockApi({
      ...base,
      "POST /api/jobs": () => json({ job: "production/backup-database", namespace: "production", name: "backup-database", commit: "abc1234def" }, 201),
      "GET /api/jobs/production/backup-database": () => json({ detail: "later" }, 503),
    });
    const { router } = await renderFresh("/jobs/new");
    await fillForm();
    await waitFor(() => expect(router.state.location.pathname).toBe("/jobs/production/backup-database"));
    const body = (await api.calls("POST /api/jobs")[0]?.json()) as { manifest: string };
    expect(body.manifest).toBe(
      [
        "apiVersion: crontopus.io/v1",
        "kind: Job",
        "metadata:",
        "  name: backup-database",
        "  namespace: production",
        "  labels: {team: data}",
        "spec:",
        '  schedule: "0 2 * * *"',
        "  timezone: Europe/Berlin",
        "  command: /usr/local/bin/backup.sh",
        '  args: ["--full"]',
        "  timeout: 30m",
        "  retries: {limit: 2}",
        "  monitor: {grace: 10m}",
        "",
      ].join("\n"),
    );
  });

  it("shows the server's validation errors on the fields they are about", async () => {
    mockApi({
      ...base,
      "POST /api/jobs": () =>
        json(
          {
            detail: [
              {
                loc: ["body"],
                msg: "production/backup-database.yaml:8: spec.schedule: never fires: day 31 does not exist in month 2\nproduction/backup-database.yaml:9: spec.timezone: unknown time zone 'Mars/Olympus'",
                type: "value_error",
              },
            ],
          },
          422,
        ),
    });
    await renderFresh("/jobs/new");
    await fillForm();
    await waitFor(() => expect(screen.getByLabelText("Schedule")).toHaveAccessibleDescription(/never fires: day 31/));
    expect(screen.getByLabelText("Time zone")).toHaveAccessibleDescription(/unknown time zone/);
    expect(screen.getByLabelText("Command")).not.toHaveAttribute("aria-invalid");
  });

  it("puts a name that is taken on the name field", async () => {
    mockApi({ ...base, "POST /api/jobs": () => json({ detail: "production/backup-database already exists (in production/backup-database.yaml); update it instead" }, 409) });
    await renderFresh("/jobs/new");
    await fillForm();
    await waitFor(() => expect(screen.getByLabelText("Name")).toHaveAccessibleDescription(/already exists/));
  });

  it("previews the next runs from the API as the schedule is typed, and says what is wrong with an impossible one", async () => {
    const api = mockApi({
      ...base,
      "GET /api/schedule/preview": (request) => {
        const schedule = new URL(request.url).searchParams.get("schedule");
        if (schedule === "0 0 31 2 *")
          return json({ detail: [{ loc: ["query", "schedule"], msg: "never fires: day 31 does not exist in month 2", type: "value_error" }] }, 422);
        return json({
          valid: true,
          schedule: "30 2 * * *",
          timezone: "Europe/Berlin",
          description: "At 02:30",
          next: [{ at: "2027-03-28T03:00:00+02:00", note: "02:30 does not exist on 2027-03-28 (DST); runs at 03:00" }],
        });
      },
    });
    await renderFresh("/jobs/new");
    const user = userEvent.setup();
    const zone = await screen.findByLabelText("Time zone");
    await user.clear(zone);
    await user.type(zone, "Europe/Berlin");
    await user.type(screen.getByLabelText("Schedule"), "30 2 * * *");
    const preview = screen.getByRole("region", { name: "Next runs" });
    await waitFor(() => expect(preview).toHaveTextContent("At 02:30"));
    expect(preview).toHaveTextContent("02:30 does not exist on 2027-03-28 (DST); runs at 03:00");
    const query = new URL(api.calls("GET /api/schedule/preview").at(-1)!.url).searchParams;
    expect(Object.fromEntries(query)).toEqual({ schedule: "30 2 * * *", timezone: "Europe/Berlin", count: "5" });

    await user.clear(screen.getByLabelText("Schedule"));
    await user.type(screen.getByLabelText("Schedule"), "0 0 31 2 *");
    await waitFor(() => expect(preview).toHaveTextContent("never fires: day 31 does not exist in month 2"));
  });

  it("shows the API's warnings about a schedule under its next runs", async () => {
    const rule = "runs only on days that are both day-of-month */2 and day-of-week 1-5";
    mockApi({
      ...base,
      "GET /api/schedule/preview": () =>
        json({ valid: true, schedule: "0 9 */2 * 1-5", timezone: "UTC", description: "At 09:00", next: [], warnings: [rule] }),
    });
    await renderFresh("/jobs/new");
    const user = userEvent.setup();
    await user.type(await screen.findByLabelText("Schedule"), "0 9 */2 * 1-5");
    await waitFor(() => expect(screen.getByRole("region", { name: "Next runs" })).toHaveTextContent(rule));
  });
});
