import { useQueryClient } from "@tanstack/react-query";
import { CircleAlert, CircleCheck, MailCheck } from "lucide-react";
import { useEffect, useState, type FormEvent } from "react";
import { useLocation } from "react-router";
import { toast } from "sonner";

import { api, client, describeError, type Schemas } from "../../api/client";
import { FormError, TextField } from "../../components/Field";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { switchTeam } from "../../lib/account";
import { fieldErrors, type FieldErrors } from "../../lib/fieldErrors";
import { SettingsTabs } from "../../components/SectionTabs";

const ROLE_ABOUT: Record<string, string> = {
  viewer: "you read everything; changes are for members and up",
  member: "you edit jobs, acknowledge incidents and silence alerts",
  admin: "you also manage alerting, agents, API keys, the repository and members",
  owner: "you also manage owners and the team's sign-in rules",
};

export function Component() {
  useTitle("Profile");
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const location = useLocation();
  useEffect(() => {
    if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  }, [location.hash]);
  return (
    <>
      <PageHeader title="Profile" subtitle="Your account and the teams you belong to." />
      <SettingsTabs />
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
        <section className="card" aria-labelledby="account">
          <h2 id="account" className="mb-3 font-semibold">
            Your account
          </h2>
          <QueryState query={me}>{(user) => <Account user={user} />}</QueryState>
        </section>
        <section className="card" aria-labelledby="change-email">
          <h2 id="change-email" className="mb-3 font-semibold">
            Change email
          </h2>
          <ChangeEmail />
        </section>
        <section className="card lg:col-span-2" aria-labelledby="teams">
          <h2 id="teams" className="mb-3 font-semibold">
            Your teams
          </h2>
          <TeamList current={me.data?.tenant_id} />
          <p className="muted mt-2 text-sm">Owners and admins invite people on the Members tab; an invitation arrives by mail.</p>
        </section>
      </div>
    </>
  );
}

function Account({ user }: { user: Schemas["UserPublic"] }) {
  return (
    <dl className="grid grid-cols-[7rem_minmax(0,1fr)] gap-y-2 text-sm">
      <dt className="muted">Username</dt>
      <dd className="break-all">{user.username}</dd>
      <dt className="muted">Email</dt>
      <dd>
        <span className="break-all">{user.email}</span>{" "}
        {user.email_verified ? (
          <span className="inline-flex items-center gap-1 font-medium whitespace-nowrap text-green-700 dark:text-green-400">
            <CircleCheck aria-hidden="true" className="size-4" />
            confirmed
          </span>
        ) : (
          <>
            <span className="inline-flex items-center gap-1 font-medium whitespace-nowrap text-amber-700 dark:text-amber-400">
              <CircleAlert aria-hidden="true" className="size-4" />
              not confirmed
            </span>
            <span className="muted block text-xs">Follow the link mailed to this address to confirm it.</span>
          </>
        )}
      </dd>
      <dt className="muted">Team</dt>
      <dd className="break-all">{user.tenant}</dd>
      <dt className="muted">Role</dt>
      <dd>
        <span className="font-medium">{user.role}</span>
        <span className="muted block text-xs">{ROLE_ABOUT[user.role]}</span>
      </dd>
      <dt className="muted">Member since</dt>
      <dd>
        <RelativeTime value={user.created_at} />
      </dd>
    </dl>
  );
}

function ChangeEmail() {
  const queryClient = useQueryClient();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [mailedTo, setMailedTo] = useState<string>();

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setErrors({});
    setMailedTo(undefined);
    try {
      const { data } = await client.PATCH("/api/auth/me", { body: { email: email.trim(), password } });
      if (data) queryClient.setQueryData(["get", "/api/auth/me", {}], data);
      await queryClient.invalidateQueries({ queryKey: ["get", "/api/auth/me"] });
      setMailedTo(email.trim());
      toast.success(`Email changed. A confirmation link was mailed to ${email.trim()}.`);
      setEmail("");
      setPassword("");
    } catch (failure) {
      const found = fieldErrors(failure, {}, ["email", "password"]);
      setErrors(Object.keys(found).length > 0 ? found : { form: describeError(failure) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form aria-labelledby="change-email" onSubmit={(event) => void submit(event)} className="space-y-3" noValidate>
      <TextField
        label="New email"
        name="email"
        type="email"
        autoComplete="email"
        required
        value={email}
        onChange={(event) => setEmail(event.target.value)}
        error={errors.email}
      />
      <TextField
        label="Current password"
        name="password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(event) => setPassword(event.target.value)}
        error={errors.password}
        hint="Your password, so that an open session alone cannot move the account."
      />
      <FormError message={errors.form} />
      <div className="flex flex-wrap items-center gap-3">
        <button type="submit" className="btn-primary" disabled={busy || !email.trim() || !password}>
          Change email
        </button>
        <span className="muted text-xs">We mail a confirmation link to the new address.</span>
      </div>
      {mailedTo && (
        <p role="status" className="flex items-start gap-2 rounded-md border border-green-300 bg-green-50 px-3 py-2 text-sm text-green-900 dark:border-green-800 dark:bg-green-950 dark:text-green-100">
          <MailCheck aria-hidden="true" className="mt-0.5 size-4 shrink-0" />
          <span>
            Your email is now <b className="break-all">{mailedTo}</b>. It stays unconfirmed until you follow the link we mailed to it.
          </span>
        </p>
      )}
    </form>
  );
}

function TeamList({ current }: { current: string | undefined }) {
  const teams = api.useQuery("get", "/api/teams", {}, { staleTime: 60_000 });
  const [switching, setSwitching] = useState<string>();
  return (
    <QueryState query={teams}>
      {({ teams: list }) => (
        <ul className="divide-y divide-zinc-200 text-sm dark:divide-zinc-800">
          {list.map((team) => (
            <li key={team.id} className="flex flex-wrap items-center justify-between gap-2 py-2">
              <span className="min-w-0 break-all">
                {team.name} <span className="muted">({team.role})</span>
              </span>
              {team.id === current ? (
                <span className="muted text-xs">acting for it now</span>
              ) : (
                <button
                  type="button"
                  className="btn-secondary py-1 text-sm"
                  aria-label={switching === team.id ? undefined : `Switch to ${team.name}`}
                  disabled={switching !== undefined}
                  onClick={() => {
                    setSwitching(team.id);
                    switchTeam(team.id).catch((failure: unknown) => {
                      setSwitching(undefined);
                      toast.error(describeError(failure));
                    });
                  }}
                >
                  {switching === team.id ? "Switching…" : "Switch"}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </QueryState>
  );
}
