import { useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from "react-router";

import { describeError } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { FormError, TextField } from "../../components/Field";
import { useTitle } from "../../components/PageHeader";
import { session } from "../../lib/session";
import { safeNext, useSession } from "../../lib/useSession";

export function Component() {
  useTitle("Sign in");
  const state = useSession();
  const [params] = useSearchParams();
  const location = useLocation();
  const navigate = useNavigate();
  const next = safeNext(params.get("next"));
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const reason = (location.state as { reason?: string } | null)?.reason;

  if (state.status === "signed-in" && !busy) return <Navigate to={next} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await session.signIn(username, password);
      void navigate(next, { replace: true });
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthLayout title="Sign in">
      <form onSubmit={(event) => void submit(event)} className="space-y-4" noValidate>
        {reason && !error && <p className="muted text-sm">{reason}</p>}
        <FormError message={error} />
        <TextField label="Username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} hint="Or your email address." />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" className="btn-primary w-full" disabled={busy}>
          Sign in
        </button>
      </form>
      <p className="muted mt-4 text-sm">
        New here?{" "}
        <Link to={`/register${params.get("next") ? `?next=${encodeURIComponent(next)}` : ""}`} className="link">
          Create an account
        </Link>
      </p>
    </AuthLayout>
  );
}
