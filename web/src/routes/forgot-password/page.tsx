import { useState, type FormEvent } from "react";
import { Link } from "react-router";

import { describeError } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { FormError, TextField } from "../../components/Field";
import { useTitle } from "../../components/PageHeader";
import { postPublic } from "../../lib/account";

export function Component() {
  useTitle("Forgot password");
  const [email, setEmail] = useState("");
  const [sent, setSent] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const answer = (await (await postPublic("/api/auth/password-reset", { email })).json()) as { detail: string };
      setSent(answer.detail);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthLayout title="Forgot your password?">
      {sent ? (
        <p role="status" className="text-sm">
          {sent[0]?.toUpperCase() + sent.slice(1)}. The link works once, for an hour.
        </p>
      ) : (
        <form onSubmit={(event) => void submit(event)} className="space-y-4" noValidate>
          <p className="muted text-sm">We mail a link to choose a new one to your account's address.</p>
          <FormError message={error} />
          <TextField label="Email" name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          <button type="submit" className="btn-primary w-full" disabled={busy || !email}>
            Send the link
          </button>
        </form>
      )}
      <p className="muted mt-4 text-sm">
        <Link to="/login" className="link">
          Back to sign in
        </Link>
      </p>
    </AuthLayout>
  );
}
