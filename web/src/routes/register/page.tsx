import { useState, type FormEvent } from "react";
import { Link, Navigate, useNavigate, useSearchParams } from "react-router";

import { client, describeError } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { FormError, TextField } from "../../components/Field";
import { useTitle } from "../../components/PageHeader";
import { fieldErrors, type FieldErrors } from "../../lib/fieldErrors";
import { session } from "../../lib/session";
import { safeNext, useSession } from "../../lib/useSession";

const FIELDS = ["username", "email", "password", "team"];

export function Component() {
  useTitle("Create account");
  const state = useSession();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const [form, setForm] = useState({ username: "", email: "", password: "", confirm: "", team: "" });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);

  if (state.status === "signed-in" && !busy) return <Navigate to={next} replace />;

  const set = (field: keyof typeof form) => (event: { target: { value: string } }) =>
    setForm((current) => ({ ...current, [field]: event.target.value }));

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (form.password !== form.confirm) {
      setErrors({ confirm: "The two passwords differ; type the same password twice." });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await registerUnauthenticated({ username: form.username, email: form.email, password: form.password, tenant: form.team });
    } catch (failure) {
      const found = fieldErrors(failure, { tenant: "team" }, FIELDS);
      setErrors(Object.keys(found).length ? found : { form: describeError(failure) });
      setBusy(false);
      return;
    }
    try {
      await session.signIn(form.username, form.password); // creating an account signs you in
      void navigate(next, { replace: true });
    } catch (failure) {
      setErrors({ form: `Your account was created, but signing in failed: ${describeError(failure)}` });
    } finally {
      setBusy(false);
    }
  }

  return (
    <AuthLayout title="Create account">
      <form onSubmit={(event) => void submit(event)} className="space-y-4" noValidate>
        <FormError message={errors.form} />
        <TextField label="Username" name="username" autoComplete="username" required value={form.username} onChange={set("username")} error={errors.username} hint="Letters, digits, '.', '_' or '-'; 2 to 64 characters." />
        <TextField label="Email" name="email" type="email" autoComplete="email" required value={form.email} onChange={set("email")} error={errors.email} />
        <TextField label="Password" name="password" type="password" autoComplete="new-password" required value={form.password} onChange={set("password")} error={errors.password} hint="At least 12 characters, and not a common one." />
        <TextField label="Confirm password" name="confirm" type="password" autoComplete="new-password" required value={form.confirm} onChange={set("confirm")} error={errors.confirm} />
        <TextField label="Team" name="team" autoComplete="organization" required value={form.team} onChange={set("team")} error={errors.team} hint="Your team's new name: lowercase letters, digits and '-', e.g. platform-team." />
        <button type="submit" className="btn-primary w-full" disabled={busy}>
          Create account
        </button>
      </form>
      <p className="muted mt-4 text-sm">
        Have an account?{" "}
        <Link to="/login" className="link">
          Sign in
        </Link>
      </p>
    </AuthLayout>
  );
}

/** Registration needs no token; it goes around Session.fetch (which would refuse, signed out). */
async function registerUnauthenticated(body: { username: string; email: string; password: string; tenant: string }) {
  const { error } = await client.POST("/api/auth/register", { body, fetch: globalThis.fetch.bind(globalThis) });
  if (error) throw error;
}
