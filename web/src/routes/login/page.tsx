import { useEffect, useState, type FormEvent } from "react";
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from "react-router";

import { describeError } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { FormError, TextField } from "../../components/Field";
import { useTitle } from "../../components/PageHeader";
import { startSingleSignOn } from "../../lib/account";
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
  const providers = useSingleSignOnProviders();
  const [ssoError] = useState(takeSingleSignOnError);

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
        <FormError message={error ?? ssoError} />
        <TextField label="Username" name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} hint="Or your email address." />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <button type="submit" className="btn-primary w-full" disabled={busy}>
          Sign in
        </button>
        <p className="text-right text-sm">
          <Link to="/forgot-password" className="link">
            Forgot your password?
          </Link>
        </p>
      </form>
      {providers.length > 0 && (
        <div className="mt-4 space-y-2 border-t border-zinc-200 pt-4 dark:border-zinc-800">
          {providers.map((provider) => (
            <button key={provider.name} type="button" className="btn-secondary w-full" onClick={() => startSingleSignOn(provider.login_url)}>
              Sign in with {provider.title}
            </button>
          ))}
        </div>
      )}
      <p className="muted mt-4 text-sm">
        New here?{" "}
        <Link to={`/register${params.get("next") ? `?next=${encodeURIComponent(next)}` : ""}`} className="link">
          Create an account
        </Link>
      </p>
    </AuthLayout>
  );
}

type Provider = { name: string; title: string; login_url: string };

/** The server's single sign-on providers (none: no buttons). */
function useSingleSignOnProviders(): Provider[] {
  const [providers, setProviders] = useState<Provider[]>([]);
  useEffect(() => {
    fetch("/api/auth/sso")
      .then((answer) => (answer.ok ? (answer.json() as Promise<{ providers: Provider[] }>) : { providers: [] }))
      .then((body) => setProviders(body.providers))
      .catch(() => setProviders([]));
  }, []);
  return providers;
}

const SSO_ERROR_COOKIE = "crontopus_sso_error";

/** Why a single sign-on failed: the gateway leaves it in a short-lived cookie (not in the URL,
 * where any site could write its own words onto this page); read once, then cleared. */
function takeSingleSignOnError(): string | undefined {
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${SSO_ERROR_COOKIE}=`));
  if (!found) return undefined;
  document.cookie = `${SSO_ERROR_COOKIE}=; Max-Age=0; Path=/login`;
  try {
    return decodeURIComponent(found.slice(SSO_ERROR_COOKIE.length + 1));
  } catch {
    return undefined;
  }
}
