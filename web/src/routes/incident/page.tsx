import { PageHeader, useTitle } from "../../components/PageHeader";


// Scaffold: this page is being built (issue 15, Web console II).
export function Component() {
  useTitle("Incident");
  return (
    <>
      <PageHeader title="Incident" />
      
    </>
  );
}
