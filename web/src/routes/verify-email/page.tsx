import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";

import { describeError } from "../../api/client";
import { AuthLayout } from "../../components/AuthLayout";
import { FormError } from "../../components/Field";
import { useTitle } from "../../components/PageHeader";
import { Loading } from "../../components/States";
import { postPublic, tokenFrom } from "../../lib/account";

export function Component() {
  useTitle("Confirm your email");
  const [params] = useSearchParams();
  const token = tokenFrom(params);
  const [state, setState] = useState<"checking" | "done" | string>("checking");

  useEffect(() => {
    if (!token) return setState("This page needs the link from the mail (it ends in ?token=…).");
    postPublic("/api/auth/verify-email", { token }).then(
      () => setState("done"),
      (failure: unknown) => setState(describeError(failure)),
    );
  }, [token]);

  return (
    <AuthLayout title="Confirm your email">
      {state === "checking" && <Loading label="Confirming…" />}
      {state === "done" && (
        <p role="status" className="text-sm">
          Your email address is confirmed. <Link to="/" className="link">Go to the console</Link>.
        </p>
      )}
      {state !== "checking" && state !== "done" && <FormError message={state} />}
    </AuthLayout>
  );
}
