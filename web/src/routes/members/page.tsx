import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { toast } from "sonner";

import { api, client, describeError, type Schemas } from "../../api/client";
import { roleAtLeast, ROLES, type Role } from "../../api/hooks";
import { FormError, SelectField, TextField } from "../../components/Field";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { PageHeader, useTitle } from "../../components/PageHeader";
import { Empty, QueryState } from "../../components/States";
import { RelativeTime } from "../../components/Time";
import { enterSession } from "../../lib/account";
import { SettingsTabs } from "../../components/SectionTabs";

const ABOUT: Record<Role, string> = {
  viewer: "reads everything",
  member: "also edits jobs, acknowledges incidents, silences",
  admin: "also alerting, agents, API keys, the repository, members",
  owner: "also owners and the team's sign-in rules",
};

export function Component() {
  useTitle("Members");
  const me = api.useQuery("get", "/api/auth/me", {}, { staleTime: 5 * 60_000 });
  const members = api.useQuery("get", "/api/members", {});
  const role = (me.data?.role ?? "viewer") as Role;
  const admin = roleAtLeast(role, "admin");
  return (
    <>
      <PageHeader title="Members" subtitle={me.data ? `Who is in ${me.data.tenant}, and what each may do.` : undefined} />
      <SettingsTabs />
      <div className="space-y-4">
        <section className="card" aria-labelledby="people">
          <h2 id="people" className="mb-3 font-semibold">
            People
          </h2>
          <QueryState query={members}>
            {({ members: list }) => <MembersTable list={list} myId={me.data?.id} myRole={role} />}
          </QueryState>
        </section>
        {admin && <Invitations myRole={role} />}
        {role === "owner" && <SingleSignOn />}
      </div>
    </>
  );
}

function MembersTable({ list, myId, myRole }: { list: Schemas["MemberPublic"][]; myId: string | undefined; myRole: Role }) {
  const queryClient = useQueryClient();
  const [error, setError] = useState<string>();
  const admin = roleAtLeast(myRole, "admin");

  async function run(action: () => Promise<unknown>, done: string) {
    setError(undefined);
    try {
      await action();
      toast.success(done);
      await queryClient.invalidateQueries();
    } catch (failure) {
      setError(describeError(failure));
    }
  }

  const setRole = (member: Schemas["MemberPublic"], next: Role) =>
    run(() => client.PATCH("/api/members/{user_id}", { params: { path: { user_id: member.user_id } }, body: { role: next } }), `${member.username} is now ${next}.`);
  const [removing, setRemoving] = useState<Schemas["MemberPublic"]>();
  const leaving = removing?.user_id === myId;
  async function remove(member: Schemas["MemberPublic"]) {
    await run(async () => {
      await client.DELETE("/api/members/{user_id}", { params: { path: { user_id: member.user_id } } });
      if (member.user_id === myId) enterSession("/");
    }, member.user_id === myId ? "You left the team." : `${member.username} was removed.`);
    setRemoving(undefined);
  }

  return (
    <>
      <FormError message={error} />
      <div className="relative overflow-x-auto">
        <table className="data-table">
          <caption className="sr-only">Members</caption>
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col" className="hidden sm:table-cell">
                Joined
              </th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((member) => {
              const mayChange = admin && (myRole === "owner" || member.role !== "owner");
              return (
                <tr key={member.user_id}>
                  <td>
                    {member.username}
                    {member.user_id === myId && <span className="muted"> (you)</span>}
                  </td>
                  <td className="break-all">{member.email}</td>
                  <td>
                    {mayChange ? (
                      <select aria-label={`Role of ${member.username}`} className="input min-w-28 py-1" value={member.role} onChange={(e) => void setRole(member, e.target.value as Role)}>
                        {ROLES.filter((r) => myRole === "owner" || r !== "owner").map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    ) : (
                      member.role
                    )}
                  </td>
                  <td className="hidden sm:table-cell">
                    <RelativeTime value={member.joined_at} />
                  </td>
                  <td className="text-right">
                    {(mayChange || member.user_id === myId) && (
                      <button type="button" className="btn-ghost px-2 text-sm" onClick={() => setRemoving(member)}>
                        {member.user_id === myId ? "Leave" : "Remove"}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <ConfirmDialog
        open={removing !== undefined}
        onOpenChange={(open) => !open && setRemoving(undefined)}
        title={leaving ? "Leave this team?" : `Remove ${removing?.username ?? ""} from the team?`}
        confirmLabel={leaving ? "Leave the team" : `Remove ${removing?.username ?? ""}`}
        danger
        onConfirm={() => removing && void remove(removing)}
      >
        <p>{leaving ? "You lose access to it at once; an owner or admin can invite you again." : "They lose access at once: their sessions end. API keys they made belong to the team and keep working until revoked under API keys."}</p>
      </ConfirmDialog>
      <ul className="muted mt-3 grid gap-1 text-xs sm:grid-cols-2">
        {ROLES.map((r) => (
          <li key={r}>
            <b>{r}</b>: {ABOUT[r]}
          </li>
        ))}
      </ul>
    </>
  );
}

function Invitations({ myRole }: { myRole: Role }) {
  const queryClient = useQueryClient();
  const pending = api.useQuery("get", "/api/invitations", {});
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function invite(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await client.POST("/api/invitations", { body: { email, role } });
      toast.success(`Invitation mailed to ${email}.`);
      setEmail("");
      await queryClient.invalidateQueries();
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  async function revoke(invitation: Schemas["InvitationPublic"]) {
    try {
      await client.DELETE("/api/invitations/{invitation_id}", { params: { path: { invitation_id: invitation.id } } });
      toast.success(`The invitation to ${invitation.email} no longer works.`);
      await queryClient.invalidateQueries();
    } catch (failure) {
      setError(describeError(failure));
    }
  }

  return (
    <section className="card" aria-labelledby="invitations">
      <h2 id="invitations" className="mb-3 font-semibold">
        Invitations
      </h2>
      <form onSubmit={(event) => void invite(event)} className="mb-4 grid gap-3 sm:grid-cols-[1fr_10rem_auto] sm:items-end" noValidate>
        <TextField label="Email" name="email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <SelectField label="Role" name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.filter((r) => myRole === "owner" || r !== "owner").map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </SelectField>
        <button type="submit" className="btn-primary" disabled={busy || !email}>
          Invite
        </button>
      </form>
      <FormError message={error} />
      <QueryState query={pending}>
        {({ invitations }) =>
          invitations.length === 0 ? (
            <Empty title="No pending invitations.">An invitation's link works once, for 7 days; inviting an address again sends a new one.</Empty>
          ) : (
            <div className="relative overflow-x-auto">
              <table className="data-table">
                <caption className="sr-only">Pending invitations</caption>
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Role</th>
                    <th scope="col">Invited by</th>
                    <th scope="col">Expires</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {invitations.map((invitation) => (
                    <tr key={invitation.id}>
                      <td className="break-all">{invitation.email}</td>
                      <td>{invitation.role}</td>
                      <td>{invitation.invited_by ?? "—"}</td>
                      <td>
                        <RelativeTime value={invitation.expires_at} />
                      </td>
                      <td className="text-right">
                        <button type="button" className="btn-ghost px-2 text-sm" onClick={() => void revoke(invitation)}>
                          Revoke
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </QueryState>
    </section>
  );
}

function SingleSignOn() {
  const queryClient = useQueryClient();
  const team = api.useQuery("get", "/api/team", {});
  const [error, setError] = useState<string>();

  async function toggle(required: boolean) {
    setError(undefined);
    try {
      await client.PUT("/api/team/sso", { body: { required } });
      toast.success(required ? "Members now sign in with single sign-on only." : "Passwords work again.");
      await queryClient.invalidateQueries();
    } catch (failure) {
      setError(describeError(failure));
    }
  }

  return (
    <section className="card" aria-labelledby="sso">
      <h2 id="sso" className="mb-3 font-semibold">
        Sign-in
      </h2>
      <FormError message={error} />
      <QueryState query={team}>
        {(settings) => (
          <label className="flex items-start gap-2 text-sm">
            <input type="checkbox" className="mt-1" checked={settings.sso_required} onChange={(e) => void toggle(e.target.checked)} />
            <span>
              Require single sign-on
              <span className="muted block text-xs">Members cannot use a password for this team; their password sessions end at once. Sign in with single sign-on yourself to turn it on.</span>
            </span>
          </label>
        )}
      </QueryState>
    </section>
  );
}
