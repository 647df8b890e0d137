import { Link } from "react-router";
import { toast } from "sonner";

import { api, describeError } from "../../api/client";
import { CopyLine } from "../../components/CopyButton";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { switchTeam } from "../../lib/account";
import { Empty, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { shortSha } from "../../lib/format";

export function Component() {
  useTitle("Settings");
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const repository = api.useQuery("get", "/api/gitops/repository", {});
  const admin = me.data?.role === "admin" || me.data?.role === "owner";
  const keys = api.useQuery("get", "/api/api-keys", {}, { enabled: admin });
  return (
    <>
      <PageHeader
        title="Settings"
        subtitle="Your account, your team's jobs repository and its API keys."
        actions={
          <>
            <Link to="/settings/members" className="btn-secondary">
              Members
            </Link>
            {admin && (
              <Link to="/settings/audit" className="btn-secondary">
                Audit log
              </Link>
            )}
          </>
        }
      />
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
        <section className="card" aria-labelledby="profile">
          <h2 id="profile" className="mb-3 font-semibold">
            Profile
          </h2>
          <QueryState query={me}>
            {(user) => (
              <dl className="grid grid-cols-[8rem_1fr] gap-y-2 text-sm">
                <dt className="muted">Username</dt>
                <dd>{user.username}</dd>
                <dt className="muted">Email</dt>
                <dd className="break-all">{user.email}</dd>
                <dt className="muted">Team</dt>
                <dd>{user.tenant}</dd>
                <dt className="muted">Role</dt>
                <dd>{user.role}</dd>
                <dt className="muted">Email confirmed</dt>
                <dd>{user.email_verified ? "yes" : "not yet: follow the link in the mail sent at sign-up"}</dd>
                <dt className="muted">Member since</dt>
                <dd>
                  <RelativeTime value={user.created_at} />
                </dd>
              </dl>
            )}
          </QueryState>
        </section>
        <section className="card" aria-labelledby="repository">
          <h2 id="repository" className="mb-3 font-semibold">
            Jobs repository
          </h2>
          <QueryState query={repository}>
            {(repo) => (
              <div className="space-y-3 text-sm">
                <CopyLine label="Copy the clone command" text={`git clone ${repo.clone_url} jobs`} />
                <dl className="grid grid-cols-[8rem_1fr] gap-y-2">
                  <dt className="muted">Kind</dt>
                  <dd>{repo.kind}</dd>
                  <dt className="muted">Branch</dt>
                  <dd className="mono">{repo.branch}</dd>
                  {repo.folder && (
                    <>
                      <dt className="muted">Folder</dt>
                      <dd className="mono">{repo.folder}</dd>
                    </>
                  )}
                  <dt className="muted">Head commit</dt>
                  <dd className="mono">{shortSha(repo.head_commit)}</dd>
                  <dt className="muted">Last sync</dt>
                  <dd>
                    <RelativeTime value={repo.last_sync_at} empty="never" />
                  </dd>
                </dl>
                {repo.last_error && <p className="field-error">{repo.last_error}</p>}
                {repo.errors.length > 0 && (
                  <div>
                    <h3 className="font-medium">Manifests with problems</h3>
                    <ul className="mono mt-1 space-y-1 text-red-700 dark:text-red-400">
                      {repo.errors.map((e, i) => (
                        <li key={i}>
                          {e.file}
                          {e.line ? `:${e.line}` : ""}: {e.field ? `${e.field}: ` : ""}
                          {e.message}
                        </li>
                      ))}
                    </ul>
                  </div>
                )}
              </div>
            )}
          </QueryState>
        </section>
        <section className="card" aria-labelledby="teams">
          <h2 id="teams" className="mb-3 font-semibold">
            Your teams
          </h2>
          <TeamList current={me.data?.tenant_id} />
          <p className="muted mt-2 text-sm">Owners and admins invite people on the Members page; an invitation arrives by mail.</p>
        </section>
        {admin && <section className="card lg:col-span-2" aria-labelledby="api-keys">
          <h2 id="api-keys" className="mb-3 font-semibold">
            API keys
          </h2>
          <QueryState query={keys}>
            {({ api_keys: list }) =>
              list.length === 0 ? (
                <Empty title="No API keys.">
                  Create one for a host or script that reports runs: <code className="mono">crontopus api-keys create backup-host --scope write</code>
                </Empty>
              ) : (
                <div className="relative overflow-x-auto">
                  <table className="data-table">
                    <caption className="sr-only">API keys</caption>
                    <thead>
                      <tr>
                        <th scope="col">Name</th>
                        <th scope="col">Scope</th>
                        <th scope="col">Prefix</th>
                        <th scope="col">Created</th>
                        <th scope="col">Last used</th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.map((key) => (
                        <tr key={key.id}>
                          <td>{key.name}</td>
                          <td>{key.scope}</td>
                          <td className="mono">{key.prefix}…</td>
                          <td>
                            <RelativeTime value={key.created_at} />
                          </td>
                          <td>
                            <RelativeTime value={key.last_used_at} empty="never" />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )
            }
          </QueryState>
        </section>}
      </div>
    </>
  );
}

function TeamList({ current }: { current: string | undefined }) {
  const teams = api.useQuery("get", "/api/teams", {}, { staleTime: 60_000 });
  return (
    <QueryState query={teams}>
      {({ teams: list }) => (
        <ul className="divide-y divide-zinc-200 text-sm dark:divide-zinc-800">
          {list.map((team) => (
            <li key={team.id} className="flex items-center justify-between gap-2 py-2">
              <span>
                {team.name} <span className="muted">({team.role})</span>
              </span>
              {team.id === current ? (
                <span className="muted text-xs">acting for it now</span>
              ) : (
                <button type="button" className="btn-secondary py-1 text-sm" onClick={() => switchTeam(team.id).catch((failure: unknown) => toast.error(describeError(failure)))}>
                  Switch to it
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </QueryState>
  );
}
