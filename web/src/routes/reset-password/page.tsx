import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";

import { describeError } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { FormError, TextField } from "../../components/Field";
import { useTitle } from "../../components/PageHeader";
import { postPublic, tokenFrom } from "../../lib/account";

export function Component() {
  useTitle("Choose a new password");
  const [params] = useSearchParams();
  const token = tokenFrom(params);
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await postPublic("/api/auth/password-reset/confirm", { token, password });
      setDone(true);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthLayout title="Choose a new password">
      {done ? (
        <p role="status" className="text-sm">
          Your password is changed and every session of your account has ended.{" "}
          <Link to="/login" className="link">
            Sign in
          </Link>{" "}
          with the new one.
        </p>
      ) : (
        <form onSubmit={(event) => void submit(event)} className="space-y-4" noValidate>
          <FormError message={token ? error : "This page needs the link from the mail (it ends in ?token=…)."} />
          <TextField label="New password" name="password" type="password" autoComplete="new-password" required minLength={12} value={password} onChange={(e) => setPassword(e.target.value)} hint="At least 12 characters and hard to guess; a few unrelated words work well." />
          <button type="submit" className="btn-primary w-full" disabled={busy || !token}>
            Set the password
          </button>
        </form>
      )}
    </AuthLayout>
  );
}
