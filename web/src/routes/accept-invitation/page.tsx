import { useEffect, useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";

import { describeError } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { FormError, TextField } from "../../components/Field";
import { useTitle } from "../../components/PageHeader";
import { enterSession, postPublic, tokenFrom } from "../../lib/account";
import { session } from "../../lib/session";
import { useSession } from "../../lib/useSession";

/** Joins the invited team: as the signed-in account, or by creating one with the invited address. */
export function Component() {
  useTitle("Join a team");
  const [params] = useSearchParams();
  const token = tokenFrom(params);
  const state = useSession();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>(token ? "" : "This page needs the link from the mail (it ends in ?token=…).");
  const [busy, setBusy] = useState(false);
  useEffect(() => void session.start(), []);
  const signedIn = state.status === "signed-in";

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      const bearer: Record<string, string> = signedIn && session.accessToken ? { Authorization: `Bearer ${session.accessToken}` } : {};
      await postPublic("/api/invitations/accept", signedIn ? { token } : { token, username, password }, bearer);
      enterSession("/");
    } catch (failure) {
      setError(describeError(failure));
      setBusy(false);
    }
  }

  return (
    <AuthLayout title="Join a team">
      <form onSubmit={(event) => void submit(event)} className="space-y-4" noValidate>
        <FormError message={error || undefined} />
        {signedIn ? (
          <p className="text-sm">You were invited to a team on Crontopus. Join it with the account you are signed in with.</p>
        ) : (
          <>
            <p className="muted text-sm">
              Create your account to join (its email is the invited address). Have an account with that address? <a className="link" href={`/login?next=${encodeURIComponent(`/invitations/accept?token=${token}`)}`}>Sign in</a> first.
            </p>
            <TextField label="Username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
            <TextField label="Password" name="password" type="password" autoComplete="new-password" required minLength={12} value={password} onChange={(e) => setPassword(e.target.value)} hint="At least 12 characters and hard to guess." />
          </>
        )}
        <button type="submit" className="btn-primary w-full" disabled={busy || !token || state.status === "starting"}>
          Join the team
        </button>
      </form>
    </AuthLayout>
  );
}
