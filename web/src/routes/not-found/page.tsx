import { Link } from "react-router";

import { Empty } from "../../components/States";
import { PageHeader, useTitle } from "../../components/PageHeader";

export function Component() {
  useTitle("Not found");
  return (
    <>
      <PageHeader title="Not found" />
      <Empty title="There is no page at this address.">
        <Link to="/" className="link">
          Go to the dashboard
        </Link>
      </Empty>
    </>
  );
}
