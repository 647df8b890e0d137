import { Link } from "react-router";

import { api, describeError } from "../../api/client";
import { CopyLine } from "../../components/CopyButton";
import { BadgeImage, BadgeStatusWord } from "./parts";

/** A job page's "Status badge" section: the badge, its URL and Markdown to copy. */
export function JobBadge({ job }: { job: string }) {
  const found = api.useQuery("get", "/api/badges", { params: { query: { job } } }, { refetchInterval: 60_000 });
  const badge = found.data?.badges[0];
  return (
    <section aria-labelledby="badge-heading" className="card mt-4 min-w-0">
      <div className="mb-2 flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="badge-heading" className="font-semibold">
          Status badge
        </h2>
        <Link to="/settings/badges" className="link text-sm">
          Every badge of the team
        </Link>
      </div>
      {found.isPending ? (
        <p className="muted text-sm" role="status">
          Loading the badge…
        </p>
      ) : found.isError ? (
        <p className="field-error text-sm" role="alert">
          Could not load the badge: {describeError(found.error)}
        </p>
      ) : !badge ? (
        <p className="muted text-sm">The badge appears once alerting has seen this job (a few seconds after it was added).</p>
      ) : (
        <div className="space-y-2 text-sm">
          <p className="flex flex-wrap items-center gap-3">
            <BadgeImage badge={badge} />
            <BadgeStatusWord status={badge.status} />
            <span className="muted">Public: anyone with the URL sees this, no sign-in.</span>
          </p>
          <CopyLine label="Copy the badge URL" text={badge.svg_url} />
          <CopyLine label="Copy the badge Markdown" text={badge.markdown} />
        </div>
      )}
    </section>
  );
}
